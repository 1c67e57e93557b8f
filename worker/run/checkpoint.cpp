#include "worker/run/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <regex>
#include <tuple>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "common/text.h"
#include "common/version.h"
#include "worker/run/optimizer_state.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

constexpr const char* kFormat = "scouter-checkpoint";

std::map<std::string, torch::Tensor> named_tensors(torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : model.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

// Every dataset carries `sha256`: the SHA-256 of its bytes as stored (little-endian float32,
// int64 or uint8, C order), checked whenever it is read.
void write_bytes_checked(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                         const void* data, size_t bytes) {
  h5::write_raw(loc, name, type, dims, data);
  h5::Handle ds = h5::open_dataset(loc, name);
  h5::write_attr(ds.get(), "sha256", sha256_bytes(data, bytes));
}

void write_tensor(hid_t loc, const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  if (c.scalar_type() != torch::kFloat && c.scalar_type() != torch::kLong) c = c.to(torch::kFloat);
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  hid_t type = c.scalar_type() == torch::kLong ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
  write_bytes_checked(loc, name, type, dims, c.data_ptr(), c.nbytes());
}

std::string sha256_text(const std::string& s) { return sha256_bytes(s.data(), s.size()); }

void check_sha256(hid_t loc, const std::string& name, const void* data, size_t bytes) {
  h5::Handle ds = h5::open_dataset(loc, name);
  if (!h5::has_attr(ds.get(), "sha256")) return;  // format_version 1: no checksums
  if (h5::read_attr_string(ds.get(), "sha256") != sha256_bytes(data, bytes)) {
    char full[512] = {0};
    H5Iget_name(ds.get(), full, sizeof full - 1);  // "/model/backbone.conv1.weight"
    throw Error(str_format("tensor '{}' fails its SHA-256 check", full[0] ? full : name.c_str()));
  }
}

// The header attributes as one text, whose SHA-256 is stored as header_sha256.
std::string header_text(const std::string& signature, const std::string& config_toml,
                        const TrainState& s, int64_t world_size) {
  return str_format("{}\n{}\nepoch={} step_in_epoch={} global_step={} best_val_acc={:.17g} "
                    "best_epoch={} world_size={}\n",
                    signature, config_toml, s.epoch, s.step_in_epoch, s.global_step,
                    s.best_val_acc, s.best_epoch, world_size);
}

// Reads dataset `name` into `dst` (same shape, any dtype of float/long) or returns an error text.
std::string read_tensor_into(hid_t loc, const std::string& name, torch::Tensor dst) {
  h5::DatasetInfo info = h5::dataset_info(loc, name);
  std::vector<int64_t> shape(info.dims.begin(), info.dims.end());
  if (shape != dst.sizes().vec())
    return str_format("{} has shape [{}] in the file, [{}] in the model", name,
                      join_ints(shape), join_ints(dst.sizes().vec()));
  torch::Tensor tmp;
  if (dst.scalar_type() == torch::kLong) {
    tmp = torch::empty(shape, torch::kLong);
    h5::read_raw(loc, name, H5T_NATIVE_INT64, tmp.data_ptr<int64_t>());
  } else {
    tmp = torch::empty(shape, torch::kFloat);
    h5::read_raw(loc, name, H5T_NATIVE_FLOAT, tmp.data_ptr<float>());
  }
  if (info.type_class == (dst.scalar_type() == torch::kLong ? H5T_INTEGER : H5T_FLOAT) &&
      static_cast<int64_t>(info.type_size) == tmp.element_size())
    check_sha256(loc, name, tmp.data_ptr(), tmp.nbytes());
  torch::NoGradGuard no_grad;
  dst.copy_(tmp);
  return {};
}

std::string list_some(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(kShown, names.size()));
  std::string s = join(shown, ", ");
  if (names.size() > kShown) s += str_format(" (and {} more)", names.size() - kShown);
  return s;
}

// ---- The whole-file check, before HDF5 reads a byte of the file ----
// mark_complete records the file's SHA-256 and size in its marker; every open of a checkpoint
// (open_checked) first hashes the file and compares, so damaged metadata never reaches HDF5's
// parser. Every open hashes anew (resume opens the newest checkpoint four times): SHA-256 runs at
// about 1 GB/s, small beside reading and using the tensors, and a remembered result could miss
// a change made within the file system's timestamp resolution.
struct Marker {
  std::string sha256;  // empty: no marker, or one written by an older scouter ("complete")
  int64_t bytes = -1;
};

