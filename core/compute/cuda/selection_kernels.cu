#include "compute/cuda/selection_kernels.hpp"

#include <algorithm>

#include "compute/cuda/cuda_device.hpp"
#include "compute/cuda/kernel_launch.cuh"

namespace alloy::cuda {
namespace {

__device__ __forceinline__ uint32_t magnitude_bits(float v) {
  return __float_as_uint(v) & 0x7fffffffu;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Exclusive prefix sum of `value` over the block's threads in thread order; *total gets the
// block's sum. blockDim.x a multiple of 32, at most 1024; every thread of the block calls it.
template <typename T>
__device__ T block_exclusive_scan(T value, T* total) {
  __shared__ T warp_sums[32];
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int warps = blockDim.x / 32;
  T inclusive = value;
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const T up = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += up;
  }
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    T sums = lane < warps ? warp_sums[lane] : T(0);
#pragma unroll
    for (int offset = 1; offset < 32; offset *= 2) {
      const T up = __shfl_up_sync(0xffffffffu, sums, offset);
      if (lane >= offset) sums += up;
    }
    if (lane < warps) warp_sums[lane] = sums;  // now inclusive over the warps
  }
  __syncthreads();
  const T before = warp == 0 ? T(0) : warp_sums[warp - 1];
  *total = warp_sums[warps - 1];
  __syncthreads();  // warp_sums is free for the next call
  return before + inclusive - value;
}

// --- radix select passes ---------------------------------------------------------------------
// Each block counts its grid-stride share into a histogram in shared memory, then writes it
// whole as one row of `partial`; a second kernel sums the rows per bin. Writing rows rather
// than adding into one global histogram keeps global atomics off the hot path: after the first
// digit the bins are evenly filled, and 2048 atomics per block would cost more than the pass.

constexpr int kRadixThreads = 512;
constexpr uint64_t kRadixElementsPerBlock = 1 << 15;  // ample work beside a 2048-bin row
constexpr uint64_t kRadixMaxBlocks = 256;

uint64_t radix_blocks(uint64_t n) {
  return std::clamp<uint64_t>((n + kRadixElementsPerBlock - 1) / kRadixElementsPerBlock, 1,
                              kRadixMaxBlocks);
}

__global__ void radix_count_kernel(const float* x, uint64_t n, bool vector, int shift,
                                   uint32_t bins, uint32_t high_mask, uint32_t prefix,
                                   uint32_t* partial) {
  __shared__ uint32_t histogram[kRadixBins];
  for (uint32_t b = threadIdx.x; b < bins; b += blockDim.x) histogram[b] = 0;
  __syncthreads();
  const auto count = [&](float v) {
    const uint32_t bits = magnitude_bits(v);
    if ((bits & high_mask) == prefix) atomicAdd(&histogram[(bits >> shift) & (bins - 1)], 1u);
  };
  if (vector) {
    const uint64_t n4 = n / 4;
    ALLOY_GRID_STRIDE(j, n4) {
      const float4 v = reinterpret_cast<const float4*>(x)[j];
      count(v.x);
      count(v.y);
      count(v.z);
      count(v.w);
    }
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) count(x[tail]);
  } else {
    ALLOY_GRID_STRIDE(i, n) count(x[i]);
  }
  __syncthreads();
  for (uint32_t b = threadIdx.x; b < bins; b += blockDim.x) {
    partial[uint64_t(blockIdx.x) * bins + b] = histogram[b];
  }
}

__global__ void radix_sum_kernel(const uint32_t* partial, uint32_t rows, uint32_t bins,
                                 unsigned long long* counts) {
  const uint32_t b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= bins) return;
  unsigned long long total = 0;
  for (uint32_t r = 0; r < rows; ++r) total += partial[uint64_t(r) * bins + b];
  counts[b] = total;
}

// --- masks -------------------------------------------------------------------------------------

