#include "compute/cpu/selection_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "compute/cpu/elementwise_kernels.hpp"
#include "compute/cpu/parallel.hpp"
#include "error.hpp"

namespace alloy::cpu {
namespace {

constexpr uint32_t kBins = ALLOY_HISTOGRAM_BINS;
// A private histogram costs about as much to clear and merge as counting this many elements,
// so a histogram team grows by one thread per this many elements.
constexpr uint64_t kHistogramGrain = 1 << 19;

uint32_t magnitude_bits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits & 0x7fffffffu;
}

int team_size(uint64_t n, uint64_t grain) {
  return static_cast<int>(
      std::clamp<uint64_t>(n / grain, 1, static_cast<uint64_t>(omp_get_max_threads())));
}

// Adds to counts the number of elements per bin(magnitude bits); bin returns kBins to skip
// an element. Threads count into private histograms (a shared one would serialise on the few
// bins real weights fall into) and then merge them bin-parallel.
template <typename Bin>
void count_bins(const float* x, uint64_t n, uint64_t* counts, Bin bin) {
  const int threads = team_size(n, kHistogramGrain);
  const auto count = static_cast<int64_t>(n);
  std::vector<uint64_t> local(threads > 1 ? static_cast<std::size_t>(threads) * kBins : 0);
#pragma omp parallel num_threads(threads)
  {
    uint64_t* mine =
        threads > 1 ? local.data() + omp_get_thread_num() * std::size_t{kBins} : counts;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; ++i) {
      const uint32_t b = bin(magnitude_bits(x[i]));
      if (b < kBins) ++mine[b];
    }
    if (threads > 1) {
#pragma omp for schedule(static)
      for (int64_t b = 0; b < int64_t{kBins}; ++b) {
        for (int t = 0; t < threads; ++t) counts[b] += local[t * std::size_t{kBins} + b];
      }
    }
  }
}

// The bin holding the need-th largest counted element, walking down from the top bin; need
// becomes that element's rank within its bin.
uint32_t bin_of_rank(const std::vector<uint64_t>& counts, uint64_t* need) {
  for (uint32_t b = kBins; b-- > 0;) {
    if (counts[b] >= *need) return b;
    *need -= counts[b];
  }
  fail(ALLOY_ERR_INTERNAL, "magnitude selection: fewer elements counted than the rank sought");
}

struct Selection {
  uint32_t bits;         // of the k-th largest |x|
  uint64_t equal_taken;  // how many entries of exactly that magnitude are among the k largest
  uint64_t equal_count;  // how many entries have exactly that magnitude
};

Selection select(const float* x, uint64_t n, uint64_t k) {
  std::vector<uint64_t> counts(kBins);
  uint64_t need = k;
  magnitude_histogram(x, n, 0, 0, counts.data());
  const uint32_t high = bin_of_rank(counts, &need);
  std::fill(counts.begin(), counts.end(), 0);
  magnitude_histogram(x, n, 1, high, counts.data());
  const uint32_t low = bin_of_rank(counts, &need);
  return {high << 16 | low, need, counts[low]};
}

}  // namespace

void magnitude_histogram(const float* x, uint64_t n, int32_t level, uint32_t prefix,
                         uint64_t* counts) {
  if (level == 0) {
    count_bins(x, n, counts, [](uint32_t bits) { return bits >> 16; });
  } else {
    count_bins(x, n, counts,
               [=](uint32_t bits) { return bits >> 16 == prefix ? bits & 0xffffu : kBins; });
  }
}

float kth_magnitude(const float* x, uint64_t n, uint64_t k) {
  const uint32_t bits = select(x, n, k).bits;
  float magnitude;
  std::memcpy(&magnitude, &bits, sizeof magnitude);
  return magnitude;
}

void topk_mask(float* mask, const float* x, uint64_t n, uint64_t k) {
  if (k == 0 || k == n) return fill(mask, n, k == 0 ? 0.0f : 1.0f);
  const Selection threshold = select(x, n, k);
  if (threshold.equal_taken == threshold.equal_count) {  // no tie to break: one plain pass
    return parallel_for(
        n, [&](int64_t i) { mask[i] = magnitude_bits(x[i]) >= threshold.bits ? 1.0f : 0.0f; });
  }
  const int threads = team_size(n, kParallelGrain);
  // Entries equal to the threshold are taken in index order: each thread counts them in its
  // own contiguous chunk, then skips as many as the chunks before it hold.
  std::vector<uint64_t> equal(threads);
#pragma omp parallel num_threads(threads)
  {
    const uint64_t team = omp_get_num_threads();
    const uint64_t me = omp_get_thread_num();
    const uint64_t chunk = (n + team - 1) / team;
    const uint64_t begin = std::min(n, chunk * me);
    const uint64_t end = std::min(n, begin + chunk);
    uint64_t mine = 0;
    for (uint64_t i = begin; i < end; ++i) mine += magnitude_bits(x[i]) == threshold.bits;
    equal[me] = mine;
#pragma omp barrier
    uint64_t seen = 0;
    for (uint64_t j = 0; j < me; ++j) seen += equal[j];
    // Bitwise rather than short-circuit logic: no branch on random data. Each x[i] is read
    // before mask[i] is written, so mask may alias x.
    for (uint64_t i = begin; i < end; ++i) {
      const uint32_t bits = magnitude_bits(x[i]);
      const bool tie = bits == threshold.bits;
      mask[i] = ((bits > threshold.bits) | (tie & (seen < threshold.equal_taken))) ? 1.0f : 0.0f;
      seen += tie;
    }
  }
}

}  // namespace alloy::cpu
