#include "datasets/imagenet_files.h"

#include <fmt/format.h>

#include <cmath>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "datasets/layout_files.h"
#include "datasets/mat_file.h"

namespace scouter {
namespace {

constexpr const char* kMetaHint =
    "meta.mat must be the ILSVRC2012 devkit's data/meta.mat: a struct array 'synsets' with "
    "ILSVRC2012_ID, WNID, words and num_children per synset (as scipy.io.loadmat reads it)";
constexpr const char* kXmlHint =
    "box files are ILSVRC2012_bbox_val_v3's val/<ImageId>.xml: <annotation> with "
    "<object><name>wnid</name><bndbox><xmin>..</xmin><ymin>..</ymin><xmax>..</xmax>"
    "<ymax>..</ymax></bndbox></object> per object";

// x1 y1 x2 y2 from four number strings; `bad` builds the error for the file at hand.
template <typename Bad>
CornerBox corner_box(const std::array<std::string, 4>& text, const Bad& bad) {
  CornerBox b{};
  for (size_t k = 0; k < 4; ++k) {
    auto v = parse_double(text[k]);
    if (!v || !std::isfinite(*v)) throw bad(fmt::format("'{}' is not a number", text[k]));
    b[k] = static_cast<float>(*v);
  }
  if (b[2] < b[0] || b[3] < b[1]) throw bad("a box with x2 < x1 or y2 < y1");
  return b;
}

// Synset e's field `name`, which must be of kind `kind`.
const MatArray& synset_field(const MatArray& s, int64_t e, const char* name, MatArray::Kind kind,
                             const std::string& path) {
  const MatArray* f = s.field(e, name);
  if (!f || f->kind != kind)
    throw UserError(fmt::format("'{}': synset {} has {} field '{}'", path, e + 1,
                                f ? "a wrongly typed" : "no", name),
                    kMetaHint);
  return *f;
}

// A numeric field holding one whole number >= lo.
int64_t whole_number(const MatArray& s, int64_t e, const char* name, int64_t lo,
                     const std::string& path) {
  const MatArray& f = synset_field(s, e, name, MatArray::Kind::kNumeric, path);
  if (f.numbers.size() != 1 || f.numbers[0] != std::floor(f.numbers[0]) || f.numbers[0] < lo ||
      f.numbers[0] > 1e9)
    throw UserError(fmt::format("'{}': synset {} field '{}' is not one whole number >= {}", path,
                                e + 1, name, lo),
                    kMetaHint);
  return static_cast<int64_t>(f.numbers[0]);
}

// The text between <tag> and </tag> of every such element in [begin, end) of xml (the box files
// have no attributes and no nested elements of the same name).
std::vector<std::string> elements(const std::string& xml, size_t begin, size_t end,
                                  const std::string& tag, const std::string& path) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  std::vector<std::string> out;
  for (size_t at = xml.find(open, begin); at < end; at = xml.find(open, at)) {
    size_t body = at + open.size(), stop = xml.find(close, body);
    if (stop == std::string::npos || stop + close.size() > end)
      throw UserError(fmt::format("'{}': <{}> without its {}", path, tag, close), kXmlHint);
    out.push_back(xml.substr(body, stop - body));
    at = stop + close.size();
  }
  return out;
}

std::string trimmed(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// The one <tag> inside `xml`, trimmed.
std::string only(const std::string& xml, const std::string& tag, const std::string& where,
                 const std::string& path) {
  auto found = elements(xml, 0, xml.size(), tag, path);
  if (found.size() != 1)
    throw UserError(
        fmt::format("'{}': {} has {} <{}> elements, expected 1", path, where, found.size(), tag),
        kXmlHint);
  return trimmed(found[0]);
}

}  // namespace

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
      e.boxes.push_back(corner_box({f[g + 1], f[g + 2], f[g + 3], f[g + 4]}, bad));
    }
    if (!out.emplace(line.substr(0, comma), std::move(e)).second)
      throw bad(fmt::format("ImageId '{}' appears twice", line.substr(0, comma)));
  }
  return out;
}

