#include "compute/nn_checks.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/ranges.h>

#include "error.hpp"

namespace alloy {
namespace {

struct Arg {
  std::string role;
  const Tensor* tensor;
};

// Every output against every input and every other output.
void disjoint(const char* op, const std::vector<Arg>& outputs, const std::vector<Arg>& inputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const auto check = [&](const Arg& other) {
      if (OpChecks::overlap(*outputs[i].tensor, *other.tensor)) {
        fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} overlaps the memory of {}", op, outputs[i].role,
             other.role);
      }
    };
    for (std::size_t j = i + 1; j < outputs.size(); ++j) check(outputs[j]);
    for (const Arg& input : inputs) check(input);
  }
}

void rank_at_least(const char* op, const char* role, const Tensor& tensor, int32_t rank) {
  if (tensor.ndim() < rank) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}; it needs at least {} dimension{}", op, role,
         shape_string(tensor.shape()), rank, rank == 1 ? "" : "s");
  }
}

void rank_is(const char* op, const char* role, const Tensor& tensor, int32_t rank) {
  if (tensor.ndim() != rank) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}; it must have {} dimensions", op, role,
         shape_string(tensor.shape()), rank);
  }
}

void shape_is(const char* op, const char* role, const Tensor& tensor, const Shape& shape) {
  if (tensor.shape() != shape) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}; expected {}", op, role,
         shape_string(tensor.shape()), shape_string(shape));
  }
}

int64_t rows_of(const Tensor& x) {
  int64_t rows = 1;
  for (int32_t i = 0; i + 1 < x.ndim(); ++i) rows *= x.shape()[i];
  return rows;
}

// Rows of length 0 have no mean, maximum or distribution.
void nonempty_rows(const char* op, const char* role, const Tensor& x) {
  if (x.shape().back() == 0 && rows_of(x) != 0) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}; its rows (the last axis) must not be empty", op,
         role, shape_string(x.shape()));
  }
}

void finite(const char* op, const char* what, double value) {
  if (!std::isfinite(value)) fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} is {}", op, what, value);
}

void non_negative(const char* op, const char* what, double value) {
  finite(op, what, value);
  if (value < 0) fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: {} is {}; it must be >= 0", op, what, value);
}

// NumPy's rule, right-aligned: each dimension of `from` equals `to`'s or is 1.
void broadcasts(const char* op, const char* from_role, const Tensor& from, const char* to_role,
                const Tensor& to) {
  const Shape& f = from.shape();
  const Shape& t = to.shape();
  bool fits = f.size() <= t.size();
  for (std::size_t i = 1; fits && i <= f.size(); ++i) {
    fits = f[f.size() - i] == 1 || f[f.size() - i] == t[t.size() - i];
  }
  if (!fits) {
    fail(ALLOY_ERR_SHAPE,
         "{}: {} of shape {} does not broadcast to {} of shape {} (right-aligned, each of {}'s "
         "dimensions must equal {}'s or be 1)",
         op, from_role, shape_string(f), to_role, shape_string(t), from_role, to_role);
  }
}

// The checks concat and split share: `whole` is cut along `axis` into `parts`.
int joined(const char* op, const char* whole_role, const Tensor& whole,
           const std::vector<const Tensor*>& parts, int axis) {
  if (parts.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: no parts", op);
  const int rank = whole.ndim();
  if (axis < -rank || axis >= rank) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: axis {} is outside [{}, {}) for {} of shape {}", op, axis,
         -rank, rank, whole_role, shape_string(whole.shape()));
  }
  if (axis < 0) axis += rank;
  int64_t total = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Shape expected = whole.shape();
    expected[axis] = parts[i]->ndim() == rank ? parts[i]->shape()[axis] : 0;
    if (parts[i]->shape() != expected) {
      fail(ALLOY_ERR_SHAPE,
           "{}: parts[{}] has shape {}; along every axis but {} it must match {} of shape {}", op,
           i, shape_string(parts[i]->shape()), axis, whole_role, shape_string(whole.shape()));
    }
    total += expected[axis];
  }
  if (total != whole.shape()[axis]) {
    fail(ALLOY_ERR_SHAPE, "{}: the parts add up to {} along axis {}, but {} has shape {}", op,
         total, axis, whole_role, shape_string(whole.shape()));
  }
  return axis;
}

