// Magnitude selection of the CUDA provider: radix select on the IEEE-754 bits of |x|. For
// non-negative floats the bit patterns order like the values (NaN above +inf), so the k-th
// largest magnitude is found digit by digit, from the top: each pass counts, on the device,
// the elements whose higher bits equal the digits chosen so far into a histogram of the next
// digit, and only that histogram comes back to the host, which picks the bin holding rank k.
// Nothing is sorted or copied. The provider drives the passes (see cuda_merge_ops.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace alloy::cuda {

// The 31 magnitude bits in three digits, from the top: bits 30..20, 19..9 and 8..0.
constexpr int kRadixPasses = 3;
constexpr int kRadixShift[kRadixPasses] = {20, 9, 0};
constexpr int kRadixWidth[kRadixPasses] = {11, 11, 9};
constexpr uint32_t kRadixBins = 1u << 11;  // of the widest digit

// 32-bit counters of device scratch radix_histogram() needs for n elements.
uint64_t radix_scratch(uint64_t n);

// counts[0, 2^width) (overwritten) = how many elements of x[0, n) with |x| bits b such that
// b & ~(2^(shift + width) - 1) == prefix have (b >> shift) & (2^width - 1) == bin.
// scratch: radix_scratch(n) counters.
void radix_histogram(const float* x, uint64_t n, int shift, int width, uint32_t prefix,
                     uint32_t* scratch, unsigned long long* counts, cudaStream_t stream);

// mask[i] = bits(|x[i]|) >= threshold ? 1 : 0. mask may alias x.
void threshold_mask(float* mask, const float* x, uint64_t n, uint32_t threshold,
                    cudaStream_t stream);

// Device scratch of ties_mask() for n elements: 32-bit counters and 64-bit offsets.
uint64_t ties_chunks(uint64_t n);

// mask[i] = 1 where bits(|x[i]|) > threshold and at the first `take` elements (in index order)
// with bits(|x[i]|) == threshold, else 0. mask may alias x. chunk_ties and chunk_offsets hold
// ties_chunks(n) entries each.
void ties_mask(float* mask, const float* x, uint64_t n, uint32_t threshold, uint64_t take,
               uint32_t* chunk_ties, unsigned long long* chunk_offsets, cudaStream_t stream);

// Bins magnitude_histogram() may fill: level 0 only the lower half (bit 31 of |x| is 0).
inline uint32_t histogram_bins(int32_t level) { return level == 0 ? 1u << 15 : 1u << 16; }

// Adds to counts[0, histogram_bins(level)) alloy_host.magnitude_histogram's counts of x[0, n)
// (n >= 1): level 0, per bits(|x|) >> 16; level 1, per bits(|x|) & 0xffff of the elements
// whose bits(|x|) >> 16 == prefix.
void magnitude_histogram(const float* x, uint64_t n, int32_t level, uint32_t prefix,
                         unsigned long long* counts, cudaStream_t stream);

}  // namespace alloy::cuda