__global__ void threshold_mask_kernel(float* mask, const float* x, uint64_t n, bool vector,
                                      uint32_t threshold) {
  const auto keep = [&](float v) { return magnitude_bits(v) >= threshold ? 1.0f : 0.0f; };
  if (vector) {
    const uint64_t n4 = n / 4;
    ALLOY_GRID_STRIDE(j, n4) {
      const float4 v = reinterpret_cast<const float4*>(x)[j];
      reinterpret_cast<float4*>(mask)[j] = make_float4(keep(v.x), keep(v.y), keep(v.z), keep(v.w));
    }
    const uint64_t tail = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x + 4 * n4;
    if (tail < n) mask[tail] = keep(x[tail]);
  } else {
    ALLOY_GRID_STRIDE(i, n) mask[i] = keep(x[i]);
  }
}

// Ties at the threshold are taken in index order, as on the CPU: the array is cut into chunks
// of kTieChunk elements, one block each; the ties of every chunk are counted, an exclusive scan
// gives each chunk the number of ties before it, and a last pass ranks each chunk's ties.
// Within a chunk, thread t holds the four consecutive elements 4t..4t+3 of each of the
// chunk's tiles of 1024 (float4 accesses where x and mask allow them) and issues all its loads
// before using any: a loop of load, scan, store per tile would leave each block waiting on one
// memory round trip per tile.
constexpr int kTieThreads = 256;
constexpr int kTieWarps = kTieThreads / 32;
constexpr int kTieTiles = 4;
constexpr uint64_t kTieTile = 4 * kTieThreads;
constexpr uint64_t kTieChunk = kTieTile * kTieTiles;
static_assert(kTieTiles * kTieWarps == 32, "one warp scans the (tile, warp) counts");
constexpr int kScanThreads = 1024;

// x[i, i + 4), zeros past n. `vector`: x is 16-byte aligned (i is a multiple of 4).
__device__ __forceinline__ float4 load4(const float* x, uint64_t i, uint64_t n, bool vector) {
  if (vector && i + 4 <= n) return *reinterpret_cast<const float4*>(x + i);
  float4 v = make_float4(0, 0, 0, 0);
  if (i < n) v.x = x[i];
  if (i + 1 < n) v.y = x[i + 1];
  if (i + 2 < n) v.z = x[i + 2];
  if (i + 3 < n) v.w = x[i + 3];
  return v;
}

__device__ __forceinline__ void store4(float* mask, uint64_t i, uint64_t n, bool vector, float4 v) {
  if (vector && i + 4 <= n) {
    *reinterpret_cast<float4*>(mask + i) = v;
    return;
  }
  if (i < n) mask[i] = v.x;
  if (i + 1 < n) mask[i + 1] = v.y;
  if (i + 2 < n) mask[i + 2] = v.z;
  if (i + 3 < n) mask[i + 3] = v.w;
}

// Bit e set: element i + e is a tie (and below n).
__device__ __forceinline__ uint32_t tie_bits(float4 v, uint64_t i, uint64_t n, uint32_t threshold) {
  return uint32_t(i < n && magnitude_bits(v.x) == threshold) |
         uint32_t(i + 1 < n && magnitude_bits(v.y) == threshold) << 1 |
         uint32_t(i + 2 < n && magnitude_bits(v.z) == threshold) << 2 |
         uint32_t(i + 3 < n && magnitude_bits(v.w) == threshold) << 3;
}

__global__ void count_ties_kernel(const float* x, uint64_t n, bool vector, uint32_t threshold,
                                  uint32_t* chunk_ties) {
  __shared__ uint32_t warp_ties[kTieWarps];
  const uint64_t first = uint64_t(blockIdx.x) * kTieChunk + 4 * threadIdx.x;
  float4 v[kTieTiles];
#pragma unroll
  for (int u = 0; u < kTieTiles; ++u) v[u] = load4(x, first + u * kTieTile, n, vector);
  uint32_t ties = 0;
#pragma unroll
  for (int u = 0; u < kTieTiles; ++u)
    ties += __popc(tie_bits(v[u], first + u * kTieTile, n, threshold));
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    ties += __shfl_down_sync(0xffffffffu, ties, offset);
  if (threadIdx.x % 32 == 0) warp_ties[threadIdx.x / 32] = ties;
  __syncthreads();
  if (threadIdx.x == 0) {
    uint32_t total = 0;
    for (int w = 0; w < kTieWarps; ++w) total += warp_ties[w];
    chunk_ties[blockIdx.x] = total;
  }
}

