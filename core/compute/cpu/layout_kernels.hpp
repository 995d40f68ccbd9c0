// Own OpenMP kernels that move elements between layouts (permute, broadcast, concat, split,
// patchify) or sum them back (sum_to, the gradient of broadcast). Arguments are checked by the
// provider (nn_checks.hpp): tensors are F32 and non-empty, no output overlaps an input.
#pragma once

#include <vector>

#include "tensor/tensor.hpp"

namespace alloy::cpu {

void permute(Tensor& dst, const Tensor& src, const std::vector<int>& perm);
void broadcast(Tensor& dst, const Tensor& src);
// Sums in double, each element in an order fixed by the shapes alone, so the result does not
// depend on the thread count. dst is not read when beta is 0.
void sum_to(Tensor& dst, const Tensor& src, float beta);
// 0 <= axis < rank.
void concat(Tensor& dst, const std::vector<const Tensor*>& parts, int axis);
void split(const std::vector<Tensor*>& parts, const Tensor& src, int axis);
void patchify(Tensor& patches, const Tensor& images, int64_t patch);

}  // namespace alloy::cpu
