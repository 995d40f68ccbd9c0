#include <algorithm>
#include <climits>
#include <type_traits>

#include "compute/cuda/cuda_device.hpp"
#include "compute/cuda/kernel_launch.cuh"
#include "compute/cuda/row_kernels.hpp"

namespace alloy::cuda {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// kGroup threads take each row: a warp (8 rows to a block) for rows of up to kLongRow floats,
// the whole block for longer ones, so that a few long rows still spread over the device.
constexpr int kLongRow = 1024;

// For each row of this thread's group, grid-stride over the rows: the loop is uniform over
// the group, so its shuffles see all lanes and its barriers all threads.
#define ALLOY_FOR_EACH_ROW(row, rows)                                                             \
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (kBlock / kGroup) + threadIdx.x / kGroup; \
       row < (rows); row += static_cast<int64_t>(gridDim.x) * (kBlock / kGroup))

// Reductions over a group: butterfly shuffles within each warp (every lane ends with the same
// value: each step combines the same two partial results on both sides, and the operations
// commute), then, for a block-wide group, the warps' results in warp order from shared
// memory (`shared`: kBlock / 32 entries). The order is fixed, so the result is too.
template <int kGroup, typename T, typename Op>
__device__ __forceinline__ T group_reduce(T value, T* shared, Op op) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    value = op(value, __shfl_xor_sync(kFullMask, value, offset));
  }
  if constexpr (kGroup > kWarp) {
    __syncthreads();  // the previous reduction's readers are done with shared
    if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = value;
    __syncthreads();
    value = shared[0];
    for (int w = 1; w < kGroup / kWarp; ++w) value = op(value, shared[w]);
  }
  return value;
}

template <int kGroup, typename T>
__device__ __forceinline__ T group_sum(T value, T* shared) {
  return group_reduce<kGroup>(value, shared, [](T a, T b) { return a + b; });
}

template <int kGroup>
__device__ __forceinline__ float group_max(float value, float* shared) {
  return group_reduce<kGroup>(value, shared, [](float a, float b) { return fmaxf(a, b); });
}

// Shared memory for the reductions of a block-wide group (unused by warps).
struct Shared {
  float f[kBlock / kWarp];
  double d[kBlock / kWarp];
};

// Calls f(i, j) for this lane's elements j = lane + kGroup i of a row of `cols`. With kCache >
// 0 (rows of at most kGroup * kCache) the loop is unrolled so that values a kernel keeps per i
// stay in registers between its passes over the row; with 0 it is a plain loop and kernels
// read the row again instead.
template <int kGroup, int kCache, typename F>
__device__ __forceinline__ void for_lane(int64_t cols, int lane, F&& f) {
  if constexpr (kCache > 0) {
#pragma unroll
    for (int i = 0; i < kCache; ++i) {
      const int64_t j = lane + static_cast<int64_t>(kGroup) * i;
      if (j < cols) f(i, j);
    }
  } else {
    for (int64_t j = lane; j < cols; j += kGroup) f(0, j);
  }
}

template <int kGroup>
unsigned grid_for_rows(int64_t rows) {
  constexpr int per_block = kBlock / kGroup;
  return static_cast<unsigned>(std::clamp<int64_t>((rows + per_block - 1) / per_block, 1, 65536));
}

// Calls launch(group, grid) with the group size for rows of `cols`.
template <typename Launch>
void with_group(int64_t rows, int64_t cols, const Launch& launch) {
  if (cols <= kLongRow) {
    launch(std::integral_constant<int, kWarp>{}, grid_for_rows<kWarp>(rows));
  } else {
    launch(std::integral_constant<int, kBlock>{}, grid_for_rows<kBlock>(rows));
  }
}

// Calls launch(group, cache, grid) with the group size and the smallest register cache that
// holds a row of `cols` (none for rows longer than 32 floats a thread).
template <typename Launch>
void with_group_and_cache(int64_t rows, int64_t cols, const Launch& launch) {
  with_group(rows, cols, [&](auto group, unsigned grid) {
    constexpr int kGroup = decltype(group)::value;
    if (cols <= 4 * kGroup && kGroup == kWarp) {
      launch(group, std::integral_constant<int, 4>{}, grid);
    } else if (cols <= 8 * kGroup) {
      launch(group, std::integral_constant<int, 8>{}, grid);
    } else if (cols <= 16 * kGroup) {
      launch(group, std::integral_constant<int, 16>{}, grid);
    } else if (cols <= 32 * kGroup) {
      launch(group, std::integral_constant<int, 32>{}, grid);
    } else {
      launch(group, std::integral_constant<int, 0>{}, grid);
    }
  });
}

