// Truncated SVD on any provider, by one of two methods: exact (Provider::svd: every triplet, the
// k largest kept) or randomized (Halko, Martinsson and Tropp 2011, Algorithm 4.4: a Gaussian
// sketch of the range, power iterations, then an exact SVD of the small projected matrix). The
// randomized method is composed from provider ops only (gemm, fill_random, and Provider::svd on
// thin matrices as its orthonormalisation), so it runs wherever the provider does; for a
// 4096 x 4096 matrix and k = 409 it does a few gemms of [4096, 4096] x [4096, 419] instead of a
// full decomposition (bench/svd_bench measures both).
#pragma once

#include <cstdint>

#include "compute/provider.hpp"

namespace alloy {

enum class SvdMethod : int32_t { exact = 1, randomized = 2 };  // ALLOY_SVD_*

struct RandomizedSvdOptions {
  int64_t oversampling = 10;     // sketch columns beyond k
  int64_t power_iterations = 2;  // passes of (a a^T) that sharpen a slowly decaying spectrum
  uint64_t seed = 0x7769'6e5f'7376'64ull;  // of the Gaussian sketch
};

// The contract of Provider::svd for both methods: u [m, k], s [k] descending, v [n, k]. The
// randomized method falls back to the exact one when the sketch would be as wide as the matrix.
// Throws alloy::Error (ALLOY_ERR_INVALID_ARGUMENT naming the method for an unknown one).
void truncated_svd(Provider& p, SvdMethod method, const Tensor& a, int64_t k, Tensor& u, Tensor& s,
                   Tensor& v, const RandomizedSvdOptions& options = {});

}  // namespace alloy