Marker read_marker(const std::string& path) {
  Marker m;
  std::ifstream in(path + ".done", std::ios::binary);
  if (!in) return m;
  std::string text(4096, '\0');  // ours are ~100 bytes; a longer one is not ours
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  for (const auto& line : split(text, '\n')) {
    if (starts_with(line, "sha256 ")) m.sha256 = line.substr(7);
    if (starts_with(line, "bytes ")) {
      const std::string n = line.substr(6);
      if (!n.empty() && n.size() <= 18 && n.find_first_not_of("0123456789") == std::string::npos)
        m.bytes = std::stoll(n);
    }
  }
  return m;
}

// Error (the caller names the file) when the file does not match its marker's record.
void check_whole_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return;  // missing or a folder: open_file says so
  const Marker m = read_marker(path);
  if (!m.sha256.empty()) {
    const auto size = static_cast<int64_t>(fs::file_size(path));
    if (m.bytes >= 0 && m.bytes != size)
      throw Error(str_format("it is {} bytes, its marker {}.done records {}", size, path, m.bytes));
    if (sha256_file(path) != m.sha256)
      throw Error(str_format("its bytes fail the whole-file SHA-256 recorded in its marker {}.done",
                             path));
  } else if (!h5::has_metadata_checksums(path)) {
    {
      static std::mutex mu;  // once per file and process
      static std::set<std::string> warned;
      std::lock_guard<std::mutex> lock(mu);
      if (warned.insert(path).second)
        log::warn("checkpoint {} was written by an older scouter (HDF5's earliest file format, "
                  "no whole-file SHA-256 in its marker): its metadata is read in a probe process "
                  "first, so damage is an error, not a crash. Checkpoints written from now on "
                  "are checked by their digest",
                  path);
    }
    h5::probe_unchecked(path);
  }
}

// Every HDF5 open of a checkpoint goes through here.
h5::Handle open_checked(const std::string& path) {
  check_whole_file(path);
  return h5::open_file(path);
}

UserError corrupt(const std::string& path, const std::string& why,
                  const std::string& hint = "a resumed run falls back to the newest checkpoint "
                                            "that verifies; delete this one or start anew") {
  return UserError(str_format("checkpoint '{}' is corrupt or unreadable: {}", path, why), hint);
}