// offsets[c] = the sum of ties[0, c), by one block, in coalesced steps of 4 * 1024 chunks
// (there are n / 4096 chunks): each thread loads four consecutive counts, one block-wide scan
// places them, and the step's total carries into the next.
__global__ void scan_chunks_kernel(const uint32_t* ties, uint64_t chunks,
                                   unsigned long long* offsets) {
  unsigned long long carry = 0;
  for (uint64_t base = 0; base < chunks; base += 4 * uint64_t(blockDim.x)) {
    const uint64_t c = base + 4 * uint64_t(threadIdx.x);
    uint32_t v[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) v[e] = c + e < chunks ? ties[c + e] : 0;
    unsigned long long total;
    unsigned long long running =
        carry + block_exclusive_scan<unsigned long long>(v[0] + v[1] + v[2] + v[3], &total);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (c + e < chunks) offsets[c + e] = running;
      running += v[e];
    }
    carry += total;
  }
}

__global__ void ties_mask_kernel(float* mask, const float* x, uint64_t n, bool vector,
                                 uint32_t threshold, uint64_t take,
                                 const unsigned long long* chunk_offsets) {
  // Ties per (tile, warp), in index order (tile-major), then their exclusive prefix sums.
  __shared__ uint32_t before[kTieTiles * kTieWarps];
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const uint64_t first = uint64_t(blockIdx.x) * kTieChunk + 4 * threadIdx.x;
  // Each x[i] is read before mask[i] is written, by the same thread: mask may alias x.
  float4 v[kTieTiles];
#pragma unroll
  for (int u = 0; u < kTieTiles; ++u) v[u] = load4(x, first + u * kTieTile, n, vector);
  // Loaded with x, not after the scans: a second memory round trip per block would show.
  const uint64_t seen = chunk_offsets[blockIdx.x];  // ties before this chunk
  uint32_t ties[kTieTiles];
  uint32_t lanes_before[kTieTiles];  // ties of the lanes below this one in its warp, per tile
#pragma unroll
  for (int u = 0; u < kTieTiles; ++u) {
    ties[u] = tie_bits(v[u], first + u * kTieTile, n, threshold);
    const uint32_t mine = __popc(ties[u]);
    uint32_t inclusive = mine;
#pragma unroll
    for (int offset = 1; offset < 32; offset *= 2) {
      const uint32_t up = __shfl_up_sync(0xffffffffu, inclusive, offset);
      if (lane >= offset) inclusive += up;
    }
    lanes_before[u] = inclusive - mine;
    if (lane == 31) before[u * kTieWarps + warp] = inclusive;
  }
  __syncthreads();
  if (warp == 0) {  // exclusive scan of the 32 (tile, warp) counts, one per lane
    const uint32_t mine = before[lane];
    uint32_t inclusive = mine;
#pragma unroll
    for (int offset = 1; offset < 32; offset *= 2) {
      const uint32_t up = __shfl_up_sync(0xffffffffu, inclusive, offset);
      if (lane >= offset) inclusive += up;
    }
    before[lane] = inclusive - mine;
  }
  __syncthreads();
#pragma unroll
  for (int u = 0; u < kTieTiles; ++u) {
    const uint64_t rank = seen + before[u * kTieWarps + warp] + lanes_before[u];
    const auto keep = [&](float value, int e) {
      const uint32_t bits = magnitude_bits(value);
      const bool tie = (ties[u] >> e) & 1u;
      const uint32_t ties_below = __popc(ties[u] & ((1u << e) - 1));
      return (bits > threshold || (tie && rank + ties_below < take)) ? 1.0f : 0.0f;
    };
    const float4 out =
        make_float4(keep(v[u].x, 0), keep(v[u].y, 1), keep(v[u].z, 2), keep(v[u].w, 3));
    store4(mask, first + u * kTieTile, n, vector, out);
  }
}

