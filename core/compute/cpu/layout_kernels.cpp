#include "compute/cpu/layout_kernels.hpp"

#include <algorithm>
#include <cstring>

#include "compute/cpu/parallel.hpp"

namespace alloy::cpu {
namespace {

using Strides = std::vector<int64_t>;

Strides dense_strides(const Shape& shape) {
  Strides strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// The offset of item `index` of the row-major grid `dims` when its axes step by `strides`.
int64_t offset_of(int64_t index, const Shape& dims, const Strides& strides) {
  int64_t offset = 0;
  for (std::size_t d = dims.size(); d-- > 0;) {
    offset += (index % dims[d]) * strides[d];
    index /= dims[d];
  }
  return offset;
}

// dst (dense, of `shape`) [i] = src[offset of i's index when the axes step by `strides`]: a
// permutation has the source's strides reordered, a broadcast has stride 0 on its new axes.
void gather(float* dst, const float* src, const Shape& shape, const Strides& strides,
            uint64_t numel) {
  // The fewest axes: those of size 1 dropped, and an axis merged into the one before it when
  // that one steps over it exactly.
  Shape dims;
  Strides steps;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && steps.back() == strides[d] * shape[d]) {
      dims.back() *= shape[d];
      steps.back() = strides[d];
    } else {
      dims.push_back(shape[d]);
      steps.push_back(strides[d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    steps.push_back(1);
  }
  const int64_t length = dims.back();
  const int64_t step = steps.back();
  dims.pop_back();
  steps.pop_back();
  const uint64_t rows = numel / static_cast<uint64_t>(length);
  parallel_for(rows, length, [&](int64_t row) {
    float* out = dst + row * length;
    const float* in = src + offset_of(row, dims, steps);
    if (step == 1) {
      std::memcpy(out, in, length * sizeof(float));
    } else if (step == 0) {
      std::fill(out, out + length, *in);
    } else {
      for (int64_t j = 0; j < length; ++j) out[j] = in[j * step];
    }
  });
}

// The axes of src as alternating groups of summed and kept axes (merged, size-1 axes dropped).
struct Groups {
  Shape summed_dims, kept_dims;  // all but the innermost group
  Strides summed_strides, kept_strides;
  int64_t inner = 1;  // the innermost group's size; its stride is 1
  bool inner_summed = false;
};

Groups group_axes(const Shape& dst_shape, const Shape& src_shape) {
  Shape sizes;
  std::vector<bool> summed;
  const std::size_t lead = src_shape.size() - dst_shape.size();
  for (std::size_t i = 0; i < src_shape.size(); ++i) {
    if (src_shape[i] == 1) continue;
    const bool sums = i < lead || dst_shape[i - lead] == 1;
    if (!sizes.empty() && summed.back() == sums) {
      sizes.back() *= src_shape[i];
    } else {
      sizes.push_back(src_shape[i]);
      summed.push_back(sums);
    }
  }
  Groups g;
  if (sizes.empty()) return g;
  const Strides strides = dense_strides(sizes);
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    (summed[i] ? g.summed_dims : g.kept_dims).push_back(sizes[i]);
    (summed[i] ? g.summed_strides : g.kept_strides).push_back(strides[i]);
  }
  g.inner = sizes.back();
  g.inner_summed = summed.back();
  return g;
}

int64_t product(const Shape& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Kept columns summed per task, and rows of them per task: fixed numbers, so that the partial
// sums, and their order, do not depend on the thread count.
constexpr int64_t kSumBlock = 64;
constexpr int64_t kSumChunk = 16384;

}  // namespace

void permute(Tensor& dst, const Tensor& src, const std::vector<int>& perm) {
  const Strides src_strides = dense_strides(src.shape());
  Strides strides(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) strides[i] = src_strides[perm[i]];
  gather(dst.data_as<float>(), src.data_as<const float>(), dst.shape(), strides, dst.numel());
}

void broadcast(Tensor& dst, const Tensor& src) {
  const Strides src_strides = dense_strides(src.shape());
  const std::size_t lead = dst.shape().size() - src.shape().size();
  Strides strides(dst.shape().size(), 0);
  for (std::size_t i = 0; i < src.shape().size(); ++i) {
    strides[lead + i] = src.shape()[i] == 1 ? 0 : src_strides[i];
  }
  gather(dst.data_as<float>(), src.data_as<const float>(), dst.shape(), strides, dst.numel());
}

void sum_to(Tensor& dst, const Tensor& src, float beta) {
  const Groups g = group_axes(dst.shape(), src.shape());
  const float* in = src.data_as<const float>();
  float* out = dst.data_as<float>();
  const auto finish = [&](int64_t i, double total) {
    out[i] = static_cast<float>(beta == 0 ? total : beta * static_cast<double>(out[i]) + total);
  };
  const int64_t kept = product(g.kept_dims);
  const int64_t summed = product(g.summed_dims);
  if (g.inner_summed) {  // each element sums contiguous runs: one task per element
    parallel_for(kept, summed * g.inner, [&](int64_t p) {
      const float* base = in + offset_of(p, g.kept_dims, g.kept_strides);
      double total = 0;
      for (int64_t q = 0; q < summed; ++q) {
        const float* run = base + offset_of(q, g.summed_dims, g.summed_strides);
#pragma omp simd reduction(+ : total)
        for (int64_t j = 0; j < g.inner; ++j) total += run[j];
      }
      finish(p, total);
    });
    return;
  }
  // Rows of `inner` kept elements are added up: tasks take a block of columns and a chunk of
  // rows; the chunks' partial sums are added in order at the end.
  const int64_t block = std::min(g.inner, kSumBlock);
  const int64_t blocks = (g.inner + block - 1) / block;
  const int64_t chunk = std::max<int64_t>(1, kSumChunk / block);
  const int64_t chunks = (summed + chunk - 1) / chunk;
  const int64_t columns = kept * g.inner;
  std::vector<double> partial(static_cast<std::size_t>(chunks * columns));
  parallel_for(kept * blocks * chunks, chunk * block, [&](int64_t task) {
    const int64_t c = task % chunks;
    const int64_t b = task / chunks % blocks;
    const int64_t p = task / chunks / blocks;
    const int64_t width = std::min(block, g.inner - b * block);
    const float* base = in + offset_of(p, g.kept_dims, g.kept_strides) + b * block;
    double acc[kSumBlock] = {};
    for (int64_t q = c * chunk; q < std::min(summed, (c + 1) * chunk); ++q) {
      const float* row = base + offset_of(q, g.summed_dims, g.summed_strides);
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) acc[j] += row[j];
    }
    std::copy(acc, acc + width, partial.begin() + c * columns + p * g.inner + b * block);
  });
  parallel_for(columns, chunks, [&](int64_t i) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c * columns + i];
    finish(i, total);
  });
}

