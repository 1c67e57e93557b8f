#include "worker/run/trained_run.h"

#include <filesystem>

#include "common/env_paths.h"
#include "common/error.h"
#include "common/format.h"
#include "common/text.h"
#include "worker/model/backbone_spec.h"
#include "worker/run/data.h"
#include "worker/run/device.h"

namespace scouter {

TrainedRun read_trained_run(const std::string& run_dir, const std::string& command) {
  TrainedRun run;
  run.dir = run_dir;
  run.ckpt = latest_verified_checkpoint(run_dir);
  if (run.ckpt.empty())
    throw UserError(
        str_format("{}: no checkpoint in '{}/checkpoints' is complete and verifies", command,
                   run_dir),
        str_format("{} takes a run folder that has trained (e.g. scouter {} runs/x/fc), or one "
                   "made by scouter import",
                   command, command == "vis" ? "vis --output_dir" : command));
  run.info = read_checkpoint_info(run.ckpt);
  apply_toml_text(run.trained, run.info.config_toml, run.ckpt + " (stored config)");
  run.cfg = run.trained;
  return run;
}

TrainedRun open_trained_run(const std::string& run_dir, const Config& request,
                            const Origins& origins, const std::string& command) {
  TrainedRun run = read_trained_run(run_dir, command);
  run.cfg = trained_run_config(run.ckpt, run.info, run_dir, request, origins, command);
  validate_run_config(run.cfg, origins);
  return run;
}

void refuse_input_changes(const Config& trained_cfg, const Config& cfg, const Origins& origins,
                          int64_t stored_size, const std::string& command) {
  // Not model keys (the weights fit any value), but the model would see other inputs, or its
  // logits would be read with the other sign, than in training: the numbers would be silently
  // about another model.
  for (const char* key : {"dataset", "loss_status"}) {
    auto it = origins.find(key);
    if (it == origins.end()) continue;
    std::string trained = get_value_literal(trained_cfg, key);
    std::string asked = get_value_literal(cfg, key);
    if (asked != trained)
      throw UserError(
          str_format("{} {}: the run was trained with {} = {}", it->second, asked, key, trained),
          command + " measures the model as it was trained; leave --" + std::string(key) + " out");
  }
  auto it = origins.find("img_size");
  if (it == origins.end()) return;
  // As input sizes: 0 is the stored size.
  const int64_t trained = trained_cfg.img_size > 0 ? trained_cfg.img_size : stored_size;
  const int64_t asked = cfg.img_size > 0 ? cfg.img_size : stored_size;
  if (asked != trained)
    throw UserError(
        str_format("{} {}: the run was trained at img_size = {}{}", it->second, cfg.img_size,
                   trained_cfg.img_size,
                   trained_cfg.img_size > 0 ? std::string()
                                            : str_format(" (the stored size, {} px)", trained)),
        str_format("{} feeds the model inputs of the trained size ({} px); leave --img_size out",
                   command, trained));
}

Config trained_run_config(const std::string& ckpt, const CheckpointInfo& info,
                          const std::string& run_dir, const Config& request,
                          const Origins& origins, const std::string& command) {
  Config cfg;
  Origins where_set;
  apply_toml_text(cfg, info.config_toml, ckpt + " (stored config)", &where_set);
  for (const auto& [key, where] : origins) {
    const KeyInfo* k = find_key(key);
    if (k && k->architecture)
      throw UserError(str_format("{}: '{}' is fixed by the trained run", where, key),
                      command + " uses the run's own model settings; leave it out");
    copy_key(cfg, request, key);
    where_set[key] = where;
  }
  // Here, where this command runs. The run folder is given, not expanded; stage_dir is for
  // training only (left as written: a login node need not have the job's $TMPDIR).
  expand_env_paths(cfg, where_set, {"dataset_dir"});
  cfg.output_dir = run_dir;
  cfg.use_pre = false;
  cfg.pre_checkpoint.clear();
  cfg.pretrained.clear();
  return cfg;
}

ScouterModel load_trained_model(const TrainedRun& run, int64_t in_chans, torch::Device device) {
  ScouterModel model(run.cfg, in_chans);
  load_checkpoint(run.ckpt, *model, nullptr, run.cfg, false);
  model->to(device);
  model->eval();
  return model;
}

std::optional<DatasetInfo> run_dataset_info(const TrainedRun& run) {
  std::optional<DatasetInfo> info = read_dataset_info(run.dir);
  if (!info) return info;
  const std::string path = run.dir + "/" + kDatasetInfoFile;
  const Config& cfg = run.trained;
  if (info->dataset != cfg.dataset || info->num_classes < cfg.num_classes)
    throw UserError(
        str_format("'{}' describes {} with {} classes, but the run was trained on {} with "
                   "num_classes = {}",
                   path, info->dataset, info->num_classes, cfg.dataset, cfg.num_classes),
        "the file belongs to another run: delete it to read the dataset's shards instead");
  return info;
}

namespace {

// The shards the command reads must hold the classes the run was trained on, in its order, as
// images of its channels: else its labels or inputs would be another dataset's.
void check_shards_match(const DatasetInfo& info, const ShardMeta& meta, const Config& cfg,
                        const std::string& command) {
  const auto k = static_cast<size_t>(cfg.num_classes);
  const bool same_classes =
      !has_class_names(info) ||
      (meta.class_names.size() >= k && info.class_names.size() >= k &&
       std::equal(info.class_names.begin(), info.class_names.begin() + static_cast<long>(k),
                  meta.class_names.begin()));
  if (meta.dataset == info.dataset && meta.channels == info.channels && same_classes) return;
  throw UserError(
      str_format("{}: the shards in '{}' ({}, {} channel(s)) are not the run's dataset ({}, {} "
                 "channel(s), classes {} as in {}/{})",
                 command, cfg.dataset_dir, meta.dataset, meta.channels, info.dataset,
                 info.channels, same_classes ? "the same" : "other", cfg.output_dir,
                 kDatasetInfoFile),
      "give --dataset_dir DIR of the shards the run was trained on");
}

}  // namespace

void LoadedRun::open_data(const Origins& origins, const LoadOptions& options) {
  const Config& cfg = run.cfg;
  std::optional<DatasetInfo> stored = run_dataset_info(run);
  if (!options.read_images && stored) {
    dataset = *stored;
    meta_ = shard_meta_of(dataset);
  } else {
    std::error_code ec;
    if (!stored && !options.read_images && !std::filesystem::is_directory(cfg.dataset_dir, ec))
      throw UserError(
          str_format("{}: '{}' has no {} (made before scouter kept its dataset's form) and its "
                     "dataset folder '{}' does not exist",
                     options.command, run.dir, kDatasetInfoFile, cfg.dataset_dir),
          "give --dataset_dir DIR of the shards it was trained on: the images' size, channels, "
          "normalisation and class names come from them");
    const bool part = options.rank_part;
    loader = open_eval_loader(cfg, options.split, part ? dist.rank() : 0, part ? dist.world() : 1,
                              &shards);
    meta_ = shards->meta();
    if (stored) check_shards_match(*stored, meta_, cfg, options.command);
    // The shards name the classes of a run imported without them.
    dataset = stored && has_class_names(*stored) ? *stored : dataset_info_from_shards(*shards);
  }
  refuse_input_changes(run.trained, cfg, origins, dataset.height, options.command);
}

LoadedRun::LoadedRun(const std::string& run_dir, const Config& request, const Origins& origins,
                     const LoadOptions& options)
    : run(open_trained_run(run_dir, request, origins, options.command)),
      dist(run.cfg),
      threads(configure_threads(run.cfg.threads)),
      device(pick_device(run.cfg, dist.topology())) {
  open_data(origins, options);
  model = load_trained_model(run, meta_.channels, device);
}

}  // namespace scouter
