// The compute provider interface: every op a strategy or the model runtime can run, with one
// implementation per device (cpu/ on oneDNN + OpenMP, cuda/ as a run-time module).
//
// Semantics are those documented for the matching alloy_host member in sdk alloy.h; op codes
// are the ALLOY_UNARY_* / ALLOY_BINARY_* / ALLOY_REDUCE_* / ALLOY_ELECT_* constants. Every
// method throws alloy::Error (with an ALLOY_ERR_* status) on bad arguments. Methods are safe
// to call concurrently from several threads on different destination tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace alloy {

// Activation functions of the model runtime (Hugging Face's `hidden_act` names).
enum class Activation : int32_t {
  gelu = 1,        // x * Phi(x), exact (erf)
  gelu_tanh = 2,   // the tanh approximation ("gelu_new", "gelu_pytorch_tanh")
  quick_gelu = 3,  // x * sigmoid(1.702 x), CLIP's
  relu = 4         // max(x, 0), gradient 0 at 0 as torch's; WEMoE's router, not a ViT hidden_act
};

// Deterministic random fills: element i of a tensor depends only on (seed, i), so every provider
// and every thread count produces the same bytes.
enum class Distribution : int32_t {
  uniform = 1,  // in [a, b)
  normal = 2    // mean a, standard deviation b
};

// One step of Adam with decoupled weight decay (AdamW; weight_decay 0 is plain Adam), as
// torch.optim.AdamW computes it: step is 1 on the first call.
struct AdamStep {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  int64_t step = 1;
};

// How a provider is created (--device, --max-device-memory).
struct ProviderOptions {
  // Device memory the provider may hold at once, in bytes; 0: all the device has. An
  // allocation past it fails with ALLOY_ERR_OUT_OF_MEMORY naming the cap. (The CPU provider
  // allocates host memory and ignores it.)
  uint64_t max_device_memory = 0;
};

// Bumped whenever this class changes: the CUDA module is built from the same sources as the
// host, and the host refuses a module built against another version of this interface.
constexpr uint32_t kProviderInterfaceVersion = 2;

class Provider {
 public:
  virtual ~Provider() = default;

  // "cpu", "cuda:0"
  virtual std::string name() const = 0;
  virtual DLDevice device() const = 0;
  // One line for people: "cuda:0 (NVIDIA H100 80GB HBM3, 79.2 GiB)".
  virtual std::string describe() const { return name(); }

  // Called on each worker thread of a job before its first op: how many threads one op on
  // that thread may use, so that workers x op threads match the cores.
  virtual void set_op_threads(int threads) { (void)threads; }

  // A new zero-filled, writable tensor on this provider's device.
  virtual Tensor allocate(DType dtype, const Shape& shape) = 0;
  // The tensor on this provider's device: the same tensor when it is already there.
  virtual Tensor to_device(const Tensor& tensor) = 0;
  // Host <-> device byte copies; `bytes` must equal tensor.nbytes().
  virtual void download(const Tensor& tensor, void* dst, uint64_t bytes) = 0;
  virtual void upload(Tensor& tensor, const void* src, uint64_t bytes) = 0;

