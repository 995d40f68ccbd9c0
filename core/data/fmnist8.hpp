// fmnist8: eight image classification tasks made from Fashion-MNIST, a small stand-in for the
// eight-task CLIP ViT benchmark of the model-merging papers (Task Arithmetic, TIES, ...). Each
// task sees its own disjoint subset of the images through its own, visibly different input
// transform, so the tasks pull a shared encoder different ways and merging them conflicts, as
// with the real benchmark. docs/data.md describes every task, the splits and the seed.
#pragma once

#include <cstdint>

#include "data/fashion_mnist.hpp"
#include "data/task_suite.hpp"

namespace alloy {

constexpr int kFmnist8Tasks = 8;
constexpr uint64_t kFmnist8DefaultSeed = 8;

enum class Fmnist8Variant {
  Full,   // "fmnist8": uses every Fashion-MNIST image exactly once
  Tiny,   // "fmnist8-tiny": the same tasks on a few images, for fast tests
  Small,  // "fmnist8-small": a fifth of the images, for demos that finish in minutes
};

// Images per task and split, and pretraining images (shared).
struct Fmnist8Sizes {
  int64_t pretraining;
  int64_t train;
  int64_t validation;
  int64_t test;
};
// Full: 12000 pretraining, 5000 / 1000 / 1250 per task. Tiny: 256 pretraining, 64 / 32 / 32.
Fmnist8Sizes fmnist8_sizes(Fmnist8Variant variant);

// The eight task names, in the suite's order, without building it.
std::vector<std::string> fmnist8_task_names();

// Builds the suite from `source` (deterministic in `source`, `variant` and `seed`). The
// Fashion-MNIST train images are shuffled with the seed and cut into consecutive blocks:
// pretraining first, then task by task train and validation; the test images are shuffled
// likewise and cut into one block per task. Pretraining images are upright and untransformed.
// Throws alloy::Error (ALLOY_ERR_INVALID_ARGUMENT) when `source` has too few images.
TaskSuite make_fmnist8(const FashionMnist& source, Fmnist8Variant variant,
                       uint64_t seed = kFmnist8DefaultSeed);
// The same from load_fashion_mnist(); throws its errors when the data set is not installed.
TaskSuite make_fmnist8(Fmnist8Variant variant, uint64_t seed = kFmnist8DefaultSeed);

// The permutation of the 16 7x7 patches the patch_shuffled task applies for `seed`: patch i of
// a task image is patch fmnist8_patch_permutation(seed)[i] of the source. No patch stays.
std::vector<int> fmnist8_patch_permutation(uint64_t seed);

}  // namespace alloy
