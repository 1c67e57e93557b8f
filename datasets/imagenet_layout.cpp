// ImageNet CLS-LOC: class folders under train/, val sorted or flat with LOC_val_solution.csv.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "datasets/image_layouts.h"
#include "datasets/layout_files.h"

namespace scouter {
namespace {

constexpr const char* kSolution = "LOC_val_solution.csv";
constexpr const char* kSynsets = "LOC_synset_mapping.txt";
constexpr const char* kLayoutHint =
    "--src must hold train/<wnid>/*.JPEG and val/ (val/<wnid>/*.JPEG, or val/*.JPEG with "
    "LOC_val_solution.csv), or be the Kaggle root holding ILSVRC/Data/CLS-LOC/";

struct ValEntry {
  std::string wnid;  // the image's label: the first wnid of its PredictionString
  std::vector<std::array<float, 4>> boxes;  // x1, y1, x2, y2 of every box of that wnid
};

// LOC_val_solution.csv: ImageId -> label and the label's boxes.
std::map<std::string, ValEntry> read_solution(const std::string& path) {
  std::map<std::string, ValEntry> out;
  for (const auto& [number, line] : read_numbered_lines(path)) {
    if (number == 1 && starts_with(line, "ImageId")) continue;  // the header
    auto bad = [&, number = number](const std::string& why) {
      return UserError(fmt::format("'{}' line {}: {}", path, number, why),
                       "lines are ImageId,PredictionString with PredictionString "
                       "\"wnid x1 y1 x2 y2 [wnid x1 y1 x2 y2 ...]\"");
    };
    auto comma = line.find(',');
    if (comma == std::string::npos || comma == 0) throw bad("no ImageId before a comma");
    std::vector<std::string> f = fields(line.substr(comma + 1));
    if (f.empty() || f.size() % 5 != 0)
      throw bad(fmt::format("{} fields after the comma, expected groups of 5", f.size()));
    ValEntry e;
    e.wnid = f[0];
    for (size_t g = 0; g < f.size(); g += 5) {
      if (f[g] != e.wnid) continue;  // a box of another class says nothing about this label
      std::array<float, 4> b{};
      for (int k = 0; k < 4; ++k) {
        auto v = parse_double(f[g + 1 + static_cast<size_t>(k)]);
        if (!v) throw bad(fmt::format("'{}' is not a number", f[g + 1 + static_cast<size_t>(k)]));
        b[static_cast<size_t>(k)] = static_cast<float>(*v);
      }
      if (b[2] < b[0] || b[3] < b[1]) throw bad("a box with x2 < x1 or y2 < y1");
      e.boxes.push_back(b);
    }
    if (!out.emplace(line.substr(0, comma), std::move(e)).second)
      throw bad(fmt::format("ImageId '{}' appears twice", line.substr(0, comma)));
  }
  return out;
}

// The enclosing rectangle of all boxes of the image's class, as x, y, w, h.
std::array<float, 4> union_box(const ValEntry& e) {
  if (e.boxes.empty()) return {-1.f, -1.f, -1.f, -1.f};
  float x1 = e.boxes[0][0], y1 = e.boxes[0][1], x2 = e.boxes[0][2], y2 = e.boxes[0][3];
  for (const auto& b : e.boxes) {
    x1 = std::min(x1, b[0]);
    y1 = std::min(y1, b[1]);
    x2 = std::max(x2, b[2]);
    y2 = std::max(y2, b[3]);
  }
  return {x1, y1, x2 - x1, y2 - y1};
}

std::string stem(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

std::vector<std::string> image_files(const std::string& dir, const std::string& what) {
  std::vector<std::string> out;
  for (auto& n : list_folder(dir, false, what))
    if (is_image_name(n)) out.push_back(std::move(n));
  return out;
}

// "n01440764 tench, Tinca tinca" -> wnid -> "tench, Tinca tinca".
std::map<std::string, std::string> read_synsets(const std::string& path) {
  std::map<std::string, std::string> out;
  for (const auto& [number, line] : read_numbered_lines(path)) {
    auto space = line.find(' ');
    if (space == std::string::npos) continue;  // a wnid without a name adds nothing
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

}  // namespace

ImageListing list_imagenet(const std::string& src, const LayoutOptions& opt) {
  ImageListing L;
  L.dataset = "ImageNet";
  L.flip_allowed = true;
  if (is_folder(src + "/train")) {
    L.root = src;
  } else if (is_folder(src + "/ILSVRC/Data/CLS-LOC/train")) {
    L.root = src + "/ILSVRC/Data/CLS-LOC";
  } else {
    throw UserError(
        fmt::format("ImageNet: no train/ folder in '{}' (nor ILSVRC/Data/CLS-LOC/train)", src),
        kLayoutHint);
  }
  std::vector<std::string> wnids =
      list_folder(L.root + "/train", true, "the ImageNet train folder");
  if (wnids.empty())
    throw UserError(fmt::format("ImageNet: '{}/train' holds no class folders", L.root),
                    kLayoutHint);
  if (opt.num_classes > static_cast<int64_t>(wnids.size()))
    throw UserError(fmt::format("--num_classes {} but '{}/train' has {} class folders",
                                opt.num_classes, L.root, wnids.size()),
                    fmt::format("valid: 1..{} (0: all)", wnids.size()));
  if (opt.num_classes > 0) wnids.resize(static_cast<size_t>(opt.num_classes));
  L.class_names = wnids;
  std::map<std::string, int64_t> label_of;
  for (size_t c = 0; c < wnids.size(); ++c) label_of[wnids[c]] = static_cast<int64_t>(c);

  // Readable names and val boxes live beside the images (Kaggle: at the archive's root).
  auto find_meta = [&](const char* name) {
    for (const std::string& dir : {src, L.root})
      if (file_exists(dir + "/" + name)) return dir + "/" + name;
    return std::string();
  };
  std::string synsets = find_meta(kSynsets), solution_path = find_meta(kSolution);
  if (!synsets.empty()) {
    L.layout_files.push_back(synsets);
    auto names = read_synsets(synsets);
    for (const auto& w : wnids) L.class_descriptions.push_back(names.count(w) ? names[w] : "");
  }

  for (size_t c = 0; c < wnids.size(); ++c)
    for (const auto& f : image_files(L.root + "/train/" + wnids[c], "an ImageNet class folder"))
      L.train.push_back({"train/" + wnids[c] + "/" + f, static_cast<int64_t>(c), {-1, -1, -1, -1}});

  std::string val_dir = L.root + "/val";
  std::vector<std::string> val_folders = list_folder(val_dir, true, "the ImageNet val folder");
  std::map<std::string, ValEntry> solution;
  if (!solution_path.empty()) {
    solution = read_solution(solution_path);
    L.layout_files.push_back(solution_path);
    L.val_boxes = true;
  }
  if (!val_folders.empty()) {  // sorted: val/<wnid>/, labels from the folder
    for (size_t c = 0; c < wnids.size(); ++c) {
      if (!is_folder(val_dir + "/" + wnids[c]))
        throw UserError(fmt::format("ImageNet: class folder '{}/{}' is missing (train/ has it)",
                                    val_dir, wnids[c]),
                        kLayoutHint);
      for (const auto& f : image_files(val_dir + "/" + wnids[c], "an ImageNet class folder")) {
        SourceImage s{"val/" + wnids[c] + "/" + f, static_cast<int64_t>(c), {-1, -1, -1, -1}};
        auto it = solution.find(stem(f));
        if (it != solution.end() && it->second.wnid == wnids[c]) s.box = union_box(it->second);
        L.val.push_back(std::move(s));
      }
    }
  } else {  // flat: val/*.JPEG, labels from the solution file, in ImageId order
    if (solution_path.empty())
      throw UserError(fmt::format("ImageNet: '{}' is flat (no class folders) and '{}' is missing "
                                  "from '{}'",
                                  val_dir, kSolution, src),
                      "put LOC_val_solution.csv (ImageId,PredictionString) into --src, or sort "
                      "val/ into val/<wnid>/ folders");
    std::map<std::string, std::string> file_of;
    for (const auto& f : image_files(val_dir, "the ImageNet val folder")) file_of[stem(f)] = f;
    int64_t unlisted = 0;
    for (const auto& [id, f] : file_of) unlisted += solution.count(id) == 0;
    if (unlisted > 0)
      spdlog::warn("ImageNet: {} image(s) in '{}' have no row in '{}' and are left out", unlisted,
                   val_dir, solution_path);
    for (const auto& [id, e] : solution) {
      auto label = label_of.find(e.wnid);
      if (label == label_of.end()) continue;
      auto f = file_of.find(id);
      // A listed image that is missing stays in the listing: it is reported as a bad image.
      std::string name = f != file_of.end() ? f->second : id + ".JPEG";
      L.val.push_back({"val/" + name, label->second, union_box(e)});
    }
  }
  if (L.train.empty() || L.val.empty())
    throw UserError(fmt::format("ImageNet: no {} images of the {} selected classes under '{}'",
                                L.train.empty() ? "train" : "val", wnids.size(), L.root),
                    kLayoutHint);
  return L;
}

}  // namespace scouter
