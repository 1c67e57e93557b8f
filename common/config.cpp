#include "common/config.h"
#include "common/config_toml.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <variant>

#include "common/error.h"
#include "common/files.h"
#include "common/key_doc.h"
#include "common/text.h"

namespace scouter {
namespace {

using Member =
    std::variant<int64_t Config::*, double Config::*, bool Config::*, std::string Config::*>;

struct KeyDef {
  KeyInfo info;
  Member member;
};

// The registry: one line per key. `architecture` keys decide the shapes of the weights.
const std::vector<KeyDef>& defs() {
  using K = KeyType;
  static const std::vector<KeyDef> d = {
      {{"dataset", K::kString, "data", "dataset name", false}, &Config::dataset},
      {{"dataset_dir", K::kString, "data", "folder holding the HDF5 shards written by `scouter prep` (may name environment variables: $VAR, ${VAR}, ${VAR:-default})", false}, &Config::dataset_dir},
      {{"num_classes", K::kInt, "data", "classes used (the first num_classes of the dataset)", true}, &Config::num_classes},
      {{"img_size", K::kInt, "data", "square input size in pixels, bilinear resize; 0 keeps the stored size", false}, &Config::img_size},
      {{"aug", K::kBool, "data", "random affine jitter (and flips where the dataset allows them) on training images", false}, &Config::aug},
      {{"model", K::kString, "model", "backbone", true}, &Config::model},
      {{"use_slot", K::kBool, "model", "true: SCOUTER (xSlot head); false: FC baseline", true}, &Config::use_slot},
      {{"use_pre", K::kBool, "model", "initialise the backbone from the FC baseline's checkpoint (pre_checkpoint, or the one FC run beside output_dir)", false}, &Config::use_pre},
      {{"pre_checkpoint", K::kString, "model", "FC baseline checkpoint (.h5) or run folder used by use_pre; empty: the sibling folder of output_dir holding the FC run of the same dataset, model and num_classes", false}, &Config::pre_checkpoint},
      {{"pretrained", K::kString, "model", "backbone weights (.pth/.pt torch.save state_dict or .safetensors) loaded before training; freeze_layers applies", false}, &Config::pretrained},
      {{"stem", K::kString, "model", "auto: timm's stem (1-channel resnet18/50: the published MNIST conv); published: the published MNIST stem, one Conv2d(1, 64, 3, stride 2) for every model (what the authors' MNIST ResNeSt checkpoints hold)", true}, &Config::stem},
      {{"channel", K::kInt, "model", "backbone feature channels; 0 derives them from the backbone", true}, &Config::channel},
      {{"hidden_dim", K::kInt, "model", "slot dimension d (a multiple of 4)", true}, &Config::hidden_dim},
      {{"loss_status", K::kInt, "model", "1: SCOUTER+ (why this class), -1: SCOUTER- (why not)", false}, &Config::loss_status},
      {{"slots_per_class", K::kInt, "model", "slots per class", true}, &Config::slots_per_class},
      {{"power", K::kFloat, "model", "exponent of the attention-area loss", false}, &Config::power},
      {{"to_k_layer", K::kInt, "model", "Linear layers in the key projection to_k", true}, &Config::to_k_layer},
      {{"lambda_value", K::kFloat, "model", "weight of the attention-area loss", false}, &Config::lambda_value},
      {{"freeze_layers", K::kInt, "model", "with loaded backbone weights (pretrained or use_pre): freeze the stem and layer1..layer<n> (0..4; 0 freezes nothing)", false}, &Config::freeze_layers},
      {{"batch_size", K::kInt, "train", "training batch size (the last partial batch is dropped)", false}, &Config::batch_size},
      {{"accum_steps", K::kInt, "train", "micro-batches of batch_size each rank accumulates per optimizer step (1..1024): one step averages ranks x accum_steps micro-batches, exactly as ranks x accum_steps ranks with one each would (docs/distributed.md)", false}, &Config::accum_steps},
      {{"eval_batch_size", K::kInt, "train", "evaluation batch size; 0 uses batch_size", false}, &Config::eval_batch_size},
      {{"epochs", K::kInt, "train", "training epochs", false}, &Config::epochs},
      {{"lr", K::kFloat, "train", "AdamW learning rate", false}, &Config::lr},
      {{"lr_drop", K::kInt, "train", "StepLR period in epochs (gamma 0.1)", false}, &Config::lr_drop},
      {{"weight_decay", K::kFloat, "train", "AdamW weight decay (the published code ran with 0.01)", false}, &Config::weight_decay},
      {{"seed", K::kInt, "train", "seed of weights, data order and augmentation", false}, &Config::seed},
      {{"threads", K::kInt, "train", "intra-op threads; 0 uses the cores this process may run on", false}, &Config::threads},
      {{"prefetch", K::kInt, "train", "batches prepared ahead on the loader thread", false}, &Config::prefetch},
      {{"precision", K::kString, "train", "fp32, bf16 (the backbone under autocast: bfloat16 convolutions and matrix products, channels_last; the slot head, FC head and loss in float32), or auto: bf16 where the device does bf16 in hardware (GPUs of compute capability 8.0+, CPUs with AMX-BF16 or AVX512-BF16), else fp32. On a CPU without them bf16 is emulated and slower than fp32", false}, &Config::precision},
      {{"cuda_graphs", K::kBool, "train", "on CUDA, capture the training step (forward, loss, backward, NCCL averaging, AdamW) as one CUDA graph and replay it; eager steps where a graph cannot be used (MPI averaging, accum_steps > 1)", false}, &Config::cuda_graphs},
      {{"output_dir", K::kString, "output", "run folder: config, metrics, checkpoints, pictures (may name environment variables)", false}, &Config::output_dir},
      {{"resume", K::kBool, "output", "continue from the newest checkpoint in output_dir", false}, &Config::resume},
      {{"keep_checkpoints", K::kInt, "output", "checkpoints kept in output_dir/checkpoints", false}, &Config::keep_checkpoints},
      {{"lock", K::kString, "output", "one writer per output_dir: auto (flock; where the file system refuses flock, the lock file .lock.held), flock, file, none (no lock: two writers would mix checkpoints)", false}, &Config::lock},
      {{"log_level", K::kString, "output", "trace, debug, info, warn, error", false}, &Config::log_level},
      {{"vis", K::kBool, "vis", "write attention pictures after training", false}, &Config::vis},
      {{"vis_id", K::kInt, "vis", "index of the first validation image pictured", false}, &Config::vis_id},
      {{"vis_count", K::kInt, "vis", "number of validation images pictured", false}, &Config::vis_count},
      {{"grad_min_level", K::kFloat, "explain", "FC runs' CAM maps: values below this level (of the min-max normalised map) are raised to it, then the map is normalised again (published --grad_min_level)", false}, &Config::grad_min_level},
      {{"explain_step", K::kInt, "explain", "insertion/deletion: pixels revealed or removed per step; 0 uses the image width (RISE)", false}, &Config::explain_step},
      {{"infidelity_sigma", K::kFloat, "explain", "infidelity: std of the Gaussian perturbations, in normalised input units", false}, &Config::infidelity_sigma},
      {{"infidelity_samples", K::kInt, "explain", "infidelity: perturbations per image", false}, &Config::infidelity_samples},
      {{"sensitivity_radius", K::kFloat, "explain", "max-sensitivity: radius of the uniform perturbations, in normalised input units", false}, &Config::sensitivity_radius},
      {{"sensitivity_samples", K::kInt, "explain", "max-sensitivity: perturbations per image", false}, &Config::sensitivity_samples},
      {{"device", K::kString, "dist", "cpu; cuda (a CUDA LibTorch build; each rank uses its local rank's GPU); or auto: cuda where this LibTorch has CUDA and sees a GPU, else cpu with a warning", false}, &Config::device},
      {{"grad_sync", K::kString, "dist", "gradient averaging: auto (several ranks: nccl on cuda, else mpi; one rank: none), mpi, nccl, none", false}, &Config::grad_sync},
      {{"bucket_mb", K::kFloat, "dist", "gradient bucket size in MB (each bucket's allreduce starts when its gradients are ready)", false}, &Config::bucket_mb},
      {{"overlap", K::kBool, "dist", "start bucket allreduces during backward (false: all after backward)", false}, &Config::overlap},
      {{"collective_timeout", K::kFloat, "dist", "seconds a rank waits in a collective before the job stops naming the missing ranks", false}, &Config::collective_timeout},
      {{"shuffle_block", K::kInt, "dist", "samples per block of the data plan (blocks are dealt to ranks each epoch)", false}, &Config::shuffle_block},
      {{"stage_dir", K::kString, "dist", "node-local folder to copy each node's shards into (e.g. \"${TMPDIR}/scouter\", expanded on each node); empty reads the shared copy", false}, &Config::stage_dir},
      {{"shard_size", K::kInt, "prep", "samples per HDF5 shard written by `scouter prep` for MNIST and FashionMNIST (image datasets: 1000 source images per shard by default); training reads shards of any size", false}, &Config::shard_size},
  };
  return d;
}

const KeyDef* find_def(const std::string& name) {
  for (const auto& d : defs())
    if (d.info.name == name) return &d;
  return nullptr;
}

const char* type_name(KeyType t) {
  switch (t) {
    case KeyType::kInt: return "an integer";
    case KeyType::kFloat: return "a number";
    case KeyType::kBool: return "true or false";
    case KeyType::kString: return "a string";
  }
  return "?";
}

UserError unknown_key_error(const std::string& where, const std::string& key) {
  std::string near = nearest_key(key);
  return UserError(fmt::format("{}: unknown config key '{}'", where, printable(key)),
                   near.empty() ? "`scouter keys` lists the valid keys"
                                : fmt::format("did you mean '{}'? (`scouter keys` lists all)", near));
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += c;
    }
  }
  return out + "\"";
}

