#include "data/fmnist8.hpp"

#include <algorithm>
#include <random>

#include "data/image_transforms.hpp"
#include "data/seeded_random.hpp"
#include "error.hpp"

namespace alloy {

namespace {

constexpr int kSide = kFashionMnistSide;
constexpr int kPixelBlock = 4;   // 28 / 4: a 7x7 picture
constexpr int kPatch = 7;        // a 4x4 grid of patches
constexpr int kCheckerCell = 4;  // a 7x7 chessboard
constexpr double kNoiseSigma = 0.2;

// Independent random streams of one seed (see mix_seed).
enum Stream : uint64_t { kTrainOrder = 1, kTestOrder = 2, kPatchOrder = 3, kNoise = 4 };

enum class Transform {
  Upright,
  Rot90,
  Rot180Inverted,
  Pixelated,
  PatchShuffled,
  Noisy,
  Edges,
  CheckerboardMasked
};

// Coarse classes of the checker_coarse task: which of five groups each Fashion-MNIST class is.
constexpr const char* kCoarseNames[] = {"top", "bottom", "dress or coat", "footwear", "bag"};
constexpr int32_t kCoarseOf[kFashionMnistClasses] = {
    0,  // T-shirt/top
    1,  // Trouser
    0,  // Pullover
    2,  // Dress
    2,  // Coat
    3,  // Sandal
    0,  // Shirt
    3,  // Sneaker
    4,  // Bag
    3,  // Ankle boot
};

struct TaskSpec {
  const char* name;
  const char* description;
  Transform transform;
  bool coarse;  // kCoarseOf labels instead of the ten Fashion-MNIST classes
};

// Why each pair can be told apart by looking (docs/data.md has the table): inversion is used
// once only, so a white ground means rot180_inverted; noise covers the ground only in noisy;
// pixelated is made of constant 4x4 blocks; edges shows outlines with dark insides;
// checker_coarse has black squares on a grid; patch_shuffled has cuts every 7 pixels; upright
// and rot90 differ in orientation, and no Fashion-MNIST class looks the same turned by 90
// degrees (trousers and dresses are tall, shoes are wide and stand on their soles). Mirror
// images and transposes are not used: clothes are left-right symmetric.
constexpr TaskSpec kTasks[kFmnist8Tasks] = {
    {"upright", "the image as it is", Transform::Upright, false},
    {"rot90", "rotated 90 degrees clockwise", Transform::Rot90, false},
    {"rot180_inverted", "rotated 180 degrees, intensities inverted (255 - v): white ground",
     Transform::Rot180Inverted, false},
    {"pixelated", "4x4 block means up-sampled by nearest neighbour: 7x7 resolution",
     Transform::Pixelated, false},
    {"patch_shuffled", "4x4 grid of 7x7 patches rearranged by one fixed permutation",
     Transform::PatchShuffled, false},
    {"noisy", "additive Gaussian noise, sigma 0.2 (51 grey levels), fixed per image, clamped",
     Transform::Noisy, false},
    {"edges", "Sobel gradient magnitude / 4: outlines only", Transform::Edges, false},
    {"checker_coarse", "every other 4x4 square black (checkerboard); 5 coarse classes",
     Transform::CheckerboardMasked, true},
};

// What a transform needs beyond the image: fixed per suite or per source image.
struct TransformInputs {
  const std::vector<int>* patch_permutation;
  uint64_t noise_seed;
};

void apply(Transform transform, const uint8_t* in, uint8_t* out, const TransformInputs& inputs) {
  switch (transform) {
    case Transform::Upright:
      std::copy_n(in, kFashionMnistPixels, out);
      return;
    case Transform::Rot90:
      rotate_clockwise(in, out, kSide, 1);
      return;
    case Transform::Rot180Inverted: {
      uint8_t rotated[kFashionMnistPixels];
      rotate_clockwise(in, rotated, kSide, 2);
      invert(rotated, out, kSide);
      return;
    }
    case Transform::Pixelated:
      pixelate(in, out, kSide, kPixelBlock);
      return;
    case Transform::PatchShuffled:
      shuffle_patches(in, out, kSide, kPatch, *inputs.patch_permutation);
      return;
    case Transform::Noisy:
      add_gaussian_noise(in, out, kSide, kNoiseSigma, inputs.noise_seed);
      return;
    case Transform::Edges:
      sobel_magnitude(in, out, kSide);
      return;
    case Transform::CheckerboardMasked:
      checkerboard_mask(in, out, kSide, kCheckerCell);
      return;
  }
}

// A task split from source images `indices` of `part`. `part_key` tells the two Fashion-MNIST
// parts apart in the noise seed, so every source image has noise of its own.
LabelledImages make_split(const TaskSpec& spec, const FashionMnistPart& part, uint64_t part_key,
                          const std::vector<int64_t>& indices, const std::vector<int>& permutation,
                          uint64_t seed) {
  const auto count = static_cast<int64_t>(indices.size());
  std::vector<uint8_t> pixels(static_cast<std::size_t>(count) * kFashionMnistPixels);
  std::vector<int32_t> labels(static_cast<std::size_t>(count));
  const uint64_t noise_seed = mix_seed(seed, kNoise);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t source = indices[i];
    // Keyed by the source image, not its position: an image's noise does not depend on where
    // the shuffle put it.
    const TransformInputs inputs{&permutation,
                                 mix_seed(noise_seed, (part_key << 32) | uint64_t(source))};
    apply(spec.transform, part.image(source), pixels.data() + i * kFashionMnistPixels, inputs);
    const uint8_t label = part.labels[source];
    labels[i] = spec.coarse ? kCoarseOf[label] : label;
  }
  LabelledImages split;
  split.images = images_from_bytes(pixels.data(), {count, 1, kSide, kSide});
  split.labels = labels_tensor(labels);
  split.sources = indices;
  return split;
}

std::vector<int64_t> slice(const std::vector<int64_t>& order, int64_t begin, int64_t count) {
  return std::vector<int64_t>(order.begin() + begin, order.begin() + begin + count);
}

std::vector<std::string> class_names(bool coarse) {
  if (coarse) return std::vector<std::string>(std::begin(kCoarseNames), std::end(kCoarseNames));
  const auto& names = fashion_mnist_class_names();
  return std::vector<std::string>(names.begin(), names.end());
}

}  // namespace

