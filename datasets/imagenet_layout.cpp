// ImageNet CLS-LOC in Kaggle's layout or in the official ILSVRC2012 archives' layout: class
// folders under train/, val sorted into class folders or flat with its labels and boxes beside.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "datasets/image_layouts.h"
#include "datasets/imagenet_files.h"
#include "datasets/layout_files.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

constexpr const char* kSolution = "LOC_val_solution.csv";
constexpr const char* kSynsets = "LOC_synset_mapping.txt";
constexpr const char* kKaggleData = "ILSVRC/Data/CLS-LOC";
constexpr const char* kOfficialVal = "ILSVRC2012_img_val";
constexpr const char* kDevkit = "ILSVRC2012_devkit_t12";
constexpr const char* kGroundTruth = "ILSVRC2012_validation_ground_truth.txt";
constexpr const char* kBoxes = "ILSVRC2012_bbox_val_v3";
constexpr const char* kLayoutHint =
    "--src is the Kaggle root (LOC_val_solution.csv, ILSVRC/Data/CLS-LOC/train/ and val/) or a "
    "folder holding train/<wnid>/*.JPEG and the val images: in val/<wnid>/ folders, or flat in "
    "ILSVRC2012_img_val/ (or val/) with ILSVRC2012_devkit_t12/data/ or LOC_val_solution.csv "
    "beside; see docs/datasets.md";

// Where the val images are and which files say what they show; "" where a file is absent.
struct ValSources {
  std::string dir, rel;            // the val image folder: full path, and relative to the root
  std::string solution;            // Kaggle's LOC_val_solution.csv
  std::string ground_truth, meta;  // the devkit's data/ files
  std::string box_dir;             // ILSVRC2012_bbox_val_v3/val/ (one XML per image)
};

// A folder inside the Kaggle archive is not its root: val's labels and boxes (and the class
// names) are in the root's CSV files, which a subfolder would silently lose.
void refuse_kaggle_subfolder(const std::string& src) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(src), ec);
  if (ec) return;  // the layout checks below name the problem
  std::vector<std::string> tail;
  for (const auto& part : p) tail.push_back(part.string());
  const std::vector<std::string> kaggle = {"ILSVRC", "Data", "CLS-LOC"};
  for (size_t depth = kaggle.size(); depth >= 1; --depth) {
    if (tail.size() <= depth ||
        !std::equal(kaggle.begin(), kaggle.begin() + static_cast<std::ptrdiff_t>(depth),
                    tail.end() - static_cast<std::ptrdiff_t>(depth)))
      continue;
    fs::path root = p;
    for (size_t i = 0; i < depth; ++i) root = root.parent_path();
    if (!is_folder((root / kKaggleData).string())) continue;  // a folder that is merely named so
    throw UserError(
        fmt::format("ImageNet: --src '{}' is a folder inside the Kaggle archive; pass the Kaggle "
                    "root '{}' instead",
                    src, root.string()),
        "the root holds LOC_val_solution.csv (val labels and boxes), LOC_synset_mapping.txt "
        "and ILSVRC/Data/CLS-LOC/");
  }
}

// The folder the image paths are relative to: src, or the Kaggle archive's CLS-LOC folder.
std::string find_root(const std::string& src) {
  if (is_folder(src + "/train")) return src;
  if (is_folder(src + "/" + kKaggleData + "/train")) return src + "/" + kKaggleData;
  throw UserError(
      fmt::format("ImageNet: found no train/ folder: looked for '{}/train/' (official layout) "
                  "and '{}/{}/train/' (Kaggle root)",
                  src, src, kKaggleData),
      kLayoutHint);
}

// The label and box files live in src (Kaggle: the root; also looked for beside the images).
ValSources find_val_sources(const std::string& src, const std::string& root) {
  ValSources v;
  bool has_val = is_folder(root + "/val"),
       has_official = root == src && is_folder(src + "/" + kOfficialVal);
  if (has_val && has_official)
    throw UserError(fmt::format("ImageNet: both '{}/val/' and '{}/{}/' hold val images", src, src,
                                kOfficialVal),
                    "keep one of them");
  if (!has_val && !has_official)
    throw UserError(fmt::format("ImageNet: found no val images: looked for '{}/val/'{}", root,
                                root == src ? fmt::format(" and '{}/{}/'", src, kOfficialVal) : ""),
                    kLayoutHint);
  v.rel = has_val ? "val" : kOfficialVal;
  v.dir = root + "/" + v.rel;
  for (const std::string& dir : {src, root})
    if (v.solution.empty() && file_exists(dir + "/" + kSolution))
      v.solution = dir + "/" + kSolution;
  const std::string devkit = src + "/" + kDevkit;
  if (is_folder(devkit)) {
    v.ground_truth = devkit + "/data/" + kGroundTruth;
    v.meta = devkit + "/data/meta.mat";
    for (const auto& f : {v.ground_truth, v.meta})
      if (!file_exists(f))
        throw UserError(fmt::format("ImageNet: devkit file '{}' is missing", f),
                        "extract ILSVRC2012_devkit_t12.tar.gz into --src whole");
  }
  if (is_folder(src + "/" + kBoxes)) {
    v.box_dir = src + "/" + kBoxes + "/val";
    if (!is_folder(v.box_dir))
      throw UserError(
          fmt::format("ImageNet: '{}' is missing (box files val/<ImageId>.xml)", v.box_dir),
          "extract ILSVRC2012_bbox_val_v3.tgz into --src/ILSVRC2012_bbox_val_v3/");
  }
  return v;
}

