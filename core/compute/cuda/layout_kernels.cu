#include <algorithm>

#include "compute/cuda/cuda_device.hpp"
#include "compute/cuda/kernel_launch.cuh"
#include "compute/cuda/layout_kernels.hpp"

namespace alloy::cuda {
namespace {

// The offset of item `index` of the row-major grid `s` when its axes step by s.strides. The
// outermost axis needs no modulo: index is below the grid's size.
template <typename Index>
__device__ __forceinline__ Index offset_of(Index index, const Strided& s) {
  Index offset = 0;
  for (int d = s.rank - 1; d > 0; --d) {
    const auto dim = static_cast<Index>(s.dims[d]);
    offset += (index % dim) * static_cast<Index>(s.strides[d]);
    index /= dim;
  }
  if (s.rank > 0) offset += index * static_cast<Index>(s.strides[0]);
  return offset;
}

// The fewest axes that index the same elements: size-1 axes dropped, and an axis merged into
// the one before it when that one steps over it exactly (a permutation that keeps runs of axes
// together, and a broadcast of whole rows, become a copy of long runs).
Strided simplify(const int64_t* shape, const int64_t* strides, int rank) {
  Strided s;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (s.rank > 0 && s.strides[s.rank - 1] == strides[d] * shape[d]) {
      s.dims[s.rank - 1] *= shape[d];
      s.strides[s.rank - 1] = strides[d];
    } else {
      s.dims[s.rank] = shape[d];
      s.strides[s.rank] = strides[d];
      ++s.rank;
    }
  }
  return s;
}

// 32-bit index arithmetic where everything fits: integer division, which index arithmetic is
// made of, is several times cheaper in 32 bits than in 64. The bound leaves room for the
// grid-stride increment (at most 2^24) without wrapping.
constexpr uint64_t kNarrow = 1ull << 31;

template <typename Index>
__global__ void gather_kernel(float* __restrict__ dst, const float* __restrict__ src,
                              Strided layout, Index numel) {
  const Index step = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel; i += step) {
    dst[i] = src[offset_of(i, layout)];
  }
}

// Lanes of a group of kGroup threads (a warp, or the whole block) add up their values; all
// get the total. Butterfly shuffles within each warp (each step adds the same two partial sums
// on both sides, and addition commutes, so every lane ends with the same value), then the
// warps' sums in warp order from `shared` (kBlock / 32 entries; unused by a warp). The order
// is fixed, so the result is too.
template <int kGroup>
__device__ __forceinline__ double group_sum(double value, double* shared) {
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  if constexpr (kGroup > 32) {
    __syncthreads();  // the previous sum's readers are done with shared
    if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = value;
    __syncthreads();
    value = shared[0];
    for (int w = 1; w < kGroup / 32; ++w) value += shared[w];
  }
  return value;
}

// dst = beta * dst + total, rounded once to F32; dst is not read when beta is 0. Explicit
// rounding steps, as the CPU provider computes it (no contraction into an FMA).
__device__ __forceinline__ void finish(float* dst, uint64_t i, double total, float beta) {
  dst[i] = static_cast<float>(
      beta == 0 ? total : __dadd_rn(__dmul_rn(static_cast<double>(beta), dst[i]), total));
}

