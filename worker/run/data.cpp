#include "worker/run/data.h"

#include "common/error.h"
#include "common/log.h"

namespace scouter {

std::vector<int64_t> samples_of_first_classes(const ShardSet& shards, int64_t num_classes) {
  std::vector<int64_t> idx;
  const auto& labels = shards.labels();
  idx.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < num_classes) idx.push_back(static_cast<int64_t>(i));
  return idx;
}

namespace {

// num_classes must fit the shards (UserError); another dataset than the config names is told.
void check_against_config(const ShardMeta& meta, const Config& cfg) {
  if (cfg.num_classes > meta.num_classes)
    throw UserError(str_format("num_classes = {} but dataset '{}' in {} has {} classes",
                               cfg.num_classes, meta.dataset, cfg.dataset_dir, meta.num_classes),
                    str_format("valid: 2..{}", meta.num_classes));
  if (meta.dataset != cfg.dataset)
    log::warn("config says dataset = {} but the shards in {} hold {}", cfg.dataset,
              cfg.dataset_dir, meta.dataset);
}

std::unique_ptr<BatchLoader> eval_loader(const std::shared_ptr<ShardSet>& shards, const Config& cfg,
                                         const std::string& split, int rank, int world, bool raw) {
  LoaderOptions opt;
  opt.batch_size = cfg.effective_eval_batch_size();
  opt.shuffle = false;
  opt.drop_last = false;
  opt.seed = static_cast<uint64_t>(cfg.seed);
  opt.img_size = cfg.img_size;
  opt.prefetch = cfg.prefetch;
  opt.raw = raw;
  std::vector<int64_t> samples = samples_of_first_classes(*shards, cfg.num_classes);
  if (samples.empty())
    throw UserError(str_format("no {} samples of the first {} classes in {}", split == "val" ? "validation" : split,
                               cfg.num_classes, cfg.dataset_dir),
                    "check num_classes and the shards");
  opt.indices = eval_part(samples, world, rank);
  if (opt.indices.empty())
    throw UserError(str_format("{} ranks but only {} {} samples", world, samples.size(), split == "val" ? "validation" : split),
                    "use fewer ranks than samples");
  return std::make_unique<BatchLoader>(shards, std::move(opt));
}

}  // namespace

std::unique_ptr<BatchLoader> open_eval_loader(const Config& cfg, const std::string& split, int rank,
                                              int world, std::shared_ptr<ShardSet>* shards, bool raw) {
  *shards = ShardSet::open(cfg.dataset_dir, split);
  check_against_config((*shards)->meta(), cfg);
  return eval_loader(*shards, cfg, split, rank, world, raw);
}

RunData open_run_data(const Config& cfg, bool with_train, int rank, int world, bool raw) {
  RunData d;
  d.val = ShardSet::open(cfg.dataset_dir, "val");
  const ShardMeta& meta = d.val->meta();
  check_against_config(meta, cfg);
  d.in_chans = meta.channels;

  d.val_loader = eval_loader(d.val, cfg, "val", rank, world, raw);

  if (with_train) {
    d.train = ShardSet::open(cfg.dataset_dir, "train");
    const ShardMeta& tm = d.train->meta();
    if (tm.channels != meta.channels || tm.num_classes != meta.num_classes)
      throw UserError(str_format("train and val shards in {} disagree (channels {} vs {}, "
                                 "classes {} vs {})", cfg.dataset_dir, tm.channels,
                                 meta.channels, tm.num_classes, meta.num_classes),
                      "re-run `scouter prep` into an empty folder");
    LoaderOptions opt;
    opt.batch_size = cfg.batch_size;
    opt.shuffle = true;
    opt.drop_last = true;
    opt.seed = static_cast<uint64_t>(cfg.seed);
    opt.img_size = cfg.img_size;
    opt.aug = cfg.aug;
    opt.prefetch = cfg.prefetch;
    opt.raw = raw;
    auto plan = std::make_shared<DataPlan>();
    plan->samples = samples_of_first_classes(*d.train, cfg.num_classes);
    plan->shard_first = d.train->shard_firsts();
    plan->block = cfg.shuffle_block;
    plan->seed = static_cast<uint64_t>(cfg.seed);
    plan->world = world;
    plan->batch = cfg.batch_size;
    plan->micro = cfg.accum_steps;
    if (plan->steps_per_epoch() < 1)
      throw UserError(str_format("{} training samples of the first {} classes are fewer than "
                                 "one batch of {} per rank on {} rank(s){}",
                                 plan->samples.size(), cfg.num_classes, cfg.batch_size, world,
                                 cfg.accum_steps > 1 ? str_format(" x {} micro-batches (accum_steps)",
                                                                  cfg.accum_steps)
                                                     : std::string()),
                      cfg.accum_steps > 1 ? "lower batch_size or accum_steps, or use fewer ranks"
                                          : "lower batch_size or use fewer ranks");
    opt.indices = plan->samples;
    opt.plan = [plan, rank](int64_t epoch) { return plan->rank_samples(epoch, rank); };
    d.plan = plan;
    d.train_loader = std::make_unique<BatchLoader>(d.train, std::move(opt));
  }
  return d;
}

}  // namespace scouter
