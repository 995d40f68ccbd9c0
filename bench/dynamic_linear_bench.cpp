// alloy-dynamic-linear-bench [SECONDS [TOKENS]]: the dynamic linear layer
// (core/model/dynamic_linear.hpp) mixing weights against mixing outputs, forward and forward +
// backward, on the CPU provider, for the MLP layers of the fmnist8 zoo's encoder and of a ViT-B/32,
// with what choose_mix_mode picks. The backward is WEMoE's: dx and the gates' gradient (the router
// trains, the layer is frozen). Each figure is the best of 3 rounds of at least SECONDS / 3
// (default 1.5 s in all) of calls, in ms per call. TOKENS, when given, replaces every shape's
// tokens per sample (N), to find where the modes cross over (choose_mix_mode's constant).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "model/dynamic_linear.hpp"

namespace {

using namespace alloy;

struct Shape3 {
  const char* model;
  const char* layer;
  int64_t batch, tokens, experts, in, out;
};

double ms_per_call(const std::function<void()>& call, double seconds) {
  call();  // warm-up: oneDNN primitive creation, first touch of the memory
  double best = 1e300;
  for (int round = 0; round < 3; ++round) {
    int64_t calls = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      call();
      ++calls;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds / 3 || calls < 3);
    best = std::min(best, 1e3 * elapsed / static_cast<double>(calls));
  }
  return best;
}

Tensor random(Provider& p, const alloy::Shape& shape, uint64_t seed) {
  Tensor t = p.allocate(DType::F32, shape);
  p.fill_random(t, Distribution::normal, 0.0, 0.05, seed);
  return t;
}

const char* name_of(MixMode mode) { return mode == MixMode::weights ? "weights" : "outputs"; }

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.5;
  const int64_t tokens = argc > 2 ? std::atoll(argv[2]) : 0;
  const Shape3 shapes[] = {
      {"fmnist8", "fc1", 16, 17, 8, 128, 512},   {"fmnist8", "fc2", 16, 17, 8, 512, 128},
      {"fmnist8", "fc1", 128, 17, 8, 128, 512},  {"fmnist8", "fc2", 128, 17, 8, 512, 128},
      {"ViT-B/32", "fc1", 16, 50, 8, 768, 3072}, {"ViT-B/32", "fc2", 16, 50, 8, 3072, 768},
  };
  try {
    const auto p = create_provider("cpu");
    std::printf("%-9s %-5s %5s %4s %3s %5s %5s | %9s %9s %6s | %9s %9s %6s | %s\n", "model",
                "layer", "batch", "N", "T", "in", "out", "fwd w ms", "fwd o ms", "w/o", "f+b w ms",
                "f+b o ms", "w/o", "automatic");
    for (Shape3 s : shapes) {
      if (tokens > 0) s.tokens = tokens;
      const Tensor x = random(*p, {s.batch, s.tokens, s.in}, 1);
      const Tensor gates = random(*p, {s.batch, s.experts}, 2);
      const Tensor weight = random(*p, {s.out, s.in}, 3);
      const Tensor bias = random(*p, {s.out}, 4);
      const Tensor deltas = random(*p, {s.experts, s.out, s.in}, 5);
      const Tensor bias_deltas = random(*p, {s.experts, s.out}, 6);
      const Tensor dy = random(*p, {s.batch, s.tokens, s.out}, 7);
      const DynamicLinearWeights w{&weight, &bias, &deltas, &bias_deltas};
      double forward[2];
      double both[2];
      for (const MixMode mode : {MixMode::weights, MixMode::outputs}) {
        const int i = mode == MixMode::weights ? 0 : 1;
        forward[i] =
            ms_per_call([&] { dynamic_linear_forward(*p, x, gates, w, mode, nullptr); }, seconds);
        Tensor dgates = p->allocate(DType::F32, gates.shape());
        DynamicLinearGrads grads;
        grads.gates = &dgates;
        both[i] = ms_per_call(
            [&] {
              DynamicLinearSaved saved;
              dynamic_linear_forward(*p, x, gates, w, mode, &saved);
              dynamic_linear_backward(*p, dy, w, saved, grads);
            },
            seconds);
      }
      const MixMode pick = choose_mix_mode(s.batch, s.tokens, s.experts, s.in, s.out);
      std::printf(
          "%-9s %-5s %5lld %4lld %3lld %5lld %5lld | %9.3f %9.3f %6.2f | %9.3f %9.3f %6.2f | %s\n",
          s.model, s.layer, static_cast<long long>(s.batch), static_cast<long long>(s.tokens),
          static_cast<long long>(s.experts), static_cast<long long>(s.in),
          static_cast<long long>(s.out), forward[0], forward[1], forward[0] / forward[1], both[0],
          both[1], both[0] / both[1], name_of(pick));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alloy-dynamic-linear-bench: %s\n", e.what());
    return 1;
  }
}