std::string signature_diff(const std::string& file_sig, const std::string& cfg_sig) {
  auto to_map = [](const std::string& s) {
    std::map<std::string, std::string> m;
    for (const auto& kv : split(s, ' ')) {
      auto eq = kv.find('=');
      if (eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return m;
  };
  auto a = to_map(file_sig), b = to_map(cfg_sig);
  std::vector<std::string> diffs;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) diffs.push_back(str_format("{}: checkpoint {}, config (unused)", k, v));
    else if (it->second != v) diffs.push_back(str_format("{}: checkpoint {}, config {}", k, v, it->second));
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) diffs.push_back(str_format("{}: checkpoint (unused), config {}", k, v));
  return join(diffs, "; ");
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const TrainState& state,
                     const Config& cfg, const std::vector<torch::Tensor>& rank_rng,
                     const std::vector<double>& rank_sums) {
  ensure_dir(fs::path(path).parent_path().string());
  {
    h5::Handle file = h5::create_memory_file();
    hid_t root = file.get();
    h5::write_attr(root, "format", std::string(kFormat));
    h5::write_attr(root, "format_version", kCheckpointFormatVersion);
    h5::write_attr(root, "model_signature", model_signature(cfg));
    h5::write_attr(root, "config_toml", to_toml(cfg));
    h5::write_attr(root, "created_by",
                   str_format("scouter {} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION));
    h5::write_attr(root, "epoch", state.epoch);
    h5::write_attr(root, "step_in_epoch", state.step_in_epoch);
    h5::write_attr(root, "global_step", state.global_step);
    h5::write_attr(root, "best_val_acc", state.best_val_acc);
    h5::write_attr(root, "best_epoch", state.best_epoch);
    const auto world_size = static_cast<int64_t>(std::max<size_t>(1, rank_rng.size()));
    h5::write_attr(root, "world_size", world_size);
    h5::write_attr(root, "header_sha256",
                   sha256_text(header_text(model_signature(cfg), to_toml(cfg), state, world_size)));

    auto tensors = named_tensors(model);
    h5::Handle mg = h5::create_group(root, "model");
    for (const auto& [name, t] : tensors) write_tensor(mg.get(), name, t);

    if (optimizer) {
      std::map<const void*, std::string> name_of;
      for (const auto& p : model.named_parameters(true))
        name_of[p.value().unsafeGetTensorImpl()] = p.key();
      h5::Handle og = h5::create_group(root, "optimizer");
      h5::write_attr(og.get(), "type", std::string("AdamW"));
      const double lr = optimizer->param_groups().at(0).options().get_lr();
      h5::write_attr(og.get(), "lr", lr);
      std::string steps = str_format("lr={:.17g}\n", lr);  // with each parameter's step, below
      for (const auto& group : optimizer->param_groups()) {
        for (const auto& p : group.params()) {
          auto it = optimizer->state().find(optimizer_state_key(p));
          if (it == optimizer->state().end()) continue;  // no step taken for it yet
          auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
          auto nit = name_of.find(p.unsafeGetTensorImpl());
          SCOUTER_CHECK(nit != name_of.end(), "optimizer parameter not in the model");
          h5::Handle pg = h5::create_group(og.get(), nit->second);
          h5::write_attr(pg.get(), "step", st.step());
          steps += str_format("{}={}\n", nit->second, st.step());
          write_tensor(pg.get(), "exp_avg", st.exp_avg());
          write_tensor(pg.get(), "exp_avg_sq", st.exp_avg_sq());
        }
      }
      h5::write_attr(og.get(), "steps_sha256", sha256_text(steps));
    }

    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle sharing the impl
    torch::Tensor rng;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng = gen.get_state();
    }
    h5::Handle rg = h5::create_group(root, "rng");
    rng = rng.contiguous();
    write_bytes_checked(rg.get(), "torch_cpu", H5T_NATIVE_UINT8, {static_cast<hsize_t>(rng.numel())},
                        rng.data_ptr(), rng.nbytes());
    for (size_t r = 0; r < rank_rng.size(); ++r) {
      torch::Tensor t = rank_rng[r].contiguous();
      write_bytes_checked(rg.get(), "rank_" + std::to_string(r), H5T_NATIVE_UINT8,
                          {static_cast<hsize_t>(t.numel())}, t.data_ptr(), t.nbytes());
    }
    if (!rank_sums.empty()) {
      const auto ranks = static_cast<hsize_t>(rank_sums.size() / kSumsPerRank);
      write_bytes_checked(root, "train_sums", H5T_NATIVE_DOUBLE, {ranks, hsize_t{kSumsPerRank}},
                          rank_sums.data(), rank_sums.size() * sizeof(double));
    }
    h5::write_memory_file(file, path);
  }
}

void mark_complete(const std::string& path) {
  write_text_file_atomic(path + ".done",
                         str_format("complete\nsha256 {}\nbytes {}\n", sha256_file(path),
                                    fs::file_size(path)));
}

namespace {
// The bytes of a uint8 dataset, checked against its SHA-256.
std::vector<uint8_t> read_checked_bytes(hid_t loc, const std::string& name) {
  auto bytes = h5::read<uint8_t>(loc, name);
  check_sha256(loc, name, bytes.data(), bytes.size());
  return bytes;
}
}  // namespace

torch::Tensor read_rank_rng(const std::string& path, int rank) {
  try {
    h5::Handle file = open_checked(path);
    std::string name = "rng/rank_" + std::to_string(rank);
    if (!h5::exists(file.get(), "rng") || !h5::exists(h5::open_group(file.get(), "rng").get(),
                                                     "rank_" + std::to_string(rank)))
      return {};
    auto bytes = read_checked_bytes(file.get(), name);
    return torch::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, torch::kUInt8).clone();
  } catch (const Error& e) {
    throw corrupt(path, e.what());
  }
}

