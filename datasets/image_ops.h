// Pixel operations on planar (channel-first) images, no LibTorch: resizing as the published
// code does it (PIL's bilinear: a triangle filter, widened when shrinking), affine jitter,
// flips, the jet colormap and PNG output (stb_image_write).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

// PIL-compatible bilinear resize of a C x h x w image to C x oh x ow (pixel centres at +0.5;
// when shrinking, the filter support grows with the scale, i.e. antialiasing, as PIL does).
// Float output keeps full precision; the uint8 variant rounds and clamps like PIL.
void resize_bilinear(const uint8_t* src, int c, int h, int w, float* dst, int oh, int ow);
void resize_bilinear(const float* src, int c, int h, int w, float* dst, int oh, int ow);
void resize_bilinear_u8(const uint8_t* src, int c, int h, int w, uint8_t* dst, int oh, int ow);

// The weights resize_bilinear_u8 uses along one axis, as a dense out_size x in_size matrix of
// PIL's fixed-point coefficients (value * 2^kPilPrecisionBits, rounded). A pass is then, per
// output sample, floor((sum_i weight_i * pixel_i + 2^(bits-1)) / 2^bits) clipped to 0..255
// (worker/train/device_input.cpp runs it as a matrix product).
constexpr int kPilPrecisionBits = 22;
std::vector<int32_t> pil_bilinear_weights(int in_size, int out_size);

// Random training jitter, as the published `aug`: rotation in [-10, 10] degrees, scale in
// [0.8, 1.0] per axis, translation in [0, 0.1] of the width and [-0.1, 0.1] of the height,
// bilinear sampling, zeros outside. Each part is applied with probability 1/2; horizontal and
// vertical flips (probability 1/2 each) only where flip_allowed. In place on a float image:
// flips first, then the affine map; the fill is 0 in the image's own values (the loader applies
// it to 0..255 pixels before normalising, so the fill is black, as torchvision's on PIL images).
struct AugmentParams {
  bool flip_h = false, flip_v = false, affine = false;
  // Rotation about the image centre (positive: counter-clockwise as displayed), scale per axis,
  // translation as fractions of the width and height.
  double rotate_deg = 0, scale_x = 1, scale_y = 1, translate_x = 0, translate_y = 0;
};
AugmentParams draw_augment(uint64_t seed, bool flip_allowed);
void apply_augment(const AugmentParams& p, float* img, int c, int h, int w);

// matplotlib's "jet" colormap as 256 RGB entries in 0..1 (LinearSegmentedColormap, N = 256).
const std::vector<float>& jet_lut();

// The published picture: `map` is an h x w uint8 attention map already at image size; the
// image is RGB interleaved h x w x 3 uint8. Result = jet(map) blended at alpha over the image
// (PIL's alpha_composite with the heatmap's alpha = alpha), RGB interleaved.
std::vector<uint8_t> overlay_jet(const uint8_t* rgb, const uint8_t* map, int h, int w,
                                 double alpha = 0.4);

// Writes an 8-bit PNG (channels 1, 3 or 4, interleaved) atomically.
void write_png(const std::string& path, const uint8_t* pixels, int w, int h, int channels);

}  // namespace scouter
