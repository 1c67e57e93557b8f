#include "launcher/commands.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "common/communicator.h"
#include "common/env_paths.h"
#include "common/error.h"
#include "common/files.h"
#include "common/key_doc.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/stop_signal.h"
#include "common/text.h"
#include "common/version.h"
#include "datasets/dataset_spec.h"
#include "datasets/idx_prep.h"
#include "datasets/image_prep.h"
#include "datasets/loader_bench.h"
#include "launcher/report.h"
#include "common/slurm_job.h"
#include "common/sweep.h"
#include "launcher/sweep_exec.h"
#include "worker/model/backbone_spec.h"
#include "worker/run/data.h"
#include "worker/run/device.h"
#include "worker/train/bench.h"
#include "worker/train/evaluate_run.h"
#include "worker/train/model_io.h"
#include "worker/explain/explain.h"
#include "worker/explain/explain_image.h"
#include "worker/train/trainer.h"
#include "worker/explain/vis.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// Each command's own true/false options. Like boolean config keys they may be written bare
// (`--all` = `--all true`, parse_args), and bool_option reads only these.
const std::map<std::string, std::vector<std::string>>& command_flags() {
  static const std::map<std::string, std::vector<std::string>> kFlags = {
      {"prep", {"overwrite"}},  {"explain", {"all", "metrics"}}, {"sweep", {"dry-run", "dry_run", "slurm", "smoke"}},
      {"report", {"html"}},     {"bench", {"scaling", "profile"}}, {"keys", {"markdown"}}};
  return kFlags;
}

// Options of commands that are not config keys.
struct CommandOptions {
  std::string command;
  std::vector<std::pair<std::string, std::string>> values;
  // parse_args refuses an option given twice (but a repeatable one), so there is at most one.
  std::string get(const std::string& key, const std::string& fallback = {}) const {
    for (auto it = values.rbegin(); it != values.rend(); ++it)
      if (it->first == key) return it->second;
    return fallback;
  }
};

CommandOptions take_options(const ParsedArgs& args, const std::vector<std::string>& allowed) {
  CommandOptions o;
  o.command = args.command;
  for (const auto& [k, v] : args.options) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      throw UserError(str_format("command line: '{}' does not take --{}", args.command, k),
                      "valid: " + (allowed.empty() ? std::string("no options")
                                                   : "--" + join(allowed, ", --")));
    o.values.emplace_back(k, v);
  }
  return o;
}

void no_positional(const ParsedArgs& args) {
  if (!args.positional.empty())
    throw UserError(str_format("command line: '{}' takes no argument '{}'", args.command,
                               args.positional[0]),
                    "options are written --key value");
}

int64_t int_option(const CommandOptions& o, const std::string& key, int64_t fallback, int64_t lo) {
  std::string s = o.get(key);
  if (s.empty()) return fallback;
  auto v = parse_int(s);
  if (!v || *v < lo)
    throw UserError(str_format("command line: --{} must be an integer >= {}, got '{}'", key, lo, s),
                    str_format("e.g. --{} {}", key, fallback));
  return *v;
}

// A command's own true/false option (one of command_flags()).
bool bool_option(const CommandOptions& o, const std::string& key, bool fallback) {
  SCOUTER_CHECK(is_command_flag(o.command, key), "--" + key + " is not in command_flags()");
  std::string s = o.get(key);
  if (s.empty()) return fallback;
  auto v = parse_bool(s);
  if (!v)
    throw UserError(str_format("command line: --{} must be true or false, got '{}'", key, s),
                    str_format("e.g. --{0} true, or --{0} alone", key));
  return *v;
}

