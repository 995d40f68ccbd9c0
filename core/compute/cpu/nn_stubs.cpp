// Placeholders for the neural-network ops while their kernels are written: each says so.
#include "compute/cpu/cpu_provider.hpp"
#include "error.hpp"

namespace alloy {
namespace {
[[noreturn]] void todo(const char* op) {
  fail(ALLOY_ERR_UNSUPPORTED, "the CPU provider does not implement {} yet", op);
}
}  // namespace

void CpuProvider::gemm_batched(bool, bool, double, const Tensor&, const Tensor&, double, Tensor&) {
  todo("gemm_batched");
}
void CpuProvider::permute(Tensor&, const Tensor&, const std::vector<int>&) { todo("permute"); }
void CpuProvider::broadcast(Tensor&, const Tensor&) { todo("broadcast"); }
void CpuProvider::sum_to(Tensor&, const Tensor&, double) { todo("sum_to"); }
void CpuProvider::concat(Tensor&, const std::vector<const Tensor*>&, int) { todo("concat"); }
void CpuProvider::split(const std::vector<Tensor*>&, const Tensor&, int) { todo("split"); }
void CpuProvider::layer_norm(Tensor&, Tensor&, Tensor&, const Tensor&, const Tensor&,
                             const Tensor&, double) {
  todo("layer_norm");
}
void CpuProvider::layer_norm_backward(Tensor&, Tensor&, Tensor&, const Tensor&, const Tensor&,
                                      const Tensor&, const Tensor&, const Tensor&) {
  todo("layer_norm_backward");
}
void CpuProvider::softmax(Tensor&, const Tensor&, double) { todo("softmax"); }
void CpuProvider::softmax_backward(Tensor&, const Tensor&, const Tensor&, double) {
  todo("softmax_backward");
}
void CpuProvider::activation(Activation, Tensor&, const Tensor&) { todo("activation"); }
void CpuProvider::activation_backward(Activation, Tensor&, const Tensor&, const Tensor&) {
  todo("activation_backward");
}
void CpuProvider::l2_normalize(Tensor&, Tensor&, const Tensor&, double) { todo("l2_normalize"); }
void CpuProvider::l2_normalize_backward(Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                        double) {
  todo("l2_normalize_backward");
}
void CpuProvider::cross_entropy(Tensor&, Tensor&, const Tensor&, const Tensor&, double) {
  todo("cross_entropy");
}
void CpuProvider::softmax_entropy(Tensor&, Tensor&, const Tensor&, double) {
  todo("softmax_entropy");
}
void CpuProvider::argmax(Tensor&, const Tensor&) { todo("argmax"); }
void CpuProvider::adam(Tensor&, const Tensor&, Tensor&, Tensor&, const AdamStep&) { todo("adam"); }
void CpuProvider::patchify(Tensor&, const Tensor&, int64_t) { todo("patchify"); }
void CpuProvider::fill_random(Tensor&, Distribution, double, double, uint64_t) {
  todo("fill_random");
}

}  // namespace alloy
