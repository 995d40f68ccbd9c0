// Kernels that move elements between layouts (permute, broadcast, concat, split, patchify, and
// sym_eig's and svd's matrices in and out of the solver) or sum them back (sum_to, the gradient of
// broadcast). Launchers take raw device pointers, enqueue
// on `stream` and return at once; the provider has checked the arguments (nn_checks.hpp):
// F32, dense, non-empty, no output overlapping an input.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace alloy::cuda {

// Most axes a layout kernel indexes (Tensor's kMaxRank).
constexpr int kMaxDims = 8;

// A row-major grid of `rank` axes and how far one step along each moves in some tensor.
struct Strided {
  int rank = 0;
  int64_t dims[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

// dst (dense, `numel` elements of the grid shape[0..rank)) [i] = src[sum over d of index_d(i) *
// strides[d]]: a permutation has the source's strides reordered, a broadcast has stride 0 on
// the axes it repeats. rank <= kMaxDims.
void gather(float* dst, const float* src, const int64_t* shape, const int64_t* strides, int rank,
            uint64_t numel, cudaStream_t stream);

// sum_to's axes as the CPU provider groups them: alternating runs of summed and kept axes
// (size-1 axes dropped, neighbours of the same kind merged), the innermost run apart.
struct SumToPlan {
  Strided kept;    // kept axes but the innermost run, with their strides in src
  Strided summed;  // summed axes but the innermost run
  int64_t kept_count = 1;
  int64_t summed_count = 1;
  int64_t inner = 1;  // the innermost run's size; its stride in src is 1
  bool inner_summed = false;
  // When the innermost run is summed: threads per output element (a warp, or a block when
  // there are few outputs with much to add each), and blocks per output element (block-wide
  // groups only), each adding up one slice of its elements.
  int group = 32;
  int64_t slices = 1;
  // When the innermost run is kept: rows of src summed per block, and the number of such chunks.
  int64_t chunk_rows = 0;
  int64_t chunks = 0;
  // Doubles of scratch for the partial sums of slices or chunks (0 when none are needed).
  uint64_t scratch_doubles = 0;
};
SumToPlan plan_sum_to(const int64_t* dst_shape, int dst_rank, const int64_t* src_shape,
                      int src_rank);
// dst = beta * dst + src summed over the plan's summed axes, in double and rounded once, in an
// order fixed by the shapes alone. dst is not read when beta is 0. `scratch` holds
// plan.scratch_doubles doubles (may be null when that is 0). The dst elements must exist (the
// provider returns early on an empty dst); src may be empty.
void sum_to(const SumToPlan& plan, float* dst, const float* src, float beta, double* scratch,
            cudaStream_t stream);

// dst[r * dst_pitch + c] = src[r * src_pitch + c] for r < rows, c < width: one part's block of a
// concat or split.
void copy_rows(float* dst, int64_t dst_pitch, const float* src, int64_t src_pitch, int64_t rows,
               int64_t width, cudaStream_t stream);

// images [batch, channels, height, width] -> patches [batch, (height/patch) * (width/patch),
// channels * patch * patch], as Provider::patchify documents.
void patchify(float* patches, const float* images, int64_t batch, int64_t channels, int64_t height,
              int64_t width, int64_t patch, cudaStream_t stream);

// dst = src widened to double, n elements. *first_bad (zero before) becomes n - i for the
// first non-finite src[i], and stays 0 when every element is finite.
void widen_checked(double* dst, const float* src, uint64_t n, unsigned long long* first_bad,
                   cudaStream_t stream);

// A symmetric eigensolver's output (w: the n eigenvalues ascending; z: column-major n x n, column
// j the eigenvector of w[j]) -> values [k] (descending when largest, else ascending) and
// vectors [n, k] row-major, column i the vector of values[i], in F32.
void pick_eigenpairs(float* values, float* vectors, const double* w, const double* z, int64_t n,
                     int64_t k, bool largest, cudaStream_t stream);

// An SVD solver's output for a column-major matrix [rows, cols], rows >= cols (u: column-major
// [rows, cols]; s: cols values, descending; vt: column-major [cols, cols]) -> the first k
// triplets in F32: left [rows, k] and right [cols, k] row-major (column j the j-th singular
// vectors), values [k].
void pick_singular_triplets(float* left, float* values, float* right, const double* u,
                            const double* s, const double* vt, int64_t rows, int64_t cols,
                            int64_t k, cudaStream_t stream);

}  // namespace alloy::cuda
