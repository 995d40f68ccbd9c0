// Own OpenMP kernels converting between F32, F16 and BF16 with dtype.hpp's converters, the
// definition of alloy's rounding (nearest even, subnormals kept, NaN stays NaN).
#pragma once

#include <cstdint>

#include "tensor/dtype.hpp"

namespace alloy::cpu {

// dst_dtype and src_dtype are two different float dtypes (is_float).
void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, uint64_t n);

}  // namespace alloy::cpu
