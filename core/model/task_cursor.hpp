// Each task's inputs in a seeded order, reshuffled whenever they have all been taken: an endless
// data loader with shuffling, as the papers' code iterates it (the training service's batches).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "data/seeded_random.hpp"

namespace alloy {

class TaskCursor {
 public:
  TaskCursor(int64_t size, uint64_t seed) : size_(size), seed_(seed) { reshuffle(); }
  std::vector<int64_t> next(int64_t count) {
    std::vector<int64_t> batch;
    while (static_cast<int64_t>(batch.size()) < count) {
      if (at_ == size_) reshuffle();
      batch.push_back(order_[static_cast<std::size_t>(at_++)]);
    }
    return batch;
  }

 private:
  void reshuffle() {
    std::mt19937_64 rng(mix_seed(seed_, pass_++));
    order_ = shuffled_indices(size_, rng);
    at_ = 0;
  }
  int64_t size_;
  uint64_t seed_;
  uint64_t pass_ = 0;
  std::vector<int64_t> order_;
  int64_t at_ = 0;
};

}  // namespace alloy
