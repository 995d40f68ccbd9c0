#include "compute/cpu/conversion_kernels.hpp"

#include "compute/cpu/parallel.hpp"
#include "error.hpp"

namespace alloy::cpu {
namespace {

template <DType D>
struct Element;

template <>
struct Element<DType::F32> {
  using Stored = float;
  static float load(float v) { return v; }
  static float store(float v) { return v; }
};

template <>
struct Element<DType::F16> {
  using Stored = uint16_t;
  static float load(uint16_t h) { return f16_to_f32(h); }
  static uint16_t store(float v) { return f32_to_f16(v); }
};

template <>
struct Element<DType::BF16> {
  using Stored = uint16_t;
  static float load(uint16_t h) { return bf16_to_f32(h); }
  static uint16_t store(float v) { return f32_to_bf16(v); }
};

template <DType From, DType To>
void convert_as(void* dst, const void* src, uint64_t n) {
  auto* out = static_cast<typename Element<To>::Stored*>(dst);
  const auto* in = static_cast<const typename Element<From>::Stored*>(src);
  parallel_for(n, [&](int64_t i) { out[i] = Element<To>::store(Element<From>::load(in[i])); });
}

}  // namespace

void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, uint64_t n) {
  using D = DType;
  const auto is = [&](D from, D to) { return src_dtype == from && dst_dtype == to; };
  if (is(D::F32, D::F16)) return convert_as<D::F32, D::F16>(dst, src, n);
  if (is(D::F32, D::BF16)) return convert_as<D::F32, D::BF16>(dst, src, n);
  if (is(D::F16, D::F32)) return convert_as<D::F16, D::F32>(dst, src, n);
  if (is(D::BF16, D::F32)) return convert_as<D::BF16, D::F32>(dst, src, n);
  if (is(D::F16, D::BF16)) return convert_as<D::F16, D::BF16>(dst, src, n);
  if (is(D::BF16, D::F16)) return convert_as<D::BF16, D::F16>(dst, src, n);
  fail(ALLOY_ERR_INTERNAL, "convert: no CPU kernel from {} to {}", dtype_name(src_dtype),
       dtype_name(dst_dtype));
}

}  // namespace alloy::cpu