std::vector<double> read_rank_sums(const std::string& path, int rank) {
  try {
    h5::Handle file = open_checked(path);
    if (!h5::exists(file.get(), "train_sums")) return {};
    auto all = h5::read<double>(file.get(), "train_sums");
    check_sha256(file.get(), "train_sums", all.data(), all.size() * sizeof(double));
    const auto first = static_cast<size_t>(rank) * kSumsPerRank;
    if (first + kSumsPerRank > all.size()) return {};
    return std::vector<double>(all.begin() + static_cast<std::ptrdiff_t>(first),
                               all.begin() + static_cast<std::ptrdiff_t>(first + kSumsPerRank));
  } catch (const UserError&) {
    throw;
  } catch (const Error& e) {
    throw corrupt(path, e.what());
  }
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  if (!file_exists(path))
    throw UserError(str_format("checkpoint '{}' does not exist", path),
                    "give a checkpoint file or a run folder with checkpoints/");
  try {
    check_whole_file(path);
    if (!h5::is_hdf5(path)) throw corrupt(path, "not an HDF5 file");
    h5::Handle file = open_checked(path);
    hid_t root = file.get();
    if (!h5::has_attr(root, "format") || h5::read_attr_string(root, "format") != kFormat)
      throw corrupt(path, "not a scouter checkpoint (attribute format != scouter-checkpoint)");
    int64_t version = h5::read_attr_int(root, "format_version");
    if (version < 1 || version > kCheckpointFormatVersion)
      throw UserError(str_format("checkpoint '{}' has format_version {}, this build reads 1 to {}",
                                 path, version, kCheckpointFormatVersion),
                      "use the scouter version that wrote it");
    CheckpointInfo info;
    info.path = path;
    info.config_toml = h5::read_attr_string(root, "config_toml");
    info.model_signature = h5::read_attr_string(root, "model_signature");
    info.state.epoch = h5::read_attr_int(root, "epoch");
    info.state.step_in_epoch = h5::read_attr_int(root, "step_in_epoch");
    info.state.global_step = h5::read_attr_int(root, "global_step");
    info.state.best_val_acc = h5::read_attr_double(root, "best_val_acc");
    info.state.best_epoch = h5::read_attr_int(root, "best_epoch");
    info.world_size = h5::has_attr(root, "world_size") ? h5::read_attr_int(root, "world_size") : 1;
    info.checksummed = version >= 2;
    if (info.checksummed &&
        h5::read_attr_string(root, "header_sha256") !=
            sha256_text(header_text(info.model_signature, info.config_toml, info.state, info.world_size)))
      throw corrupt(path, "its header (epoch, step, config) fails its SHA-256 check");
    return info;
  } catch (const UserError&) {
    throw;
  } catch (const Error& e) {
    throw corrupt(path, e.what());
  }
}

void check_model_signature(const CheckpointInfo& info, const Config& cfg) {
  std::string sig = model_signature(cfg);
  if (info.model_signature != sig)
    throw UserError(str_format("checkpoint '{}' was written by a different model configuration: {}",
                               info.path, signature_diff(info.model_signature, sig)),
                    "use the run's own config (its config.toml) or start a new output_dir");
}

CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model,
                               torch::optim::Optimizer* optimizer, const Config& cfg,
                               bool restore_rng) {
  CheckpointInfo info = read_checkpoint_info(path);
  check_model_signature(info, cfg);
  try {
    h5::Handle file = open_checked(path);
    h5::Handle mg = h5::open_group(file.get(), "model");
    auto tensors = named_tensors(model);
    std::vector<std::string> in_file = h5::list_children(mg.get());
    std::vector<std::string> missing, unexpected, bad_shape;
    for (const auto& [name, t] : tensors)
      if (std::find(in_file.begin(), in_file.end(), name) == in_file.end()) missing.push_back(name);
    for (const auto& name : in_file)
      if (!tensors.count(name)) unexpected.push_back(name);
    if (!missing.empty() || !unexpected.empty())
      throw UserError(str_format("checkpoint '{}' does not fit the model: missing [{}], unexpected [{}]",
                                 path, list_some(missing), list_some(unexpected)),
                      "it was written by another model configuration or version");
    for (auto& [name, t] : tensors) {
      std::string err = read_tensor_into(mg.get(), name, t);
      if (!err.empty()) bad_shape.push_back(err);
    }
    if (!bad_shape.empty())
      throw UserError(str_format("checkpoint '{}' does not fit the model: {}", path,
                                 list_some(bad_shape)),
                      "it was written by another model configuration");

    if (optimizer) {
      if (!h5::exists(file.get(), "optimizer"))
        throw corrupt(path, "no optimizer state (a weights-only checkpoint cannot be resumed)");
      h5::Handle og = h5::open_group(file.get(), "optimizer");
      std::map<const void*, std::string> name_of;
      for (const auto& p : model.named_parameters(true))
        name_of[p.value().unsafeGetTensorImpl()] = p.key();
      std::string steps = str_format("lr={:.17g}\n", h5::read_attr_double(og.get(), "lr"));
      for (auto& group : optimizer->param_groups()) {
        group.options().set_lr(h5::read_attr_double(og.get(), "lr"));
        for (auto& p : group.params()) {
          const std::string& name = name_of.at(p.unsafeGetTensorImpl());
          auto key = optimizer_state_key(p);
          if (!h5::exists(og.get(), name)) {
            optimizer->state().erase(key);
            continue;
          }
          h5::Handle pg = h5::open_group(og.get(), name);
          auto st = std::make_unique<torch::optim::AdamWParamState>();
          st->step(h5::read_attr_int(pg.get(), "step"));
          steps += str_format("{}={}\n", name, st->step());
          st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          std::string e1 = read_tensor_into(pg.get(), "exp_avg", st->exp_avg());
          std::string e2 = read_tensor_into(pg.get(), "exp_avg_sq", st->exp_avg_sq());
          if (!e1.empty() || !e2.empty()) throw corrupt(path, "optimizer state: " + e1 + e2);
          optimizer->state()[key] = std::move(st);
        }
      }
      if (h5::has_attr(og.get(), "steps_sha256") &&
          h5::read_attr_string(og.get(), "steps_sha256") != sha256_text(steps))
        throw corrupt(path, "the optimizer's learning rate or step counts fail their SHA-256 check");
    }
    if (restore_rng) {
      auto rng = read_checked_bytes(file.get(), "rng/torch_cpu");
      torch::Tensor state = torch::from_blob(rng.data(), {static_cast<int64_t>(rng.size())},
                                             torch::kUInt8).clone();
      at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle sharing the impl
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw corrupt(path, e.what());
  }
  if (!info.checksummed)
    log::warn("checkpoint {} has no checksums (format_version 1, an older scouter); loaded unverified",
              path);
  return info;
}

int64_t load_backbone_weights(const std::string& path_or_dir, torch::nn::Module& model) {
  std::string path = path_or_dir;
  if (fs::is_directory(path_or_dir)) {
    path = latest_checkpoint(path_or_dir);
    if (path.empty())
      throw UserError(str_format("pre_checkpoint '{}' holds no checkpoint", path_or_dir),
                      "train the FC baseline (use_slot = false) into that folder first");
  }
  const std::string hint =
      "pre_checkpoint must be a scouter checkpoint of an FC run (RUN/checkpoints/epoch-NNNN.h5) "
      "or that run's folder";
  if (!h5::is_hdf5(path)) {
    char magic[4] = {};
    std::ifstream(path, std::ios::binary).read(magic, 4);
    if (std::memcmp(magic, "PK\x03\x04", 4) == 0)
      throw UserError(str_format("pre_checkpoint '{}' is a torch.save file, not a scouter run's checkpoint", path),
                      str_format("turn it into a run first: scouter import {} --output_dir runs/fc_imported, "
                                 "then set pre_checkpoint to that folder", path));
    throw corrupt(path, "not an HDF5 file", hint);
  }
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);  // validates format and header
  } catch (const UserError& e) {
    throw UserError(e.what(), hint);
  }
  {
    // A baseline still training (or stopped early) is a legitimate start, but rarely the
    // intended one: say so.
    Config fc;
    apply_toml_text(fc, info.config_toml, path + " (stored config)");
    if (info.state.epoch < fc.epochs || info.state.step_in_epoch != 0)
      log::warn("use_pre: the FC baseline's checkpoint {} is at epoch {} of {}: its training has "
                "not finished; starting from it anyway", path,
                info.state.step_in_epoch != 0 ? str_format("{} (+{} steps)", info.state.epoch, info.state.step_in_epoch)
                                              : std::to_string(info.state.epoch), fc.epochs);
  }
  auto tensors = named_tensors(model);
  int64_t copied = 0;
  std::vector<std::string> missing, errors;
  try {
    h5::Handle file = open_checked(path);
    h5::Handle mg = h5::open_group(file.get(), "model");
    for (auto& [name, t] : tensors) {
      if (!starts_with(name, "backbone.") || starts_with(name, "backbone.fc.")) continue;
      if (!h5::exists(mg.get(), name)) {
        missing.push_back(name);
        continue;
      }
      std::string err = read_tensor_into(mg.get(), name, t);
      if (!err.empty()) errors.push_back(err);
      else ++copied;
    }
  } catch (const std::exception& e) {
    throw corrupt(path, e.what(), hint);
  }
  if (!missing.empty() || !errors.empty())
    throw UserError(str_format("pre_checkpoint '{}' does not fit this backbone: missing [{}] {}",
                               path, list_some(missing), list_some(errors)),
                    "use_pre needs an FC baseline of the same model and input channels");
  log::info("use_pre: loaded {} backbone tensors from {}", copied, path);
  return copied;
}

