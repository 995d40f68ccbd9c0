// Linear algebra on LAPACK (the system's liblapack): decompositions the merge strategies need
// (CAT Merging's eigenvectors of conflict matrices, Twin-Merging's truncated SVD). Arguments are
// checked by OpChecks before these run.
#pragma once

#include <cstdint>

#include "tensor/tensor.hpp"

namespace alloy::cpu {

// See Provider::sym_eig. Uses dsyevr (MRRR) for the k eigenpairs asked for only.
void sym_eig(const Tensor& a, int64_t k, bool largest, Tensor& values, Tensor& vectors);

// See Provider::svd. Uses dgesdd (divide and conquer) for the thin SVD, then keeps k triplets.
void svd(const Tensor& a, int64_t k, Tensor& u, Tensor& s, Tensor& v);

}  // namespace alloy::cpu