std::string float_literal(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

void set_origin(Origins* origins, const std::string& key, const std::string& where) {
  if (origins) (*origins)[key] = where;
}

void apply_table(Config& cfg, const toml::table& tbl, const std::string& source, Origins* origins) {
  for (const auto& [k, node] : tbl) {
    std::string key(k.str());
    std::string where = toml_where(source, node);
    if (!find_def(key) && node.is_table())
      throw UserError(fmt::format("{}: unknown section [{}]", where, printable(key)),
                      "config files are flat: write `key = value` at the top level");
    apply_toml_value(cfg, key, node, where, origins);
  }
}

}  // namespace

toml::table parse_toml_text(const std::string& text, const std::string& source,
                            const std::string& hint) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw UserError(fmt::format("{}:{}:{}: TOML syntax error: {}", source,
                                e.source().begin.line, e.source().begin.column,
                                printable(std::string(e.description()))),
                    hint);
  }
}

std::string toml_where(const std::string& file, const toml::node& node) {
  return node.source().begin.line > 0 ? fmt::format("{}:{}", file, node.source().begin.line) : file;
}

void apply_toml_value(Config& cfg, const std::string& key, const toml::node& node,
                      const std::string& where, Origins* origins) {
  const KeyDef* def = find_def(key);
  if (!def) throw unknown_key_error(where, key);
  if (node.is_array())
    throw UserError(fmt::format("{}: key '{}' must be {}, got a list", where, key,
                                type_name(def->info.type)),
                    "lists expand to several runs only in sweep files (`scouter sweep`)");
  auto wrong = [&](const char* got) {
    return UserError(fmt::format("{}: key '{}' must be {}, got {}", where, key,
                                 type_name(def->info.type), got),
                     fmt::format("{}: {}", key, key_doc(def->info)));
  };
  const char* got = node.is_string()    ? "a string"
                    : node.is_integer() ? "an integer"
                    : node.is_floating_point() ? "a floating-point number"
                    : node.is_boolean() ? "a boolean"
                                        : "another kind of value";
  std::visit(
      [&](auto member) {
        using T = std::decay_t<decltype(cfg.*member)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (!node.is_integer()) throw wrong(got);
          cfg.*member = node.value<int64_t>().value();
        } else if constexpr (std::is_same_v<T, double>) {
          if (!node.is_number()) throw wrong(got);
          // An integer a double cannot hold exactly (2^53 + 1) becomes the nearest double, as
          // on the command line (toml++'s value<double>() refuses it).
          cfg.*member = node.is_integer() ? static_cast<double>(node.as_integer()->get())
                                          : node.as_floating_point()->get();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!node.is_boolean()) throw wrong(got);
          cfg.*member = node.value<bool>().value();
        } else {
          if (!node.is_string()) throw wrong(got);
          cfg.*member = node.value<std::string>().value();
        }
      },
      def->member);
  set_origin(origins, key, where);
}