int cmd_train(const ParsedArgs& args) {
  // First thing: a SIGTERM/SIGINT while the run is still starting ends it with a checkpoint and
  // the requeue status once the first step is done, not with the default death (143).
  install_stop_handlers();
  no_positional(args);
  Origins origins;
  Config cfg = config_from_args(args, origins);
  // Each rank in its own environment: a node-local stage_dir = "${TMPDIR}/..." is this node's.
  expand_env_paths(cfg, origins);
  validate_run_config(cfg, origins);
  // Every rank validates the same config, so a bad one fails everywhere before MPI starts.
  const Topology& topo = MpiEnv::init(nullptr, nullptr).topology();
  init_logging(topo.rank, cfg.log_level);
  if (topo.rank == 0)
    log::info("scouter {} ({}) train on {}; resolved config:\n{}", SCOUTER_VERSION,
              SCOUTER_GIT_VERSION, topo.describe(), to_table(cfg));
  // Written only once the run is accepted (folder locked, nothing refused it).
  auto records = [&] {
    write_text_file_atomic(cfg.output_dir + "/command.txt", args.command_line + "\n");
    write_text_file_atomic(cfg.output_dir + "/hosts.txt", join(topo.hosts, "\n") + "\n");
    write_text_file_atomic(cfg.output_dir + "/version.txt",
                           str_format("scouter {} ({})\n", SCOUTER_VERSION, SCOUTER_GIT_VERSION));
  };
  // The attention pictures of vis = true, written before summary.json marks the run complete.
  auto pictures = [&cfg](ScouterModel& model) {
    if (!cfg.vis) return;
    RunData all_val = open_run_data(cfg, false);
    write_attention_pictures(cfg, model, *all_val.val, *all_val.val_loader);
  };
  TrainResult r = train_run(cfg, origins, pictures, records);
  if (r.diverged) return kExitDiverged;
  return r.stopped_by != 0 ? kExitRequeue : kExitOk;
}

int cmd_vis(const ParsedArgs& args) {
  no_positional(args);
  Origins origins;
  Config cfg = config_from_args(args, origins);
  if (!origins.count("output_dir"))
    throw UserError("command line: vis needs --output_dir RUN (a trained run's folder)",
                    "e.g. scouter vis --output_dir runs/quickstart/scouter_pos --vis_count 4");
  expand_env_paths(cfg, origins, {"output_dir"});  // the others: from the run, by run_vis
  validate_run_config(cfg, origins);
  origins.erase("output_dir");
  run_vis(cfg, origins);
  return kExitOk;
}

// --box for `explain --image`: "x,y,w,h" for every image, or one per image joined by ':'
// ("-" for an image without a box), in the image file's pixels.
std::vector<SourceBox> parse_boxes(const std::string& text) {
  std::vector<SourceBox> boxes;
  if (text.empty()) return boxes;
  for (const std::string& item : split(text, ':')) {
    if (item == "-") {
      boxes.push_back(kNoBox);
      continue;
    }
    std::vector<std::string> parts = split(item, ',');
    SourceBox b = kNoBox;
    bool ok = parts.size() == 4;
    for (size_t k = 0; ok && k < 4; ++k) {
      auto v = parse_double(parts[k]);
      ok = v && std::isfinite(*v);
      if (ok) b[k] = *v;
    }
    if (!ok)
      throw UserError(str_format("command line: --box '{}' is not x,y,w,h (four numbers)", item),
                      "e.g. --box 10,20,64,48 (pixels of the image file), or one box per image "
                      "joined by ':' with '-' for none: --box 10,20,64,48:-:0,0,30,30");
    boxes.push_back(b);
  }
  return boxes;
}

// `scouter explain RUN --image FILE [FILE ...]`: the run is the first positional, every further
// positional is one more image (the command line gives --image one value). Checked before MPI
// starts, so these mistakes are told at once.
ImageExplainOptions image_options(const ParsedArgs& args, const CommandOptions& o,
                                  const ExplainOptions& opt) {
  for (const char* key : {"images", "all", "pictures", "metrics"})
    if (!o.get(key).empty())
      throw UserError(str_format("command line: explain --image does not take --{}", key),
                      "--image explains your own images; leave --image out to explain the "
                      "validation set");
  if (launcher_world_size() > 1)
    throw UserError("command line: explain --image runs in one process, not under mpirun",
                    "run scouter explain RUN --image FILE without mpirun");
  ImageExplainOptions io;
  io.images.push_back(o.get("image"));
  for (size_t i = 1; i < args.positional.size(); ++i) {
    const std::string& p = args.positional[i];
    if (fs::is_directory(p))
      throw UserError(
          str_format("command line: explain --image takes one run folder, then image files; "
                     "'{}' is a folder",
                     p),
          "explain images with one run at a time: scouter explain RUN --image a.jpg b.png");
    io.images.push_back(p);
  }
  io.boxes = parse_boxes(o.get("box"));
  io.classes = opt.classes;
  io.top_k = int_option(o, "top_k", io.top_k, 1);
  return io;
}