void activation_kind(const char* op, Activation kind) {
  const auto code = static_cast<int32_t>(kind);
  if (code < static_cast<int32_t>(Activation::gelu) ||
      code > static_cast<int32_t>(Activation::relu)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: unknown activation {}", op, code);
  }
}

std::vector<Arg> part_args(const std::vector<const Tensor*>& parts) {
  std::vector<Arg> args;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    args.push_back({fmt::format("parts[{}]", i), parts[i]});
  }
  return args;
}

}  // namespace

void NnChecks::per_row(const char* op, const char* role, const Tensor& tensor, const char* x_role,
                       const Tensor& x) const {
  const Shape leading(x.shape().begin(), x.shape().end() - 1);
  if (tensor.shape() != Shape{rows_of(x)} && tensor.shape() != leading) {
    fail(ALLOY_ERR_SHAPE, "{}: {} has shape {}; for {} of shape {} it must be [{}] or {}", op, role,
         shape_string(tensor.shape()), x_role, shape_string(x.shape()), rows_of(x),
         shape_string(leading));
  }
}

void NnChecks::gemm_batched(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b,
                            const Tensor& c) const {
  const char* op = "gemm_batched";
  tensors_.output(op, "c", c);
  tensors_.input(op, "a", a);
  tensors_.input(op, "b", b);
  const bool ranks_fit = (a.ndim() == 2 || a.ndim() == 3) && (b.ndim() == 2 || b.ndim() == 3) &&
                         (a.ndim() == 3 || b.ndim() == 3) && c.ndim() == 3;
  if (!ranks_fit) {
    fail(ALLOY_ERR_SHAPE,
         "{}: a {}, b {}, c {}: c must be 3-D, a and b 2-D or 3-D, at least one of them 3-D", op,
         shape_string(a.shape()), shape_string(b.shape()), shape_string(c.shape()));
  }
  const int64_t batch = c.shape()[0];
  const auto matrix = [](const Tensor& t, bool trans, int64_t* rows, int64_t* cols) {
    const int32_t r = t.ndim() - 2;
    *rows = t.shape()[r + (trans ? 1 : 0)];
    *cols = t.shape()[r + (trans ? 0 : 1)];
  };
  int64_t m, k, kb, n;
  matrix(a, trans_a, &m, &k);
  matrix(b, trans_b, &kb, &n);
  const bool batches_fit =
      (a.ndim() == 2 || a.shape()[0] == batch) && (b.ndim() == 2 || b.shape()[0] == batch);
  if (k != kb || !batches_fit || c.shape() != Shape{batch, m, n}) {
    fail(ALLOY_ERR_SHAPE,
         "{}: op(a) is [{}, {}] (a {}, trans_a {}) and op(b) is [{}, {}] (b {}, trans_b {}); they "
         "need equal inner dimensions, a 3-D operand's batch must equal c's, and c must be [{}, "
         "{}, {}], but c is {}",
         op, m, k, shape_string(a.shape()), trans_a, kb, n, shape_string(b.shape()), trans_b, batch,
         m, n, shape_string(c.shape()));
  }
  disjoint(op, {{"c", &c}}, {{"a", &a}, {"b", &b}});
}

void NnChecks::permute(const Tensor& dst, const Tensor& src, const std::vector<int>& perm) const {
  const char* op = "permute";
  tensors_.output(op, "dst", dst);
  tensors_.input(op, "src", src);
  const int rank = src.ndim();
  std::vector<bool> seen(rank, false);
  bool valid = static_cast<int>(perm.size()) == rank;
  for (std::size_t i = 0; valid && i < perm.size(); ++i) {
    valid = perm[i] >= 0 && perm[i] < rank && !seen[perm[i]];
    if (valid) seen[perm[i]] = true;
  }
  if (!valid) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "permute: perm [{}] is not a permutation of the {} axes of src {}", fmt::join(perm, ", "),
         rank, shape_string(src.shape()));
  }
  Shape expected(rank);
  for (int i = 0; i < rank; ++i) expected[i] = src.shape()[perm[i]];
  shape_is(op, "dst", dst, expected);
  disjoint(op, {{"dst", &dst}}, {{"src", &src}});
}