  virtual void copy(Tensor& dst, const Tensor& src) = 0;  // with dtype conversion
  virtual void fill(Tensor& dst, double value) = 0;
  virtual void unary(int32_t op, Tensor& dst, const Tensor& src, double alpha, double beta) = 0;
  virtual void binary(int32_t op, Tensor& dst, const Tensor& a, const Tensor& b) = 0;
  virtual void binary_scalar(int32_t op, Tensor& dst, const Tensor& a, double scalar) = 0;
  virtual void axpby(double alpha, const Tensor& x, double beta, Tensor& y) = 0;
  virtual double reduce(int32_t op, const Tensor& x) = 0;
  virtual double kth_magnitude(const Tensor& x, uint64_t k) = 0;
  virtual void topk_mask(Tensor& mask, const Tensor& x, uint64_t k) = 0;
  virtual void magnitude_histogram(const Tensor& x, int32_t level, uint32_t prefix,
                                   uint64_t* counts) = 0;
  virtual void sign_elect(int32_t method, Tensor& dst, const std::vector<const Tensor*>& xs) = 0;
  virtual void where(Tensor& dst, const Tensor& cond, const Tensor& a, const Tensor* b) = 0;
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                    double beta, Tensor& c) = 0;

  // --- Neural-network ops of the model runtime (core/model). F32 tensors, contiguous,
  // row-major; "rows" are all axes but the last. Outputs never alias inputs (nor each other):
  // overlapping memory is rejected with ALLOY_ERR_INVALID_ARGUMENT. A tensor of one entry per
  // row ("[rows]") may also have the input's shape without its last axis ([B, T] for x of
  // [B, T, D]). Ops that need a value per row (layer_norm, softmax_entropy, argmax) reject
  // rows of length 0 unless there are no rows. With beta 0, c and dst are not read. ---

  // c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i] over the leading (batch) axis of rank-3
  // tensors; a rank-2 a or b is shared by every batch entry. c is [B, M, N]; a rank-3 operand's
  // batch must be B (a batch of 1 is not broadcast: pass it as rank 2); one of a, b is rank 3.
  virtual void gemm_batched(bool trans_a, bool trans_b, double alpha, const Tensor& a,
                            const Tensor& b, double beta, Tensor& c) = 0;
  // dst = src with its axes reordered: dst.shape[i] == src.shape[perm[i]].
  virtual void permute(Tensor& dst, const Tensor& src, const std::vector<int>& perm) = 0;
  // dst = src broadcast NumPy-style to dst's shape.
  virtual void broadcast(Tensor& dst, const Tensor& src) = 0;
  // dst = beta * dst + src summed over the axes along which dst broadcasts to src's shape (the
  // gradient of broadcast): dst [D] from src [B, T, D] sums over B and T.
  virtual void sum_to(Tensor& dst, const Tensor& src, double beta) = 0;
  // dst = the parts joined along `axis` (negative counts from the end, as in NumPy); all other
  // axes equal. split() is the inverse.
  virtual void concat(Tensor& dst, const std::vector<const Tensor*>& parts, int axis) = 0;
  virtual void split(const std::vector<Tensor*>& parts, const Tensor& src, int axis) = 0;

  // Layer normalisation over the last axis: y = (x - mean) * rstd * gamma + beta, with
  // rstd = 1 / sqrt(var + eps) (biased variance); mean and rstd ([rows]) are saved for backward.
  // eps >= 0.
  virtual void layer_norm(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x,
                          const Tensor& gamma, const Tensor& beta, double eps) = 0;
  // dx = the gradient wrt x (overwritten); dgamma and dbeta are accumulated into (+=).
  virtual void layer_norm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                                   const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& gamma) = 0;
  // y = softmax(scale * x) over the last axis; backward gives dx from dy and y.
  virtual void softmax(Tensor& y, const Tensor& x, double scale) = 0;
  virtual void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double scale) = 0;
  virtual void activation(Activation kind, Tensor& y, const Tensor& x) = 0;
  virtual void activation_backward(Activation kind, Tensor& dx, const Tensor& dy,
                                   const Tensor& x) = 0;
  // y = x / max(||x||, eps) per row (torch.nn.functional.normalize); norm ([rows]) = ||x||,
  // unclamped, is saved for backward, which treats rows with norm < eps as clamped (dx = dy /
  // eps), as torch's clamp_min does. eps >= 0.
  virtual void l2_normalize(Tensor& y, Tensor& norm, const Tensor& x, double eps) = 0;
  virtual void l2_normalize_backward(Tensor& dx, const Tensor& dy, const Tensor& y,
                                     const Tensor& norm, double eps) = 0;
  // Per-row cross-entropy of logits [N, C] against labels (I32 [N], each in [0, C)): losses
  // [N] = -log softmax(logits)[label]; dlogits = grad_scale * (softmax(logits) - onehot). A
  // label outside [0, C) is rejected with ALLOY_ERR_INVALID_ARGUMENT naming its row, before
  // anything is written.
  virtual void cross_entropy(Tensor& losses, Tensor& dlogits, const Tensor& logits,
                             const Tensor& labels, double grad_scale) = 0;
  // Per-row entropy of softmax(logits) [N, C]: entropies [N] = -sum p log p, and dlogits =
  // grad_scale * d(entropy)/d(logits) = -grad_scale * p * (log p + entropy).
  virtual void softmax_entropy(Tensor& entropies, Tensor& dlogits, const Tensor& logits,
                               double grad_scale) = 0;
  // indices (I32 [rows]) = the first position of the maximum of each row; NaN counts as larger
  // than any number (the first NaN wins), as in torch.argmax and numpy.argmax.
  virtual void argmax(Tensor& indices, const Tensor& x) = 0;
  // Updates param, m and v in place from grad, in F32 in torch's order of operations:
  //   param *= 1 - lr * weight_decay;  m = lerp(m, grad, 1 - beta1);
  //   v = v * beta2 + (1 - beta2) * grad * grad;
  //   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
  // As torch checks: lr, eps, weight_decay >= 0, betas in [0, 1), step >= 1; m, v start at 0.
  virtual void adam(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                    const AdamStep& step) = 0;
  // images [B, C, H, W] -> patches [B, (H/p) * (W/p), C * p * p]: patches in row-major order of
  // the patch grid, each patch flattened as (c, ky, kx), so that patches @ W^T with W a
  // convolution weight [D, C, p, p] viewed as [D, C*p*p] is the stride-p convolution.
  virtual void patchify(Tensor& patches, const Tensor& images, int64_t patch) = 0;
  // Fills dst from `dist` with parameters a, b; see Distribution. Uniform needs a < b, normal
  // b >= 0. Element i (the flat index) is, with all arithmetic in double (not contracted into
  // FMAs) and one final rounding to F32:
  //   mix(z)  = SplitMix64's finaliser: z ^= z >> 30; z *= 0xbf58476d1ce4e5b9;
  //             z ^= z >> 27; z *= 0x94d049bb133111eb; z ^= z >> 31   (mod 2^64)
  //   r       = mix(mix(seed) + (i + 1) * 0x9e3779b97f4a7c15)           (mod 2^64)
  //   uniform: u = (r >> 11) * 2^-53; value = a + (b - a) * u, and a value that rounds to b or
  //            above (or below a) is replaced by the largest F32 below b (smallest at or above a)
  //   normal:  u1 = ((r >> 32) + 1) * 2^-32, u2 = (r & 0xffffffff) * 2^-32 (Box-Muller, cosine
  //            half); value = a + b * sqrt(-2 log(u1)) * cos(2 pi u2), 2 pi = 6.283185307179586
  virtual void fill_random(Tensor& dst, Distribution dist, double a, double b, uint64_t seed) = 0;

  // --- Linear algebra (ABI 1.2). ---

  // The k largest (largest) or smallest (!largest) eigenpairs of the symmetric F32 matrix a
  // [n, n], of which only the lower triangle is read: values (F32 [k]) descending when
  // largest, else ascending; vectors (F32 [n, k]) with column i the unit eigenvector of
  // values[i] (its sign is the solver's). 1 <= k <= n. Computed in double precision. A matrix
  // with a non-finite entry is rejected with ALLOY_ERR_INVALID_ARGUMENT.
  virtual void sym_eig(const Tensor& a, int64_t k, bool largest, Tensor& values,
                       Tensor& vectors) = 0;

  // --- Linear algebra (ABI 1.4). ---

  // The k largest singular triplets of the F32 matrix a [m, n]: u (F32 [m, k]) and v (F32
  // [n, k]) with orthonormal columns and s (F32 [k]) descending, a ~ u diag(s) v^T (the signs of
  // a column pair are the solver's). 1 <= k <= min(m, n). Every triplet is computed in double
  // precision and the k largest kept (truncated_svd.hpp has a randomized alternative for large
  // matrices). A matrix with a non-finite entry is rejected with ALLOY_ERR_INVALID_ARGUMENT.
  virtual void svd(const Tensor& a, int64_t k, Tensor& u, Tensor& s, Tensor& v) = 0;
};

// Creates the provider for a --device string: "cpu", "cuda" (device 0) or "cuda:N". CUDA
// providers come from the module liballoy_cuda.so, loaded on first use (see cuda_module.hpp).
// Throws alloy::Error with a one-line reason when the device is unavailable: ALLOY_ERR_UNSUPPORTED
// when the module is missing, no driver or no such device; ALLOY_ERR_OUT_OF_MEMORY when the
// device cannot hold the provider's buffers.
std::unique_ptr<Provider> create_provider(const std::string& device,
                                          const ProviderOptions& options = {});

// What `alloy providers` prints: each provider this alloy knows, whether it can start here,
// and a line saying what it is or why not.
struct ProviderAvailability {
  std::string device;  // "cpu", "cuda:0"
  bool available = false;
  std::string detail;
};
std::vector<ProviderAvailability> list_providers();

}  // namespace alloy