// Runs `explain --image` and prints its results for scripts.
int explain_images(const std::string& run, const ImageExplainOptions& io, const Config& request,
                   const Origins& origins) {
  auto results = run_explain_images(run, io, request, origins);
  // Tab-separated lines for scripts (docs/explanations.md); class names come last in a line.
  std::string out;
  for (const auto& r : results) {
    out += str_format("image\t{}\t{}\t{}\n", r.image, r.folder, r.json);
    out += str_format("pred\t{}\t{}\t{:.6f}\t{}\n", r.image, r.top[0].cls, r.top[0].probability,
                      r.top[0].name);
    for (size_t k = 0; k < r.top.size(); ++k)
      out += str_format("top\t{}\t{}\t{}\t{:.6f}\t{}\n", r.image, k + 1, r.top[k].cls,
                        r.top[k].probability, r.top[k].name);
    for (const auto& m : r.maps) {
      // The documented line carries the box precision (docs/explanations.md).
      const double precision = m.value("precision");
      out += str_format("map\t{}\t{}\t{}\t{}\t{}\n", r.image, m.method, m.cls, m.picture,
                        std::isfinite(precision) ? str_format("{:.6f}", precision) : "-");
    }
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

// `scouter explain RUN ...`: the command's own options, the rest are config keys that override
// the run's stored config where that makes sense (dataset_dir, metrics settings, threads).
int cmd_explain(const ParsedArgs& args) {
  if (args.positional.empty())
    throw UserError("command line: explain needs one or more run folders",
                    "e.g. scouter explain runs/quickstart/scouter_pos --images 200");
  static const std::vector<std::string> own = {"images",  "all",   "pictures", "classes",
                                               "metrics", "image", "box",      "top_k"};
  ParsedArgs config_args = args;
  config_args.options.clear();
  CommandOptions o;
  o.command = args.command;
  for (const auto& kv : args.options) {
    if (std::find(own.begin(), own.end(), kv.first) != own.end())
      o.values.push_back(kv);
    else
      config_args.options.push_back(kv);
  }
  ExplainOptions opt;
  opt.images = int_option(o, "images", opt.images, 1);
  opt.pictures = int_option(o, "pictures", opt.pictures, 0);
  opt.all = bool_option(o, "all", false);
  opt.metrics = bool_option(o, "metrics", true);
  if (opt.all && !o.get("images").empty())
    throw UserError("command line: explain takes --images N or --all, not both", "--all explains every validation image");
  for (std::string c : split(o.get("classes"), ',')) {
    c.erase(0, c.find_first_not_of(" \t"));
    c.erase(c.find_last_not_of(" \t") + 1);
    if (!c.empty()) opt.classes.push_back(c);
  }
  const bool image_mode = !o.get("image").empty();
  for (const char* key : {"box", "top_k"})
    if (!image_mode && !o.get(key).empty())
      throw UserError(str_format("command line: --{} goes with --image", key),
                      "e.g. scouter explain RUN --image cat.jpg --box 10,20,64,48 --top_k 3");
  ImageExplainOptions image;
  if (image_mode) image = image_options(args, o, opt);
  Origins origins;
  Config request = config_from_args(config_args, origins);
  if (origins.count("config"))
    throw UserError("command line: explain reads the run's own config; --config is not taken", "set single keys, e.g. --dataset_dir DIR");
  const Topology& topo = MpiEnv::init(nullptr, nullptr).topology();
  init_logging(topo.rank, request.log_level);
  if (image_mode) return explain_images(args.positional[0], image, request, origins);
  for (const auto& run : args.positional) run_explain(run, opt, request, origins);
  return kExitOk;
}

// `scouter import FILE --output_dir RUN [--key value ...]`: every option is a config key.
int cmd_import(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: import needs one weights file",
                    "e.g. scouter import saved_model/MNIST_use_slot_checkpoint.pth --output_dir runs/published/mnist_pos");
  init_logging(0);
  ImportResult r = import_model(args.positional[0], args.options, args.command_line);
  log::info("import: {} tensors from {} -> {} (epoch {}; config keys from the file's args: {})",
            r.tensors, args.positional[0], r.checkpoint, r.epoch,
            r.from_args.empty() ? std::string("none") : join(r.from_args, ", "));
  std::fputs(str_format("{}\n", r.cfg.output_dir).c_str(), stdout);
  log::info("next: scouter evaluate {} --dataset_dir {}   (shards from scouter prep {})",
            r.cfg.output_dir, r.cfg.dataset_dir, r.cfg.dataset);
  return kExitOk;
}

// `scouter evaluate RUN [--split val|train] [--key value ...]`.
int cmd_evaluate(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: evaluate needs one run folder",
                    "e.g. scouter evaluate runs/quickstart/scouter_pos --split val");
  ParsedArgs config_args = args;
  config_args.options.clear();
  std::string split = "val";
  for (const auto& kv : args.options) {
    if (kv.first == "split") split = kv.second;
    else config_args.options.push_back(kv);
  }
  Origins origins;
  Config request = config_from_args(config_args, origins);
  if (origins.count("config"))
    throw UserError("command line: evaluate reads the run's own config; --config is not taken",
                    "set single keys, e.g. --dataset_dir DIR");
  const Topology& topo = MpiEnv::init(nullptr, nullptr).topology();
  init_logging(topo.rank, request.log_level);
  EvaluateReport rep = evaluate_run(args.positional[0], split, request, origins);
  if (topo.rank == 0) {
    Config cfg;
    apply_toml_file(cfg, args.positional[0] + "/config.toml");
    std::fputs(evaluate_text(rep, cfg.use_slot).c_str(), stdout);
  }
  return kExitOk;
}

