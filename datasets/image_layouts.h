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
  std::string dataset;  // set by the converter from the dataset table (datasets/dataset_spec.h)
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

// ImageNet (ILSVRC2012 CLS-LOC) in one of two layouts (docs/datasets.md shows both):
//   Kaggle root: src/ILSVRC/Data/CLS-LOC/{train,val}/, src/LOC_val_solution.csv, and
//     src/LOC_synset_mapping.txt; a folder inside the archive as src is refused, naming the root.
//   Official (the ILSVRC2012 archives extracted): src/train/<wnid>/*.JPEG and the val images,
//     either sorted into src/val/<wnid>/ or flat in src/ILSVRC2012_img_val/ (or src/val/), with
//     src/ILSVRC2012_devkit_t12/data/{ILSVRC2012_validation_ground_truth.txt, meta.mat} and
//     optionally src/ILSVRC2012_bbox_val_v3/val/<ImageId>.xml.
// Classes: the first num_classes wnids of train/ in sorted order. Flat val: labels from the CSV
// and/or the devkit (ground-truth id -> meta.mat's leaf synset -> wnid); when both are there they
// must list the same images with the same wnids, else a UserError naming the first image that
// differs; images in ImageId order. Sorted val: the folder is the label. Val boxes (either val
// layout): from the CSV when present, else from the XML files; the union (enclosing rectangle) of
// the image's boxes of its own class, x = x1, w = x2 - x1. Readable class names from
// LOC_synset_mapping.txt, else meta.mat's `words`. Train has no boxes.
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
