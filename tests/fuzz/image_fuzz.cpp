// JPEG and PNG through datasets/image_decode (libjpeg-turbo, libpng and our conversions).
// Expected: an RgbImage whose size matches its header, or BadImage.
#include "datasets/image_decode.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  fuzz::expect_clean_error<BadImage>([&] {
    RgbImage img;
    decode_image(data, size, &img);
    if (img.width <= 0 || img.height <= 0 ||
        img.planar.size() != 3 * static_cast<size_t>(img.width) * static_cast<size_t>(img.height))
      fuzz::unexpected("image " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                       " with " + std::to_string(img.planar.size()) + " bytes");
  });
  return 0;
}
