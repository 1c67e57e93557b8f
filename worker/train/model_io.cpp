#include "worker/train/model_io.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/env_paths.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/run_lock.h"
#include "common/text.h"
#include "common/version.h"
#include "datasets/dataset_info.h"
#include "datasets/dataset_spec.h"
#include "datasets/shard_reader.h"
#include "worker/model/backbone_spec.h"
#include "worker/model/safetensors.h"
#include "worker/model/scouter_model.h"
#include "worker/model/torch_file.h"
#include "worker/run/checkpoint.h"
#include "worker/run/trained_run.h"
#include "worker/train/pretrained.h"
#include "worker/train/provenance.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// The published train.py options that are config keys here, under the same names. The others
// (pre_trained, use_pre, dataset_dir, output_dir, device, world_size, ...) describe the authors'
// machine or how training started, not the model: import.json lists them as ignored.
const std::vector<std::string>& published_keys() {
  static const std::vector<std::string> v = {
      "dataset", "model", "num_classes", "use_slot", "loss_status", "slots_per_class",
      "hidden_dim", "to_k_layer", "channel", "power", "lambda_value", "img_size", "aug",
      "batch_size", "epochs", "lr", "lr_drop", "weight_decay", "freeze_layers",
      "grad_min_level", "vis", "vis_id"};
  return v;
}

// What a state_dict without args must be told on the command line; the other keys either follow
// from the tensors' shapes (checked) or only weigh the loss (defaults, said in the log).
std::vector<std::string> required_keys(bool use_slot) {
  std::vector<std::string> v = {"dataset", "model", "num_classes", "use_slot"};
  if (use_slot) v.push_back("loss_status");
  return v;
}

// A file of the published SlotModel with the published MNIST stem in place of the model's own
// stem (its mnist_stem_conv, and not its stem_convs.front()).
bool holds_mnist_stem(const NamedTensors& file, const BackboneSpec& model) {
  return file.count("backbone." + model.mnist_stem_conv) &&
         !file.count("backbone." + model.stem_convs.front());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const torch::Tensor& t) { return "[" + join_ints(t.sizes().vec()) + "]"; }

std::string some(const std::vector<std::string>& names) {
  constexpr size_t kShown = 6;
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(kShown, names.size()));
  std::string s = join(shown, ", ");
  if (names.size() > kShown) s += str_format(" ... ({} in all)", names.size());
  return s;
}

bool is_zip(const std::string& path) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  return std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

// PyTorch's state_dict order: each module (pre-order) with its parameters, then its buffers.
std::vector<std::pair<std::string, torch::Tensor>> state_dict(torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& m : model.named_modules()) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto& p : m.value()->named_parameters(false)) out.emplace_back(prefix + p.key(), p.value());
    for (const auto& b : m.value()->named_buffers(false)) out.emplace_back(prefix + b.key(), b.value());
  }
  return out;
}

// The file's tensors under the model's names (`module.` of DistributedDataParallel stripped).
NamedTensors strip_module_prefix(const NamedTensors& file) {
  NamedTensors out;
  for (const auto& [k, v] : file) out[starts_with(k, "module.") ? k.substr(7) : k] = v;
  return out;
}

// Copies `file` into the model, strictly: every model tensor present with its shape, nothing
// left over (BatchNorm's num_batches_tracked may be missing, as PyTorch allows). Returns the
// number of tensors copied.
int64_t copy_weights(const NamedTensors& file, torch::nn::Module& model, const std::string& source,
                     const Config& cfg) {
  std::vector<std::string> missing, unexpected, bad_shape;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::map<std::string, torch::Tensor> mine;
  for (const auto& [name, t] : state_dict(model)) mine[name] = t;
  for (const auto& [name, t] : mine) {
    auto it = file.find(name);
    if (it == file.end()) {
      if (!ends_with(name, ".num_batches_tracked")) missing.push_back(name);
    } else if (it->second.sizes() != t.sizes()) {
      bad_shape.push_back(str_format("{} {} (model {})", name, shape_text(it->second), shape_text(t)));
    } else {
      copies.emplace_back(t, it->second);
    }
  }
  for (const auto& [name, t] : file)
    if (!mine.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !bad_shape.empty()) {
    std::vector<std::string> parts;
    if (!bad_shape.empty()) parts.push_back("wrong shape " + some(bad_shape));
    if (!missing.empty()) parts.push_back("missing " + some(missing));
    if (!unexpected.empty()) parts.push_back("unexpected " + some(unexpected));
    throw UserError(
        str_format("'{}' does not fit the model its config describes ({}): {}", source,
                   model_signature(cfg), join(parts, "; ")),
        "the file's args or your --key values describe another architecture: check model, "
        "num_classes, use_slot, slots_per_class, hidden_dim, to_k_layer, channel and stem");
  }
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) dst.copy_(src.to(dst.scalar_type()));
  return static_cast<int64_t>(copies.size());
}

