// The description of a config key whose values a layer above common owns (dataset, model: the
// tables of datasets/dataset_spec.h and worker/model/backbone_spec.h, which common does not
// know): shown as "<doc>: <values()>" wherever a key's description is shown (`scouter keys`, the
// hint of a wrong type, the comments of the resolved config). Implemented in config.cpp.
#pragma once

#include <functional>
#include <string>

#include "common/config.h"

namespace scouter {

// The owner registers `values` once, at static initialisation; later calls replace it.
void describe_key_values(const std::string& key, std::function<std::string()> values);

// The key's description with its registered values ("dataset name: MNIST, ..."), or its doc.
std::string key_doc(const KeyInfo& key);

}  // namespace scouter
