// Transforms of one square, single-channel image of side x side pixels in row-major order. The
// fmnist8 tasks are built from them and the rotation pretraining task rotates with them. Each
// reads `in` and writes every pixel of `out`; `in` and `out` must not overlap.
#pragma once

#include <cstdint>
#include <vector>

namespace alloy {

// Rotated clockwise by quarter_turns x 90 degrees (any integer; taken modulo 4). A template
// because pretraining rotates float images and fmnist8 rotates 8-bit ones.
template <typename T>
void rotate_clockwise(const T* in, T* out, int side, int quarter_turns) {
  const int turns = ((quarter_turns % 4) + 4) % 4;
  const int last = side - 1;
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) {
      // The source of out(r, c): one clockwise turn maps (r, c) to (c, last - r).
      int sr = r, sc = c;
      if (turns == 1) sr = last - c, sc = r;
      if (turns == 2) sr = last - r, sc = last - c;
      if (turns == 3) sr = c, sc = last - r;
      out[r * side + c] = in[sr * side + sc];
    }
  }
}

// 255 - v: light clothes on a white ground.
void invert(const uint8_t* in, uint8_t* out, int side);

// Each block x block square replaced by its mean (rounded): the picture at 1/block of the
// resolution, up-sampled again by nearest neighbour. `block` must divide `side`.
void pixelate(const uint8_t* in, uint8_t* out, int side, int block);

// The image cut into a grid of patch x patch squares (numbered row by row); patch i of `out` is
// patch permutation[i] of `in`. `patch` must divide `side`; `permutation` must be a
// permutation of 0 .. (side/patch)^2 - 1.
void shuffle_patches(const uint8_t* in, uint8_t* out, int side, int patch,
                     const std::vector<int>& permutation);

// v + round(255 * sigma * z) clamped to 0..255, z drawn by standard_normal from a
// std::mt19937_64 seeded with `seed`, one per pixel in row-major order.
void add_gaussian_noise(const uint8_t* in, uint8_t* out, int side, double sigma, uint64_t seed);

// The Sobel gradient magnitude sqrt(gx^2 + gy^2) / 4, rounded and clamped to 255, with black
// beyond the border: outlines where the image has edges, dark elsewhere.
void sobel_magnitude(const uint8_t* in, uint8_t* out, int side);

// The pixels of every other cell x cell square set to 0, as the dark squares of a chessboard
// whose top-left square is kept. `cell` must divide `side`.
void checkerboard_mask(const uint8_t* in, uint8_t* out, int side, int cell);

}  // namespace alloy
