// The one typed configuration of a run. Every option is a key with the published
// implementation's name; values come from defaults, then a TOML file, then command-line
// overrides (`--key value`), and are validated once. The registry below is the single source for
// parsing, validation, printing and the README's key table (`scouter keys`).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace scouter {

class UserError;

struct Config {
  // Data
  std::string dataset = "MNIST";
  std::string dataset_dir = "data/mnist";
  int64_t num_classes = 10;
  int64_t img_size = 260;
  bool aug = false;
  // Model
  std::string model = "resnet18";
  bool use_slot = true;
  bool use_pre = false;
  std::string pre_checkpoint;
  std::string pretrained;
  std::string stem = "auto";
  int64_t channel = 0;
  int64_t hidden_dim = 64;
  int64_t loss_status = 1;
  int64_t slots_per_class = 1;
  double power = 2.0;
  int64_t to_k_layer = 1;
  double lambda_value = 1.0;
  int64_t freeze_layers = 2;
  // Training
  int64_t batch_size = 64;
  int64_t accum_steps = 1;
  int64_t eval_batch_size = 0;
  int64_t epochs = 10;
  double lr = 1e-4;
  int64_t lr_drop = 70;
  double weight_decay = 0.01;
  int64_t seed = 42;
  int64_t threads = 0;
  int64_t prefetch = 2;
  std::string precision = "fp32";
  bool cuda_graphs = true;
  // Output
  std::string output_dir = "runs/default";
  bool resume = false;
  int64_t keep_checkpoints = 2;
  std::string lock = "auto";
  std::string log_level = "info";
  // Visualisation
  bool vis = false;
  int64_t vis_id = 0;
  int64_t vis_count = 1;
  // Explanations (`scouter explain`)
  double grad_min_level = 0.0;
  int64_t explain_step = 0;
  double infidelity_sigma = 0.1;
  int64_t infidelity_samples = 50;
  double sensitivity_radius = 0.2;
  int64_t sensitivity_samples = 50;
  // Distributed
  std::string device = "cpu";
  std::string grad_sync = "auto";
  double bucket_mb = 25.0;
  bool overlap = true;
  double collective_timeout = 600.0;
  int64_t shuffle_block = 1024;
  std::string stage_dir;
  // Preprocessing
  int64_t shard_size = 10000;

  // Not keys: dataset_dir, output_dir or stage_dir as written where they named environment
  // variables (the members then hold the expansion, made on host expanded_on; env_paths.h).
  std::map<std::string, std::string> as_written;
  std::string expanded_on;

  // Derived (not a key): the evaluation batch size in effect.
  int64_t effective_eval_batch_size() const { return eval_batch_size > 0 ? eval_batch_size : batch_size; }
};

enum class KeyType { kInt, kFloat, kBool, kString };

struct KeyInfo {
  std::string name;
  KeyType type;
  std::string group;  // "data", "model", "train", "output", "vis", "explain", "dist", "prep"
  std::string doc;
  bool architecture;  // part of the model signature a checkpoint must match
};

const std::vector<KeyInfo>& config_keys();
const KeyInfo* find_key(const std::string& name);
// The valid key nearest to `name` (edit distance), or "" if none is close.
std::string nearest_key(const std::string& name);

// Values of a config as text, by key (TOML literal syntax: strings quoted).
std::string get_value_literal(const Config& cfg, const std::string& key);

// Where each key got its value, for error messages ("run.toml:12", "--lr", "default").
using Origins = std::map<std::string, std::string>;

// Applies the TOML file's keys onto cfg. Throws UserError naming file:line and the key.
void apply_toml_file(Config& cfg, const std::string& path, Origins* origins = nullptr);
// Applies TOML text (e.g. a checkpoint's stored config); `source` names it in errors.
void apply_toml_text(Config& cfg, const std::string& text, const std::string& source,
                     Origins* origins = nullptr);
// Applies one textual override (the command line's `--key value`).
void apply_override(Config& cfg, const std::string& key, const std::string& value,
                    Origins* origins = nullptr);

// Copies one key's value from src to dst.
void copy_key(Config& dst, const Config& src, const std::string& key);

// Checks every type, range and cross-key rule common can know; throws UserError naming the key and
// its origin. Names owned by other layers (dataset, model) are checked there: ConfigCheck below.
void validate(const Config& cfg, const Origins& origins = {});

// The resolved config as TOML (every key, grouped, with a comment per key). A key expanded from
// environment variables is written as written, its expansion in the comment.
std::string to_toml(const Config& cfg);
// A two-column "| key | value |" table for the log.
std::string to_table(const Config& cfg);
// The architecture keys and values ("model=resnet18 use_slot=true ..."): two configs whose
// signatures differ cannot share weights.
std::string model_signature(const Config& cfg);

// Where `key` got its value: origins' entry ("run.toml:12", "--lr"), or "default".
std::string origin_of(const Origins& origins, const std::string& key);

// validate's one-line error for a value outside the valid ones: "<origin>: invalid value <value>
// for key '<key>'", hint "valid: <valid>". For the checks of the layers that own a key's names.
UserError invalid_value_error(const Config& cfg, const Origins& origins, const std::string& key,
                              const std::string& valid);

// A check that a layer above common adds after validate: the names of `dataset` and `model` are
// checked by the layers that own those tables (datasets/dataset_spec.h, worker/model/
// backbone_spec.h), since common depends on neither.
using ConfigCheck = std::function<void(const Config&, const Origins&)>;

}  // namespace scouter
