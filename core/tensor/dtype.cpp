#include "tensor/dtype.hpp"

namespace alloy {
namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  std::size_t size;
  uint8_t dl_code;
  uint8_t dl_bits;
};

constexpr DTypeRow kRows[] = {
    {DType::F32, "F32", 4, kDLFloat, 32},    {DType::F16, "F16", 2, kDLFloat, 16},
    {DType::BF16, "BF16", 2, kDLBfloat, 16}, {DType::F64, "F64", 8, kDLFloat, 64},
    {DType::I64, "I64", 8, kDLInt, 64},      {DType::I32, "I32", 4, kDLInt, 32},
    {DType::I16, "I16", 2, kDLInt, 16},      {DType::I8, "I8", 1, kDLInt, 8},
    {DType::U8, "U8", 1, kDLUInt, 8},        {DType::BOOL, "BOOL", 1, kDLUInt, 1},
};

const DTypeRow& row(DType dtype) { return kRows[static_cast<int>(dtype)]; }

}  // namespace

std::size_t dtype_size(DType dtype) { return row(dtype).size; }

bool is_float(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

const char* dtype_name(DType dtype) { return row(dtype).name; }

bool parse_dtype(std::string_view name, DType* out) {
  for (const auto& r : kRows) {
    if (name == r.name) {
      *out = r.dtype;
      return true;
    }
  }
  return false;
}

bool parse_config_dtype(std::string_view name, DType* out) {
  struct Alias {
    const char* name;
    DType dtype;
  };
  static constexpr Alias kAliases[] = {
      {"float32", DType::F32}, {"f32", DType::F32},       {"fp32", DType::F32},
      {"float16", DType::F16}, {"f16", DType::F16},       {"fp16", DType::F16},
      {"half", DType::F16},    {"bfloat16", DType::BF16}, {"bf16", DType::BF16},
  };
  for (const auto& a : kAliases) {
    if (name == a.name) {
      *out = a.dtype;
      return true;
    }
  }
  return false;
}

DLDataType to_dlpack(DType dtype) { return alloy_dtype(row(dtype).dl_code, row(dtype).dl_bits); }

bool from_dlpack(DLDataType type, DType* out) {
  if (type.lanes != 1) return false;
  for (const auto& r : kRows) {
    if (type.code == r.dl_code && type.bits == r.dl_bits) {
      *out = r.dtype;
      return true;
    }
  }
  return false;
}

}  // namespace alloy