namespace {

// concat and split move the same blocks, one way or the other: for each of `outer` slices of
// the whole (its axes before `axis`), part j's run of `runs[j]` floats sits at `starts[j]` of
// the whole's row of `row` floats, and at slice * runs[j] in the part.
template <typename PartPointer, typename Move>
void for_each_block(const Shape& whole, const std::vector<PartPointer>& parts, int axis,
                    const Move& move) {
  const int64_t outer = product(Shape(whole.begin(), whole.begin() + axis));
  const int64_t inner = product(Shape(whole.begin() + axis + 1, whole.end()));
  const int64_t row = whole[axis] * inner;
  std::vector<int64_t> starts, runs;
  int64_t start = 0;
  for (const auto* part : parts) {
    starts.push_back(start);
    runs.push_back(part->shape()[axis] * inner);
    start += runs.back();
  }
  const int64_t count = static_cast<int64_t>(parts.size());
  parallel_for(outer * count, row / count, [&](int64_t task) {
    const int64_t o = task / count;
    const int64_t j = task % count;
    if (runs[j] == 0) return;  // an empty part may have no memory at all
    move(j, o * row + starts[j], o * runs[j], runs[j]);
  });
}

}  // namespace

void concat(Tensor& dst, const std::vector<const Tensor*>& parts, int axis) {
  float* out = dst.data_as<float>();
  for_each_block(dst.shape(), parts, axis,
                 [&](int64_t j, int64_t whole_at, int64_t part_at, int64_t run) {
                   std::memcpy(out + whole_at, parts[j]->data_as<const float>() + part_at,
                               run * sizeof(float));
                 });
}

void split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) {
  const float* in = src.data_as<const float>();
  for_each_block(
      src.shape(), parts, axis, [&](int64_t j, int64_t whole_at, int64_t part_at, int64_t run) {
        std::memcpy(parts[j]->data_as<float>() + part_at, in + whole_at, run * sizeof(float));
      });
}

void patchify(Tensor& patches, const Tensor& images, int64_t patch) {
  const Shape& s = images.shape();
  const int64_t channels = s[1], height = s[2], width = s[3];
  const int64_t grid_w = width / patch;
  const int64_t patch_size = channels * patch * patch;
  const float* in = images.data_as<const float>();
  float* out = patches.data_as<float>();
  // One task per row of patches of one image.
  parallel_for(s[0] * (height / patch), grid_w * patch_size, [&](int64_t task) {
    const int64_t b = task / (height / patch);
    const int64_t gy = task % (height / patch);
    for (int64_t gx = 0; gx < grid_w; ++gx) {
      float* to = out + (task * grid_w + gx) * patch_size;
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t ky = 0; ky < patch; ++ky) {
          const float* from =
              in + ((b * channels + c) * height + gy * patch + ky) * width + gx * patch;
          std::memcpy(to + (c * patch + ky) * patch, from, patch * sizeof(float));
        }
      }
    }
  });
}

}  // namespace alloy::cpu