// --- layer_norm ------------------------------------------------------------------------------

// Two passes for the statistics (mean, then the squared deviations from it): rows of
// activations have means far from 0, where E[x^2] - E[x]^2 would cancel most digits.
template <int kGroup, int kCache>
__global__ void layer_norm_kernel(float* __restrict__ y, float* __restrict__ mean,
                                  float* __restrict__ rstd, const float* __restrict__ x,
                                  const float* __restrict__ gamma, const float* __restrict__ beta,
                                  int64_t rows, int64_t cols, float eps) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  float cache[kCache > 0 ? kCache : 1];
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = x + row * cols;
    const auto at = [&](int i, int64_t j) {
      if constexpr (kCache > 0) {
        return cache[i];
      } else {
        return in[j];
      }
    };
    float sum = 0;
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      const float value = in[j];
      if constexpr (kCache > 0) cache[i] = value;
      sum += value;
    });
    const float mu = group_sum<kGroup>(sum, shared.f) / static_cast<float>(cols);
    float squares = 0;
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      const float d = at(i, j) - mu;
      squares += d * d;
    });
    const float variance = group_sum<kGroup>(squares, shared.f) / static_cast<float>(cols);
    // 1 / sqrt(var + eps) correctly rounded, as the CPU provider computes it.
    const float r = __fdiv_rn(1.0f, __fsqrt_rn(variance + eps));
    float* out = y + row * cols;
    for_lane<kGroup, kCache>(
        cols, lane, [&](int i, int64_t j) { out[j] = (at(i, j) - mu) * r * gamma[j] + beta[j]; });
    if (lane == 0) {
      mean[row] = mu;
      rstd[row] = r;
    }
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, xhat = (x - mean) *
// rstd. The second pass reads x and dy again (they are still in L1 or L2) rather than holding
// them in registers as the forward kernels do: measured on an H100 with rows of 768, holding
// both cost so much occupancy that the kernel ran 2.5 times slower.
template <int kGroup>
__global__ void layer_norm_dx_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                     const float* __restrict__ x, const float* __restrict__ mean,
                                     const float* __restrict__ rstd,
                                     const float* __restrict__ gamma, int64_t rows, int64_t cols) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = x + row * cols;
    const float* grad = dy + row * cols;
    const float mu = mean[row];
    const float r = rstd[row];
    float sum_g = 0, sum_gx = 0;
    for (int64_t j = lane; j < cols; j += kGroup) {
      const float xhat = (in[j] - mu) * r;
      const float g = grad[j] * gamma[j];
      sum_g += g;
      sum_gx += g * xhat;
    }
    const float mean_g = group_sum<kGroup>(sum_g, shared.f) / static_cast<float>(cols);
    const float mean_gx = group_sum<kGroup>(sum_gx, shared.f) / static_cast<float>(cols);
    float* out = dx + row * cols;
    for (int64_t j = lane; j < cols; j += kGroup) {
      const float xhat = (in[j] - mu) * r;
      const float g = grad[j] * gamma[j];
      out[j] = r * (g - mean_g - xhat * mean_gx);
    }
  }
}

// dgamma += sum over rows of dy * xhat, dbeta += sum of dy: a column reduction. A block of
// kColumns x kRowLanes threads takes kColumns consecutive columns (coalesced reads) of one
// chunk of rows and adds its kRowLanes partial sums in a fixed order; a warp per column then
// adds the chunks' sums (or the block itself when there is one chunk). No atomics: the result
// is the same on every run.
constexpr int kColumns = 32;
constexpr int kRowLanes = 8;

struct Chunks {
  int64_t rows;   // rows per chunk
  int64_t count;  // chunks
};

