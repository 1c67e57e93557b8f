// Readers of the label, box and class-name files of the two ImageNet layouts that
// imagenet_layout.cpp accepts: Kaggle's LOC_val_solution.csv and LOC_synset_mapping.txt, and the
// official ILSVRC2012 devkit (data/ILSVRC2012_validation_ground_truth.txt, data/meta.mat) with
// the per-image box files of ILSVRC2012_bbox_val_v3. Every mistake is a UserError naming the
// file (and line, synset or object).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace scouter {

using CornerBox = std::array<float, 4>;  // x1, y1, x2, y2 in source pixels

struct ValEntry {
  std::string wnid;              // the image's label
  std::vector<CornerBox> boxes;  // every box of that wnid in the image (others say nothing)
};

// LOC_val_solution.csv: "ImageId,PredictionString" rows, PredictionString "wnid x1 y1 x2 y2 ...";
// the label is the first wnid. ImageId -> label and its boxes.
std::map<std::string, ValEntry> read_solution(const std::string& path);

// LOC_synset_mapping.txt: "n01440764 tench, Tinca tinca" -> wnid -> "tench, Tinca tinca".
std::map<std::string, std::string> read_synsets(const std::string& path);

// The devkit's data/meta.mat (MATLAB v5): struct array `synsets` with ILSVRC2012_ID, WNID,
// words and num_children per synset; the classes are the leaves (num_children == 0, the ids
// 1..1000 in ILSVRC2012). Read as torchvision reads it (scipy.io.loadmat).
struct DevkitMeta {
  std::map<int64_t, std::string> wnid_of_id;  // leaves only
  std::map<std::string, std::string> words;   // leaf wnid -> "tench, Tinca tinca"
};
DevkitMeta read_devkit_meta(const std::string& path);

// The devkit's data/ILSVRC2012_validation_ground_truth.txt: line i holds the ILSVRC2012_ID of
// val image i (ILSVRC2012_val_<i as 8 digits>). ImageId -> wnid, through meta.
std::map<std::string, std::string> read_ground_truth(const std::string& path,
                                                     const std::string& meta_path,
                                                     const DevkitMeta& meta);

// "ILSVRC2012_val_00000001" for image 1.
std::string val_image_id(int64_t number);

// One image's box file (ILSVRC2012_bbox_val_v3/val/<ImageId>.xml, PASCAL VOC style):
// <annotation> with <object><name>wnid</name><bndbox><xmin>..<ymin>..<xmax>..<ymax>..</bndbox>
// per object. The boxes of the objects named `wnid` (every object is checked).
std::vector<CornerBox> read_box_xml(const std::string& path, const std::string& wnid);

}  // namespace scouter
