#include "compute/op_checks.hpp"

#include <algorithm>
#include <string>

#include "error.hpp"

namespace alloy {
namespace {

std::string device_string(DLDevice device) {
  switch (device.device_type) {
    case kDLCPU:
      return "cpu";
    case kDLCUDA:
      return fmt::format("cuda:{}", device.device_id);
    default:
      return fmt::format("device type {} #{}", static_cast<int>(device.device_type),
                         device.device_id);
  }
}

void check_code(const char* op, const char* what, int32_t code, int32_t first, int32_t last) {
  if (code < first || code > last) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: unknown {} {} (valid: {}..{})", op, what, code, first,
         last);
  }
}

}  // namespace

std::string OpChecks::describe(const Tensor& tensor) {
  return fmt::format("{} {}", dtype_name(tensor.dtype()), shape_string(tensor.shape()));
}

void OpChecks::check_same_shape(const char* op, const char* role, const Tensor& tensor,
                                const char* expected_role, const Tensor& expected) {
  if (tensor.shape() != expected.shape()) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {} but {} has shape {}", op, role,
         shape_string(tensor.shape()), expected_role, shape_string(expected.shape()));
  }
}

bool OpChecks::overlap(const Tensor& a, const Tensor& b) {
  const auto* a_begin = static_cast<const char*>(a.data());
  const auto* b_begin = static_cast<const char*>(b.data());
  return a.nbytes() != 0 && b.nbytes() != 0 && a_begin < b_begin + b.nbytes() &&
         b_begin < a_begin + a.nbytes();
}

void OpChecks::present(const char* op, const char* role, const Tensor& tensor) const {
  if (!tensor.defined()) fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} is a null tensor", op, role);
  const DLDevice device = tensor.device();
  if (device.device_type != device_.device_type || device.device_id != device_.device_id) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} ({}) lives on {}, but this provider computes on {}",
         op, role, describe(tensor), device_string(device), device_string(device_));
  }
}

void OpChecks::input(const char* op, const char* role, const Tensor& tensor, DType dtype) const {
  present(op, role, tensor);
  if (tensor.dtype() == dtype) return;
  if (dtype == DType::F32) {
    fail(ALLOY_ERR_DTYPE, "{}: {} is {}; compute ops take F32 (convert with copy first)", op, role,
         describe(tensor));
  }
  fail(ALLOY_ERR_DTYPE, "{}: {} is {}; it must be {}", op, role, describe(tensor),
       dtype_name(dtype));
}

void OpChecks::output(const char* op, const char* role, const Tensor& tensor, DType dtype) const {
  input(op, role, tensor, dtype);
  if (!tensor.writable()) {
    fail(ALLOY_ERR_READ_ONLY, "{}: {} ({}) is read-only", op, role, describe(tensor));
  }
}

void OpChecks::transfer(const char* op, const Tensor& tensor, uint64_t bytes) const {
  present(op, "tensor", tensor);
  if (bytes != tensor.nbytes()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} bytes given for a tensor of {} bytes ({})", op, bytes,
         tensor.nbytes(), describe(tensor));
  }
}

void OpChecks::upload(const Tensor& tensor, uint64_t bytes) const {
  transfer("upload", tensor, bytes);
  if (!tensor.writable()) {
    fail(ALLOY_ERR_READ_ONLY, "upload: tensor ({}) is read-only", describe(tensor));
  }
}

void OpChecks::copy(const Tensor& dst, const Tensor& src) const {
  present("copy", "dst", dst);
  present("copy", "src", src);
  if (!dst.writable()) fail(ALLOY_ERR_READ_ONLY, "copy: dst ({}) is read-only", describe(dst));
  check_same_shape("copy", "dst", dst, "src", src);
  if (dst.dtype() != src.dtype() && !(is_float(dst.dtype()) && is_float(src.dtype()))) {
    fail(ALLOY_ERR_DTYPE,
         "copy: cannot convert {} to {}; conversions are between F32, F16 and BF16, other "
         "dtypes copy only to their own",
         describe(src), describe(dst));
  }
}

void OpChecks::fill(const Tensor& dst) const { output("fill", "dst", dst); }