// Fixed by the shapes alone (so is the order of the sums): chunks of at least 256 rows, as
// many as fill the device with blocks, at most 65535 (the grid's y limit).
Chunks column_chunks(int64_t rows, int64_t cols) {
  const int64_t column_blocks = (cols + kColumns - 1) / kColumns;
  const int64_t most = std::clamp<int64_t>(4096 / column_blocks, 1, 65535);
  const int64_t chunk_rows = std::max<int64_t>(256, (rows + most - 1) / most);
  return {chunk_rows, (rows + chunk_rows - 1) / chunk_rows};
}

__global__ void layer_norm_params_kernel(float* __restrict__ dgamma, float* __restrict__ dbeta,
                                         float* __restrict__ partial, const float* __restrict__ dy,
                                         const float* __restrict__ x,
                                         const float* __restrict__ mean,
                                         const float* __restrict__ rstd, int64_t rows, int64_t cols,
                                         Chunks chunks) {
  __shared__ float sums[2][kRowLanes][kColumns + 1];
  const int64_t chunk = blockIdx.y;
  const int64_t chunk_end = (chunk + 1) * chunks.rows;
  const int64_t end = chunk_end < rows ? chunk_end : rows;
  for (int64_t column_block = blockIdx.x; column_block * kColumns < cols;
       column_block += gridDim.x) {
    const int64_t c = column_block * kColumns + threadIdx.x;
    float sum_gamma = 0, sum_beta = 0;
    if (c < cols) {
      for (int64_t q = chunk * chunks.rows + threadIdx.y; q < end; q += kRowLanes) {
        const float d = dy[q * cols + c];
        sum_gamma += d * ((x[q * cols + c] - mean[q]) * rstd[q]);
        sum_beta += d;
      }
    }
    sums[0][threadIdx.y][threadIdx.x] = sum_gamma;
    sums[1][threadIdx.y][threadIdx.x] = sum_beta;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
      sum_gamma = 0;
      sum_beta = 0;
      for (int r = 0; r < kRowLanes; ++r) {
        sum_gamma += sums[0][r][threadIdx.x];
        sum_beta += sums[1][r][threadIdx.x];
      }
      if (chunks.count == 1) {
        dgamma[c] += sum_gamma;
        dbeta[c] += sum_beta;
      } else {
        partial[chunk * cols + c] = sum_gamma;
        partial[(chunks.count + chunk) * cols + c] = sum_beta;
      }
    }
    __syncthreads();
  }
}

__global__ void layer_norm_params_finish(float* __restrict__ dgamma, float* __restrict__ dbeta,
                                         const float* __restrict__ partial, int64_t cols,
                                         int64_t chunks) {
  constexpr int kGroup = kWarp;
  const int lane = threadIdx.x % kWarp;
  ALLOY_FOR_EACH_ROW(c, cols) {
    float sum_gamma = 0, sum_beta = 0;
    for (int64_t k = lane; k < chunks; k += kWarp) {
      sum_gamma += partial[k * cols + c];
      sum_beta += partial[(chunks + k) * cols + c];
    }
    sum_gamma = group_sum<kWarp>(sum_gamma, static_cast<float*>(nullptr));
    sum_beta = group_sum<kWarp>(sum_beta, static_cast<float*>(nullptr));
    if (lane == 0) {
      dgamma[c] += sum_gamma;
      dbeta[c] += sum_beta;
    }
  }
}

// --- softmax ---------------------------------------------------------------------------------

template <int kGroup, int kCache>
__global__ void softmax_kernel(float* __restrict__ y, const float* __restrict__ x, int64_t rows,
                               int64_t cols, float scale) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  float cache[kCache > 0 ? kCache : 1];
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = x + row * cols;
    // scale * x rounded to F32 first, as the CPU provider scales before its softmax (_rn: never
    // contracted with the subtraction of the maximum into an FMA).
    float max = -INFINITY;
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      const float z = __fmul_rn(scale, in[j]);
      if constexpr (kCache > 0) cache[i] = z;
      max = fmaxf(max, z);
    });
    max = group_max<kGroup>(max, shared.f);
    float sum = 0;
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      float e;
      if constexpr (kCache > 0) {
        e = expf(cache[i] - max);
        cache[i] = e;
      } else {
        e = expf(__fmul_rn(scale, in[j]) - max);
      }
      sum += e;
    });
    sum = group_sum<kGroup>(sum, shared.f);
    float* out = y + row * cols;
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      if constexpr (kCache > 0) {
        out[j] = cache[i] / sum;
      } else {
        out[j] = expf(__fmul_rn(scale, in[j]) - max) / sum;
      }
    });
  }
}