// `scouter export RUN --format pth|safetensors [--out FILE]`.
int cmd_export(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: export needs one run folder",
                    "e.g. scouter export runs/quickstart/scouter_pos --format pth");
  auto o = take_options(args, {"format", "out", "log_level"});
  init_logging(0, o.get("log_level", "info"));
  std::string out = export_model(args.positional[0], o.get("format", "pth"), o.get("out"));
  std::fputs(str_format("{}\n", out).c_str(), stdout);
  return kExitOk;
}

double double_option(const CommandOptions& o, const std::string& key, double fallback, double lo,
                     double hi) {
  std::string s = o.get(key);
  if (s.empty()) return fallback;
  auto v = parse_double(s);
  if (!v || *v < lo || *v > hi)
    throw UserError(str_format("command line: --{} must be a number in {}..{}, got '{}'", key, lo,
                               hi, s),
                    str_format("e.g. --{} {}", key, fallback));
  return *v;
}

// The image datasets (ImageNet, CUB200, ConText): decode + resize on every core, across ranks
// under mpirun.
int prep_images(const DatasetSpec& spec, const ParsedArgs& args) {
  const std::string& dataset = spec.name;
  auto o = take_options(args, {"src", "out", "num_classes", "img_size", "shard_size",
                               "max_bad_fraction", "threads", "seed", "overwrite"});
  ImagePrepOptions opt;
  opt.src = o.get("src");
  if (opt.src.empty())
    throw UserError(str_format("command line: prep {} needs --src DIR (the dataset's folder)",
                               dataset),
                    "e.g. scouter prep CUB200 --src ~/data/CUB_200_2011 --out data/cub25 --num_classes 25");
  opt.out = o.get("out", spec.default_dir);
  opt.num_classes = int_option(o, "num_classes", 0, 0);
  opt.img_size = int_option(o, "img_size", opt.img_size, 8);
  opt.shard_size = int_option(o, "shard_size", opt.shard_size, 1);
  opt.max_bad_fraction = double_option(o, "max_bad_fraction", opt.max_bad_fraction, 0, 1);
  opt.seed = static_cast<uint64_t>(int_option(o, "seed", 0, 0));
  opt.overwrite = bool_option(o, "overwrite", false);
  // Under mpirun the ranks share the shards; on one node they share its cores.
  std::unique_ptr<Communicator> comm;
  int ranks_here = 1;
  if (launcher_world_size() > 1) {
    const Topology& topo = MpiEnv::init(nullptr, nullptr).topology();
    init_logging(topo.rank);
    ranks_here = topo.local_size;
    // Ranks wait for each other only at the end, up to a shard's conversion apart.
    comm = std::make_unique<Communicator>(MPI_COMM_WORLD, 3600.0);
    if (topo.rank == 0) log::info("prep {} on {}", dataset, topo.describe());
  }
  opt.threads = int_option(o, "threads", std::max<int64_t>(1, resolve_threads(0) / ranks_here), 1);
  ImagePrepResult r = prep_image_dataset(dataset, opt, comm.get());
  if (comm) comm->shutdown();
  if (r.up_to_date) {
    log::info("prep {}: {} train and {} val samples in {}, already up to date", dataset,
              r.train_count, r.val_count, opt.out);
  } else {
    log::info("prep {}: {} train and {} val samples in {} ({} shards, {} converted now); {} of "
              "{} source images bad (skipped: unreadable, or a box outside the image)",
              dataset, r.train_count, r.val_count, opt.out, r.shards_total, r.shards_converted,
              r.bad_count, r.source_count);
    if (r.images_decoded > 0)
      log::info("prep {}: decoded {} images in {:.2f} s: {:.1f} img/s ({} rank(s) x {} "
                "thread(s))",
                dataset, r.images_decoded, r.convert_seconds,
                r.images_decoded / std::max(r.convert_seconds, 1e-9), comm ? comm->size() : 1,
                opt.threads);
  }
  return kExitOk;
}