// The innermost run is summed: each output element adds up plan.summed_count runs of
// plan.inner contiguous floats, kGroup threads (a warp, or a block) for each, and plan.slices
// blocks (grid y) each taking one slice of those summed_count * inner elements.
template <int kGroup>
__global__ void sum_runs_kernel(float* __restrict__ dst, double* __restrict__ partial,
                                const float* __restrict__ src, SumToPlan plan, float beta) {
  __shared__ double shared[kBlock / 32];
  constexpr int kPerBlock = kBlock / kGroup;
  const int lane = threadIdx.x % kGroup;
  const int64_t work = plan.summed_count * plan.inner;
  const int64_t slice = blockIdx.y;
  const int64_t begin = work * slice / plan.slices;
  const int64_t end = work * (slice + 1) / plan.slices;
  // Every thread of a block runs the same iterations: the block-wide sum has barriers.
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * kPerBlock; first < plan.kept_count;
       first += static_cast<int64_t>(gridDim.x) * kPerBlock) {
    const int64_t p = first + threadIdx.x / kGroup;
    double total = 0;
    if (p < plan.kept_count && begin < end) {
      const float* base = src + offset_of(p, plan.kept);
      // The runs the slice touches, each from where the slice starts to where it ends.
      for (int64_t q = begin / plan.inner; q * plan.inner < end; ++q) {
        const int64_t at = q * plan.inner;
        const int64_t lo = begin > at ? begin - at : 0;
        const int64_t hi = end - at < plan.inner ? end - at : plan.inner;
        const float* run = base + offset_of(q, plan.summed);
        for (int64_t j = lo + lane; j < hi; j += kGroup) total += run[j];
      }
    }
    total = group_sum<kGroup>(total, shared);
    if (lane == 0 && p < plan.kept_count) {
      if (plan.slices == 1) {
        finish(dst, p, total, beta);
      } else {
        partial[p * plan.slices + slice] = total;
      }
    }
  }
}

// The innermost run is kept: the outputs are columns (kept_count * inner of them) of rows
// (summed_count of them). A block of kColumns x kRowLanes threads takes kColumns consecutive
// columns (coalesced reads) and one chunk of rows; its kRowLanes partial sums are added in a
// fixed order, then the chunks' sums by sum_partials_kernel (or here when there is one chunk).
constexpr int kColumns = 32;
constexpr int kRowLanes = 8;

__global__ void sum_columns_kernel(float* __restrict__ dst, double* __restrict__ partial,
                                   const float* __restrict__ src, SumToPlan plan, float beta) {
  __shared__ double sums[kRowLanes][kColumns + 1];
  const int64_t columns = plan.kept_count * plan.inner;
  const int64_t chunk = blockIdx.y;
  const int64_t chunk_end = (chunk + 1) * plan.chunk_rows;
  const int64_t end = chunk_end < plan.summed_count ? chunk_end : plan.summed_count;
  for (int64_t column_block = blockIdx.x; column_block * kColumns < columns;
       column_block += gridDim.x) {
    const int64_t column = column_block * kColumns + threadIdx.x;
    double total = 0;
    if (column < columns) {
      const int64_t p = column / plan.inner;
      const float* base = src + offset_of(p, plan.kept) + (column - p * plan.inner);
      for (int64_t q = chunk * plan.chunk_rows + threadIdx.y; q < end; q += kRowLanes) {
        total += base[offset_of(q, plan.summed)];
      }
    }
    sums[threadIdx.y][threadIdx.x] = total;
    __syncthreads();
    if (threadIdx.y == 0 && column < columns) {
      total = 0;
      for (int r = 0; r < kRowLanes; ++r) total += sums[r][threadIdx.x];
      if (plan.chunks == 1) {
        finish(dst, column, total, beta);
      } else {
        partial[chunk * columns + column] = total;
      }
    }
    __syncthreads();
  }
}

// dst[o] = beta * dst[o] + the sum of partial[k * part_stride + o * output_stride] over k <
// parts (0 for none): a warp per output, its lanes taking every 32nd part, added in a fixed
// order.
__global__ void sum_partials_kernel(float* __restrict__ dst, const double* __restrict__ partial,
                                    int64_t outputs, int64_t parts, int64_t part_stride,
                                    int64_t output_stride, float beta) {
  constexpr int kPerBlock = kBlock / 32;
  const int lane = threadIdx.x % 32;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * kPerBlock + threadIdx.x / 32; o < outputs;
       o += static_cast<int64_t>(gridDim.x) * kPerBlock) {
    double total = 0;
    for (int64_t k = lane; k < parts; k += 32)
      total += partial[k * part_stride + o * output_stride];
    total = group_sum<32>(total, static_cast<double*>(nullptr));
    if (lane == 0) finish(dst, o, total, beta);
  }
}

