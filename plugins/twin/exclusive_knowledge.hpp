// Twin-Merging's exclusive knowledge of one expert in one tensor, v = theta_t - theta*, compressed
// as the paper does: a matrix (a convolution weight as its [out, in*k*k] matrix) keeps its
// r = floor(density * min(m, n)) largest singular triplets, stored as two factors us = U_r S_r
// [m, r] and v = V_r [n, r] (never as their product); a vector stays dense.
#pragma once

#include <alloy/alloy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace twin {

using alloy::sdk::Context;
using alloy::sdk::Tensor;

struct ExclusiveKnowledge {
  Tensor dense;       // a vector (or scalar): v itself
  Tensor us, v;       // a matrix: the factors; undefined when r is 0 (nothing is kept)
  double energy = 0;  // ||v||_F^2
  double kept = 0;    // the part of it the kept triplets hold: the sum of their s_i^2
};

inline int64_t kept_rank(int64_t rows, int64_t cols, double density) {
  return static_cast<int64_t>(std::floor(density * static_cast<double>(std::min(rows, cols))));
}

// `delta` has `shape`; `method` is ALLOY_SVD_EXACT or ALLOY_SVD_RANDOMIZED.
inline ExclusiveKnowledge compress(const Context& c, Tensor delta,
                                   const std::vector<int64_t>& shape, double density,
                                   int32_t method) {
  ExclusiveKnowledge out;
  const double norm = c.reduce(ALLOY_REDUCE_L2_NORM, delta);
  out.energy = norm * norm;
  if (shape.size() < 2) {
    out.dense = std::move(delta);
    out.kept = out.energy;
    return out;
  }
  const int64_t rows = shape[0];
  const int64_t cols = rows > 0 ? static_cast<int64_t>(c.numel(delta)) / rows : 0;
  const int64_t rank = kept_rank(rows, cols, density);
  if (rank < 1) return out;
  // The SDK has no reshape: a convolution weight becomes its matrix through host memory.
  const Tensor matrix =
      shape.size() == 2 ? std::move(delta) : c.upload(c.download(delta), {rows, cols});
  Context::Svd svd = c.svd(matrix, rank, method);
  const double kept = c.reduce(ALLOY_REDUCE_L2_NORM, svd.s);
  out.kept = kept * kept;
  c.binary(ALLOY_BINARY_MUL, svd.u, svd.u, svd.s);  // U_r S_r: s scales u's columns
  out.us = std::move(svd.u);
  out.v = std::move(svd.v);
  return out;
}

}  // namespace twin