std::string checkpoint_path(const std::string& output_dir, int64_t epoch, int64_t step_in_epoch) {
  if (step_in_epoch == 0) return str_format("{}/checkpoints/epoch-{:04d}.h5", output_dir, epoch);
  return str_format("{}/checkpoints/epoch-{:04d}-step-{:07d}.h5", output_dir, epoch, step_in_epoch);
}

std::string checkpoint_digest(const std::string& path) {
  const Marker m = read_marker(path);
  return m.sha256.empty() ? sha256_file(path) : m.sha256;
}

std::vector<std::string> list_checkpoints(const std::string& output_dir) {
  fs::path dir = fs::path(output_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  static const std::regex kName(R"(epoch-(\d{4,})(-step-(\d{7,}))?\.h5)");
  // (epoch, step) order: "epoch-0002-step-0000016" (16 steps into epoch 3) comes after
  // "epoch-0002" (the end of epoch 2), which plain name order would get wrong.
  std::vector<std::tuple<int64_t, int64_t, std::string>> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, kName) || !fs::exists(e.path().string() + ".done", ec)) continue;
    found.emplace_back(std::stoll(m[1].str()), m[3].matched ? std::stoll(m[3].str()) : 0,
                       e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::get<2>(f));
  return out;
}

std::string latest_checkpoint(const std::string& output_dir) {
  auto all = list_checkpoints(output_dir);
  return all.empty() ? std::string() : all.back();
}

std::string verify_checkpoint(const std::string& path) {
  try {
    CheckpointInfo info = read_checkpoint_info(path);
    h5::Handle file = open_checked(path);
    // Every dataset, read in its stored type and checked against its SHA-256.
    std::vector<std::string> pending = {"/"};
    while (!pending.empty()) {
      std::string group = pending.back();
      pending.pop_back();
      h5::Handle g = h5::open_group(file.get(), group);
      for (const auto& child : h5::list_children(g.get())) {
        std::string full = group == "/" ? "/" + child : group + "/" + child;
        h5::Handle obj(H5_CHECK(H5Oopen(file.get(), full.c_str(), H5P_DEFAULT)), H5Oclose);
        if (H5Iget_type(obj.get()) == H5I_GROUP) {
          pending.push_back(full);
          continue;
        }
        h5::DatasetInfo di = h5::dataset_info(file.get(), full);
        hid_t type = di.type_class == H5T_INTEGER ? (di.type_size == 8 ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT8)
                     : di.type_size == 8             ? H5T_NATIVE_DOUBLE
                                                     : H5T_NATIVE_FLOAT;
        std::vector<char> bytes(di.num_elements() * H5Tget_size(type));
        h5::read_raw(file.get(), full, type, bytes.data());
        if (info.checksummed) {
          h5::Handle ds = h5::open_dataset(file.get(), full);
          if (!h5::has_attr(ds.get(), "sha256"))
            throw Error(str_format("tensor '{}' has no checksum", full));
          check_sha256(file.get(), full, bytes.data(), bytes.size());
        }
      }
    }
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string latest_verified_checkpoint(const std::string& output_dir) {
  auto all = list_checkpoints(output_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    std::string why = verify_checkpoint(*it);
    if (why.empty()) {
      if (it != all.rbegin())
        log::warn("using {}, the newest checkpoint that verifies", *it);
      return *it;
    }
    log::warn("checkpoint {} is not usable{}: {}", *it,
              std::next(it) != all.rend() ? ", trying the one before it" : " (there is no older one)",
              why);
  }
  return {};
}

void prune_checkpoints(const std::string& output_dir, int64_t keep) {
  auto complete = list_checkpoints(output_dir);
  if (complete.size() <= static_cast<size_t>(keep)) return;
  // The newest checkpoint that verifies is never removed, even when newer ones (that do not
  // verify) fill the `keep` slots.
  size_t newest_good = complete.size();
  for (size_t i = complete.size(); i-- > 0;) {
    std::string why = verify_checkpoint(complete[i]);
    if (why.empty()) {
      newest_good = i;
      break;
    }
    log::warn("checkpoint {} does not verify: {}", complete[i], why);
  }
  for (size_t i = 0; i + static_cast<size_t>(keep) < complete.size(); ++i) {
    if (i == newest_good) continue;
    // The marker first: a half-deleted checkpoint never looks complete.
    if (::unlink((complete[i] + ".done").c_str()) != 0 || ::unlink(complete[i].c_str()) != 0)
      log::warn("could not delete old checkpoint {}: {}", complete[i], os_reason(errno));
  }
}

}  // namespace scouter