// --- magnitude_histogram -----------------------------------------------------------------------
// 65536 bins: too many for 32-bit counters in shared memory (256 KiB), so each block counts
// into 16-bit counters, two to a 32-bit word (adding 1 << 16 bumps the upper one), and flushes
// the non-zero ones into the global 64-bit counts before any could overflow: after every round
// of at most 61440 elements per block. Level 0 needs half the bins (bit 31 of |x| is 0): 64 KiB,
// level 1 128 KiB of shared memory, which sm_80 and sm_90 allow with an opt-in. A device that
// allows less counts straight into the global counts.

constexpr int kHistThreads = 1024;
constexpr int kHistUnroll = 4;            // independent loads in flight per thread
constexpr int kHistRoundIterations = 15;  // 15 * 4 * 1024 = 61440 < 2^16 per round
constexpr uint64_t kHistRound = uint64_t(kHistRoundIterations) * kHistUnroll * kHistThreads;
constexpr uint32_t kNoBin = 0xffffffffu;

__device__ __forceinline__ uint32_t histogram_bin(float v, int32_t level, uint32_t prefix) {
  const uint32_t bits = magnitude_bits(v);
  if (level == 0) return bits >> 16;
  return bits >> 16 == prefix ? bits & 0xffffu : kNoBin;
}

__global__ void histogram_shared_kernel(const float* x, uint64_t n, int32_t level, uint32_t prefix,
                                        uint32_t words, unsigned long long* counts) {
  extern __shared__ uint32_t packed[];  // bin b: the 16-bit half b & 1 of word b >> 1
  for (uint32_t w = threadIdx.x; w < words; w += blockDim.x) packed[w] = 0;
  __syncthreads();
  const uint64_t per_iteration = uint64_t(gridDim.x) * kHistThreads * kHistUnroll;
  const uint64_t iterations = (n + per_iteration - 1) / per_iteration;  // the same for all
  for (uint64_t it = 0; it < iterations; ++it) {
    const uint64_t base =
        it * per_iteration + uint64_t(blockIdx.x) * kHistThreads * kHistUnroll + threadIdx.x;
    float v[kHistUnroll];
#pragma unroll
    for (int u = 0; u < kHistUnroll; ++u) {
      const uint64_t i = base + uint64_t(u) * kHistThreads;
      v[u] = i < n ? x[i] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kHistUnroll; ++u) {
      if (base + uint64_t(u) * kHistThreads >= n) continue;
      const uint32_t bin = histogram_bin(v[u], level, prefix);
      if (bin != kNoBin) atomicAdd(&packed[bin >> 1], 1u << ((bin & 1u) * 16));
    }
    if ((it + 1) % kHistRoundIterations == 0 || it + 1 == iterations) {
      __syncthreads();
      for (uint32_t w = threadIdx.x; w < words; w += blockDim.x) {
        const uint32_t pair = packed[w];
        if (!pair) continue;
        packed[w] = 0;
        if (pair & 0xffffu)
          atomicAdd(&counts[2 * w], static_cast<unsigned long long>(pair & 0xffffu));
        if (pair >> 16) atomicAdd(&counts[2 * w + 1], static_cast<unsigned long long>(pair >> 16));
      }
      __syncthreads();
    }
  }
}

__global__ void histogram_global_kernel(const float* x, uint64_t n, int32_t level, uint32_t prefix,
                                        unsigned long long* counts) {
  ALLOY_GRID_STRIDE(i, n) {
    const uint32_t bin = histogram_bin(x[i], level, prefix);
    if (bin != kNoBin) atomicAdd(&counts[bin], 1ull);
  }
}

}  // namespace