// The enclosing rectangle of boxes, as x, y, w, h; -1s when there are none.
std::array<float, 4> union_box(const std::vector<CornerBox>& boxes) {
  if (boxes.empty()) return {-1.f, -1.f, -1.f, -1.f};
  float x1 = boxes[0][0], y1 = boxes[0][1], x2 = boxes[0][2], y2 = boxes[0][3];
  for (const auto& b : boxes) {
    x1 = std::min(x1, b[0]);
    y1 = std::min(y1, b[1]);
    x2 = std::max(x2, b[2]);
    y2 = std::max(y2, b[3]);
  }
  return {x1, y1, x2 - x1, y2 - y1};
}

// Val boxes: from LOC_val_solution.csv when it is there, else from the XML box files.
class ValBoxes {
 public:
  ValBoxes(const std::map<std::string, ValEntry>* solution, std::string box_dir)
      : solution_(solution), box_dir_(std::move(box_dir)) {}
  bool any() const { return solution_ != nullptr || !box_dir_.empty(); }

  // The union of the image's boxes of class wnid (-1s: none, or no entry for the image).
  std::array<float, 4> of(const std::string& image_id, const std::string& wnid) {
    if (solution_) {
      auto it = solution_->find(image_id);
      bool same = it != solution_->end() && it->second.wnid == wnid;
      return same ? union_box(it->second.boxes) : union_box({});
    }
    if (box_dir_.empty()) return union_box({});
    const std::string xml = box_dir_ + "/" + image_id + ".xml";
    if (!file_exists(xml)) {
      ++missing_;
      return union_box({});
    }
    return union_box(read_box_xml(xml, wnid));
  }

  void warn_missing() const {
    if (missing_ > 0)
      spdlog::warn(
          "ImageNet: {} val image(s) have no box file in '{}'; they are stored without "
          "a box",
          missing_, box_dir_);
  }

 private:
  const std::map<std::string, ValEntry>* solution_;
  std::string box_dir_;
  int64_t missing_ = 0;
};

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

// Both label sources must list the same images with the same classes: a disagreement means a
// damaged or mismatched file, and which one is right cannot be told here.
void check_labels_agree(const std::map<std::string, ValEntry>& solution,
                        const std::map<std::string, std::string>& truth, const ValSources& v) {
  auto a = solution.begin();
  auto b = truth.begin();
  while (a != solution.end() || b != truth.end()) {
    std::string id = a == solution.end() ? b->first
                     : b == truth.end()  ? a->first
                                         : std::min(a->first, b->first);
    std::string in_a = a != solution.end() && a->first == id ? a->second.wnid : "no row";
    std::string in_b = b != truth.end() && b->first == id ? b->second : "no line";
    if (in_a != in_b)
      throw UserError(
          fmt::format("ImageNet: the val label sources disagree at {}: '{}' says {}, '{}' with "
                      "'{}' says {}",
                      id, v.solution, in_a, v.ground_truth, v.meta, in_b),
          "both must come from the same ILSVRC2012 release; remove the wrong one from --src");
    if (in_a != "no row") ++a;
    if (in_b != "no line") ++b;
  }
}

void list_sorted_val(ImageListing& L, const std::vector<std::string>& wnids, const ValSources& v,
                     ValBoxes& boxes) {
  for (size_t c = 0; c < wnids.size(); ++c) {
    const std::string folder = v.dir + "/" + wnids[c];
    if (!is_folder(folder))
      throw UserError(fmt::format("ImageNet: class folder '{}' is missing (train/ has it)", folder),
                      kLayoutHint);
    for (const auto& f : image_files(folder, "an ImageNet class folder"))
      L.val.push_back(
          {v.rel + "/" + wnids[c] + "/" + f, static_cast<int64_t>(c), boxes.of(stem(f), wnids[c])});
  }
}