void OpChecks::unary(int32_t op, const Tensor& dst, const Tensor& src) const {
  check_code("unary", "op", op, ALLOY_UNARY_ABS, ALLOY_UNARY_CLIP);
  output("unary", "dst", dst);
  input("unary", "src", src);
  check_same_shape("unary", "dst", dst, "src", src);
}

void OpChecks::binary(int32_t op, const Tensor& dst, const Tensor& a, const Tensor& b) const {
  check_code("binary", "op", op, ALLOY_BINARY_ADD, ALLOY_BINARY_LE);
  output("binary", "dst", dst);
  input("binary", "a", a);
  input("binary", "b", b);
  check_same_shape("binary", "dst", dst, "a", a);
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  bool broadcasts = bs.size() <= as.size();
  for (std::size_t i = 1; broadcasts && i <= bs.size(); ++i) {
    const int64_t bd = bs[bs.size() - i];
    broadcasts = bd == 1 || bd == as[as.size() - i];
  }
  if (!broadcasts) {
    fail(ALLOY_ERR_SHAPE,
         "binary: b of shape {} does not broadcast to a of shape {} (right-aligned, each of b's "
         "dimensions must equal a's or be 1)",
         shape_string(bs), shape_string(as));
  }
}

void OpChecks::binary_scalar(int32_t op, const Tensor& dst, const Tensor& a) const {
  check_code("binary_scalar", "op", op, ALLOY_BINARY_ADD, ALLOY_BINARY_LE);
  output("binary_scalar", "dst", dst);
  input("binary_scalar", "a", a);
  check_same_shape("binary_scalar", "dst", dst, "a", a);
}

void OpChecks::axpby(const Tensor& x, const Tensor& y) const {
  output("axpby", "y", y);
  input("axpby", "x", x);
  check_same_shape("axpby", "x", x, "y", y);
}

void OpChecks::reduce(int32_t op, const Tensor& x) const {
  check_code("reduce", "op", op, ALLOY_REDUCE_SUM, ALLOY_REDUCE_COUNT_NONZERO);
  input("reduce", "x", x);
}

void OpChecks::kth_magnitude(const Tensor& x, uint64_t k) const {
  input("kth_magnitude", "x", x);
  if (k < 1 || k > x.numel()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "kth_magnitude: k = {} is outside 1..{} for x of shape {}", k,
         x.numel(), shape_string(x.shape()));
  }
}

void OpChecks::topk_mask(const Tensor& mask, const Tensor& x, uint64_t k) const {
  output("topk_mask", "mask", mask);
  input("topk_mask", "x", x);
  check_same_shape("topk_mask", "mask", mask, "x", x);
  if (k > x.numel()) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "topk_mask: k = {} is outside 0..{} for x of shape {}", k,
         x.numel(), shape_string(x.shape()));
  }
}

void OpChecks::magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                                   const uint64_t* counts) const {
  input("magnitude_histogram", "x", x);
  if (!counts) fail(ALLOY_ERR_INVALID_ARGUMENT, "magnitude_histogram: counts is null");
  check_code("magnitude_histogram", "level", level, 0, 1);
  if (level == 1 && prefix >= ALLOY_HISTOGRAM_BINS) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "magnitude_histogram: prefix {:#x} is not a level-0 bin (0..{:#x})", prefix,
         ALLOY_HISTOGRAM_BINS - 1);
  }
}

void OpChecks::sign_elect(int32_t method, const Tensor& dst,
                          const std::vector<const Tensor*>& xs) const {
  check_code("sign_elect", "method", method, ALLOY_ELECT_SUM, ALLOY_ELECT_COUNT);
  output("sign_elect", "dst", dst);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const std::string role = fmt::format("xs[{}]", i);
    if (!xs[i]) fail(ALLOY_ERR_INVALID_ARGUMENT, "sign_elect: {} is a null tensor", role);
    input("sign_elect", role.c_str(), *xs[i]);
    check_same_shape("sign_elect", role.c_str(), *xs[i], "dst", dst);
  }
}