int cmd_prep(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: prep needs one dataset name",
                    "e.g. scouter prep FashionMNIST --out data/fashion-mnist");
  const DatasetSpec* image = find_dataset(args.positional[0]);
  if (image && image->kind == DatasetKind::kImages) return prep_images(*image, args);
  // The IDX options first, as for an unknown name: an unknown option is named before the name.
  auto o = take_options(args, {"src", "out", "shard_size", "overwrite"});
  const DatasetSpec& spec = dataset_spec(args.positional[0], "command line");
  const std::string& dataset = spec.name;
  std::string src = o.get("src", spec.default_src);
  if (src.empty())
    throw UserError(str_format("command line: prep {} needs --src DIR (the folder of the four IDX "
                               "files)", dataset),
                    "e.g. --src ~/data/" + to_lower(dataset));
  std::string out = o.get("out", spec.default_dir);
  int64_t shard_size = int_option(o, "shard_size", Config{}.shard_size, 1);
  PrepResult r =
      prep_idx_dataset(dataset, src, out, shard_size, bool_option(o, "overwrite", false));
  log::info("prep {}: {} train and {} val samples in {} ({}){}", dataset, r.train_count,
            r.val_count, out, r.train_paths.size() + r.val_paths.size() == 1 ? "1 shard" :
            str_format("{} shards", r.train_paths.size() + r.val_paths.size()),
            r.skipped ? ", already up to date" : "");
  return kExitOk;
}

// `scouter bench --loader DIR`: the batch loader alone over a folder of shards.
int bench_loader(const CommandOptions& o) {
  LoaderBenchOptions opt;
  opt.dir = o.get("loader");
  opt.batch_size = int_option(o, "batch_size", opt.batch_size, 1);
  opt.epochs = int_option(o, "epochs", opt.epochs, 1);
  opt.threads = int_option(o, "threads", opt.threads, 0);
  opt.img_size = int_option(o, "img_size", opt.img_size, 0);
  std::fputs(loader_bench_table(run_loader_bench(opt)).c_str(), stdout);
  return kExitOk;
}