std::map<std::string, std::string> read_synsets(const std::string& path) {
  std::map<std::string, std::string> out;
  for (const auto& [number, line] : read_numbered_lines(path)) {
    auto space = line.find(' ');
    if (space == std::string::npos) continue;  // a wnid without a name adds nothing
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

DevkitMeta read_devkit_meta(const std::string& path) {
  MatArray s = read_mat_variable(path, "synsets");
  if (s.kind != MatArray::Kind::kStruct)
    throw UserError(fmt::format("'{}': 'synsets' is not a struct array", path), kMetaHint);
  DevkitMeta meta;
  for (int64_t e = 0; e < s.count(); ++e) {
    if (whole_number(s, e, "num_children", 0, path) > 0) continue;  // not a class
    int64_t id = whole_number(s, e, "ILSVRC2012_ID", 1, path);
    const std::string& wnid = synset_field(s, e, "WNID", MatArray::Kind::kText, path).text;
    if (wnid.empty())
      throw UserError(fmt::format("'{}': synset {} has an empty WNID", path, e + 1), kMetaHint);
    if (!meta.wnid_of_id.emplace(id, wnid).second)
      throw UserError(fmt::format("'{}': ILSVRC2012_ID {} appears twice", path, id), kMetaHint);
    const MatArray* words = s.field(e, "words");  // readable names: optional
    meta.words[wnid] = words && words->kind == MatArray::Kind::kText ? words->text : "";
  }
  if (meta.wnid_of_id.empty())
    throw UserError(fmt::format("'{}': no leaf synsets (num_children == 0)", path), kMetaHint);
  return meta;
}

std::string val_image_id(int64_t number) { return fmt::format("ILSVRC2012_val_{:08d}", number); }

std::map<std::string, std::string> read_ground_truth(const std::string& path,
                                                     const std::string& meta_path,
                                                     const DevkitMeta& meta) {
  std::map<std::string, std::string> out;
  int64_t image = 0;
  for (const auto& [number, line] : read_numbered_lines(path)) {
    // Line i is image i: a blank line would shift every label after it.
    if (number != ++image)
      throw UserError(fmt::format("'{}' line {} is empty", path, image),
                      "one ILSVRC2012_ID per line, line i for ILSVRC2012_val_<i>");
    auto id = parse_int(trimmed(line));
    auto it = id ? meta.wnid_of_id.find(*id) : meta.wnid_of_id.end();
    if (it == meta.wnid_of_id.end())
      throw UserError(
          fmt::format("'{}' line {}: '{}' is not the ILSVRC2012_ID of a class in '{}'", path,
                      number, line, meta_path),
          fmt::format("valid: the ids of the {} leaf synsets (num_children 0), 1..{} in "
                      "ILSVRC2012",
                      meta.wnid_of_id.size(), meta.wnid_of_id.rbegin()->first));
    out[val_image_id(number)] = it->second;
  }
  return out;
}

std::vector<CornerBox> read_box_xml(const std::string& path, const std::string& wnid) {
  const std::string xml = read_text_file(path);
  std::vector<CornerBox> out;
  auto objects = elements(xml, 0, xml.size(), "object", path);
  for (size_t k = 0; k < objects.size(); ++k) {
    const std::string where = fmt::format("<object> {}", k + 1);
    const std::string name = only(objects[k], "name", where, path);
    const std::string bndbox = only(objects[k], "bndbox", where, path);
    std::array<std::string, 4> text;
    const char* tags[] = {"xmin", "ymin", "xmax", "ymax"};
    for (size_t i = 0; i < 4; ++i) text[i] = only(bndbox, tags[i], where + " <bndbox>", path);
    CornerBox b = corner_box(text, [&](const std::string& why) {
      return UserError(fmt::format("'{}': {}: {}", path, where, why), kXmlHint);
    });
    if (name == wnid) out.push_back(b);
  }
  return out;
}

}  // namespace scouter
