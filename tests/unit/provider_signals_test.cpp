// Signals arriving while ops run (Ctrl-C sets a flag and the job stops at the next tensor;
// profilers sample with SIGPROF) must not disturb the ops. oneDNN 2.6.3's matmul with run-time
// output scales corrupted the heap under exactly this (the zoo build crashed on Ctrl-C); the
// CPU provider now fixes alpha when it makes the primitive. With the old code this test failed
// (heap corruption, abort) in about two runs of five; it cannot fail on correct code.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "compute/provider.hpp"

namespace alloy {
namespace {

std::atomic<int> g_signals{0};
extern "C" void count_signal(int) { g_signals.fetch_add(1, std::memory_order_relaxed); }

TEST(ProviderSignals, OpsRunCorrectlyWhileSignalsArrive) {
  struct sigaction action {
  }, previous{};
  action.sa_handler = count_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    while (!stop) {
      ::kill(::getpid(), SIGUSR1);
      ::usleep(100);
    }
  });

  const auto p = create_provider("cpu");
  Tensor a = p->allocate(DType::F32, {2176, 128});
  Tensor b = p->allocate(DType::F32, {128, 512});
  Tensor c = p->allocate(DType::F32, {2176, 512});
  p->fill(a, 1.0);
  p->fill(b, 1.0);
  std::vector<float> result(c.numel());
  for (int i = 0; i < 600; ++i) {
    p->gemm(false, false, 0.5, a, b, 0.0, c);  // every entry 0.5 * 128
    if (i % 100 == 0) {
      p->download(c, result.data(), c.nbytes());
      for (const float x : result) ASSERT_EQ(x, 64.0f) << "call " << i;
    }
  }
  stop = true;
  sender.join();
  ::sigaction(SIGUSR1, &previous, nullptr);
  EXPECT_GT(g_signals.load(), 10) << "too few signals arrived to test anything";
}

}  // namespace
}  // namespace alloy