int cmd_bench(const ParsedArgs& args) {
  no_positional(args);
  auto o = take_options(args, {"steps", "threads", "filter", "scaling", "loader", "batch_size",
                               "epochs", "img_size", "precision", "profile"});
  const bool profile = bool_option(o, "profile", false);
  if (profile && (!o.get("loader").empty() || bool_option(o, "scaling", false)))
    throw UserError("--profile true times one process's training step; it does not combine with "
                    "--loader or --scaling",
                    "run `scouter bench --profile true [--filter TEXT]` alone");
  if (!o.get("loader").empty()) return bench_loader(o);
  BenchOptions opt;
  opt.profile = profile;
  opt.steps = int_option(o, "steps", opt.steps, 1);
  opt.threads = int_option(o, "threads", opt.threads, 0);
  opt.filter = o.get("filter");
  opt.scaling = bool_option(o, "scaling", false);
  if (!o.get("precision").empty()) opt.precision = o.get("precision");
  if (opt.precision != "fp32" && opt.precision != "bf16" && opt.precision != "auto")
    throw UserError("--precision " + opt.precision + " is not a precision", "valid: fp32, bf16, auto");
  auto results = run_bench(opt);
  if (!opt.scaling || MpiEnv::get().topology().rank == 0)
    std::fputs((bench_header() + bench_table(results) + bench_profiles(results)).c_str(), stdout);
  return kExitOk;
}

int cmd_keys(const ParsedArgs& args) {
  no_positional(args);
  auto o = take_options(args, {"markdown"});
  bool md = bool_option(o, "markdown", false);
  Config defaults;
  std::string group;
  if (md) std::fputs("| key | default | meaning |\n| --- | --- | --- |\n", stdout);
  // The plain table's columns are as wide as the longest key and the longest default, so every
  // default and every meaning starts in the same column.
  auto pad_right = [](const std::string& s, size_t width) {
    return s + std::string(width - s.size(), ' ');
  };
  size_t key_width = 0, value_width = 0;
  for (const auto& k : config_keys()) {
    key_width = std::max(key_width, k.name.size());
    value_width = std::max(value_width, get_value_literal(defaults, k.name).size());
  }
  for (const auto& k : config_keys()) {
    std::string value = get_value_literal(defaults, k.name);
    if (md) {
      std::fputs(str_format("| `{}` | `{}` | {} |\n", k.name, value, key_doc(k)).c_str(), stdout);
    } else {
      if (k.group != group) std::fputs(str_format("[{}]\n", group = k.group).c_str(), stdout);
      std::fputs(str_format("  {}  {}  {}\n", pad_right(k.name, key_width),
                            pad_right(value, value_width), key_doc(k)).c_str(), stdout);
    }
  }
  return kExitOk;
}

// The node size of a run's partition, from one `sinfo` (none, when it cannot run: not checked).
NodeCores slurm_node_cores() {
  auto partitions = std::make_shared<SlurmPartitions>();
  if (FILE* p = popen("sinfo -h -o '%P %c' 2>/dev/null", "r")) {
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
    if (pclose(p) == 0) *partitions = parse_sinfo(text);
  }
  if (partitions->smallest_node.empty())
    log::warn("sweep: sinfo cannot tell the nodes' size; threads_per_rank = 0 leaves "
              "--cpus-per-task to Slurm (each rank uses the cores it may run on)");
  return [partitions](const std::string& partition, const std::string& where) {
    return partition_cores(*partitions, partition, where);
  };
}