// A Python scalar of args as a config value (None: absent).
std::optional<std::string> arg_text(const PyScalar& v) {
  switch (v.kind) {
    case PyScalar::kNone: return std::nullopt;
    case PyScalar::kBool: return std::string(v.text == "True" ? "true" : "false");
    default: return v.text;
  }
}

struct ImportConfig {
  Config cfg;
  Origins origins;
  std::vector<std::string> from_args, ignored_args;
};

ImportConfig import_config(const std::string& source, const TorchCheckpoint& file,
                           const KeyValues& overrides) {
  ImportConfig ic;
  Config& cfg = ic.cfg;
  const std::string args_origin = str_format("args of '{}'", source);
  for (const auto& [name, value] : file.args) {
    const bool used = std::find(published_keys().begin(), published_keys().end(), name) !=
                      published_keys().end();
    auto text = arg_text(value);
    if (!used || !text) {
      ic.ignored_args.push_back(name);
      continue;
    }
    try {
      apply_override(cfg, name, *text, nullptr);
    } catch (const UserError& e) {
      throw UserError(str_format("{}: {} = {} is not valid here: {}", args_origin, name, value.text, e.what()),
                      str_format("override it with --{} VALUE", name));
    }
    ic.origins[name] = args_origin;
    ic.from_args.push_back(name);
  }
  for (const auto& [key, value] : overrides) {
    if (key == "config")
      throw UserError("command line: import takes no --config; its config comes from the file's args and --key values",
                      "set single keys, e.g. --dataset_dir DIR");
    apply_override(cfg, key, value, &ic.origins);
  }
  if (!ic.origins.count("output_dir"))
    throw UserError("command line: import needs --output_dir RUN (the run folder to create)",
                    "e.g. scouter import saved_model/MNIST_use_slot_checkpoint.pth --output_dir runs/published/mnist_pos");
  std::vector<std::string> missing;
  for (const auto& k : required_keys(cfg.use_slot))
    if (!ic.origins.count(k)) missing.push_back("--" + k);
  if (!missing.empty())
    throw UserError(
        str_format("'{}' has no training args ({}), so the model it holds is unknown: give {}",
                   source, file.args.empty() ? "a bare state_dict" : "args lack them",
                   join(missing, ", ")),
        "e.g. --dataset MNIST --model resnet18 --num_classes 10 --use_slot true --loss_status 1 "
        "--slots_per_class 1 (the published train.py options the model was trained with)");
  // An unknown dataset or model is refused by validate_run_config below, naming its origin.
  const DatasetSpec* data = find_dataset(cfg.dataset);
  const BackboneSpec* model = find_backbone(cfg.model);
  if (!ic.origins.count("dataset_dir") && data) cfg.dataset_dir = data->default_dir;
  // The published code swaps a 1-channel Conv2d(1, 64, 3, s2) in for the whole stem on MNIST;
  // for a model whose own stem stays on 1 channel (the deep-stem ResNeSt models) that is our
  // stem = "published".
  if (!ic.origins.count("stem") && data && data->channels == 1 && model &&
      model->mnist_stem == MnistStem::kOnRequest && holds_mnist_stem(file.tensors, *model)) {
    cfg.stem = "published";
    ic.origins["stem"] = "the file's single-conv MNIST stem";
  }
  // Weights come from the file; nothing else is loaded at start.
  cfg.use_pre = false;
  cfg.pre_checkpoint.clear();
  cfg.pretrained.clear();
  // The folder it writes; dataset_dir stays as given, for the commands that read it later.
  expand_env_paths(cfg, ic.origins, {"output_dir"});
  validate_run_config(cfg, ic.origins);
  return ic;
}

