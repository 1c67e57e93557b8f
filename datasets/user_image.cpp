#include "datasets/user_image.h"

#include "common/error.h"
#include "common/format.h"
#include "datasets/image_convert.h"
#include "datasets/image_decode.h"

namespace scouter {

UserImage load_user_image(const std::string& path, const ShardMeta& meta, const SourceBox& box) {
  if (meta.channels != 1 && meta.channels != 3)
    throw UserError(str_format("the run's shards hold {}-channel images", meta.channels),
                    "--image works for the 1-channel (MNIST, FashionMNIST) and 3-channel datasets");
  RgbImage img;
  std::vector<uint8_t> scratch;
  try {
    decode_image_file(path, &img, &scratch);
  } catch (const BadImage& e) {
    throw UserError(str_format("--image '{}': {}", path, e.what()),
                    str_format("supported: JPEG and PNG files (8 or 16 bit; gray, RGB, palette, "
                               "CMYK JPEG) of up to {} pixels (64 megapixels) and {} a side; "
                               "scale a larger picture down first",
                               kMaxImagePixels, kMaxImageSide));
  }
  UserImage out;
  out.path = path;
  out.source_width = img.width;
  out.source_height = img.height;
  out.channels = meta.channels;
  out.height = meta.height;
  out.width = meta.width;
  if (box[2] >= 0) {
    // A box that prep would clip is refused here: the user meant a box on this picture.
    const bool inside = box[0] >= 0 && box[1] >= 0 && box[2] > 0 && box[3] > 0 &&
                        box[0] + box[2] <= img.width && box[1] + box[3] <= img.height;
    if (!inside)
      throw UserError(
          str_format("--box {},{},{},{} is not inside '{}' ({}x{} pixels)", box[0], box[1], box[2],
                     box[3], path, img.width, img.height),
          str_format("x,y,w,h in the file's pixels with w, h > 0, x + w <= {} and y + h <= {}",
                     img.width, img.height));
  }
  out.pixels.resize(static_cast<size_t>(out.channels * out.height * out.width));
  std::array<float, 4> source_box = {static_cast<float>(box[0]), static_cast<float>(box[1]),
                                     static_cast<float>(box[2]), static_cast<float>(box[3])};
  store_decoded_image(img, static_cast<int>(out.channels), static_cast<int>(out.height),
                      static_cast<int>(out.width), source_box, out.pixels.data(), out.box.data());
  return out;
}

}  // namespace scouter
