// Con-Text's one-folder layout and what the layouts share (ImageNet and CUB-200 have their own
// files: imagenet_layout.cpp, cub_layout.cpp).
#include "datasets/image_layouts.h"

#include <fmt/format.h>

#include <map>

#include "common/error.h"
#include "common/text.h"
#include "datasets/batch_loader.h"
#include "datasets/layout_files.h"
#include "datasets/rng.h"

namespace scouter {

bool is_image_name(const std::string& name) {
  auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return false;
  std::string ext = to_lower(name.substr(dot + 1));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

ImageListing list_context(const std::string& src, const LayoutOptions& opt) {
  const char* hint =
      "--src must be the Con-Text image folder (or hold JPEGImages/): files named "
      "<category>_<n>.jpg";
  ImageListing L;
  L.flip_allowed = false;
  L.root = src;
  auto images_in = [](const std::string& dir) {
    std::vector<std::string> out;
    for (auto& n : list_folder(dir, false, "the Con-Text folder"))
      if (is_image_name(n)) out.push_back(std::move(n));
    return out;
  };
  std::vector<std::string> files = images_in(src);
  if (files.empty() && is_folder(src + "/JPEGImages")) {
    L.root = src + "/JPEGImages";
    files = images_in(L.root);
  }
  if (files.empty())
    throw UserError(fmt::format("Con-Text: no .jpg/.jpeg/.png files in '{}'", src), hint);

  std::map<std::string, std::vector<std::string>> by_category;  // sorted by name, files too
  for (const auto& f : files) {
    auto us = f.find('_');
    if (us == std::string::npos || us == 0)
      throw UserError(
          fmt::format("Con-Text: file '{}/{}' has no category prefix before a '_'", L.root, f),
          hint);
    by_category[f.substr(0, us)].push_back(f);
  }
  if (opt.num_classes > static_cast<int64_t>(by_category.size()))
    throw UserError(fmt::format("--num_classes {} but '{}' holds {} categories", opt.num_classes,
                                L.root, by_category.size()),
                    fmt::format("valid: 1..{} (0: all)", by_category.size()));
  int64_t label = 0;
  for (auto& [category, names] : by_category) {
    if (opt.num_classes > 0 && label == opt.num_classes) break;
    L.class_names.push_back(category);
    SplitMix64 rng(mix_seed(opt.seed, static_cast<uint64_t>(label)));
    for (size_t i = names.size(); i > 1; --i) std::swap(names[i - 1], names[rng.below(i)]);
    size_t n_val = (names.size() + 2) / 5;
    for (size_t i = 0; i < names.size(); ++i)
      (i < n_val ? L.val : L.train).push_back({names[i], label, {-1.f, -1.f, -1.f, -1.f}});
    ++label;
  }
  return L;
}

}  // namespace scouter
