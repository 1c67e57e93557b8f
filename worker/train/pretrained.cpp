#include "worker/train/pretrained.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/text.h"
#include "worker/run/checkpoint.h"
#include "worker/model/safetensors.h"
#include "worker/model/torch_file.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// The first names and how many there are, for one-line errors.
std::string some(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(kShown, names.size()));
  std::string s = join(shown, ", ");
  if (names.size() > kShown) s += str_format(" ... ({} in all)", names.size());
  return s;
}

std::string shape(const torch::Tensor& t) { return "[" + join_ints(t.sizes().vec()) + "]"; }

bool is_head(const std::string& name) { return starts_with(name, "fc."); }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_stem_conv(const BackboneSpec& spec, const std::string& name) {
  return std::find(spec.stem_convs.begin(), spec.stem_convs.end(), name) != spec.stem_convs.end();
}

// timm's adapt_input_conv for an RGB kernel: 1 channel sums over RGB; c channels repeat RGB and
// scale by 3 / c. Undefined when `from` is not an RGB version of `to`'s shape.
torch::Tensor adapt_input_conv(const torch::Tensor& from, const torch::Tensor& to) {
  if (from.dim() != 4 || to.dim() != 4 || from.size(1) != 3 || from.size(0) != to.size(0) ||
      from.size(2) != to.size(2) || from.size(3) != to.size(3))
    return {};
  torch::Tensor w = from.to(torch::kFloat);
  const int64_t c = to.size(1);
  if (c == 1) return w.sum(1, /*keepdim=*/true);
  const auto repeat = static_cast<int64_t>(std::ceil(static_cast<double>(c) / 3.0));
  return w.repeat({1, repeat, 1, 1}).slice(1, 0, c) * (3.0 / static_cast<double>(c));
}

// Strips `module.` (DistributedDataParallel) and, when any key has it, keeps only the keys under
// `backbone.` (a whole SCOUTER model: its conv1x1 and slot are not the backbone's).
std::map<std::string, torch::Tensor> backbone_keys(std::map<std::string, torch::Tensor> file,
                                                   const std::string& path) {
  std::map<std::string, torch::Tensor> out;
  bool prefixed = false;
  for (auto& [k, v] : file) {
    std::string name = starts_with(k, "module.") ? k.substr(7) : k;
    prefixed = prefixed || starts_with(name, "backbone.");
    out[name] = v;
  }
  if (!prefixed) return out;
  std::map<std::string, torch::Tensor> inner;
  for (auto& [k, v] : out)
    if (starts_with(k, "backbone.")) inner[k.substr(9)] = v;
  if (inner.size() < out.size())
    log::info("pretrained {}: using the {} backbone.* tensors, ignoring {} others", path,
              inner.size(), out.size() - inner.size());
  return inner;
}

}  // namespace

std::map<std::string, torch::Tensor> read_weights_file(const std::string& path) {
  if (!file_exists(path))
    throw UserError(
        str_format("pretrained weights '{}' do not exist", path),
        "set pretrained to a .pth/.pt file written by torch.save or a .safetensors file");
  char magic[9] = {};
  std::ifstream(path, std::ios::binary).read(magic, 9);
  if (std::memcmp(magic, "PK\x03\x04", 4) == 0) return read_torch_file(path);
  if (std::memcmp(magic, "\x89HDF", 4) == 0)
    throw UserError(
        str_format("'{}' is an HDF5 file, not a torch.save or .safetensors file", path),
        "a scouter FC baseline's checkpoint is loaded with use_pre = true and pre_checkpoint");
  if (static_cast<unsigned char>(magic[0]) == 0x80)
    throw UserError(str_format("'{}' is in torch.save's legacy (pre-1.6) format", path),
                    "re-save it with a PyTorch >= 1.6: torch.save(torch.load(path), new_path)");
  // .safetensors: an 8-byte little-endian header length, then the JSON header.
  if (magic[8] != '{') {
    std::string start;
    for (char c : std::string(magic, 8)) start += std::isprint(static_cast<unsigned char>(c)) ? c : '.';
    throw UserError(str_format("'{}' is not a weights file: neither torch.save's zip format, nor "
                               ".safetensors, nor HDF5 (it starts with \"{}\")", path, start),
                    "set pretrained to a .pth/.pt file written by torch.save (PyTorch >= 1.6) or "
                    "a .safetensors file");
  }
  return read_safetensors(path);
}

