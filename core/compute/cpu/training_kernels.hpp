// Own OpenMP kernels of the training loop around the model: the optimiser step and the random
// initialisation. Arguments are checked by the provider (nn_checks.hpp).
#pragma once

#include <cstdint>

#include "compute/provider.hpp"

namespace alloy::cpu {

// One AdamW step on n elements, in F32 with torch's order of operations.
void adam(float* param, const float* grad, float* m, float* v, uint64_t n, const AdamStep& step);

// The counter-based fill documented at Provider::fill_random.
void fill_random(float* dst, uint64_t n, Distribution dist, double a, double b, uint64_t seed);

}  // namespace alloy::cpu
