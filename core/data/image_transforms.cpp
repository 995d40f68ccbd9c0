#include "data/image_transforms.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "data/seeded_random.hpp"
#include "error.hpp"

namespace alloy {

namespace {

void require_divides(int part, int side, const char* what) {
  if (part <= 0 || side % part != 0) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{} {} does not divide the image side {}", what, part, side);
  }
}

uint8_t clamp_byte(long v) { return static_cast<uint8_t>(std::clamp(v, 0L, 255L)); }

}  // namespace

void invert(const uint8_t* in, uint8_t* out, int side) {
  for (int i = 0; i < side * side; ++i) out[i] = static_cast<uint8_t>(255 - in[i]);
}

void pixelate(const uint8_t* in, uint8_t* out, int side, int block) {
  require_divides(block, side, "block");
  const int area = block * block;
  for (int br = 0; br < side; br += block) {
    for (int bc = 0; bc < side; bc += block) {
      int sum = 0;
      for (int r = br; r < br + block; ++r) {
        for (int c = bc; c < bc + block; ++c) sum += in[r * side + c];
      }
      const auto mean = static_cast<uint8_t>((sum + area / 2) / area);
      for (int r = br; r < br + block; ++r) {
        for (int c = bc; c < bc + block; ++c) out[r * side + c] = mean;
      }
    }
  }
}

void shuffle_patches(const uint8_t* in, uint8_t* out, int side, int patch,
                     const std::vector<int>& permutation) {
  require_divides(patch, side, "patch");
  const int grid = side / patch;
  if (permutation.size() != static_cast<std::size_t>(grid * grid)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "a permutation of {} patches has {} entries", grid * grid,
         permutation.size());
  }
  for (int to = 0; to < grid * grid; ++to) {
    const int from = permutation[to];
    const int to_r = (to / grid) * patch, to_c = (to % grid) * patch;
    const int from_r = (from / grid) * patch, from_c = (from % grid) * patch;
    for (int r = 0; r < patch; ++r) {
      std::copy_n(in + (from_r + r) * side + from_c, patch, out + (to_r + r) * side + to_c);
    }
  }
}

void add_gaussian_noise(const uint8_t* in, uint8_t* out, int side, double sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double scale = 255.0 * sigma;
  for (int i = 0; i < side * side; ++i) {
    out[i] = clamp_byte(std::lround(in[i] + scale * standard_normal(rng)));
  }
}

void sobel_magnitude(const uint8_t* in, uint8_t* out, int side) {
  const auto at = [&](int r, int c) -> int {
    return r < 0 || c < 0 || r >= side || c >= side ? 0 : in[r * side + c];
  };
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) {
      const int gx = (at(r - 1, c + 1) + 2 * at(r, c + 1) + at(r + 1, c + 1)) -
                     (at(r - 1, c - 1) + 2 * at(r, c - 1) + at(r + 1, c - 1));
      const int gy = (at(r + 1, c - 1) + 2 * at(r + 1, c) + at(r + 1, c + 1)) -
                     (at(r - 1, c - 1) + 2 * at(r - 1, c) + at(r - 1, c + 1));
      // sqrt is correctly rounded (IEEE 754), so the bytes are the same on every machine.
      const double magnitude = std::sqrt(static_cast<double>(gx * gx + gy * gy)) / 4.0;
      out[r * side + c] = clamp_byte(std::lround(magnitude));
    }
  }
}

void checkerboard_mask(const uint8_t* in, uint8_t* out, int side, int cell) {
  require_divides(cell, side, "cell");
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) {
      const bool dark = ((r / cell) + (c / cell)) % 2 == 1;
      out[r * side + c] = dark ? 0 : in[r * side + c];
    }
  }
}

}  // namespace alloy