int64_t load_pretrained(const std::string& path, BackboneImpl& backbone) {
  auto file = backbone_keys(read_weights_file(path), path);
  std::map<std::string, torch::Tensor> model;
  for (const auto& p : backbone.named_parameters()) model[p.key()] = p.value();
  for (const auto& b : backbone.named_buffers()) model[b.key()] = b.value();

  std::vector<std::string> missing, unexpected, bad_shape, notes;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (model tensor, value)
  // The classifier moves as a whole: all of fc.* or none.
  bool head_fits = backbone.has_head();
  for (const auto& [name, t] : model) {
    if (!is_head(name)) continue;
    auto it = file.find(name);
    head_fits = head_fits && it != file.end() && it->second.sizes() == t.sizes();
  }
  bool file_has_head = false;
  for (const auto& [name, t] : file) file_has_head = file_has_head || is_head(name);
  if (!head_fits && file_has_head) {
    auto fc = file.find("fc.weight");
    notes.push_back(
        backbone.has_head()
            ? str_format("the file's classifier fc{} does not fit this one {}: dropped, "
                         "fc keeps its initialisation",
                         fc == file.end() ? "" : " " + shape(fc->second),
                         shape(model["fc.weight"]))
            : "the file's classifier fc is dropped (this backbone has none)");
  } else if (backbone.has_head() && !file_has_head)
    notes.push_back("the file has no classifier: fc keeps its initialisation");

  for (const auto& [name, t] : model) {
    if (is_head(name) && !head_fits) continue;
    auto it = file.find(name);
    if (it == file.end()) {
      if (!ends_with(name, ".num_batches_tracked")) missing.push_back(name);
      continue;
    }
    if (it->second.sizes() == t.sizes()) {
      copies.emplace_back(t, it->second);
      continue;
    }
    if (is_stem_conv(backbone.spec(), name)) {
      if (auto adapted = adapt_input_conv(it->second, t); adapted.defined()) {
        notes.push_back(str_format("{} {} adapted to {} input channels as timm does", name,
                                   shape(it->second), t.size(1)));
        copies.emplace_back(t, adapted);
        continue;
      }
      if (name == backbone.spec().mnist_stem_conv &&
          t.sizes().vec() == std::vector<int64_t>{64, 1, 3, 3}) {
        notes.push_back(
            str_format("{} {} dropped: the published MNIST stem {} keeps its "
                       "initialisation",
                       name, shape(it->second), shape(t)));
        continue;
      }
    }
    bad_shape.push_back(str_format("{} {} (model {})", name, shape(it->second), shape(t)));
  }
  for (const auto& [name, t] : file)
    if (!model.count(name) && !is_head(name)) unexpected.push_back(name);

  if (!missing.empty() || !unexpected.empty() || !bad_shape.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back("missing " + some(missing));
    if (!unexpected.empty()) parts.push_back("unexpected " + some(unexpected));
    if (!bad_shape.empty()) parts.push_back("wrong shape " + some(bad_shape));
    throw UserError(
        str_format("pretrained '{}' does not fit the backbone: {}", path, join(parts, "; ")),
        "give weights of the same model (timm's state_dict names) and input channels");
  }
  {
    torch::NoGradGuard no_grad;
    for (auto& [dst, src] : copies) dst.copy_(src);
  }
  for (const auto& n : notes) log::info("pretrained {}: {}", path, n);
  log::info("pretrained: loaded {} backbone tensors from {}", copies.size(), path);
  return static_cast<int64_t>(copies.size());
}

std::string find_fc_baseline(const Config& cfg) {
  fs::path out = fs::path(cfg.output_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "runs/pos/" -> "runs/pos"
  fs::path parent = out.parent_path();
  if (parent.empty()) parent = ".";
  std::vector<std::string> found, others;
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(parent, ec))
    if (e.is_directory(ec) && e.path().filename() != out.filename()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    const std::string toml = (dir / "config.toml").string();
    if (!file_exists(toml)) continue;
    Config run;
    try {
      apply_toml_file(run, toml);
    } catch (const UserError&) {
      others.push_back(dir.string() + " (unreadable config.toml)");
      continue;
    }
    if (run.use_slot) continue;
    if (run.dataset != cfg.dataset || run.model != cfg.model ||
        run.num_classes != cfg.num_classes) {
      others.push_back(str_format("{} ({} {} {} classes)", dir.string(), run.dataset, run.model,
                                  run.num_classes));
    } else if (latest_checkpoint(dir.string()).empty()) {
      others.push_back(dir.string() + " (no complete checkpoint)");
    } else {
      found.push_back(dir.string());
    }
  }
  const std::string wanted = str_format("FC baseline (use_slot = false) of {} {} with {} classes",
                                        cfg.dataset, cfg.model, cfg.num_classes);
  if (found.size() == 1) {
    log::info("use_pre: pre_checkpoint is empty; using {}, the one {} beside {}", found[0],
              wanted, out.string());
    return found[0];
  }
  if (found.empty())
    throw UserError(
        str_format("use_pre = true with pre_checkpoint empty, but no {} with a complete "
                   "checkpoint sits beside '{}'{}",
                   wanted, out.string(),
                   others.empty() ? "" : "; other FC runs there: " + some(others)),
        "set pre_checkpoint to the FC baseline's run folder or checkpoint file");
  throw UserError(
      str_format("use_pre = true with pre_checkpoint empty, and {} folders beside '{}' "
                 "hold an {}: {}",
                 found.size(), out.string(), wanted, some(found)),
      "set pre_checkpoint to the one to start from");
}

}  // namespace scouter
