// Backbone weights from outside a run: files of timm or PyTorch (torch.save state_dicts and
// .safetensors) matched by timm's state_dict names (`pretrained`); and the FC baseline that
// use_pre starts from when pre_checkpoint is empty.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "common/config.h"
#include "worker/model/backbone.h"

namespace scouter {

// Tensors of a weights file by name, in their stored dtypes: a zip archive is read as
// torch.save's (worker/model/torch_file.h), anything else as .safetensors (worker/model/safetensors.h).
std::map<std::string, torch::Tensor> read_weights_file(const std::string& path);

// Copies a weights file into `backbone` (converting dtypes to the model's). Keys may carry a
// `backbone.` prefix (then only those keys are used: a whole SCOUTER model's file) or a
// `module.` prefix (DistributedDataParallel). Strict: missing, unexpected and wrongly shaped
// tensors are listed by name in one UserError. Dropped with an info line instead, as with
// PyTorch's and the published code's loading:
//   - the classifier fc.* when its shape differs or the backbone has none (or the file has none:
//     fc keeps its initialisation);
//   - num_batches_tracked missing from the file (PyTorch's BatchNorm tolerates it too);
//   - an RGB stem conv (the backbone table's stem_convs: conv1.weight, conv1.0.weight for the
//     ResNet family) for a backbone with other in_chans is adapted as timm's adapt_input_conv
//     does (1 channel: sum over RGB), and for the published MNIST stem (its mnist_stem_conv of
//     shape [64, 1, 3, 3], swapped in after loading) keeps its init.
// Returns the number of tensors copied.
int64_t load_pretrained(const std::string& path, BackboneImpl& backbone);

// use_pre with an empty pre_checkpoint: the one sibling folder of cfg.output_dir holding an FC
// baseline (its config.toml has use_slot = false and the same dataset, model and num_classes)
// with a complete checkpoint. UserError listing what was found when there is none or several.
std::string find_fc_baseline(const Config& cfg);

}  // namespace scouter
