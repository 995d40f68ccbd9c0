// alloy-svd-bench [--device D] [--zoo DIR] [--large]: truncated SVD
// (core/compute/truncated_svd.hpp) at Twin-Merging's rank, r = floor(0.1 * min(m, n)), exact (every
// triplet, LAPACK dgesdd on the CPU, cuSOLVER gesvd on CUDA) against randomized (a sketch of r + 10
// columns, 2 power iterations), on matrices of the fmnist8 encoder, of a ViT-B/32 and of a 7B
// language model
// (--large adds 4096 x 4096 and 4096 x 11008). Two spectra: a task vector's slowly decaying one
// (s_i ~ 1/sqrt(i)) and a flat one (Gaussian noise, the randomized method's worst case); with
// --zoo, also real task vectors of a fmnist8 zoo (finetuned/rot90 - pretrained). Prints, per
// matrix and method, the time of one call (best of 3, 1 for the large ones) and the relative
// reconstruction error ||a - u diag(s) v^T||_F / ||a||_F; the exact method's is the optimum.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "compute/truncated_svd.hpp"
#include "tensor/registry.hpp"

namespace {

using namespace alloy;

double seconds_of(const std::function<void()>& call, int rounds) {
  double best = 1e300;
  for (int i = 0; i < rounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    call();
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

Tensor gaussian(Provider& p, const alloy::Shape& shape, uint64_t seed) {
  Tensor t = p.allocate(DType::F32, shape);
  p.fill_random(t, Distribution::normal, 0.0, 1.0, seed);
  return t;
}

// G1 diag(s) G2^T with Gaussian G [*, n] / sqrt: columns nearly orthonormal, so the spectrum is
// close to s_i = 1 / sqrt(i + 1) (the exact method's error says what it really is).
Tensor decaying(Provider& p, int64_t m, int64_t n, uint64_t seed) {
  const int64_t k = std::min(m, n);
  Tensor left = gaussian(p, {m, k}, seed), right = gaussian(p, {n, k}, seed + 1);
  std::vector<float> scale(static_cast<std::size_t>(k));
  for (int64_t i = 0; i < k; ++i) {
    scale[static_cast<std::size_t>(i)] =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(i + 1)) /
                           std::sqrt(static_cast<double>(m) * static_cast<double>(n)));
  }
  Tensor s = p.allocate(DType::F32, {k});
  p.upload(s, scale.data(), scale.size() * sizeof(float));
  p.binary(ALLOY_BINARY_MUL, left, left, s);
  Tensor a = p.allocate(DType::F32, {m, n});
  p.gemm(false, true, 1.0, left, right, 0.0, a);
  return a;
}

double relative_error(Provider& p, const Tensor& a, Tensor& u, const Tensor& s, const Tensor& v) {
  p.binary(ALLOY_BINARY_MUL, u, u, s);
  Tensor residual = p.allocate(DType::F32, a.shape());
  p.copy(residual, a);
  p.gemm(false, true, -1.0, u, v, 1.0, residual);
  return p.reduce(ALLOY_REDUCE_L2_NORM, residual) / p.reduce(ALLOY_REDUCE_L2_NORM, a);
}

void run(Provider& p, const char* what, const Tensor& a) {
  const int64_t m = a.shape()[0], n = a.shape()[1];
  const int64_t k = std::max<int64_t>(1, static_cast<int64_t>(0.1 * std::min(m, n)));
  const int rounds = m * n > 4'000'000 ? 1 : 3;
  double times[2], errors[2];
  for (const SvdMethod method : {SvdMethod::exact, SvdMethod::randomized}) {
    Tensor u = p.allocate(DType::F32, {m, k}), s = p.allocate(DType::F32, {k});
    Tensor v = p.allocate(DType::F32, {n, k});
    const int i = method == SvdMethod::exact ? 0 : 1;
    times[i] = seconds_of([&] { truncated_svd(p, method, a, k, u, s, v); }, rounds);
    errors[i] = relative_error(p, a, u, s, v);
  }
  std::printf(
      "%-52s %5lld x %-5lld r %-4lld  exact %9.4f s err %.4f | randomized %9.4f s err %.4f"
      " (%.2fx the optimum) | %.1fx faster\n",
      what, static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k),
      times[0], errors[0], times[1], errors[1], errors[1] / errors[0], times[0] / times[1]);
  std::fflush(stdout);
}

Tensor task_vector(Provider& p, const std::string& zoo, const std::string& tensor) {
  const Model base("pretrained", zoo + "/pretrained", ALLOY_ROLE_BASE);
  const Model tuned("rot90", zoo + "/finetuned/rot90", ALLOY_ROLE_MODEL);
  const Tensor a = p.to_device(base.read(tensor)), b = p.to_device(tuned.read(tensor));
  Tensor delta = p.allocate(DType::F32, a.shape());
  p.binary(ALLOY_BINARY_SUB, delta, b, a);
  return delta;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu", zoo;
  bool large = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
      device = argv[++i];
    } else if (!std::strcmp(argv[i], "--zoo") && i + 1 < argc) {
      zoo = argv[++i];
    } else if (!std::strcmp(argv[i], "--large")) {
      large = true;
    } else {
      std::fprintf(stderr, "usage: alloy-svd-bench [--device D] [--zoo DIR] [--large]\n");
      return 2;
    }
  }
  const auto provider = create_provider(device);
  Provider& p = *provider;
  std::printf("truncated SVD at r = floor(0.1 min(m, n)) on %s\n", p.describe().c_str());
  if (!zoo.empty()) {
    for (const char* name : {"vision_model.encoder.layers.0.mlp.fc1.weight",
                             "vision_model.encoder.layers.3.self_attn.q_proj.weight"}) {
      run(p, (std::string("fmnist8 task vector ") + (name + 21)).c_str(),
          task_vector(p, zoo, name));
    }
  }
  struct Size {
    const char* model;
    int64_t m, n;
  };
  std::vector<Size> sizes = {
      {"fmnist8 fc1", 512, 128}, {"ViT-B/32 attention", 768, 768}, {"ViT-B/32 fc1", 3072, 768}};
  if (large) {
    sizes.push_back({"7B attention", 4096, 4096});
    sizes.push_back({"7B MLP", 4096, 11008});
  }
  uint64_t seed = 1;
  for (const Size& size : sizes) {
    run(p, (std::string(size.model) + ", decaying").c_str(), decaying(p, size.m, size.n, seed++));
    run(p, (std::string(size.model) + ", flat").c_str(), gaussian(p, {size.m, size.n}, seed++));
  }
  return 0;
}