void OpChecks::where(const Tensor& dst, const Tensor& cond, const Tensor& a,
                     const Tensor* b) const {
  output("where", "dst", dst);
  input("where", "cond", cond);
  input("where", "a", a);
  check_same_shape("where", "cond", cond, "dst", dst);
  check_same_shape("where", "a", a, "dst", dst);
  if (b) {
    input("where", "b", *b);
    check_same_shape("where", "b", *b, "dst", dst);
  }
}

void OpChecks::sym_eig(const Tensor& a, int64_t k, const Tensor& values,
                       const Tensor& vectors) const {
  input("sym_eig", "a", a);
  output("sym_eig", "values", values);
  output("sym_eig", "vectors", vectors);
  if (a.ndim() != 2 || a.shape()[0] != a.shape()[1]) {
    fail(ALLOY_ERR_SHAPE, "sym_eig: a {} is not a square matrix", shape_string(a.shape()));
  }
  const int64_t n = a.shape()[0];
  if (k < 1 || k > n) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "sym_eig: k {} is outside 1..{} (a {})", k, n,
         shape_string(a.shape()));
  }
  if (values.shape() != Shape{k} || vectors.shape() != Shape{n, k}) {
    fail(ALLOY_ERR_SHAPE, "sym_eig: values {} and vectors {} must be [{}] and [{}, {}]",
         shape_string(values.shape()), shape_string(vectors.shape()), k, n, k);
  }
  if (overlap(values, vectors) || overlap(values, a) || overlap(vectors, a)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "sym_eig: a, values and vectors must not share memory");
  }
}

void OpChecks::svd(const Tensor& a, int64_t k, const Tensor& u, const Tensor& s,
                   const Tensor& v) const {
  input("svd", "a", a);
  output("svd", "u", u);
  output("svd", "s", s);
  output("svd", "v", v);
  if (a.ndim() != 2) fail(ALLOY_ERR_SHAPE, "svd: a {} is not a matrix", shape_string(a.shape()));
  const int64_t m = a.shape()[0];
  const int64_t n = a.shape()[1];
  if (k < 1 || k > std::min(m, n)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: k {} is outside 1..{} (a {})", k, std::min(m, n),
         shape_string(a.shape()));
  }
  if (u.shape() != Shape{m, k} || s.shape() != Shape{k} || v.shape() != Shape{n, k}) {
    fail(ALLOY_ERR_SHAPE, "svd: u {}, s {} and v {} must be [{}, {}], [{}] and [{}, {}]",
         shape_string(u.shape()), shape_string(s.shape()), shape_string(v.shape()), m, k, k, n, k);
  }
  if (overlap(u, s) || overlap(u, v) || overlap(s, v) || overlap(u, a) || overlap(s, a) ||
      overlap(v, a)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "svd: a, u, s and v must not share memory");
  }
}

void OpChecks::gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b,
                    const Tensor& c) const {
  output("gemm", "c", c);
  input("gemm", "a", a);
  input("gemm", "b", b);
  if (a.ndim() != 2 || b.ndim() != 2 || c.ndim() != 2) {
    fail(ALLOY_ERR_SHAPE, "gemm: a {}, b {} and c {} must all be 2-D", shape_string(a.shape()),
         shape_string(b.shape()), shape_string(c.shape()));
  }
  const int64_t m = a.shape()[trans_a ? 1 : 0];
  const int64_t k = a.shape()[trans_a ? 0 : 1];
  const int64_t kb = b.shape()[trans_b ? 1 : 0];
  const int64_t n = b.shape()[trans_b ? 0 : 1];
  if (k != kb || c.shape() != Shape{m, n}) {
    fail(ALLOY_ERR_SHAPE,
         "gemm: op(a) is [{}, {}] (a {}, trans_a {}) and op(b) is [{}, {}] (b {}, trans_b {}); "
         "they need equal inner dimensions and c of shape [{}, {}], but c is {}",
         m, k, shape_string(a.shape()), trans_a, kb, n, shape_string(b.shape()), trans_b, m, n,
         shape_string(c.shape()));
  }
  if (overlap(c, a) || overlap(c, b)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "gemm: c {} overlaps the memory of {}",
         shape_string(c.shape()), overlap(c, a) ? "a" : "b");
  }
}

}  // namespace alloy