namespace {
std::map<std::string, std::function<std::string()>>& key_values() {
  static std::map<std::string, std::function<std::string()>> m;
  return m;
}
}  // namespace

void describe_key_values(const std::string& key, std::function<std::string()> values) {
  key_values()[key] = std::move(values);
}

std::string key_doc(const KeyInfo& key) {
  auto it = key_values().find(key.name);
  return it == key_values().end() ? key.doc : key.doc + ": " + it->second();
}

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> v;
    for (const auto& d : defs()) v.push_back(d.info);
    return v;
  }();
  return keys;
}

const KeyInfo* find_key(const std::string& name) {
  const KeyDef* d = find_def(name);
  return d ? &d->info : nullptr;
}

std::string nearest_key(const std::string& name) {
  // A shortened name ("lambda", "slots") is the most common slip: prefer a key it begins.
  if (name.size() >= 4)
    for (const auto& d : defs())
      if (starts_with(d.info.name, to_lower(name))) return d.info.name;
  std::vector<std::string> names;
  for (const auto& d : defs()) names.push_back(d.info.name);
  return nearest_name(to_lower(name), names);
}

std::string get_value_literal(const Config& cfg, const std::string& key) {
  const KeyDef* def = find_def(key);
  SCOUTER_CHECK(def != nullptr, "no such config key: " + key);
  return std::visit(
      [&](auto member) -> std::string {
        using T = std::decay_t<decltype(cfg.*member)>;
        if constexpr (std::is_same_v<T, int64_t>) return std::to_string(cfg.*member);
        else if constexpr (std::is_same_v<T, double>) return float_literal(cfg.*member);
        else if constexpr (std::is_same_v<T, bool>) return cfg.*member ? "true" : "false";
        else return quote(cfg.*member);
      },
      def->member);
}