template <int kGroup, int kCache>
__global__ void softmax_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                        const float* __restrict__ y, int64_t rows, int64_t cols,
                                        float scale) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  float y_cache[kCache > 0 ? kCache : 1];
  float dy_cache[kCache > 0 ? kCache : 1];
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* p = y + row * cols;
    const float* g = dy + row * cols;
    float dot = 0;
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      const float pj = p[j], gj = g[j];
      if constexpr (kCache > 0) {
        y_cache[i] = pj;
        dy_cache[i] = gj;
      }
      dot += pj * gj;
    });
    dot = group_sum<kGroup>(dot, shared.f);
    float* out = dx + row * cols;
    // y * (dy - dot), then the scale: the CPU provider's order.
    for_lane<kGroup, kCache>(cols, lane, [&](int i, int64_t j) {
      if constexpr (kCache > 0) {
        out[j] = y_cache[i] * (dy_cache[i] - dot) * scale;
      } else {
        out[j] = p[j] * (g[j] - dot) * scale;
      }
    });
  }
}

// --- l2_normalize ----------------------------------------------------------------------------

// Squares summed in double, as the CPU provider does.
template <int kGroup>
__global__ void l2_normalize_kernel(float* __restrict__ y, float* __restrict__ norm,
                                    const float* __restrict__ x, int64_t rows, int64_t cols,
                                    float eps) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = x + row * cols;
    double squares = 0;
    for (int64_t j = lane; j < cols; j += kGroup) {
      const double v = in[j];
      squares += v * v;
    }
    const auto n = static_cast<float>(sqrt(group_sum<kGroup>(squares, shared.d)));
    if (lane == 0) norm[row] = n;
    const float divisor = n < eps ? eps : n;  // std::max(n, eps)
    float* out = y + row * cols;
    for (int64_t j = lane; j < cols; j += kGroup) out[j] = in[j] / divisor;
  }
}

template <int kGroup>
__global__ void l2_normalize_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                             const float* __restrict__ y,
                                             const float* __restrict__ norm, int64_t rows,
                                             int64_t cols, float eps) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* g = dy + row * cols;
    const float* out = y + row * cols;
    float* d = dx + row * cols;
    const float n = norm[row];
    if (n < eps) {  // y = x / eps: clamped, as torch's clamp_min passes no gradient to the norm
      for (int64_t j = lane; j < cols; j += kGroup) d[j] = g[j] / eps;
      continue;  // the same branch for the whole group
    }
    // y = x / |x|: dx = (dy - y (y . dy)) / |x|
    double dot = 0;
    for (int64_t j = lane; j < cols; j += kGroup) dot += static_cast<double>(out[j]) * g[j];
    dot = group_sum<kGroup>(dot, shared.d);
    for (int64_t j = lane; j < cols; j += kGroup) {
      d[j] = static_cast<float>((g[j] - out[j] * dot) / n);
    }
  }
}

// --- losses on logits ------------------------------------------------------------------------

// The CPU provider's arithmetic: exp(x - max) in F32, their sum and everything after it in
// double, rounded to F32 at the end.
template <int kGroup>
__device__ __forceinline__ float row_max(const float* in, int64_t cols, int lane, Shared& shared) {
  float max = -INFINITY;
  for (int64_t j = lane; j < cols; j += kGroup) max = fmaxf(max, in[j]);
  return group_max<kGroup>(max, shared.f);
}

template <int kGroup>
__device__ __forceinline__ double shifted_exp_sum(const float* in, int64_t cols, int lane,
                                                  float max, Shared& shared) {
  double sum = 0;
  for (int64_t j = lane; j < cols; j += kGroup) sum += expf(in[j] - max);
  return group_sum<kGroup>(sum, shared.d);
}

