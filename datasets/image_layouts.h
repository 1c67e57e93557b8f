// The folder layouts of the image datasets (ImageNet CLS-LOC, CUB-200-2011, Con-Text) read into
// one listing: every source image of each split with its label and object box. Reads only
// names and text files, no pixels. A layout mistake a user can fix (missing file, bad line) is a
// UserError naming the file.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct SourceImage {
  std::string path;  // relative to ImageListing::root, '/'-separated
  int64_t label = 0;
  // x, y, w, h in source-image pixels; w < 0 when the image has no box.
  std::array<float, 4> box{-1.f, -1.f, -1.f, -1.f};
};

struct ImageListing {
  std::string dataset;
  std::string root;  // the folder image paths are relative to
  std::vector<std::string> class_names;
  std::vector<std::string> class_descriptions;  // readable names where the dataset has them
  std::vector<SourceImage> train, val;
  bool train_boxes = false, val_boxes = false;  // whether the split stores /boxes
  bool flip_allowed = true;
  std::vector<std::string> layout_files;  // text files read (full paths), recorded with SHA-256
};

struct LayoutOptions {
  int64_t num_classes = 0;  // the first num_classes classes; 0: all
  uint64_t seed = 0;        // Con-Text's train/val split
};

// ImageNet (ILSVRC CLS-LOC) under src, or under src/ILSVRC/Data/CLS-LOC (the Kaggle archive):
//   train/<wnid>/*.JPEG
//   val/<wnid>/*.JPEG, or val/*.JPEG flat with LOC_val_solution.csv
//   LOC_val_solution.csv   "ImageId,PredictionString" with "wnid x1 y1 x2 y2 ..." (optional
//                          beside a sorted val/; gives val boxes; looked for in src)
//   LOC_synset_mapping.txt "wnid name, name, ..." (optional; readable class descriptions)
// Classes: the first num_classes wnids of train/ in sorted order. Val box: the union (enclosing
// rectangle) of all boxes of the image's own class, x = x1, w = x2 - x1. Train has no boxes.
ImageListing list_imagenet(const std::string& src, const LayoutOptions& opt);

// CUB-200-2011 under src: images.txt, image_class_labels.txt, train_test_split.txt,
// classes.txt, bounding_boxes.txt, images/. Keeps classes 1..num_classes (label = class - 1),
// samples in image-id order; class names without their "NNN." prefix. Every image has a box.
ImageListing list_cub200(const std::string& src, const LayoutOptions& opt);

// Con-Text: one folder of images (src, or src/JPEGImages); label = the file-name prefix before
// the first '_', categories sorted by name. Split per category: its files sorted by name, then
// shuffled by a SplitMix64 seeded with mix_seed(seed, category index) (Fisher-Yates from the
// end); the first round(n / 5) = (n + 2) / 5 go to val, the rest to train. No boxes, no flips
// (mirrored text is not the same picture).
ImageListing list_context(const std::string& src, const LayoutOptions& opt);

// True for names ending in .jpg, .jpeg or .png, any case: the files the layouts pick up.
bool is_image_name(const std::string& name);

}  // namespace scouter