void copy_key(Config& dst, const Config& src, const std::string& key) {
  const KeyDef* def = find_def(key);
  SCOUTER_CHECK(def != nullptr, "no such config key: " + key);
  std::visit([&](auto member) { dst.*member = src.*member; }, def->member);
}

void apply_toml_text(Config& cfg, const std::string& text, const std::string& source,
                     Origins* origins) {
  apply_table(cfg,
              parse_toml_text(text, source,
                              "see https://toml.io for the syntax; keys are written `key = value`"),
              source, origins);
}

void apply_toml_file(Config& cfg, const std::string& path, Origins* origins) {
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const UserError& e) {
    // read_text_file names the file and the reason (missing, a folder, no permission).
    throw UserError(fmt::format("config file: {}", e.what()), "check the --config path");
  }
  apply_toml_text(cfg, text, path, origins);
}

void apply_override(Config& cfg, const std::string& key, const std::string& value,
                    Origins* origins) {
  std::string where = "--" + key;
  const KeyDef* def = find_def(key);
  if (!def) throw unknown_key_error("command line", key);
  auto wrong = [&]() {
    std::string hint = fmt::format("{}: {}", key, key_doc(def->info));
    if (value.find(',') != std::string::npos)
      hint = "comma lists expand to several runs only in sweep files (`scouter sweep`)";
    return UserError(fmt::format("command line: --{} must be {}, got '{}'", key,
                                 type_name(def->info.type), printable(value)),
                     hint);
  };
  std::visit(
      [&](auto member) {
        using T = std::decay_t<decltype(cfg.*member)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          auto v = parse_int(value);
          if (!v) throw wrong();
          cfg.*member = *v;
        } else if constexpr (std::is_same_v<T, double>) {
          auto v = parse_double(value);
          if (!v) throw wrong();
          cfg.*member = *v;
        } else if constexpr (std::is_same_v<T, bool>) {
          auto v = parse_bool(value);
          if (!v) throw wrong();
          cfg.*member = *v;
        } else {
          cfg.*member = value;
        }
      },
      def->member);
  set_origin(origins, key, where);
}