void NnChecks::broadcast(const Tensor& dst, const Tensor& src) const {
  const char* op = "broadcast";
  tensors_.output(op, "dst", dst);
  tensors_.input(op, "src", src);
  broadcasts(op, "src", src, "dst", dst);
  disjoint(op, {{"dst", &dst}}, {{"src", &src}});
}

void NnChecks::sum_to(const Tensor& dst, const Tensor& src) const {
  const char* op = "sum_to";
  tensors_.output(op, "dst", dst);
  tensors_.input(op, "src", src);
  broadcasts(op, "dst", dst, "src", src);
  disjoint(op, {{"dst", &dst}}, {{"src", &src}});
}

int NnChecks::concat(const Tensor& dst, const std::vector<const Tensor*>& parts, int axis) const {
  const char* op = "concat";
  tensors_.output(op, "dst", dst);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string role = fmt::format("parts[{}]", i);
    if (!parts[i]) fail(ALLOY_ERR_INVALID_ARGUMENT, "concat: {} is a null tensor", role);
    tensors_.input(op, role.c_str(), *parts[i]);
  }
  rank_at_least(op, "dst", dst, 1);
  axis = joined(op, "dst", dst, parts, axis);
  disjoint(op, {{"dst", &dst}}, part_args(parts));
  return axis;
}

int NnChecks::split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) const {
  const char* op = "split";
  tensors_.input(op, "src", src);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string role = fmt::format("parts[{}]", i);
    if (!parts[i]) fail(ALLOY_ERR_INVALID_ARGUMENT, "split: {} is a null tensor", role);
    tensors_.output(op, role.c_str(), *parts[i]);
  }
  rank_at_least(op, "src", src, 1);
  const std::vector<const Tensor*> views(parts.begin(), parts.end());
  axis = joined(op, "src", src, views, axis);
  disjoint(op, part_args(views), {{"src", &src}});
  return axis;
}

void NnChecks::layer_norm(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                          const Tensor& gamma, const Tensor& beta, double eps) const {
  const char* op = "layer_norm";
  tensors_.output(op, "y", y);
  tensors_.output(op, "mean", mean);
  tensors_.output(op, "rstd", rstd);
  tensors_.input(op, "x", x);
  tensors_.input(op, "gamma", gamma);
  tensors_.input(op, "beta", beta);
  rank_at_least(op, "x", x, 1);
  nonempty_rows(op, "x", x);
  OpChecks::check_same_shape(op, "y", y, "x", x);
  shape_is(op, "gamma", gamma, {x.shape().back()});
  shape_is(op, "beta", beta, {x.shape().back()});
  per_row(op, "mean", mean, "x", x);
  per_row(op, "rstd", rstd, "x", x);
  non_negative(op, "eps", eps);
  disjoint(op, {{"y", &y}, {"mean", &mean}, {"rstd", &rstd}},
           {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}});
}

void NnChecks::layer_norm_backward(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                                   const Tensor& dy, const Tensor& x, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& gamma) const {
  const char* op = "layer_norm_backward";
  tensors_.output(op, "dx", dx);
  tensors_.output(op, "dgamma", dgamma);
  tensors_.output(op, "dbeta", dbeta);
  tensors_.input(op, "dy", dy);
  tensors_.input(op, "x", x);
  tensors_.input(op, "mean", mean);
  tensors_.input(op, "rstd", rstd);
  tensors_.input(op, "gamma", gamma);
  rank_at_least(op, "x", x, 1);
  nonempty_rows(op, "x", x);
  OpChecks::check_same_shape(op, "dx", dx, "x", x);
  OpChecks::check_same_shape(op, "dy", dy, "x", x);
  const Shape channels{x.shape().back()};
  shape_is(op, "gamma", gamma, channels);
  shape_is(op, "dgamma", dgamma, channels);
  shape_is(op, "dbeta", dbeta, channels);
  per_row(op, "mean", mean, "x", x);
  per_row(op, "rstd", rstd, "x", x);
  disjoint(op, {{"dx", &dx}, {"dgamma", &dgamma}, {"dbeta", &dbeta}},
           {{"dy", &dy}, {"x", &x}, {"mean", &mean}, {"rstd", &rstd}, {"gamma", &gamma}});
}