__global__ void copy_rows_kernel(float* __restrict__ dst, int64_t dst_pitch,
                                 const float* __restrict__ src, int64_t src_pitch, int64_t rows,
                                 int64_t width) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    float* out = dst + r * dst_pitch;
    const float* in = src + r * src_pitch;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < width;
         c += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      out[c] = in[c];
    }
  }
}

// One thread per element of patches (coalesced writes; reads run along image rows in kx).
template <typename Index>
__global__ void patchify_kernel(float* __restrict__ patches, const float* __restrict__ images,
                                Index numel, Index channels, Index height, Index width,
                                Index patch) {
  const Index grid_w = width / patch;
  const Index grid = (height / patch) * grid_w;
  const Index area = patch * patch;
  const Index patch_size = channels * area;
  const Index step = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel; i += step) {
    const Index e = i % patch_size;  // (c, ky, kx) within the patch
    const Index cell = i / patch_size;
    const Index b = cell / grid;
    const Index g = cell % grid;
    const Index c = e / area;
    const Index ky = e % area / patch;
    const Index kx = e % patch;
    const Index y = g / grid_w * patch + ky;
    const Index x = g % grid_w * patch + kx;
    patches[i] = images[((b * channels + c) * height + y) * width + x];
  }
}

__global__ void widen_checked_kernel(double* __restrict__ dst, const float* __restrict__ src,
                                     uint64_t n, unsigned long long* first_bad) {
  ALLOY_GRID_STRIDE(i, n) {
    const float v = src[i];
    dst[i] = v;
    // The first bad index has the largest n - i; atomicMax keeps it whatever the thread order.
    if (!isfinite(v)) atomicMax(first_bad, static_cast<unsigned long long>(n - i));
  }
}

__global__ void pick_eigenpairs_kernel(float* __restrict__ values, float* __restrict__ vectors,
                                       const double* __restrict__ w, const double* __restrict__ z,
                                       int64_t n, int64_t k, bool largest) {
  // One thread per element of vectors (coalesced writes), column i = solver column j.
  ALLOY_GRID_STRIDE(e, static_cast<uint64_t>(n * k)) {
    const int64_t r = static_cast<int64_t>(e) / k;
    const int64_t i = static_cast<int64_t>(e) % k;
    const int64_t j = largest ? n - 1 - i : i;
    vectors[e] = static_cast<float>(z[j * n + r]);
    if (r == 0) values[i] = static_cast<float>(w[j]);
  }
}

// One thread per element of a row-major [rows, k] output taken from the first k columns of a
// column-major solver matrix: column-major [rows, *] (ld rows) when `from_columns`, else the
// transpose of column-major [*, rows] (ld `ld`), whose row j is output column j.
__global__ void pick_singular_vectors_kernel(float* __restrict__ dst,
                                             const double* __restrict__ src, int64_t rows,
                                             int64_t k, int64_t ld, bool from_columns) {
  ALLOY_GRID_STRIDE(e, static_cast<uint64_t>(rows * k)) {
    const int64_t i = static_cast<int64_t>(e) / k;
    const int64_t j = static_cast<int64_t>(e) % k;
    dst[e] = static_cast<float>(from_columns ? src[i + j * rows] : src[j + i * ld]);
  }
}

__global__ void narrow_kernel(float* __restrict__ dst, const double* __restrict__ src, int64_t n) {
  ALLOY_GRID_STRIDE(i, static_cast<uint64_t>(n)) { dst[i] = static_cast<float>(src[i]); }
}

}  // namespace

void gather(float* dst, const float* src, const int64_t* shape, const int64_t* strides, int rank,
            uint64_t numel, cudaStream_t stream) {
  const Strided layout = simplify(shape, strides, rank);
  uint64_t extent = 1;  // one past the furthest source element read
  for (int d = 0; d < layout.rank; ++d) {
    extent += static_cast<uint64_t>(layout.dims[d] - 1) * static_cast<uint64_t>(layout.strides[d]);
  }
  if (numel < kNarrow && extent < kNarrow) {
    gather_kernel<uint32_t>
        <<<grid_for(numel), kBlock, 0, stream>>>(dst, src, layout, static_cast<uint32_t>(numel));
  } else {
    gather_kernel<uint64_t><<<grid_for(numel), kBlock, 0, stream>>>(dst, src, layout, numel);
  }
  check_launch("gather");
}