// Flat val: one label per ImageId (from the CSV or the devkit), listed in ImageId order.
void list_flat_val(ImageListing& L, const std::map<std::string, int64_t>& label_of,
                   const ValSources& v, const std::map<std::string, std::string>& labels,
                   ValBoxes& boxes) {
  std::map<std::string, std::string> file_of;
  for (const auto& f : image_files(v.dir, "the ImageNet val folder")) file_of[stem(f)] = f;
  int64_t unlisted = 0;
  for (const auto& [id, f] : file_of) unlisted += labels.count(id) == 0;
  if (unlisted > 0)
    spdlog::warn("ImageNet: {} image(s) in '{}' have no label in '{}' and are left out", unlisted,
                 v.dir, v.solution.empty() ? v.ground_truth : v.solution);
  for (const auto& [id, wnid] : labels) {
    auto label = label_of.find(wnid);
    if (label == label_of.end()) continue;  // a class not selected
    auto f = file_of.find(id);
    // A listed image that is missing stays in the listing: it is reported as a bad image.
    std::string name = f != file_of.end() ? f->second : id + ".JPEG";
    L.val.push_back({v.rel + "/" + name, label->second, boxes.of(id, wnid)});
  }
}

}  // namespace

ImageListing list_imagenet(const std::string& src, const LayoutOptions& opt) {
  refuse_kaggle_subfolder(src);
  ImageListing L;
  L.flip_allowed = true;
  L.root = find_root(src);
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
  for (size_t c = 0; c < wnids.size(); ++c)
    for (const auto& f : image_files(L.root + "/train/" + wnids[c], "an ImageNet class folder"))
      L.train.push_back({"train/" + wnids[c] + "/" + f, static_cast<int64_t>(c), {-1, -1, -1, -1}});

  const ValSources v = find_val_sources(src, L.root);
  const bool sorted = !list_folder(v.dir, true, "the ImageNet val folder").empty();
  std::string synsets;
  for (const std::string& dir : {src, L.root})
    if (synsets.empty() && file_exists(dir + "/" + kSynsets)) synsets = dir + "/" + kSynsets;
  // meta.mat: flat val's labels (with the ground truth), and readable names where Kaggle's
  // LOC_synset_mapping.txt is absent.
  DevkitMeta meta;
  if (!v.meta.empty() && (!sorted || synsets.empty())) {
    meta = read_devkit_meta(v.meta);
    L.layout_files.push_back(v.meta);
  }
  std::map<std::string, std::string> names = meta.words;
  if (!synsets.empty()) {
    names = read_synsets(synsets);
    L.layout_files.push_back(synsets);
  }
  if (!names.empty())
    for (const auto& w : wnids) L.class_descriptions.push_back(names.count(w) ? names[w] : "");

  std::map<std::string, ValEntry> solution;
  if (!v.solution.empty()) {
    solution = read_solution(v.solution);
    L.layout_files.push_back(v.solution);
  }
  ValBoxes boxes(v.solution.empty() ? nullptr : &solution, v.box_dir);
  L.val_boxes = boxes.any();
  if (sorted) {  // val/<wnid>/: the folder is the label
    list_sorted_val(L, wnids, v, boxes);
  } else {
    std::map<std::string, std::string> labels;
    for (const auto& [id, e] : solution) labels[id] = e.wnid;
    if (!v.ground_truth.empty()) {
      auto truth = read_ground_truth(v.ground_truth, v.meta, meta);
      L.layout_files.push_back(v.ground_truth);
      if (!v.solution.empty()) check_labels_agree(solution, truth, v);
      labels = std::move(truth);
    }
    if (v.solution.empty() && v.ground_truth.empty())
      throw UserError(
          fmt::format("ImageNet: '{}' is flat (no class folders) and its labels are missing: "
                      "looked for '{}/{}' (Kaggle) and '{}/{}/data/{}' with meta.mat (devkit)",
                      v.dir, src, kSolution, src, kDevkit, kGroundTruth),
          "put LOC_val_solution.csv or the extracted ILSVRC2012_devkit_t12/ into --src, or sort "
          "the val images into val/<wnid>/ folders");
    list_flat_val(L, label_of, v, labels, boxes);
  }
  boxes.warn_missing();
  if (L.train.empty() || L.val.empty())
    throw UserError(fmt::format("ImageNet: no {} images of the {} selected classes under '{}'",
                                L.train.empty() ? "train" : "val", wnids.size(), L.root),
                    kLayoutHint);
  return L;
}

}  // namespace scouter