void NnChecks::softmax(const Tensor& y, const Tensor& x, double scale) const {
  const char* op = "softmax";
  tensors_.output(op, "y", y);
  tensors_.input(op, "x", x);
  rank_at_least(op, "x", x, 1);
  OpChecks::check_same_shape(op, "y", y, "x", x);
  finite(op, "scale", scale);
  disjoint(op, {{"y", &y}}, {{"x", &x}});
}

void NnChecks::softmax_backward(const Tensor& dx, const Tensor& dy, const Tensor& y,
                                double scale) const {
  const char* op = "softmax_backward";
  tensors_.output(op, "dx", dx);
  tensors_.input(op, "dy", dy);
  tensors_.input(op, "y", y);
  rank_at_least(op, "y", y, 1);
  OpChecks::check_same_shape(op, "dx", dx, "y", y);
  OpChecks::check_same_shape(op, "dy", dy, "y", y);
  finite(op, "scale", scale);
  disjoint(op, {{"dx", &dx}}, {{"dy", &dy}, {"y", &y}});
}

void NnChecks::activation(Activation kind, const Tensor& y, const Tensor& x) const {
  const char* op = "activation";
  activation_kind(op, kind);
  tensors_.output(op, "y", y);
  tensors_.input(op, "x", x);
  OpChecks::check_same_shape(op, "y", y, "x", x);
  disjoint(op, {{"y", &y}}, {{"x", &x}});
}

void NnChecks::activation_backward(Activation kind, const Tensor& dx, const Tensor& dy,
                                   const Tensor& x) const {
  const char* op = "activation_backward";
  activation_kind(op, kind);
  tensors_.output(op, "dx", dx);
  tensors_.input(op, "dy", dy);
  tensors_.input(op, "x", x);
  OpChecks::check_same_shape(op, "dx", dx, "x", x);
  OpChecks::check_same_shape(op, "dy", dy, "x", x);
  disjoint(op, {{"dx", &dx}}, {{"dy", &dy}, {"x", &x}});
}

void NnChecks::l2_normalize(const Tensor& y, const Tensor& norm, const Tensor& x,
                            double eps) const {
  const char* op = "l2_normalize";
  tensors_.output(op, "y", y);
  tensors_.output(op, "norm", norm);
  tensors_.input(op, "x", x);
  rank_at_least(op, "x", x, 1);
  OpChecks::check_same_shape(op, "y", y, "x", x);
  per_row(op, "norm", norm, "x", x);
  non_negative(op, "eps", eps);
  disjoint(op, {{"y", &y}, {"norm", &norm}}, {{"x", &x}});
}

void NnChecks::l2_normalize_backward(const Tensor& dx, const Tensor& dy, const Tensor& y,
                                     const Tensor& norm, double eps) const {
  const char* op = "l2_normalize_backward";
  tensors_.output(op, "dx", dx);
  tensors_.input(op, "dy", dy);
  tensors_.input(op, "y", y);
  tensors_.input(op, "norm", norm);
  rank_at_least(op, "y", y, 1);
  OpChecks::check_same_shape(op, "dx", dx, "y", y);
  OpChecks::check_same_shape(op, "dy", dy, "y", y);
  per_row(op, "norm", norm, "y", y);
  non_negative(op, "eps", eps);
  disjoint(op, {{"dx", &dx}}, {{"dy", &dy}, {"y", &y}, {"norm", &norm}});
}

void NnChecks::cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits,
                             const Tensor& labels, double grad_scale) const {
  const char* op = "cross_entropy";
  tensors_.output(op, "losses", losses);
  tensors_.output(op, "dlogits", dlogits);
  tensors_.input(op, "logits", logits);
  tensors_.input(op, "labels", labels, DType::I32);
  rank_is(op, "logits", logits, 2);
  const int64_t rows = logits.shape()[0];
  shape_is(op, "labels", labels, {rows});
  shape_is(op, "losses", losses, {rows});
  OpChecks::check_same_shape(op, "dlogits", dlogits, "logits", logits);
  finite(op, "grad_scale", grad_scale);
  disjoint(op, {{"losses", &losses}, {"dlogits", &dlogits}},
           {{"logits", &logits}, {"labels", &labels}});
}

