#include "data/seeded_random.hpp"

namespace alloy {

uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  // Values below 2^64 mod bound would make the low residues more likely: draw again.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

std::vector<int64_t> shuffled_indices(int64_t count, std::mt19937_64& rng) {
  std::vector<int64_t> order(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  for (int64_t i = count - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

double standard_normal(std::mt19937_64& rng) {
  // Each uniform on 0..65535 has variance ~65536^2/12, so twelve sum to variance ~65536^2.
  int64_t sum = 0;
  for (int draw = 0; draw < 3; ++draw) {
    const uint64_t bits = rng();
    for (int part = 0; part < 4; ++part)
      sum += static_cast<int64_t>((bits >> (16 * part)) & 0xffff);
  }
  return static_cast<double>(sum - 6 * 65535) / 65536.0;
}

}  // namespace alloy