std::string origin_of(const Origins& origins, const std::string& key) {
  auto it = origins.find(key);
  return it == origins.end() ? std::string("default") : it->second;
}

UserError invalid_value_error(const Config& cfg, const Origins& origins, const std::string& key,
                              const std::string& valid) {
  return UserError(fmt::format("{}: invalid value {} for key '{}'", origin_of(origins, key),
                               printable(get_value_literal(cfg, key)), key),
                   "valid: " + valid);
}

void validate(const Config& c, const Origins& origins) {
  auto where = [&](const std::string& key) { return origin_of(origins, key); };
  auto fail = [&](const std::string& key, const std::string& value, const std::string& valid) {
    throw UserError(fmt::format("{}: invalid value {} for key '{}'", where(key), printable(value), key),
                    "valid: " + valid);
  };
  auto lit = [&](const std::string& key) { return get_value_literal(c, key); };
  auto one_of = [&](const std::string& key, const std::string& v,
                    const std::vector<std::string>& valid) {
    if (std::find(valid.begin(), valid.end(), v) == valid.end()) fail(key, lit(key), join(valid, ", "));
  };
  auto at_least = [&](const std::string& key, int64_t v, int64_t lo) {
    if (v < lo) fail(key, lit(key), fmt::format("an integer >= {}", lo));
  };

  // dataset and model name rows of other layers' tables: those layers check them (ConfigCheck).
  one_of("stem", c.stem, {"auto", "published"});
  one_of("log_level", c.log_level, {"trace", "debug", "info", "warn", "error"});
  one_of("lock", c.lock, {"auto", "flock", "file", "none"});
  if (c.dataset_dir.empty()) fail("dataset_dir", "\"\"", "a folder of shards");
  if (c.output_dir.empty()) fail("output_dir", "\"\"", "a folder for the run");
  at_least("num_classes", c.num_classes, 2);
  if (c.img_size != 0 && (c.img_size < 8 || c.img_size > 4096))
    fail("img_size", lit("img_size"), "0 (stored size) or 8..4096");
  at_least("channel", c.channel, 0);
  if (c.hidden_dim < 4 || c.hidden_dim % 4 != 0)
    fail("hidden_dim", lit("hidden_dim"),
         "a multiple of 4 (the sine embedding gives d/2 channels per axis, in sin/cos pairs)");
  if (c.loss_status != 1 && c.loss_status != -1)
    fail("loss_status", lit("loss_status"), "1 (SCOUTER+) or -1 (SCOUTER-)");
  at_least("slots_per_class", c.slots_per_class, 1);
  if (!(c.power > 0) || !std::isfinite(c.power)) fail("power", lit("power"), "a number > 0");
  at_least("to_k_layer", c.to_k_layer, 1);
  if (!(c.lambda_value >= 0) || !std::isfinite(c.lambda_value))
    fail("lambda_value", lit("lambda_value"), "a number >= 0");
  if (c.freeze_layers < 0 || c.freeze_layers > 4) fail("freeze_layers", lit("freeze_layers"), "0..4");
  at_least("batch_size", c.batch_size, 1);
  if (c.accum_steps < 1 || c.accum_steps > 1024) fail("accum_steps", lit("accum_steps"), "1..1024");
  at_least("eval_batch_size", c.eval_batch_size, 0);
  at_least("epochs", c.epochs, 1);
  if (!(c.lr > 0) || !std::isfinite(c.lr)) fail("lr", lit("lr"), "a number > 0");
  at_least("lr_drop", c.lr_drop, 1);
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    fail("weight_decay", lit("weight_decay"), "a number >= 0");
  at_least("seed", c.seed, 0);
  at_least("threads", c.threads, 0);
  if (c.prefetch < 1 || c.prefetch > 64) fail("prefetch", lit("prefetch"), "1..64");
  at_least("keep_checkpoints", c.keep_checkpoints, 1);
  at_least("vis_id", c.vis_id, 0);
  at_least("vis_count", c.vis_count, 1);
  at_least("shard_size", c.shard_size, 1);
  if (!(c.grad_min_level >= 0 && c.grad_min_level < 1))
    fail("grad_min_level", lit("grad_min_level"), "a number in [0, 1)");
  at_least("explain_step", c.explain_step, 0);
  if (!(c.infidelity_sigma > 0) || !std::isfinite(c.infidelity_sigma))
    fail("infidelity_sigma", lit("infidelity_sigma"), "a number > 0");
  at_least("infidelity_samples", c.infidelity_samples, 1);
  if (!(c.sensitivity_radius > 0) || !std::isfinite(c.sensitivity_radius))
    fail("sensitivity_radius", lit("sensitivity_radius"), "a number > 0");
  at_least("sensitivity_samples", c.sensitivity_samples, 1);
  one_of("device", c.device, {"cpu", "cuda", "auto"});
  one_of("precision", c.precision, {"fp32", "bf16", "auto"});
  one_of("grad_sync", c.grad_sync, {"auto", "mpi", "nccl", "none"});
  if (!(c.bucket_mb > 0) || !std::isfinite(c.bucket_mb)) fail("bucket_mb", lit("bucket_mb"), "a number > 0");
  if (!(c.collective_timeout > 0) || !std::isfinite(c.collective_timeout))
    fail("collective_timeout", lit("collective_timeout"), "seconds > 0");
  at_least("shuffle_block", c.shuffle_block, 1);
  if (c.use_pre && !c.use_slot)
    throw UserError(fmt::format("{}: use_pre = true needs use_slot = true", where("use_pre")),
                    "use_pre starts a SCOUTER run from its FC baseline; the baseline itself has no use_pre");
}