// What the run keeps of its dataset (RUN/dataset.json): the validation shards' when dataset_dir
// is a folder (they must be the run's dataset), else the dataset table's; nullopt (no file, said
// in a warning) for a registered dataset whose row has no normalisation.
std::optional<DatasetInfo> import_dataset_info(const Config& cfg) {
  std::string dir;
  try {
    dir = expand_env(cfg.dataset_dir, "dataset_dir");
  } catch (const UserError&) {
    // A variable unset here: the folder is for the machine that evaluates later.
  }
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) {
    std::optional<DatasetInfo> info =
        dataset_info_from_table(cfg.dataset, cfg.num_classes, cfg.img_size);
    if (!info) {
      log::warn("import: no dataset folder '{}', and the dataset table has no normalisation for "
                "{}: the run gets no dataset.json, so explain --image will need its shards",
                cfg.dataset_dir, cfg.dataset);
      return info;
    }
    if (info->num_classes < cfg.num_classes)
      throw UserError(str_format("import: num_classes = {}, but {} has {} classes",
                                 cfg.num_classes, cfg.dataset, info->num_classes),
                      str_format("valid: 1..{}", info->num_classes));
    const bool named = has_class_names(*info);
    log::info("import: no dataset folder '{}': the run keeps {}'s {} x {} x {} images, "
              "normalisation and {} from the dataset table",
              cfg.dataset_dir, info->dataset, info->channels, info->height, info->width,
              named ? "class names"
                    : "numbered classes (class 0, ...; import with --dataset_dir of its shards "
                      "for their names)");
    return info;
  }
  DatasetInfo info = dataset_info_from_shards(*ShardSet::open(dir, "val"));
  if (info.dataset != cfg.dataset || info.num_classes < cfg.num_classes ||
      info.channels != dataset_spec(cfg.dataset, "import").channels)
    throw UserError(str_format("import: the shards in '{}' hold {} ({} classes, {} channel(s)), "
                               "not {} with num_classes = {}",
                               cfg.dataset_dir, info.dataset, info.num_classes, info.channels,
                               cfg.dataset, cfg.num_classes),
                    "give --dataset_dir DIR of the model's dataset, or a folder that does not "
                    "exist to take the dataset table's values");
  log::info("import: the run keeps the form and class names of the shards in '{}'",
            cfg.dataset_dir);
  return info;
}

