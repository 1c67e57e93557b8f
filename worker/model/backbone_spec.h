// The backbones scouter builds, one row each: the values of the `model` key, how to build one and
// the names of its parts that freezing (freeze_backbone), pretrained loading, import and export
// read. worker/model/ owns the table and checks names against it; common/ names no model.
//
// Rows: the project's own are one explicit table in backbone_spec.cpp (static libraries drop
// object files nothing references, so a row in a file of its own could silently vanish from the
// binary); a test adds a row for itself with a BackboneRegistrar in its own file, which the test
// executable links directly. Adding a backbone: docs/architecture.md "Adding a backbone".
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"

namespace scouter {

class BackboneImpl;

// Builds the backbone `name` (the row's own name, so one function can build a family) for images
// of in_chans channels, with timm's classifier `fc` when num_classes > 0, and with the published
// MNIST stem when published_stem (only asked of rows whose mnist_stem is not kNone).
using BackboneFactory = std::shared_ptr<BackboneImpl> (*)(const std::string& name, int64_t in_chans,
                                                          int64_t num_classes, bool published_stem);

// How a backbone meets the published MNIST stem, one Conv2d(1, 64, 3, stride 2, padding 1) that
// the published code swaps in for the model's `conv1` (config key `stem`).
enum class MnistStem {
  kNone,       // no such stem: stem = "published" is refused
  kAuto,       // 1-channel input gets it with stem = "auto" too (resnet18, resnet50)
  kOnRequest,  // only with stem = "published"; "auto" keeps timm's deep stem (resnest*)
};

struct BackboneSpec {
  std::string name;  // the `model` key's value
  // Said after the name where the `model` key is described ("timm's"); neighbouring rows with
  // the same note share it.
  std::string note;
  BackboneFactory make = nullptr;
  int64_t feature_channels = 0;  // C of the B x C x h x w feature map
  // The top-level modules holding the stages, input side first. freeze_layers = n leaves only
  // stages[n..] trainable (the stem, the first n stages and the classifier are frozen).
  std::vector<std::string> stages;
  // The parameters that take the image channels, in every stem variant the row builds: a
  // pretrained RGB kernel for another channel count is adapted there (timm's adapt_input_conv).
  std::vector<std::string> stem_convs;
  MnistStem mnist_stem = MnistStem::kNone;
  // The published MNIST stem's weight (mnist_stem != kNone): a pretrained RGB stem that does not
  // fit it is dropped (the published code swaps the stem in after loading), and import takes a
  // file holding it without the timm stem (stem_convs.front()) as stem = "published".
  std::string mnist_stem_conv;
};

// Every row: the project's table in its order, then registered ones. References stay valid.
const std::deque<BackboneSpec>& backbone_specs();
std::vector<std::string> backbone_names();
// The row of `name`, or nullptr.
const BackboneSpec* find_backbone(const std::string& name);
// The row of `name`; UserError "unknown model 'NAME'" (key `model`) listing the names otherwise.
const BackboneSpec& backbone_spec(const std::string& name);

// Adds a row (a name already in the table is a programming error). For tests; the project's
// rows belong in the table of backbone_spec.cpp.
void register_backbone(BackboneSpec spec);
struct BackboneRegistrar {
  explicit BackboneRegistrar(BackboneSpec spec) { register_backbone(std::move(spec)); }
};

// The names of the `model` key for its description: "resnet18, resnet50 (timm's), smallcnn".
std::string backbone_list();

// The config checks of `model` and `stem` (a common/config.h ConfigCheck): the model is a row;
// stem = "published" needs a row with that stem and a 1-channel dataset (datasets/dataset_spec.h).
// validate's one-line errors, at the key's origin, naming what is valid from the tables.
void check_model_keys(const Config& cfg, const Origins& origins);

// The checks of the keys whose values are rows of a table: check_dataset_key, check_model_keys.
// The ConfigCheck the launcher gives load_sweep.
void check_table_keys(const Config& cfg, const Origins& origins);

// Every check of a config: common's validate, then check_table_keys. What every command and
// train_run run on a config before using it.
void validate_run_config(const Config& cfg, const Origins& origins = {});

}  // namespace scouter