Fmnist8Sizes fmnist8_sizes(Fmnist8Variant variant) {
  switch (variant) {
    case Fmnist8Variant::Full:
      return {12000, 5000, 1000, 1250};
    case Fmnist8Variant::Small:
      return {4000, 1000, 250, 250};
    default:
      return {256, 64, 32, 32};
  }
}

std::vector<int> fmnist8_patch_permutation(uint64_t seed) {
  constexpr int kPatches = (kSide / kPatch) * (kSide / kPatch);
  std::mt19937_64 rng(mix_seed(seed, kPatchOrder));
  // A patch left in place would make part of the image look upright; draw until none is.
  for (;;) {
    const std::vector<int64_t> order = shuffled_indices(kPatches, rng);
    bool deranged = true;
    for (int i = 0; i < kPatches; ++i) deranged = deranged && order[i] != i;
    if (deranged) return std::vector<int>(order.begin(), order.end());
  }
}

std::vector<std::string> fmnist8_task_names() {
  std::vector<std::string> names;
  for (const TaskSpec& spec : kTasks) names.push_back(spec.name);
  return names;
}

TaskSuite make_fmnist8(const FashionMnist& source, Fmnist8Variant variant, uint64_t seed) {
  const Fmnist8Sizes sizes = fmnist8_sizes(variant);
  const int64_t per_task = sizes.train + sizes.validation;
  const int64_t train_needed = sizes.pretraining + kFmnist8Tasks * per_task;
  const int64_t test_needed = kFmnist8Tasks * sizes.test;
  if (source.train.count < train_needed || source.test.count < test_needed) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "fmnist8 needs {} train and {} test images, the source has {} and {}", train_needed,
         test_needed, source.train.count, source.test.count);
  }

  std::mt19937_64 train_rng(mix_seed(seed, kTrainOrder));
  std::mt19937_64 test_rng(mix_seed(seed, kTestOrder));
  const std::vector<int64_t> train_order = shuffled_indices(source.train.count, train_rng);
  const std::vector<int64_t> test_order = shuffled_indices(source.test.count, test_rng);
  const std::vector<int> permutation = fmnist8_patch_permutation(seed);

  TaskSuite suite;
  suite.name = variant == Fmnist8Variant::Full    ? "fmnist8"
               : variant == Fmnist8Variant::Small ? "fmnist8-small"
                                                  : "fmnist8-tiny";
  // Pretraining images are the upright task's transform (none) of their own block; their
  // labels are dropped: the rotation task makes its own.
  suite.pretraining.sources = slice(train_order, 0, sizes.pretraining);
  suite.pretraining.images =
      make_split(kTasks[0], source.train, 0, suite.pretraining.sources, permutation, seed).images;

  for (int t = 0; t < kFmnist8Tasks; ++t) {
    const TaskSpec& spec = kTasks[t];
    const int64_t begin = sizes.pretraining + t * per_task;
    Task task;
    task.name = spec.name;
    task.description = spec.description;
    task.class_names = class_names(spec.coarse);
    task.train = make_split(spec, source.train, 0, slice(train_order, begin, sizes.train),
                            permutation, seed);
    task.validation =
        make_split(spec, source.train, 0, slice(train_order, begin + sizes.train, sizes.validation),
                   permutation, seed);
    task.test = make_split(spec, source.test, 1, slice(test_order, t * sizes.test, sizes.test),
                           permutation, seed);
    suite.tasks.push_back(std::move(task));
  }
  return suite;
}

TaskSuite make_fmnist8(Fmnist8Variant variant, uint64_t seed) {
  return make_fmnist8(*load_fashion_mnist(), variant, seed);
}

}  // namespace alloy