std::string import_json(const std::string& source, const TorchCheckpoint& file,
                        const ImportConfig& ic, int64_t epoch, int64_t tensors) {
  nlohmann::json args = nlohmann::json::object();
  for (const auto& [k, v] : file.args) args[k] = v.text;
  nlohmann::json j = {{"source", std::filesystem::absolute(source).lexically_normal().string()},
                      {"source_sha256", sha256_file(source)},
                      {"source_bytes", static_cast<int64_t>(std::filesystem::file_size(source))},
                      {"saved_epoch", file.epoch},
                      {"epochs_completed", epoch},
                      {"tensors", tensors},
                      {"args", args},
                      {"config_keys_from_args", ic.from_args},
                      {"ignored_args", ic.ignored_args},
                      {"imported_by", str_format("scouter {} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION)}};
  // The args are the file's bytes: a byte that is not UTF-8 is recorded as U+FFFD.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

ImportResult import_model(const std::string& source, const KeyValues& overrides,
                          const std::string& command_line) {
  {  // Every --key is a config key: an unknown one or a bad value fails before any file is read.
    Config scratch;
    for (const auto& [key, value] : overrides)
      if (key != "config") apply_override(scratch, key, value, nullptr);
  }
  if (!file_exists(source))
    throw UserError(str_format("import: '{}' does not exist", source),
                    "give a checkpoint of the published code (saved_model/<DATASET>_use_slot_checkpoint.pth) "
                    "or a torch.save / .safetensors state_dict of SlotModel");
  TorchCheckpoint file;
  if (is_zip(source)) {
    file = read_torch_checkpoint(source);
  } else {
    file.tensors = read_weights_file(source);  // .safetensors, or the error naming what it is
  }
  file.tensors = strip_module_prefix(file.tensors);
  bool any_backbone = false;
  for (const auto& [k, v] : file.tensors) any_backbone = any_backbone || starts_with(k, "backbone.");
  if (!any_backbone) {
    std::vector<std::string> names;
    for (const auto& [k, v] : file.tensors) names.push_back(k);
    throw UserError(str_format("'{}' is not a SlotModel's state_dict: none of its {} tensors is "
                               "named backbone.* (it has {})", source, names.size(), some(names)),
                    "import takes the published SlotModel (backbone.*, conv1x1.*, slot.*); backbone "
                    "weights alone (timm) go to `scouter train --pretrained FILE`");
  }
  ImportConfig ic = import_config(source, file, overrides);
  Config& cfg = ic.cfg;
  // The published default of use_slot is true; a file of an FC baseline holds backbone.fc.
  if (!cfg.use_slot && !file.tensors.count("backbone.fc.weight") && file.tensors.count("slot.initial_slots"))
    throw UserError(str_format("'{}' holds a SCOUTER head (slot.*) but use_slot = false ({})", source,
                               ic.origins.count("use_slot") ? ic.origins.at("use_slot") : "default"),
                    "set --use_slot true");

  ScouterModel model(cfg, dataset_spec(cfg.dataset, "import").channels);
  const int64_t tensors = copy_weights(file.tensors, *model, source, cfg);
  const std::optional<DatasetInfo> dataset = import_dataset_info(cfg);

  ImportResult r;
  r.cfg = cfg;
  r.tensors = tensors;
  r.from_args = ic.from_args;
  // The published "epoch" is the index of the last epoch trained (0-based); a bare state_dict
  // says nothing, so it counts as trained for cfg.epochs.
  r.epoch = file.epoch >= 0 ? file.epoch + 1 : cfg.epochs;
  // Every text first, so nothing is written for a file whose contents cannot be recorded.
  const std::string record = import_json(source, file, ic, r.epoch, tensors);
  const std::string config_toml = to_toml(cfg);

  // The run is built in a staging folder and appears whole or not at all: a new output_dir is
  // the staging folder renamed; into an existing (empty) one the staged files move with
  // config.toml last, which makes the folder a run (report, explain, a second import refused).
  const fs::path out = fs::absolute(cfg.output_dir).lexically_normal();
  const bool existed = fs::exists(out);
  std::unique_ptr<FolderLock> lock;
  if (existed) {
    lock = FolderLock::acquire(cfg.output_dir, 0.0, "scouter import", cfg.lock);
    if (file_exists(cfg.output_dir + "/config.toml") || !list_checkpoints(cfg.output_dir).empty())
      throw UserError(str_format("output_dir '{}' already holds a run", cfg.output_dir),
                      "import into a new folder (or delete that run first)");
  }
  const std::string stage =
      existed ? (out / str_format(".import.{}", ::getpid())).string()
              : (out.parent_path() / str_format(".{}.import.{}", out.filename().string(), ::getpid())).string();
  remove_tree(stage);
  ensure_dir(stage + "/checkpoints");
  try {
    TrainState state;
    state.epoch = r.epoch;
    const std::string staged = checkpoint_path(stage, r.epoch);
    save_checkpoint(staged, *model, nullptr, state, cfg);
    mark_complete(staged);
    write_text_file_atomic(stage + "/import.json", record);
    if (dataset) write_dataset_info(stage, *dataset);
    write_text_file_atomic(stage + "/command.txt", command_line + "\n");
    write_text_file_atomic(stage + "/version.txt",
                           str_format("scouter {} ({})\n", SCOUTER_VERSION, SCOUTER_GIT_VERSION));
    append_provenance(stage, import_attempt(source, cfg));
    write_text_file_atomic(stage + "/config.toml", config_toml);
    if (!existed) {
      if (::rename(stage.c_str(), out.c_str()) != 0)
        throw UserError(str_format("output_dir '{}' appeared while importing: {}", cfg.output_dir,
                                   os_reason(errno)),
                        "import into a new folder");
    } else {
      std::vector<std::string> names = {"checkpoints", "import.json", "command.txt", "version.txt", kProvenanceFile};
      if (dataset) names.push_back(kDatasetInfoFile);
      names.push_back("config.toml");  // last: it makes the folder a run
      for (const auto& name : names)
        if (::rename((stage + "/" + name).c_str(), (out / name).c_str()) != 0)
          throw Error(str_format("import: cannot move '{}' into '{}': {}", name, cfg.output_dir,
                                 os_reason(errno)));
      remove_tree(stage);
    }
    fsync_path(out.parent_path().string());
    fsync_path(out.string());
  } catch (...) {
    remove_tree(stage);
    throw;
  }
  if (lock) lock->record_holder();
  r.checkpoint = checkpoint_path(cfg.output_dir, r.epoch);
  return r;
}

std::string published_args(const Config& cfg) {
  const DatasetSpec* data = find_dataset(cfg.dataset);
  std::vector<std::string> a = {"--model " + cfg.model,
                                "--dataset " + (data && !data->published_name.empty()
                                                    ? data->published_name : cfg.dataset),
                                "--num_classes " + std::to_string(cfg.num_classes),
                                std::string("--use_slot ") + (cfg.use_slot ? "true" : "false")};
  if (cfg.use_slot) {
    a.push_back("--channel " + std::to_string(cfg.channel));
    for (const char* k : {"loss_status", "slots_per_class", "hidden_dim", "to_k_layer", "power", "lambda_value"})
      a.push_back(str_format("--{} {}", k, get_value_literal(cfg, k)));
  }
  a.push_back("--img_size " + std::to_string(cfg.img_size));
  return join(a, " ");
}

std::string export_model(const std::string& run_dir, const std::string& format,
                         const std::string& out_arg) {
  if (format != "pth" && format != "safetensors")
    throw UserError(str_format("command line: --format must be pth or safetensors, got '{}'", format),
                    "pth: torch.load(path); safetensors: safetensors.torch.load_file(path)");
  const TrainedRun run = read_trained_run(run_dir, "export");
  const Config& cfg = run.cfg;
  const std::string& ckpt = run.ckpt;
  const DatasetSpec& data = dataset_spec(cfg.dataset, ckpt + " (stored config)");
  ScouterModel model = load_trained_model(run, data.channels, torch::kCPU);
  const std::string out = out_arg.empty() ? run_dir + "/export/model." + format : out_arg;
  if (out_arg.empty()) ensure_dir(run_dir + "/export");

  auto tensors = state_dict(*model);
  if (format == "pth") {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [name, t] : tensors) dict.insert(name, t.detach().contiguous());
    std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
    write_file_atomic(out, bytes.data(), bytes.size());
  } else {
    std::map<std::string, std::string> meta = {
        {"format", "pt"},
        {"scouter_checkpoint", ckpt},
        {"published_args", published_args(cfg)},
        {"config_toml", run.info.config_toml}};
    write_safetensors(out, tensors, meta);
  }
  log::info("export: {} ({} tensors, epoch {}) -> {}", ckpt, tensors.size(), run.info.state.epoch, out);
  if (cfg.stem == "auto" && data.channels == 1 &&
      model->backbone->spec().mnist_stem == MnistStem::kOnRequest)
    log::warn("export: this {} has timm's deep stem on 1 channel; the published SlotModel with "
              "--dataset MNIST has a single-conv stem instead, so it will not load this file "
              "(train with stem = \"published\" for that)", cfg.model);
  return out;
}

}  // namespace scouter