std::string to_toml(const Config& cfg) {
  std::ostringstream out;
  out << "# scouter resolved config: every key, with the value this run used\n";
  std::string group;
  for (const auto& d : defs()) {
    if (d.info.group != group) {
      group = d.info.group;
      out << "\n# --- " << group << " ---\n";
    }
    auto it = cfg.as_written.find(d.info.name);
    if (it != cfg.as_written.end())
      out << fmt::format("{} = {}  # {} on {} (each rank expands it where it runs); {}\n",
                         d.info.name, quote(it->second), get_value_literal(cfg, d.info.name),
                         cfg.expanded_on, key_doc(d.info));
    else
      out << fmt::format("{} = {}  # {}\n", d.info.name, get_value_literal(cfg, d.info.name),
                         key_doc(d.info));
  }
  return out.str();
}

std::string to_table(const Config& cfg) {
  size_t w = 0;
  for (const auto& d : defs()) w = std::max(w, d.info.name.size());
  std::string out = fmt::format("| {:<{}} | value\n", "key", w);
  for (const auto& d : defs()) {
    auto it = cfg.as_written.find(d.info.name);
    out += fmt::format("| {:<{}} | {}{}\n", d.info.name, w, get_value_literal(cfg, d.info.name),
                       it == cfg.as_written.end() ? "" : " (from " + quote(it->second) + ")");
  }
  return out;
}

std::string model_signature(const Config& cfg) {
  std::vector<std::string> parts;
  for (const auto& d : defs()) {
    if (!d.info.architecture) continue;
    // Slot-only keys do not shape an FC baseline.
    bool slot_only = d.info.name == "slots_per_class" || d.info.name == "hidden_dim" ||
                     d.info.name == "to_k_layer" || d.info.name == "channel";
    if (slot_only && !cfg.use_slot) continue;
    // stem joined the signature later: its default stays out, so older checkpoints still load.
    if (d.info.name == "stem" && cfg.stem == "auto") continue;
    parts.push_back(d.info.name + "=" + get_value_literal(cfg, d.info.name));
  }
  return join(parts, " ");
}

}  // namespace scouter