uint64_t radix_scratch(uint64_t n) { return radix_blocks(n) * kRadixBins; }

void radix_histogram(const float* x, uint64_t n, int shift, int width, uint32_t prefix,
                     uint32_t* scratch, unsigned long long* counts, cudaStream_t stream) {
  const uint64_t blocks = radix_blocks(n);
  const uint32_t bins = 1u << width;
  const uint32_t high_mask = ~((1u << (shift + width)) - 1) & 0x7fffffffu;
  radix_count_kernel<<<static_cast<unsigned>(blocks), kRadixThreads, 0, stream>>>(
      x, n, aligned16(x), shift, bins, high_mask, prefix, scratch);
  check_launch("radix select (histogram)");
  radix_sum_kernel<<<(bins + kBlock - 1) / kBlock, kBlock, 0, stream>>>(
      scratch, static_cast<uint32_t>(blocks), bins, counts);
  check_launch("radix select (histogram sum)");
}

void threshold_mask(float* mask, const float* x, uint64_t n, uint32_t threshold,
                    cudaStream_t stream) {
  const bool vector = aligned16(mask) && aligned16(x);
  threshold_mask_kernel<<<grid_for(vector ? n / 4 : n), kBlock, 0, stream>>>(mask, x, n, vector,
                                                                             threshold);
  check_launch("topk_mask");
}

uint64_t ties_chunks(uint64_t n) { return (n + kTieChunk - 1) / kTieChunk; }

void ties_mask(float* mask, const float* x, uint64_t n, uint32_t threshold, uint64_t take,
               uint32_t* chunk_ties, unsigned long long* chunk_offsets, cudaStream_t stream) {
  const uint64_t chunks = ties_chunks(n);
  const bool vector = aligned16(mask) && aligned16(x);
  count_ties_kernel<<<static_cast<unsigned>(chunks), kTieThreads, 0, stream>>>(
      x, n, aligned16(x), threshold, chunk_ties);
  check_launch("topk_mask (ties)");
  scan_chunks_kernel<<<1, kScanThreads, 0, stream>>>(chunk_ties, chunks, chunk_offsets);
  check_launch("topk_mask (scan)");
  ties_mask_kernel<<<static_cast<unsigned>(chunks), kTieThreads, 0, stream>>>(
      mask, x, n, vector, threshold, take, chunk_offsets);
  check_launch("topk_mask (mask)");
}

void magnitude_histogram(const float* x, uint64_t n, int32_t level, uint32_t prefix,
                         unsigned long long* counts, cudaStream_t stream) {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  int shared_limit = 0;
  int processors = 0;
  check(cudaDeviceGetAttribute(&shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&processors, cudaDevAttrMultiProcessorCount, device),
        "cudaDeviceGetAttribute");
  const uint32_t words = histogram_bins(level) / 2;
  const int shared = static_cast<int>(words * sizeof(uint32_t));
  int per_processor = 0;
  if (shared <= shared_limit) {
    check(cudaFuncSetAttribute(histogram_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               shared),
          "cudaFuncSetAttribute (magnitude_histogram)");
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_processor, histogram_shared_kernel,
                                                        kHistThreads, shared),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  }
  if (per_processor > 0) {
    // As many blocks as fit on the device at once, but no more than rounds to count: every
    // block clears and flushes the whole histogram.
    const uint64_t blocks = std::clamp<uint64_t>((n + kHistRound - 1) / kHistRound, 1,
                                                 uint64_t(per_processor) * processors);
    histogram_shared_kernel<<<static_cast<unsigned>(blocks), kHistThreads, shared, stream>>>(
        x, n, level, prefix, words, counts);
  } else {
    histogram_global_kernel<<<grid_for(n), kBlock, 0, stream>>>(x, n, level, prefix, counts);
  }
  check_launch("magnitude_histogram");
}

}  // namespace alloy::cuda