int cmd_sweep(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: sweep needs one sweep file", "e.g. scouter sweep experiments/mnist.toml --dry-run true");
  auto o = take_options(args, {"dry-run", "dry_run", "slurm", "dir", "smoke", "set"});
  bool dry = bool_option(o, "dry-run", bool_option(o, "dry_run", false));
  bool slurm = bool_option(o, "slurm", false);
  SweepOverrides overrides;
  overrides.smoke = bool_option(o, "smoke", false);
  for (const auto& [k, v] : o.values)
    if (k == "set") overrides.sets.push_back(v);
  const int64_t here = resolve_threads(0);
  Sweep sweep = load_sweep(args.positional[0], o.get("dir"),
                           slurm ? slurm_node_cores()
                                 : NodeCores([here](const std::string&, const std::string&) { return here; }),
                           check_table_keys, overrides);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  if (dry) {
    std::string text = describe_sweep(sweep);
    for (const auto& r : sweep.runs) text += str_format("  {}: {}\n", r.name, state_name(run_state(r)));
    std::fputs(text.c_str(), stdout);
    if (!slurm) return kExitOk;
  }
  if (slurm) {
    auto subs = submit_sweep_slurm(sweep, self, dry);
    if (subs.empty()) log::info("sweep {}: every run is complete; nothing submitted", sweep.name);
    if (dry)
      for (const auto& s : subs)
        std::fputs(str_format("==> {} <==\n{}\n", s.script, s.text).c_str(), stdout);
    for (const auto& s : subs)
      std::fputs(str_format("{} {}: {} run(s){} -> {}\n", s.job_id.empty() ? "(dry run)" : "job " + s.job_id,
                            s.group, s.runs.size(),
                            s.dependency.empty() ? "" : ", " + s.dependency, s.script).c_str(),
                 stdout);
    return kExitOk;
  }
  int stopped_by = 0;
  int left = run_sweep_local(sweep, self, &stopped_by);
  if (stopped_by != 0) return kExitRequeue;
  log::info("sweep {}: {} of {} runs complete; results: scouter report {}", sweep.name,
            sweep.runs.size() - static_cast<size_t>(left), sweep.runs.size(), sweep.dir);
  return left == 0 ? kExitOk : kExitFailure;
}

int cmd_report(const ParsedArgs& args) {
  auto o = take_options(args, {"html", "reference"});
  if (args.positional.empty())
    throw UserError("command line: report needs one or more folders", "e.g. scouter report runs/quickstart");
  ReportOptions options;
  options.html = bool_option(o, "html", false);
  options.reference = o.get("reference");
  std::fputs(report_table(args.positional, options).c_str(), stdout);
  return kExitOk;
}

}  // namespace

Config config_from_args(const ParsedArgs& args, Origins& origins) {
  Config cfg;
  for (const auto& [k, v] : args.options)
    if (k == "config") apply_toml_file(cfg, v, &origins);
  for (const auto& [k, v] : args.options)
    if (k != "config") apply_override(cfg, k, v, &origins);
  return cfg;
}

bool is_repeatable_option(const std::string& command, const std::string& key) {
  return command == "sweep" && key == "set";
}

bool is_command_flag(const std::string& command, const std::string& key) {
  auto it = command_flags().find(command);
  return it != command_flags().end() &&
         std::find(it->second.begin(), it->second.end(), key) != it->second.end();
}

int run_command(const ParsedArgs& args) {
  const std::string& c = args.command;
  if (args.help && !command_usage(c).empty()) {
    std::fputs(command_usage(c).c_str(), stdout);
    return kExitOk;
  }
  if (c == "train") return cmd_train(args);
  if (c == "vis") return cmd_vis(args);
  if (c == "explain") return cmd_explain(args);
  if (c == "prep") return cmd_prep(args);
  if (c == "import") return cmd_import(args);
  if (c == "evaluate") return cmd_evaluate(args);
  if (c == "export") return cmd_export(args);
  if (c == "bench") return cmd_bench(args);
  if (c == "keys") return cmd_keys(args);
  if (c == "report") return cmd_report(args);
  if (c == "sweep") return cmd_sweep(args);
  if (c == "version" || c == "--version") {
    std::fputs(str_format("scouter {} ({})\n", SCOUTER_VERSION, SCOUTER_GIT_VERSION).c_str(), stdout);
    return kExitOk;
  }
  throw UserError(str_format("unknown command '{}'", c),
                  "valid: prep, train, import, evaluate, export, vis, explain, sweep, report, bench, keys, "
                  "version (scouter help)");
}

}  // namespace scouter
