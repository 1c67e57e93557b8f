// Decodes JPEG (libjpeg-turbo) and PNG (libpng) files into 8-bit RGB with the pixels the
// published pipeline's PIL `Image.open(f).convert('RGB')` gives; anything else, or a broken or
// truncated file, is a BadImage carrying the reason. A picture whose header claims more than
// kMaxImagePixels, or a side over kMaxImageSide, is refused from its header, before any pixel
// memory or decoding work is spent.
// Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace scouter {

// 64 megapixels (8192 x 8192). The photos of ImageNet, CUB-200 and Con-Text are at most a few
// thousand pixels a side, and a 48 MP phone photo (8064 x 6048) fits; a broken or hostile header
// can claim up to 65500 x 65500 (JPEG) or 1,000,000 x 1,000,000 (libpng), from a file of a few
// bytes. At the limit a decode holds at most ~0.5 GB of libjpeg coefficients or 256 MB of PNG rows,
// plus the 192 MB RGB result.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;
// The longest side JPEG can hold. Longer (thin) pictures under the pixel limit are refused too:
// the resize's filter tables grow with the side (24 bytes a pixel of it: 1.6 GB for 64M x 1).
constexpr int64_t kMaxImageSide = 65535;

// 3 x height x width, planar (channel-first), as the shards store images.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> planar;
};

// A source image that cannot be used; what() is the reason (one line, no file name).
class BadImage : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The format comes from the first bytes, not the file name (ImageNet holds a PNG named .JPEG).
// Conversions, as PIL's convert('RGB'):
//   JPEG gray -> replicated; YCbCr/RGB -> RGB; CMYK and YCCK -> read Adobe-inverted (PIL's
//   rawmode "CMYK;I", what Photoshop writes) then r = k' - k'*c/255 with k' = 255 - k, PIL's
//   cmyk2rgb; "Premature end of JPEG file" (truncation) is bad, other libjpeg warnings are not.
//   PNG gray (1..16 bit), gray+alpha, palette (with or without tRNS), RGB, RGBA: alpha dropped,
//   no gamma applied; 16-bit samples keep their high byte (PIL does this for 16-bit colour; for
//   16-bit gray PIL clips to 0..255, which whitens the picture, so there we keep the high byte).
void decode_image(const uint8_t* data, size_t size, RgbImage* out);

// Reads the file into `scratch` (reused between calls) and decodes it. Unreadable files are
// BadImage too.
void decode_image_file(const std::string& path, RgbImage* out, std::vector<uint8_t>* scratch);

}  // namespace scouter