template <int kGroup>
__global__ void cross_entropy_kernel(float* __restrict__ losses, float* __restrict__ dlogits,
                                     const float* __restrict__ logits,
                                     const int32_t* __restrict__ labels, int64_t rows,
                                     int64_t classes, float grad_scale) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = logits + row * classes;
    const int64_t label = labels[row];
    const float max = row_max<kGroup>(in, classes, lane, shared);
    const double sum = shifted_exp_sum<kGroup>(in, classes, lane, max, shared);
    if (lane == 0) {
      losses[row] = static_cast<float>(static_cast<double>(max) + log(sum) - in[label]);
    }
    float* d = dlogits + row * classes;
    for (int64_t j = lane; j < classes; j += kGroup) {
      const double target = j == label ? 1.0 : 0.0;
      d[j] = static_cast<float>(grad_scale * (expf(in[j] - max) / sum - target));
    }
  }
}

template <int kGroup>
__global__ void softmax_entropy_kernel(float* __restrict__ entropies, float* __restrict__ dlogits,
                                       const float* __restrict__ logits, int64_t rows,
                                       int64_t classes, float grad_scale) {
  __shared__ Shared shared;
  const int lane = threadIdx.x % kGroup;
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = logits + row * classes;
    const float max = row_max<kGroup>(in, classes, lane, shared);
    const double sum = shifted_exp_sum<kGroup>(in, classes, lane, max, shared);
    const double log_sum = log(sum);
    // log p = x - max - log(sum): finite even where p underflows to 0.
    double entropy = 0;
    for (int64_t j = lane; j < classes; j += kGroup) {
      const float shifted = in[j] - max;
      entropy -= expf(shifted) / sum * (shifted - log_sum);
    }
    entropy = group_sum<kGroup>(entropy, shared.d);
    if (lane == 0) entropies[row] = static_cast<float>(entropy);
    float* d = dlogits + row * classes;
    for (int64_t j = lane; j < classes; j += kGroup) {
      const float shifted = in[j] - max;
      const double p = expf(shifted) / sum;
      d[j] = static_cast<float>(-grad_scale * p * (shifted - log_sum + entropy));
    }
  }
}

// --- argmax ----------------------------------------------------------------------------------

// Whether (a, ai) beats (b, bi): NaN beats any number, then the larger value; ties (and two
// NaNs) go to the smaller index, so the first maximum (or the first NaN) wins. A strict total
// order on distinct indices, so the group's winner does not depend on the order of reduction.
__device__ __forceinline__ bool beats(float a, int ai, float b, int bi) {
  if (isnan(a)) return !isnan(b) || ai < bi;
  if (isnan(b)) return false;
  return a > b || (a == b && ai < bi);
}

template <int kGroup>
__global__ void argmax_kernel(int32_t* __restrict__ indices, const float* __restrict__ x,
                              int64_t rows, int64_t cols) {
  __shared__ float shared_value[kBlock / kWarp];
  __shared__ int shared_index[kBlock / kWarp];
  const int lane = threadIdx.x % kGroup;
  ALLOY_FOR_EACH_ROW(row, rows) {
    const float* in = x + row * cols;
    // A lane without elements holds (-inf, INT_MAX), which loses to every element.
    float best = -INFINITY;
    int best_index = INT_MAX;
    for (int64_t j = lane; j < cols; j += kGroup) {
      const float v = in[j];
      if (beats(v, static_cast<int>(j), best, best_index)) {
        best = v;
        best_index = static_cast<int>(j);
      }
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float other = __shfl_xor_sync(kFullMask, best, offset);
      const int other_index = __shfl_xor_sync(kFullMask, best_index, offset);
      if (beats(other, other_index, best, best_index)) {
        best = other;
        best_index = other_index;
      }
    }
    if constexpr (kGroup > kWarp) {
      __syncthreads();
      if (threadIdx.x % kWarp == 0) {
        shared_value[threadIdx.x / kWarp] = best;
        shared_index[threadIdx.x / kWarp] = best_index;
      }
      __syncthreads();
      for (int w = 0; w < kGroup / kWarp; ++w) {
        if (beats(shared_value[w], shared_index[w], best, best_index)) {
          best = shared_value[w];
          best_index = shared_index[w];
        }
      }
    }
    if (lane == 0) indices[row] = best_index;
  }
}

}  // namespace

void layer_norm(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                const float* beta, int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  with_group_and_cache(rows, cols, [&](auto group, auto cache, unsigned grid) {
    layer_norm_kernel<decltype(group)::value, decltype(cache)::value>
        <<<grid, kBlock, 0, stream>>>(y, mean, rstd, x, gamma, beta, rows, cols, eps);
  });
  check_launch("layer_norm");
}