SumToPlan plan_sum_to(const int64_t* dst_shape, int dst_rank, const int64_t* src_shape,
                      int src_rank) {
  int64_t sizes[kMaxDims];
  bool summed[kMaxDims];
  int groups = 0;
  const int lead = src_rank - dst_rank;
  for (int i = 0; i < src_rank; ++i) {
    if (src_shape[i] == 1) continue;
    const bool sums = i < lead || dst_shape[i - lead] == 1;
    if (groups > 0 && summed[groups - 1] == sums) {
      sizes[groups - 1] *= src_shape[i];
    } else {
      sizes[groups] = src_shape[i];
      summed[groups] = sums;
      ++groups;
    }
  }
  SumToPlan plan;
  if (groups > 0) {
    int64_t strides[kMaxDims];  // dense strides of the groups in src
    strides[groups - 1] = 1;
    for (int i = groups - 1; i-- > 0;) strides[i] = strides[i + 1] * sizes[i + 1];
    for (int i = 0; i + 1 < groups; ++i) {
      Strided& into = summed[i] ? plan.summed : plan.kept;
      into.dims[into.rank] = sizes[i];
      into.strides[into.rank] = strides[i];
      ++into.rank;
    }
    plan.inner = sizes[groups - 1];
    plan.inner_summed = summed[groups - 1];
  }
  for (int d = 0; d < plan.kept.rank; ++d) plan.kept_count *= plan.kept.dims[d];
  for (int d = 0; d < plan.summed.rank; ++d) plan.summed_count *= plan.summed.dims[d];
  // Everything below is fixed by the shapes alone, and so is the order of the sums.
  if (plan.inner_summed) {
    const int64_t work = plan.summed_count * plan.inner;
    if (plan.kept_count < 1024 && work >= 4096) {
      // Few outputs with much to add each: blocks of them, with slices of 16K elements or
      // more, at most 4096 blocks in all.
      plan.group = kBlock;
      plan.slices = std::clamp<int64_t>(work / 16384, 1, 4096 / plan.kept_count);
      if (plan.slices > 1) {
        plan.scratch_doubles = static_cast<uint64_t>(plan.kept_count * plan.slices);
      }
    }
  } else {
    // Chunks of at least 256 rows, as many as make about 4096 blocks, at most 65535 of them
    // (the grid's y limit).
    const int64_t columns = plan.kept_count * plan.inner;
    const int64_t most =
        std::clamp<int64_t>(4096 / ((columns + kColumns - 1) / kColumns), 1, 65535);
    plan.chunk_rows = std::max<int64_t>(256, (plan.summed_count + most - 1) / most);
    plan.chunks = (plan.summed_count + plan.chunk_rows - 1) / plan.chunk_rows;
    if (plan.chunks > 1) plan.scratch_doubles = static_cast<uint64_t>(plan.chunks * columns);
  }
  return plan;
}

void sum_to(const SumToPlan& plan, float* dst, const float* src, float beta, double* scratch,
            cudaStream_t stream) {
  if (plan.inner_summed) {
    const int per_block = kBlock / plan.group;
    const dim3 grid(static_cast<unsigned>(std::clamp<int64_t>(
                        (plan.kept_count + per_block - 1) / per_block, 1, 65536)),
                    static_cast<unsigned>(plan.slices));
    if (plan.group == kBlock) {
      sum_runs_kernel<kBlock><<<grid, kBlock, 0, stream>>>(dst, scratch, src, plan, beta);
    } else {
      sum_runs_kernel<32><<<grid, kBlock, 0, stream>>>(dst, scratch, src, plan, beta);
    }
    check_launch("sum_to");
    if (plan.slices > 1) {
      sum_partials_kernel<<<grid_for(plan.kept_count * 32), kBlock, 0, stream>>>(
          dst, scratch, plan.kept_count, plan.slices, 1, plan.slices, beta);
      check_launch("sum_to");
    }
    return;
  }
  const int64_t columns = plan.kept_count * plan.inner;
  if (plan.chunks > 0) {
    const dim3 grid(
        static_cast<unsigned>(std::clamp<int64_t>((columns + kColumns - 1) / kColumns, 1, 65536)),
        static_cast<unsigned>(plan.chunks));
    sum_columns_kernel<<<grid, dim3(kColumns, kRowLanes), 0, stream>>>(dst, scratch, src, plan,
                                                                       beta);
    check_launch("sum_to");
  }
  if (plan.chunks != 1) {  // several chunks to add up, or no rows at all
    sum_partials_kernel<<<grid_for(columns * 32), kBlock, 0, stream>>>(
        dst, scratch, columns, plan.chunks, columns, 1, beta);
    check_launch("sum_to");
  }
}

