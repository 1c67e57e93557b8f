// CUB-200-2011: five "id value..." text files beside images/.
#include <fmt/format.h>

#include <cctype>
#include <map>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "datasets/image_layouts.h"
#include "datasets/layout_files.h"

namespace scouter {
namespace {

constexpr const char* kFiles[] = {"images.txt", "image_class_labels.txt", "train_test_split.txt",
                                  "classes.txt", "bounding_boxes.txt"};
constexpr const char* kLayoutHint =
    "--src must be the CUB_200_2011 folder: images.txt, image_class_labels.txt, "
    "train_test_split.txt, classes.txt, bounding_boxes.txt and images/";

UserError line_error(const std::string& path, int number, const std::string& why,
                     const std::string& expected) {
  return UserError(fmt::format("'{}' line {}: {}", path, number, why),
                   "each line is `" + expected + "`");
}

// "id rest..." lines -> id -> fields after the id (exactly `count` of them; 0: the rest as one).
std::map<int64_t, std::vector<std::string>> read_table(const std::string& path, size_t count,
                                                       const std::string& expected) {
  std::map<int64_t, std::vector<std::string>> out;
  for (const auto& [number, line] : read_numbered_lines(path)) {
    std::vector<std::string> f = fields(line);
    auto id = f.empty() ? std::nullopt : parse_int(f[0]);
    if (!id || *id < 1) throw line_error(path, number, "no positive id first", expected);
    std::vector<std::string> rest;
    if (count == 0) {  // a path may hold spaces: everything after the first field
      auto start = line.find_first_not_of(" \t", line.find_first_of(" \t"));
      if (f.size() < 2 || start == std::string::npos)
        throw line_error(path, number, "nothing after the id", expected);
      rest.push_back(line.substr(start));
    } else {
      if (f.size() != count + 1)
        throw line_error(path, number, fmt::format("{} fields, expected {}", f.size(), count + 1),
                         expected);
      rest.assign(f.begin() + 1, f.end());
    }
    if (!out.emplace(*id, std::move(rest)).second)
      throw line_error(path, number, fmt::format("id {} appears twice", *id), expected);
  }
  return out;
}

const std::vector<std::string>& row_of(const std::map<int64_t, std::vector<std::string>>& table,
                                       int64_t id, const std::string& path) {
  auto it = table.find(id);
  if (it == table.end())
    throw UserError(fmt::format("'{}' has no line for image id {} (images.txt lists it)", path, id),
                    "the CUB text files must cover the same image ids; re-extract the archive");
  return it->second;
}

int64_t int_field(const std::string& s, const std::string& path, int64_t id, int64_t lo,
                  int64_t hi) {
  auto v = parse_int(s);
  if (!v || *v < lo || *v > hi)
    throw UserError(fmt::format("'{}': image id {} has '{}', expected {}..{}", path, id, s, lo, hi),
                    kLayoutHint);
  return *v;
}

// "001.Black_footed_Albatross" -> "Black_footed_Albatross".
std::string class_name(const std::string& folder) {
  size_t i = 0;
  while (i < folder.size() && std::isdigit(static_cast<unsigned char>(folder[i]))) ++i;
  return i > 0 && i < folder.size() && folder[i] == '.' ? folder.substr(i + 1) : folder;
}

}  // namespace

ImageListing list_cub200(const std::string& src, const LayoutOptions& opt) {
  for (const char* name : kFiles)
    if (!file_exists(src + "/" + name))
      throw UserError(fmt::format("CUB200 layout file missing: '{}/{}'", src, name), kLayoutHint);
  if (!is_folder(src + "/images"))
    throw UserError(fmt::format("CUB200 image folder missing: '{}/images'", src), kLayoutHint);
  ImageListing L;
  L.root = src;
  L.flip_allowed = true;
  L.train_boxes = L.val_boxes = true;
  for (const char* name : kFiles) L.layout_files.push_back(src + "/" + name);
  const std::string images_path = src + "/images.txt",
                    labels_path = src + "/image_class_labels.txt",
                    split_path = src + "/train_test_split.txt", classes_path = src + "/classes.txt",
                    boxes_path = src + "/bounding_boxes.txt";
  auto images = read_table(images_path, 0, "<image id> <path under images/>");
  auto labels = read_table(labels_path, 1, "<image id> <class id>");
  auto split = read_table(split_path, 1, "<image id> <1: train, 0: test>");
  auto classes = read_table(classes_path, 1, "<class id> <NNN.Name>");
  auto boxes = read_table(boxes_path, 4, "<image id> <x> <y> <width> <height>");

  auto total = static_cast<int64_t>(classes.size());
  for (int64_t c = 1; c <= total; ++c)
    if (!classes.count(c))
      throw UserError(
          fmt::format("'{}' has no class {} (class ids must be 1..{})", classes_path, c, total),
          kLayoutHint);
  if (opt.num_classes > total)
    throw UserError(fmt::format("--num_classes {} but '{}' lists {} classes", opt.num_classes,
                                classes_path, total),
                    fmt::format("valid: 1..{} (0: all)", total));
  int64_t keep = opt.num_classes > 0 ? opt.num_classes : total;
  for (int64_t c = 1; c <= keep; ++c) L.class_names.push_back(class_name(classes[c][0]));

  for (const auto& [id, row] : images) {
    int64_t cls = int_field(row_of(labels, id, labels_path)[0], labels_path, id, 1, total);
    int64_t is_train = int_field(row_of(split, id, split_path)[0], split_path, id, 0, 1);
    const auto& b = row_of(boxes, id, boxes_path);
    if (cls > keep) continue;
    SourceImage s{"images/" + row[0], cls - 1, {}};
    for (size_t k = 0; k < 4; ++k) {
      auto v = parse_double(b[k]);
      if (!v || *v < 0 || (k >= 2 && *v <= 0))
        throw UserError(fmt::format("'{}': image id {} has box value '{}'", boxes_path, id, b[k]),
                        "x and y are >= 0, width and height > 0 (pixels)");
      s.box[k] = static_cast<float>(*v);
    }
    (is_train ? L.train : L.val).push_back(std::move(s));
  }
  if (L.train.empty() || L.val.empty())
    throw UserError(fmt::format("CUB200: '{}' leaves no {} images for classes 1..{}", split_path,
                                L.train.empty() ? "train" : "test", keep),
                    kLayoutHint);
  return L;
}

}  // namespace scouter
