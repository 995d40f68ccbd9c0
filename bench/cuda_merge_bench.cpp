// Task Arithmetic and TIES on a CUDA device over device-resident tensors, as the shipped
// plugins compute them per tensor (the same op sequence through the provider), next to a
// device-to-device copy of the same bytes. Bandwidth counts the bytes each op sequence must
// read and write at least: the inputs once and the output once.
//
//   alloy-cuda-merge-bench [--device cuda:0] [--mib 256] [--models 4] [--repeats 5]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <alloy/alloy.h>

#include "compute/provider.hpp"
#include "error.hpp"

namespace {

using namespace alloy;
using Clock = std::chrono::steady_clock;

// Waits for everything enqueued: a download of one value comes back after all prior work.
void barrier(Provider& p, const Tensor& any) {
  float value = 0;
  p.download(any.rows(0, 1), &value, sizeof(value));
}

void task_arithmetic(Provider& p, const Tensor& base, const std::vector<Tensor>& experts,
                     Tensor& out) {
  p.fill(out, 0.0);
  Tensor delta = p.allocate(DType::F32, base.shape());
  for (const Tensor& x : experts) {
    p.binary(ALLOY_BINARY_SUB, delta, x, base);
    p.axpby(1.0, delta, 1.0, out);
  }
  p.axpby(1.0, base, 0.3, out);
}

void ties(Provider& p, const Tensor& base, const std::vector<Tensor>& experts, Tensor& out) {
  const uint64_t k = static_cast<uint64_t>(0.2 * static_cast<double>(base.numel()));
  std::vector<Tensor> taus;
  for (const Tensor& x : experts) {
    Tensor tau = p.allocate(DType::F32, base.shape());
    p.binary(ALLOY_BINARY_SUB, tau, x, base);
    Tensor mask = p.allocate(DType::F32, base.shape());
    p.topk_mask(mask, tau, k);
    p.where(tau, mask, tau, nullptr);
    taus.push_back(std::move(tau));
  }
  Tensor sign = p.allocate(DType::F32, base.shape());
  std::vector<const Tensor*> views;
  for (const Tensor& tau : taus) views.push_back(&tau);
  p.sign_elect(ALLOY_ELECT_SUM, sign, views);
  p.fill(out, 0.0);
  Tensor divisor = p.allocate(DType::F32, base.shape());
  Tensor agrees = p.allocate(DType::F32, base.shape());
  for (Tensor& tau : taus) {
    p.unary(ALLOY_UNARY_SIGN, agrees, tau, 0, 0);
    p.binary(ALLOY_BINARY_EQ, agrees, agrees, sign);
    p.where(tau, agrees, tau, nullptr);
    p.axpby(1.0, tau, 1.0, out);
    p.axpby(1.0, agrees, 1.0, divisor);
  }
  p.binary_scalar(ALLOY_BINARY_EQ, agrees, divisor, 0.0);
  p.axpby(1.0, agrees, 1.0, divisor);
  p.binary(ALLOY_BINARY_DIV, out, out, divisor);
  p.axpby(1.0, base, 1.0, out);
}

template <typename Run>
double best_seconds(Provider& p, const Tensor& sync, int repeats, const Run& run) {
  run();  // warm-up: allocations, module load
  barrier(p, sync);
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    run();
    barrier(p, sync);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cuda:0";
  int64_t mib = 256;
  int models = 4, repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--device")
      device = argv[i + 1];
    else if (flag == "--mib")
      mib = std::atoll(argv[i + 1]);
    else if (flag == "--models")
      models = std::atoi(argv[i + 1]);
    else if (flag == "--repeats")
      repeats = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  try {
    const auto p = create_provider(device);
    const int64_t n = mib * (1 << 20) / 4;
    Tensor base = p->allocate(DType::F32, {n});
    p->fill_random(base, Distribution::normal, 0.0, 0.02, 1);
    std::vector<Tensor> experts;
    for (int m = 0; m < models; ++m) {
      Tensor x = p->allocate(DType::F32, {n});
      p->fill_random(x, Distribution::normal, 0.0, 0.001, 100 + m);
      p->axpby(1.0, base, 1.0, x);
      experts.push_back(std::move(x));
    }
    Tensor out = p->allocate(DType::F32, {n});
    // The merge reads models + 1 tensors and writes one; the copy moves the same bytes.
    const double bytes = static_cast<double>(models + 2) * n * 4;
    Tensor copy_src = p->allocate(DType::F32, {(models + 2) * n / 2});
    Tensor copy_dst = p->allocate(DType::F32, {(models + 2) * n / 2});
    const double copy_s = best_seconds(*p, out, repeats, [&] { p->copy(copy_dst, copy_src); });
    const double ta_s =
        best_seconds(*p, out, repeats, [&] { task_arithmetic(*p, base, experts, out); });
    const double ties_s = best_seconds(*p, out, repeats, [&] { ties(*p, base, experts, out); });
    std::printf("%s: %d fine-tuned + base, %lld MiB per tensor (F32), best of %d\n",
                p->describe().c_str(), models, static_cast<long long>(mib), repeats);
    std::printf("%-34s %10s %10s %10s\n", "what", "ms", "GB/s", "vs copy");
    const auto row = [&](const char* what, double s) {
      std::printf("%-34s %10.2f %10.1f %9.2fx\n", what, s * 1e3, bytes / s / 1e9, copy_s / s);
    };
    row("device-to-device copy, same bytes", copy_s);
    row("task_arithmetic (plugin's ops)", ta_s);
    row("ties density 0.2 (plugin's ops)", ties_s);
  } catch (const Error& e) {
    std::fprintf(stderr, "alloy-cuda-merge-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