void NnChecks::labels(const int32_t* labels, int64_t rows, int64_t classes) const {
  for (int64_t i = 0; i < rows; ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "cross_entropy: labels[{}] (row {}) is {}, outside [0, {}) for {} classes", i, i,
           labels[i], classes, classes);
    }
  }
}

void NnChecks::softmax_entropy(const Tensor& entropies, const Tensor& dlogits, const Tensor& logits,
                               double grad_scale) const {
  const char* op = "softmax_entropy";
  tensors_.output(op, "entropies", entropies);
  tensors_.output(op, "dlogits", dlogits);
  tensors_.input(op, "logits", logits);
  rank_is(op, "logits", logits, 2);
  nonempty_rows(op, "logits", logits);
  shape_is(op, "entropies", entropies, {logits.shape()[0]});
  OpChecks::check_same_shape(op, "dlogits", dlogits, "logits", logits);
  finite(op, "grad_scale", grad_scale);
  disjoint(op, {{"entropies", &entropies}, {"dlogits", &dlogits}}, {{"logits", &logits}});
}

void NnChecks::argmax(const Tensor& indices, const Tensor& x) const {
  const char* op = "argmax";
  tensors_.output(op, "indices", indices, DType::I32);
  tensors_.input(op, "x", x);
  rank_at_least(op, "x", x, 1);
  nonempty_rows(op, "x", x);
  if (x.shape().back() > INT32_MAX) {
    fail(ALLOY_ERR_SHAPE, "argmax: rows of x {} are too long for I32 indices",
         shape_string(x.shape()));
  }
  per_row(op, "indices", indices, "x", x);
  disjoint(op, {{"indices", &indices}}, {{"x", &x}});
}

void NnChecks::adam(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                    const AdamStep& step) const {
  const char* op = "adam";
  tensors_.output(op, "param", param);
  tensors_.input(op, "grad", grad);
  tensors_.output(op, "m", m);
  tensors_.output(op, "v", v);
  OpChecks::check_same_shape(op, "grad", grad, "param", param);
  OpChecks::check_same_shape(op, "m", m, "param", param);
  OpChecks::check_same_shape(op, "v", v, "param", param);
  // torch.optim.AdamW's own rules.
  non_negative(op, "lr", step.lr);
  non_negative(op, "eps", step.eps);
  non_negative(op, "weight_decay", step.weight_decay);
  for (const auto& [name, beta] : {std::pair{"beta1", step.beta1}, {"beta2", step.beta2}}) {
    if (!(beta >= 0 && beta < 1)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "adam: {} is {}; it must be in [0, 1)", name, beta);
    }
  }
  if (step.step < 1) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "adam: step is {}; the first step is 1", step.step);
  }
  disjoint(op, {{"param", &param}, {"m", &m}, {"v", &v}}, {{"grad", &grad}});
}

void NnChecks::patchify(const Tensor& patches, const Tensor& images, int64_t patch) const {
  const char* op = "patchify";
  tensors_.output(op, "patches", patches);
  tensors_.input(op, "images", images);
  rank_is(op, "images", images, 4);
  const Shape& s = images.shape();
  if (patch < 1 || s[2] % patch != 0 || s[3] % patch != 0) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "patchify: patch size {} does not divide the height {} and width {} of images {}", patch,
         s[2], s[3], shape_string(s));
  }
  shape_is(op, "patches", patches, {s[0], (s[2] / patch) * (s[3] / patch), s[1] * patch * patch});
  disjoint(op, {{"patches", &patches}}, {{"images", &images}});
}

void NnChecks::fill_random(const Tensor& dst, Distribution dist, double a, double b) const {
  const char* op = "fill_random";
  tensors_.output(op, "dst", dst);
  finite(op, "a", a);
  finite(op, "b", b);
  switch (dist) {
    case Distribution::uniform:
      if (!(a < b)) {
        fail(ALLOY_ERR_INVALID_ARGUMENT, "fill_random: uniform needs a < b, got [{}, {})", a, b);
      }
      return;
    case Distribution::normal:
      non_negative(op, "b (the standard deviation)", b);
      return;
  }
  fail(ALLOY_ERR_INVALID_ARGUMENT, "fill_random: unknown distribution {}",
       static_cast<int32_t>(dist));
}

}  // namespace alloy
