// A small deterministic random generator (splitmix64) for shuffles and augmentation: the same
// seed gives the same numbers with every compiler and standard library, unlike
// std::uniform_*_distribution, so runs reproduce across machines.
#pragma once

#include <cstdint>

namespace scouter {

// splitmix64's output function: a bijective 64-bit mixer.
inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    state_ += kGolden;
    return splitmix64_mix(state_);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, bound) without modulo bias (bound > 0).
  uint64_t below(uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    for (;;) {
      uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }

  static constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

 private:
  uint64_t state_;
};

}  // namespace scouter
