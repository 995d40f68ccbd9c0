// Exact magnitude selection by radix select on the IEEE-754 bits of |x|: for non-negative
// floats the bit patterns order like the values, so two 16-bit histogram passes find the k-th
// largest magnitude without copying or sorting the data, in O(65536) memory per thread.
// NaN sorts above +inf. Arguments are checked by the provider.
#pragma once

#include <cstdint>

namespace alloy::cpu {

// Adds to counts[ALLOY_HISTOGRAM_BINS]: level 0, bits(|x|) >> 16 of every element; level 1,
// bits(|x|) & 0xffff of the elements whose bits(|x|) >> 16 == prefix.
void magnitude_histogram(const float* x, uint64_t n, int32_t level, uint32_t prefix,
                         uint64_t* counts);

// The k-th largest |x|, 1 <= k <= n.
float kth_magnitude(const float* x, uint64_t n, uint64_t k);

// mask = 1 at the k largest |x| (of equal magnitudes the lower indices first), 0 elsewhere;
// 0 <= k <= n. mask may alias x.
void topk_mask(float* mask, const float* x, uint64_t n, uint64_t k);

}  // namespace alloy::cpu
