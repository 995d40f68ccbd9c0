// The one loop shape every own CPU kernel uses: a static split of [0, n) over the OpenMP team
// of the calling thread (its size is what Provider::set_op_threads chose for this thread).
#pragma once

#include <cstdint>

namespace alloy::cpu {

// Below this many elements a loop stays on the calling thread: starting a team costs more
// than the work.
constexpr int64_t kParallelGrain = 1 << 15;

template <typename Body>
void parallel_for(uint64_t n, const Body& body) {
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for schedule(static) if (count >= kParallelGrain)
  for (int64_t i = 0; i < count; ++i) body(i);
}

// The same over `n` items of about `work` elements each (rows, blocks): the grain counts
// elements, not items.
template <typename Body>
void parallel_for(uint64_t n, uint64_t work, const Body& body) {
  const auto count = static_cast<int64_t>(n);
  const bool parallel = count > 1 && n * work >= static_cast<uint64_t>(kParallelGrain);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace alloy::cpu
