// Random draws that give the same values with every compiler and standard library. The engine,
// std::mt19937_64, is specified bit for bit by the C++ standard; the distributions
// (std::uniform_int_distribution, std::normal_distribution) and std::shuffle are not, so a data
// set built with them could differ between two machines. Everything here is built from raw
// engine outputs and integer or correctly rounded arithmetic.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace alloy {

// A seed for an independent stream `stream` of `seed` (SplitMix64 finaliser), so that adding
// draws to one use of the seed never shifts the values of another.
uint64_t mix_seed(uint64_t seed, uint64_t stream);

// Uniform in [0, bound), without the modulo bias (rejection sampling). bound > 0.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound);

// 0, 1, ..., count-1 in the order of a Fisher-Yates shuffle drawn from `rng`.
std::vector<int64_t> shuffled_indices(int64_t count, std::mt19937_64& rng);

// Approximately N(0, 1): the Irwin-Hall sum of twelve 16-bit uniforms, centred. Exact integer
// arithmetic, so identical everywhere; bounded to about [-6, 6], which for image noise is a
// feature.
double standard_normal(std::mt19937_64& rng);

}  // namespace alloy