void copy_rows(float* dst, int64_t dst_pitch, const float* src, int64_t src_pitch, int64_t rows,
               int64_t width, cudaStream_t stream) {
  const auto y = static_cast<unsigned>(std::clamp<int64_t>(rows, 1, 65535));
  const int64_t x_cap = std::max<int64_t>(1, (1 << 20) / y);
  const auto x =
      static_cast<unsigned>(std::clamp<int64_t>((width + kBlock - 1) / kBlock, 1, x_cap));
  copy_rows_kernel<<<dim3(x, y), kBlock, 0, stream>>>(dst, dst_pitch, src, src_pitch, rows, width);
  check_launch("copy_rows");
}

void patchify(float* patches, const float* images, int64_t batch, int64_t channels, int64_t height,
              int64_t width, int64_t patch, cudaStream_t stream) {
  const uint64_t numel = static_cast<uint64_t>(batch * channels * height * width);
  if (numel < kNarrow) {
    patchify_kernel<uint32_t><<<grid_for(numel), kBlock, 0, stream>>>(
        patches, images, static_cast<uint32_t>(numel), static_cast<uint32_t>(channels),
        static_cast<uint32_t>(height), static_cast<uint32_t>(width), static_cast<uint32_t>(patch));
  } else {
    patchify_kernel<uint64_t><<<grid_for(numel), kBlock, 0, stream>>>(
        patches, images, numel, static_cast<uint64_t>(channels), static_cast<uint64_t>(height),
        static_cast<uint64_t>(width), static_cast<uint64_t>(patch));
  }
  check_launch("patchify");
}

void widen_checked(double* dst, const float* src, uint64_t n, unsigned long long* first_bad,
                   cudaStream_t stream) {
  widen_checked_kernel<<<grid_for(n), kBlock, 0, stream>>>(dst, src, n, first_bad);
  check_launch("sym_eig (conversion)");
}

void pick_eigenpairs(float* values, float* vectors, const double* w, const double* z, int64_t n,
                     int64_t k, bool largest, cudaStream_t stream) {
  pick_eigenpairs_kernel<<<grid_for(static_cast<uint64_t>(n * k)), kBlock, 0, stream>>>(
      values, vectors, w, z, n, k, largest);
  check_launch("sym_eig (eigenpairs)");
}

void pick_singular_triplets(float* left, float* values, float* right, const double* u,
                            const double* s, const double* vt, int64_t rows, int64_t cols,
                            int64_t k, cudaStream_t stream) {
  pick_singular_vectors_kernel<<<grid_for(static_cast<uint64_t>(rows * k)), kBlock, 0, stream>>>(
      left, u, rows, k, rows, true);
  check_launch("svd (left vectors)");
  pick_singular_vectors_kernel<<<grid_for(static_cast<uint64_t>(cols * k)), kBlock, 0, stream>>>(
      right, vt, cols, k, cols, false);
  check_launch("svd (right vectors)");
  narrow_kernel<<<grid_for(static_cast<uint64_t>(k)), kBlock, 0, stream>>>(values, s, k);
  check_launch("svd (values)");
}

}  // namespace alloy::cuda
