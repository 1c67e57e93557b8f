// Trained models in and out of run folders.
//
// import: a checkpoint of the published code (torch.save of {"model": state_dict, "optimizer",
// "lr_scheduler", "epoch", "args": argparse.Namespace}), or any torch.save / .safetensors
// state_dict of the published SlotModel, becomes a run folder that vis, explain, evaluate, export
// and report take like a trained one. The state_dict names of SlotModel are the names of our
// model (backbone.*, conv1x1.*, slot.*), so the weights move one to one; they are checked by name
// and shape against the model the config describes.
//
// export: a run's newest verified checkpoint as a state_dict file with those names, which
// `SlotModel(args).load_state_dict(torch.load(path), strict=True)` takes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/config.h"

namespace scouter {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct ImportResult {
  Config cfg;               // the run's config as written to config.toml
  std::string checkpoint;   // the checkpoint written
  int64_t epoch = 0;        // epochs completed (the published "epoch" + 1)
  int64_t tensors = 0;      // tensors imported
  std::vector<std::string> from_args;  // config keys taken from the file's args
};

// Reads `source`, builds the config (defaults, then the file's args under their published
// names, then `overrides`, the command line's --key value), checks every tensor against the model
// and writes the run folder cfg.output_dir: config.toml, checkpoints/epoch-NNNN.h5 (weights
// only: there is no optimizer state to resume from), import.json (the source, its SHA-256, the
// args as read and which were used), dataset.json (datasets/dataset_info.h: the validation
// shards' of cfg.dataset_dir when that folder exists, else the dataset table's), command.txt
// and version.txt. Refuses a folder that already
// holds a run. UserError for a file that is not a SlotModel's weights, args that are missing
// without --key values, and tensors that do not fit (listed by name).
ImportResult import_model(const std::string& source, const KeyValues& overrides,
                          const std::string& command_line);

// Writes the newest verified checkpoint of run_dir as `format` ("pth": a torch.save zip of a
// state_dict; "safetensors") to `out` (default RUN/export/model.<format>), atomically. Returns
// the path written.
std::string export_model(const std::string& run_dir, const std::string& format,
                         const std::string& out);

// The published train.py options that rebuild the model of cfg (--model ... --to_k_layer ...),
// for the user who loads an exported file into SlotModel.
std::string published_args(const Config& cfg);

}  // namespace scouter