uint64_t layer_norm_backward_scratch(int64_t rows, int64_t cols) {
  const Chunks chunks = column_chunks(rows, cols);
  return chunks.count > 1 ? static_cast<uint64_t>(2 * chunks.count * cols) : 0;
}

void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* gamma, int64_t rows,
                         int64_t cols, float* scratch, cudaStream_t stream) {
  with_group(rows, cols, [&](auto group, unsigned grid) {
    layer_norm_dx_kernel<decltype(group)::value>
        <<<grid, kBlock, 0, stream>>>(dx, dy, x, mean, rstd, gamma, rows, cols);
  });
  check_launch("layer_norm_backward");
  const Chunks chunks = column_chunks(rows, cols);
  const dim3 grid(
      static_cast<unsigned>(std::clamp<int64_t>((cols + kColumns - 1) / kColumns, 1, 65536)),
      static_cast<unsigned>(chunks.count));
  layer_norm_params_kernel<<<grid, dim3(kColumns, kRowLanes), 0, stream>>>(
      dgamma, dbeta, scratch, dy, x, mean, rstd, rows, cols, chunks);
  check_launch("layer_norm_backward");
  if (chunks.count > 1) {
    layer_norm_params_finish<<<grid_for_rows<kWarp>(cols), kBlock, 0, stream>>>(
        dgamma, dbeta, scratch, cols, chunks.count);
    check_launch("layer_norm_backward");
  }
}

void softmax(float* y, const float* x, int64_t rows, int64_t cols, float scale,
             cudaStream_t stream) {
  with_group_and_cache(rows, cols, [&](auto group, auto cache, unsigned grid) {
    softmax_kernel<decltype(group)::value, decltype(cache)::value>
        <<<grid, kBlock, 0, stream>>>(y, x, rows, cols, scale);
  });
  check_launch("softmax");
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols,
                      float scale, cudaStream_t stream) {
  with_group_and_cache(rows, cols, [&](auto group, auto cache, unsigned grid) {
    softmax_backward_kernel<decltype(group)::value, decltype(cache)::value>
        <<<grid, kBlock, 0, stream>>>(dx, dy, y, rows, cols, scale);
  });
  check_launch("softmax_backward");
}

void l2_normalize(float* y, float* norm, const float* x, int64_t rows, int64_t cols, float eps,
                  cudaStream_t stream) {
  with_group(rows, cols, [&](auto group, unsigned grid) {
    l2_normalize_kernel<decltype(group)::value>
        <<<grid, kBlock, 0, stream>>>(y, norm, x, rows, cols, eps);
  });
  check_launch("l2_normalize");
}

void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norm,
                           int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  with_group(rows, cols, [&](auto group, unsigned grid) {
    l2_normalize_backward_kernel<decltype(group)::value>
        <<<grid, kBlock, 0, stream>>>(dx, dy, y, norm, rows, cols, eps);
  });
  check_launch("l2_normalize_backward");
}

void cross_entropy(float* losses, float* dlogits, const float* logits, const int32_t* labels,
                   int64_t rows, int64_t classes, float grad_scale, cudaStream_t stream) {
  with_group(rows, classes, [&](auto group, unsigned grid) {
    cross_entropy_kernel<decltype(group)::value>
        <<<grid, kBlock, 0, stream>>>(losses, dlogits, logits, labels, rows, classes, grad_scale);
  });
  check_launch("cross_entropy");
}

void softmax_entropy(float* entropies, float* dlogits, const float* logits, int64_t rows,
                     int64_t classes, float grad_scale, cudaStream_t stream) {
  with_group(rows, classes, [&](auto group, unsigned grid) {
    softmax_entropy_kernel<decltype(group)::value>
        <<<grid, kBlock, 0, stream>>>(entropies, dlogits, logits, rows, classes, grad_scale);
  });
  check_launch("softmax_entropy");
}

void argmax(int32_t* indices, const float* x, int64_t rows, int64_t cols, cudaStream_t stream) {
  with_group(rows, cols, [&](auto group, unsigned grid) {
    argmax_kernel<decltype(group)::value><<<grid, kBlock, 0, stream>>>(indices, x, rows, cols);
  });
  check_launch("argmax");
}

}  // namespace alloy::cuda
