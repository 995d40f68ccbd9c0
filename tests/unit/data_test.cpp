// The data layer: IDX files, Fashion-MNIST, the image transforms, the fmnist8 suite (built on a
// made-up source, so it is tested everywhere, and on the real data set where it is installed),
// the rotation pretraining batch and task files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "data/fashion_mnist.hpp"
#include "data/fmnist8.hpp"
#include "data/idx.hpp"
#include "data/image_transforms.hpp"
#include "data/rotation_task.hpp"
#include "data/seeded_random.hpp"
#include "data/task_file.hpp"
#include "data/task_suite.hpp"
#include "error.hpp"
#include "error_of.hpp"
#include "io/safetensors.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::RawTensor;
using test::TempDir;
using ::testing::HasSubstr;

constexpr int kSide = kFashionMnistSide;

// ---- files ---------------------------------------------------------------------------------

std::vector<uint8_t> idx_bytes(uint8_t dtype, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes = {0, 0, dtype, static_cast<uint8_t>(dims.size())};
  for (const uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back((d >> shift) & 0xff);
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string text = test::read_text(path);
  return std::vector<uint8_t>(text.begin(), text.end());
}

// A Fashion-MNIST look-alike: random pixels, labels going round the classes.
FashionMnistPart fake_part(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  FashionMnistPart part;
  part.count = count;
  part.pixels.resize(count * kFashionMnistPixels);
  for (uint8_t& p : part.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  for (int64_t i = 0; i < count; ++i) part.labels.push_back(i % kFashionMnistClasses);
  return part;
}

FashionMnist fake_source(int64_t train, int64_t test) {
  return FashionMnist{fake_part(train, 1), fake_part(test, 2)};
}

// The four files of `source` in `dir`, as the Debian package has them.
void write_fashion_mnist(const std::string& dir, const FashionMnist& source) {
  const auto put = [&](const std::string& name, const FashionMnistPart& part) {
    const auto n = static_cast<uint32_t>(part.count);
    write_gz(dir + "/" + name + "-images-idx3-ubyte.gz",
             idx_bytes(kIdxUnsignedByte, {n, kSide, kSide}, part.pixels));
    write_gz(dir + "/" + name + "-labels-idx1-ubyte.gz",
             idx_bytes(kIdxUnsignedByte, {n}, part.labels));
  };
  put("train", source.train);
  put("t10k", source.test);
}

// Sets an environment variable for the life of the object, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// ---- IDX -----------------------------------------------------------------------------------

TEST(DataIdx, ReadsCompressedAndPlainFiles) {
  TempDir dir;
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6};
  const std::vector<uint8_t> bytes = idx_bytes(kIdxUnsignedByte, {2, 3}, data);
  write_gz(dir.file("a.gz"), bytes);
  test::write_text(dir.file("a"), std::string(bytes.begin(), bytes.end()));
  for (const char* name : {"a.gz", "a"}) {
    const IdxArray array = read_idx(dir.file(name));
    EXPECT_EQ(array.shape, (Shape{2, 3})) << name;
    EXPECT_EQ(array.data, data) << name;
  }
}

TEST(DataIdx, RejectsMalformedFilesNamingThem) {
  TempDir dir;
  const std::vector<uint8_t> data(12, 7);
  const std::map<std::string, std::pair<std::vector<uint8_t>, std::string>> cases = {
      {"magic", {{1, 0, 8, 1, 0, 0, 0, 1, 9}, "bad magic"}},
      {"dtype", {idx_bytes(0x0d, {3}, std::vector<uint8_t>(12)), "dtype 0x0d"}},
      {"rank0", {idx_bytes(kIdxUnsignedByte, {}, {}), "rank 0"}},
      {"short", {{0, 0}, "shorter than 4 bytes"}},
      {"header", {{0, 0, 8, 2, 0, 0, 0, 3, 0}, "header cut short"}},
      {"truncated", {idx_bytes(kIdxUnsignedByte, {4, 4}, data), "truncated"}},
      {"long", {idx_bytes(kIdxUnsignedByte, {2, 5}, data), "continues past"}},
  };
  for (const auto& [name, bytes_and_message] : cases) {
    const std::string path = dir.file(name + ".gz");
    write_gz(path, bytes_and_message.first);
    const std::string message = error_of([&] { read_idx(path); });
    EXPECT_THAT(message, HasSubstr(path)) << name;
    EXPECT_THAT(message, HasSubstr(bytes_and_message.second)) << name;
  }
  EXPECT_THAT(error_of([&] { read_idx(dir.file("absent.gz")); }), HasSubstr("absent.gz"));
}

TEST(DataIdx, RejectsACorruptGzipStream) {
  TempDir dir;
  std::vector<uint8_t> data(5000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  write_gz(dir.file("c.gz"), idx_bytes(kIdxUnsignedByte, {5000}, data));
  std::vector<uint8_t> bytes = read_bytes(dir.file("c.gz"));
  for (std::size_t i = 20; i < bytes.size() - 8; i += 3) bytes[i] ^= 0x5a;
  test::write_text(dir.file("c.gz"), std::string(bytes.begin(), bytes.end()));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("c.gz")); }), HasSubstr(dir.file("c.gz")));
}

// ---- seeded random draws -------------------------------------------------------------------

TEST(DataRandom, IsTheSameEverywhere) {
  // The engine's output is fixed by the standard ([rand.predef]); the rest is ours.
  std::mt19937_64 rng(5489u);
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ull);
  std::mt19937_64 a(mix_seed(3, 1)), b(mix_seed(3, 1));
  EXPECT_EQ(shuffled_indices(1000, a), shuffled_indices(1000, b));
  EXPECT_NE(mix_seed(3, 1), mix_seed(3, 2));
  EXPECT_NE(mix_seed(3, 1), mix_seed(4, 1));
}

TEST(DataRandom, ShufflesAndDrawsAsPromised) {
  std::mt19937_64 rng(1);
  std::vector<int64_t> order = shuffled_indices(500, rng);
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 500; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_NE(order, sorted);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(uniform_below(rng, 7), 7u);
  double sum = 0, squares = 0;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const double z = standard_normal(rng);
    sum += z;
    squares += z * z;
  }
  EXPECT_NEAR(sum / kDraws, 0.0, 0.02);
  EXPECT_NEAR(squares / kDraws, 1.0, 0.02);
}

// ---- transforms ----------------------------------------------------------------------------

std::vector<uint8_t> blank() { return std::vector<uint8_t>(kFashionMnistPixels, 0); }
uint8_t& at(std::vector<uint8_t>& image, int r, int c) { return image[r * kSide + c]; }

TEST(DataTransforms, RotateClockwiseMovesPixelsWhereExpected) {
  std::vector<uint8_t> in = blank(), out = blank();
  at(in, 2, 5) = 200;
  rotate_clockwise(in.data(), out.data(), kSide, 1);
  EXPECT_EQ(at(out, 5, kSide - 1 - 2), 200);  // (r, c) -> (c, 27 - r)
  EXPECT_EQ(std::count(out.begin(), out.end(), 0), kFashionMnistPixels - 1);
  rotate_clockwise(in.data(), out.data(), kSide, 2);
  EXPECT_EQ(at(out, kSide - 1 - 2, kSide - 1 - 5), 200);
  rotate_clockwise(in.data(), out.data(), kSide, 3);
  EXPECT_EQ(at(out, kSide - 1 - 5, 2), 200);
  rotate_clockwise(in.data(), out.data(), kSide, -1);
  EXPECT_EQ(at(out, kSide - 1 - 5, 2), 200);

  const float small[4] = {1, 2, 3, 4};  // [[1, 2], [3, 4]] turns into [[3, 1], [4, 2]]
  float turned[4];
  rotate_clockwise(small, turned, 2, 1);
  EXPECT_THAT(turned, ::testing::ElementsAre(3, 1, 4, 2));
}

TEST(DataTransforms, InvertPixelateAndCheckerboard) {
  std::vector<uint8_t> in = blank(), out = blank();
  for (int i = 0; i < kFashionMnistPixels; ++i) in[i] = static_cast<uint8_t>(i % 256);
  invert(in.data(), out.data(), kSide);
  for (int i = 0; i < kFashionMnistPixels; ++i) ASSERT_EQ(out[i], 255 - in[i]);

  in = blank();
  at(in, 0, 0) = 160;  // one block of 4x4: mean 160/16 = 10
  at(in, 5, 6) = 15;   // rounds 15/16 up to 1
  pixelate(in.data(), out.data(), kSide, 4);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      const int expected = r < 4 && c < 4 ? 10 : (r >= 4 && r < 8 && c >= 4 && c < 8 ? 1 : 0);
      ASSERT_EQ(at(out, r, c), expected) << r << "," << c;
    }
  }
  EXPECT_THROW(pixelate(in.data(), out.data(), kSide, 5), Error);

  in.assign(kFashionMnistPixels, 9);
  checkerboard_mask(in.data(), out.data(), kSide, 4);
  EXPECT_EQ(at(out, 0, 0), 9);
  EXPECT_EQ(at(out, 3, 3), 9);
  EXPECT_EQ(at(out, 0, 4), 0);
  EXPECT_EQ(at(out, 4, 0), 0);
  EXPECT_EQ(at(out, 4, 4), 9);
  EXPECT_EQ(std::count(out.begin(), out.end(), 0), 24 * 16);  // 24 of the 49 squares
}

TEST(DataTransforms, ShufflePatchesIsAPermutationOfPatches) {
  std::vector<uint8_t> in = blank(), out = blank();
  // Every pixel tells its patch and its place inside the patch.
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) at(in, r, c) = ((r / 7) * 4 + c / 7) * 10 + (r % 7 + c % 7);
  }
  const std::vector<int> permutation = fmnist8_patch_permutation(kFmnist8DefaultSeed);
  ASSERT_EQ(permutation.size(), 16u);
  EXPECT_EQ(std::set<int>(permutation.begin(), permutation.end()).size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_NE(permutation[i], i) << "patch " << i << " stays";
  EXPECT_NE(fmnist8_patch_permutation(kFmnist8DefaultSeed + 1), permutation);

  shuffle_patches(in.data(), out.data(), kSide, 7, permutation);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      const int patch = (r / 7) * 4 + c / 7;
      ASSERT_EQ(at(out, r, c), permutation[patch] * 10 + (r % 7 + c % 7)) << r << "," << c;
    }
  }
  std::vector<uint8_t> a = in, b = out;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
  EXPECT_THROW(shuffle_patches(in.data(), out.data(), kSide, 7, {0, 1, 2}), Error);
}

TEST(DataTransforms, NoiseIsFixedBySeedZeroMeanAndClamped) {
  std::vector<uint8_t> grey(kFashionMnistPixels, 128), a = blank(), b = blank(), c = blank();
  add_gaussian_noise(grey.data(), a.data(), kSide, 0.2, 42);
  add_gaussian_noise(grey.data(), b.data(), kSide, 0.2, 42);
  add_gaussian_noise(grey.data(), c.data(), kSide, 0.2, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum = 0;
  for (const uint8_t v : a) sum += v - 128.0;
  EXPECT_NEAR(sum / kFashionMnistPixels, 0.0, 4.0);

  std::vector<uint8_t> black = blank(), white(kFashionMnistPixels, 255);
  add_gaussian_noise(black.data(), a.data(), kSide, 0.2, 1);
  add_gaussian_noise(white.data(), b.data(), kSide, 0.2, 1);
  EXPECT_GT(std::count(a.begin(), a.end(), 0), kFashionMnistPixels / 3);  // clamped, not wrapped
  EXPECT_GT(std::count(b.begin(), b.end(), 255), kFashionMnistPixels / 3);
  EXPECT_LT(*std::max_element(a.begin(), a.end()), 200);
}

TEST(DataTransforms, SobelShowsEdgesOnly) {
  std::vector<uint8_t> in = blank(), out = blank();
  for (int r = 0; r < kSide; ++r) {
    for (int c = 14; c < kSide; ++c) at(in, r, c) = 100;  // a vertical step
  }
  sobel_magnitude(in.data(), out.data(), kSide);
  EXPECT_EQ(at(out, 10, 5), 0);     // flat and dark
  EXPECT_EQ(at(out, 10, 20), 0);    // flat and bright
  EXPECT_EQ(at(out, 10, 13), 100);  // gx = 4 * 100, / 4
  EXPECT_EQ(at(out, 10, 14), 100);
  EXPECT_EQ(at(out, 10, kSide - 1), 100);  // black beyond the border is an edge too
  std::vector<uint8_t> white(kFashionMnistPixels, 255);
  sobel_magnitude(white.data(), out.data(), kSide);
  EXPECT_EQ(at(out, 0, 0), 255);  // clamped
  EXPECT_EQ(at(out, 10, 10), 0);
}

// ---- tasks and the rotation batch ----------------------------------------------------------

// A task of `classes` classes whose splits hold n images of shape [1, side, side].
Task small_task(const std::string& name, int classes, int64_t n, int side = 4, uint8_t seed = 0) {
  Task task;
  task.name = name;
  task.description = "made up";
  for (int c = 0; c < classes; ++c) task.class_names.push_back("class " + std::to_string(c));
  for (const Split split : kSplits) {
    std::vector<uint8_t> pixels(n * side * side);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 3 + seed);
    std::vector<int32_t> labels;
    for (int64_t i = 0; i < n; ++i) labels.push_back(static_cast<int32_t>(i % classes));
    task.split(split).images = images_from_bytes(pixels.data(), {n, 1, side, side});
    task.split(split).labels = labels_tensor(labels);
  }
  return task;
}

TEST(DataTaskSuite, ChecksWhatConsumersRelyOn) {
  const auto problem = [](std::vector<Task> tasks) {
    return error_of([&] { check_tasks(tasks); }, ALLOY_ERR_INVALID_ARGUMENT);
  };
  EXPECT_NO_THROW(check_tasks({small_task("a", 3, 5), small_task("b", 2, 4)}));
  EXPECT_THAT(problem({}), HasSubstr("no tasks"));
  EXPECT_THAT(problem({small_task("a", 3, 5), small_task("a", 3, 5)}), HasSubstr("twice"));
  EXPECT_THAT(problem({small_task("a/b", 3, 5)}), HasSubstr("path separator"));
  EXPECT_THAT(problem({small_task("a", 1, 5)}), HasSubstr("two or more"));
  EXPECT_THAT(problem({small_task("a", 3, 5), small_task("b", 3, 5, 6)}),
              HasSubstr("'b.train.images' holds images of shape [1, 6, 6], others [1, 4, 4]"));

  Task t = small_task("t", 3, 5);
  t.validation.labels.data_as<int32_t>()[2] = 3;
  EXPECT_THAT(problem({t}), HasSubstr("'t.validation.labels' has label 3 at index 2"));
  t = small_task("t", 3, 5);
  t.test.images.data_as<float>()[7] = NAN;
  EXPECT_THAT(problem({t}), HasSubstr("'t.test.images' has value nan at element 7"));
  t = small_task("t", 3, 5);
  t.train.labels = labels_tensor({0, 1});
  EXPECT_THAT(problem({t}), HasSubstr("'t.train.labels' is I32 [2], expected I32 [5]"));
  t = small_task("t", 3, 5);
  t.test = LabelledImages{};
  EXPECT_THAT(problem({t}), HasSubstr("'t.test.images' is missing"));

  TaskSuite suite;
  suite.name = "s";
  suite.tasks = {small_task("a", 2, 1), small_task("b", 2, 1)};
  EXPECT_EQ(&suite.task("b"), &suite.tasks[1]);
  EXPECT_THAT(error_of([&] { suite.task("c"); }, ALLOY_ERR_NOT_FOUND), HasSubstr("it has a, b"));
}

TEST(DataRotation, MakesFourTurnsOfEachImage) {
  // Two 2-channel 3x3 images whose pixels are all different.
  Tensor images = host_tensor(DType::F32, {2, 2, 3, 3});
  for (uint64_t i = 0; i < images.numel(); ++i) images.data_as<float>()[i] = i / 36.0f;
  const LabelledImages batch = rotation_batch(images, {1, 0});
  ASSERT_EQ(batch.images.shape(), (Shape{8, 2, 3, 3}));
  EXPECT_EQ(batch.sources, (std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, 0}));
  const int32_t* labels = batch.labels.data_as<const int32_t>();
  EXPECT_EQ(std::vector<int32_t>(labels, labels + 8),
            (std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3}));
  const float* in = images.data_as<const float>();
  const float* out = batch.images.data_as<const float>();
  for (int k = 0; k < 8; ++k) {
    const int64_t image = batch.sources[k];
    for (int ch = 0; ch < 2; ++ch) {
      const float* plane = in + (image * 2 + ch) * 9;
      const float* turned = out + (k * 2 + ch) * 9;
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) {
          // Undo labels[k] clockwise turns by going back from (r, c).
          int sr = r, sc = c;
          for (int t = 0; t < labels[k]; ++t) {
            const int pr = 2 - sc, pc = sr;
            sr = pr, sc = pc;
          }
          ASSERT_EQ(turned[r * 3 + c], plane[sr * 3 + sc]) << k << " " << ch << " " << r << c;
        }
      }
    }
  }
  EXPECT_THROW(rotation_batch(images, {2}), Error);
  EXPECT_THROW(rotation_batch(host_tensor(DType::F32, {1, 1, 3, 4}), {0}), Error);
}

// ---- Fashion-MNIST -------------------------------------------------------------------------

TEST(FashionMnist, ReadsTheFilesOfAFolder) {
  TempDir dir;
  const FashionMnist source = fake_source(30, 20);
  write_fashion_mnist(dir.path(), source);
  ScopedEnv env(kFashionMnistDirVariable, dir.path());
  EXPECT_EQ(fashion_mnist_dir(), dir.path());
  EXPECT_TRUE(fashion_mnist_available());
  const auto data = load_fashion_mnist();
  EXPECT_EQ(data->train.count, 30);
  EXPECT_EQ(data->test.count, 20);
  EXPECT_EQ(data->train.pixels, source.train.pixels);
  EXPECT_EQ(data->test.labels, source.test.labels);
  EXPECT_EQ(load_fashion_mnist(), data);  // decoded once
}

TEST(FashionMnist, SaysHowToInstallItWhenMissing) {
  TempDir dir;
  ScopedEnv env(kFashionMnistDirVariable, dir.file("nowhere"));
  EXPECT_FALSE(fashion_mnist_available());
  const std::string message = error_of([] { load_fashion_mnist(); }, ALLOY_ERR_NOT_FOUND);
  EXPECT_THAT(message, HasSubstr("train-images-idx3-ubyte.gz"));
  EXPECT_THAT(message, HasSubstr("apt-get install dataset-fashion-mnist"));
  EXPECT_THAT(message, HasSubstr("ALLOY_FASHION_MNIST_DIR"));
  EXPECT_THAT(error_of([] { make_fmnist8(Fmnist8Variant::Tiny); }, ALLOY_ERR_NOT_FOUND),
              HasSubstr("dataset-fashion-mnist"));
}

TEST(FashionMnist, RejectsFilesThatDoNotFitTogether) {
  TempDir dir;
  write_fashion_mnist(dir.path(), fake_source(10, 10));
  const std::string labels = dir.file("t10k-labels-idx1-ubyte.gz");
  write_gz(labels, idx_bytes(kIdxUnsignedByte, {9}, std::vector<uint8_t>(9)));
  EXPECT_THAT(error_of([&] { read_fashion_mnist(dir.path()); }),
              HasSubstr(labels + ": labels of shape [9] do not match the 10 images"));
  write_gz(labels, idx_bytes(kIdxUnsignedByte, {10}, std::vector<uint8_t>(10, 10)));
  EXPECT_THAT(error_of([&] { read_fashion_mnist(dir.path()); }), HasSubstr("label 10 at index 0"));
  const std::string images = dir.file("train-images-idx3-ubyte.gz");
  write_gz(images, idx_bytes(kIdxUnsignedByte, {10, 27, 28}, std::vector<uint8_t>(10 * 27 * 28)));
  EXPECT_THAT(error_of([&] { read_fashion_mnist(dir.path()); }), HasSubstr("[10, 27, 28]"));
}

TEST(FashionMnist, TheInstalledDataSetIsComplete) {
  if (!fashion_mnist_available()) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
  }
  const auto data = load_fashion_mnist();
  ASSERT_EQ(data->train.count, 60000);
  ASSERT_EQ(data->test.count, 10000);
  std::vector<int> per_class(kFashionMnistClasses);
  for (const uint8_t label : data->train.labels) ++per_class[label];
  for (const int n : per_class) EXPECT_EQ(n, 6000);
}

// ---- fmnist8 -------------------------------------------------------------------------------

// Every byte of a suite that a consumer sees, to compare two builds.
std::vector<uint8_t> suite_bytes(const TaskSuite& suite) {
  std::vector<uint8_t> bytes;
  const auto add = [&](const Tensor& t) {
    const auto* p = static_cast<const uint8_t*>(t.data());
    bytes.insert(bytes.end(), p, p + t.nbytes());
  };
  add(suite.pretraining.images);
  for (const Task& task : suite.tasks) {
    for (const Split split : kSplits) {
      add(task.split(split).images);
      add(task.split(split).labels);
    }
  }
  return bytes;
}

// No source image is used twice: not within a task, not by two tasks, not by a task and by
// pretraining.
void expect_disjoint(const TaskSuite& suite) {
  std::set<int64_t> train_sources(suite.pretraining.sources.begin(),
                                  suite.pretraining.sources.end());
  std::set<int64_t> test_sources;
  std::size_t train_count = suite.pretraining.sources.size(), test_count = 0;
  for (const Task& task : suite.tasks) {
    for (const Split split : {Split::Train, Split::Validation}) {
      const auto& sources = task.split(split).sources;
      train_sources.insert(sources.begin(), sources.end());
      train_count += sources.size();
    }
    test_sources.insert(task.test.sources.begin(), task.test.sources.end());
    test_count += task.test.sources.size();
  }
  EXPECT_EQ(train_sources.size(), train_count);
  EXPECT_EQ(test_sources.size(), test_count);
}

void expect_sizes(const TaskSuite& suite, Fmnist8Variant variant) {
  const Fmnist8Sizes sizes = fmnist8_sizes(variant);
  EXPECT_EQ(suite.pretraining.images.shape(), (Shape{sizes.pretraining, 1, kSide, kSide}));
  ASSERT_EQ(suite.tasks.size(), static_cast<std::size_t>(kFmnist8Tasks));
  for (const Task& task : suite.tasks) {
    EXPECT_EQ(task.train.size(), sizes.train) << task.name;
    EXPECT_EQ(task.validation.size(), sizes.validation) << task.name;
    EXPECT_EQ(task.test.size(), sizes.test) << task.name;
  }
  EXPECT_NO_THROW(check_tasks(suite.tasks));
}

// Image i of a split as bytes again (every fmnist8 image is v / 255 for a byte v).
std::vector<uint8_t> image_bytes(const Tensor& images, int64_t i) {
  const float* p = images.data_as<const float>() + i * kFashionMnistPixels;
  std::vector<uint8_t> bytes(kFashionMnistPixels);
  for (int k = 0; k < kFashionMnistPixels; ++k) {
    bytes[k] = static_cast<uint8_t>(std::lround(p[k] * 255.0f));
    EXPECT_EQ(p[k], bytes[k] / 255.0f);
  }
  return bytes;
}

TEST(Fmnist8, TinySuiteOnAMadeUpSourceIsDeterministicAndDisjoint) {
  const FashionMnist source = fake_source(1100, 300);
  const TaskSuite a = make_fmnist8(source, Fmnist8Variant::Tiny, 7);
  const TaskSuite b = make_fmnist8(source, Fmnist8Variant::Tiny, 7);
  const TaskSuite c = make_fmnist8(source, Fmnist8Variant::Tiny, 8);
  EXPECT_EQ(a.name, "fmnist8-tiny");
  expect_sizes(a, Fmnist8Variant::Tiny);
  expect_disjoint(a);
  EXPECT_EQ(suite_bytes(a), suite_bytes(b));
  EXPECT_NE(suite_bytes(a), suite_bytes(c));
  EXPECT_NE(a.tasks[0].train.sources, c.tasks[0].train.sources);

  std::vector<std::string> names;
  for (const Task& task : a.tasks) names.push_back(task.name);
  EXPECT_THAT(names, ::testing::ElementsAre("upright", "rot90", "rot180_inverted", "pixelated",
                                            "patch_shuffled", "noisy", "edges", "checker_coarse"));
  for (const Task& task : a.tasks) {
    EXPECT_FALSE(task.description.empty());
    EXPECT_EQ(task.class_count(), task.name == "checker_coarse" ? 5 : 10);
  }
}

TEST(Fmnist8, EveryTaskAppliesItsTransformAndLabelMap) {
  const FashionMnist source = fake_source(1100, 300);
  const uint64_t seed = 11;
  const TaskSuite suite = make_fmnist8(source, Fmnist8Variant::Tiny, seed);
  const std::vector<int> permutation = fmnist8_patch_permutation(seed);
  const int32_t coarse[] = {0, 1, 0, 2, 2, 3, 0, 3, 4, 3};
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t s = suite.pretraining.sources[i];
    const std::vector<uint8_t> original(source.train.image(s),
                                        source.train.image(s) + kFashionMnistPixels);
    EXPECT_EQ(image_bytes(suite.pretraining.images, i), original);
  }
  for (const Task& task : suite.tasks) {
    for (const Split split : kSplits) {
      const LabelledImages& data = task.split(split);
      const FashionMnistPart& part = split == Split::Test ? source.test : source.train;
      for (int64_t i = 0; i < 3; ++i) {
        const int64_t s = data.sources[i];
        std::vector<uint8_t> in(part.image(s), part.image(s) + kFashionMnistPixels);
        std::vector<uint8_t> expected = blank(), scratch = blank();
        const std::vector<uint8_t> got = image_bytes(data.images, i);
        if (task.name == "upright") expected = in;
        if (task.name == "rot90") rotate_clockwise(in.data(), expected.data(), kSide, 1);
        if (task.name == "rot180_inverted") {
          for (int r = 0; r < kSide; ++r) {
            for (int c = 0; c < kSide; ++c) {
              at(expected, r, c) = 255 - at(in, kSide - 1 - r, kSide - 1 - c);
            }
          }
        }
        if (task.name == "pixelated") pixelate(in.data(), expected.data(), kSide, 4);
        if (task.name == "patch_shuffled") {
          shuffle_patches(in.data(), expected.data(), kSide, 7, permutation);
        }
        if (task.name == "noisy") {
          // Fixed per image: the noise is got - in, and stays within clamping of +-6 sigma.
          for (int k = 0; k < kFashionMnistPixels; ++k) {
            ASSERT_LE(std::abs(int(got[k]) - int(in[k])), 6 * 51 + 1);
          }
          expected = got;
          EXPECT_NE(got, in);
        }
        if (task.name == "edges") sobel_magnitude(in.data(), expected.data(), kSide);
        if (task.name == "checker_coarse") checkerboard_mask(in.data(), expected.data(), kSide, 4);
        EXPECT_EQ(got, expected) << task.name << " " << split_name(split) << " " << i;
        const int32_t label = data.labels.data_as<const int32_t>()[i];
        EXPECT_EQ(label, task.name == "checker_coarse" ? coarse[part.labels[s]] : part.labels[s]);
      }
    }
  }
}

TEST(Fmnist8, FullSuiteUsesEverySourceImageOnce) {
  const FashionMnist source = fake_source(60000, 10000);
  const TaskSuite full = make_fmnist8(source, Fmnist8Variant::Full, 3);
  EXPECT_EQ(full.name, "fmnist8");
  expect_sizes(full, Fmnist8Variant::Full);
  expect_disjoint(full);
  std::size_t train = full.pretraining.sources.size(), test = 0;
  for (const Task& task : full.tasks) {
    train += task.train.sources.size() + task.validation.sources.size();
    test += task.test.sources.size();
  }
  EXPECT_EQ(train, 60000u);
  EXPECT_EQ(test, 10000u);
}

TEST(Fmnist8, RefusesASourceTooSmall) {
  EXPECT_THAT(error_of([] { make_fmnist8(fake_source(1000, 300), Fmnist8Variant::Tiny); },
                       ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("needs 1024 train and 256 test images, the source has 1000 and 300"));
}

TEST(Fmnist8, RealSuiteFullAndTiny) {
  if (!fashion_mnist_available()) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
  }
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  };
  auto start = Clock::now();
  read_fashion_mnist(fashion_mnist_dir());  // uncached, to time the decoding
  const double load = seconds(start);
  start = Clock::now();
  const TaskSuite full = make_fmnist8(Fmnist8Variant::Full);
  const double build_full = seconds(start);
  start = Clock::now();
  const TaskSuite tiny = make_fmnist8(Fmnist8Variant::Tiny);
  const double build_tiny = seconds(start);
  std::printf("fmnist8: decode Fashion-MNIST %.3f s, build full %.3f s, tiny %.3f s\n", load,
              build_full, build_tiny);
  expect_sizes(full, Fmnist8Variant::Full);
  expect_sizes(tiny, Fmnist8Variant::Tiny);
  expect_disjoint(full);
  expect_disjoint(tiny);
  EXPECT_EQ(suite_bytes(make_fmnist8(Fmnist8Variant::Tiny)), suite_bytes(tiny));

  // Every class appears in every task's test split (the splits are random but large).
  for (const Task& task : full.tasks) {
    std::set<int32_t> seen;
    const int32_t* labels = task.test.labels.data_as<const int32_t>();
    seen.insert(labels, labels + task.test.size());
    EXPECT_EQ(static_cast<int64_t>(seen.size()), task.class_count()) << task.name;
  }
}

// ---- task files ----------------------------------------------------------------------------

void expect_same_tasks(const std::vector<Task>& got, const std::vector<Task>& expected,
                       float tolerance) {
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t t = 0; t < got.size(); ++t) {
    EXPECT_EQ(got[t].name, expected[t].name);
    EXPECT_EQ(got[t].description, expected[t].description);
    EXPECT_EQ(got[t].class_names, expected[t].class_names);
    for (const Split split : kSplits) {
      const LabelledImages& a = got[t].split(split);
      const LabelledImages& b = expected[t].split(split);
      ASSERT_EQ(a.images.shape(), b.images.shape());
      ASSERT_EQ(a.labels.shape(), b.labels.shape());
      EXPECT_EQ(std::memcmp(a.labels.data(), b.labels.data(), a.labels.nbytes()), 0);
      for (uint64_t i = 0; i < a.images.numel(); ++i) {
        ASSERT_NEAR(a.images.data_as<const float>()[i], b.images.data_as<const float>()[i],
                    tolerance);
      }
    }
  }
}

TEST(TaskData, RoundTripsInEveryImageDtype) {
  TempDir dir;
  const std::vector<Task> tasks = {small_task("a.b", 3, 5), small_task("c", 2, 4, 4, 1)};
  const std::map<DType, float> tolerance = {
      {DType::U8, 0.0f}, {DType::F32, 0.0f}, {DType::F16, 1e-3f}, {DType::BF16, 4e-3f}};
  for (const auto& [dtype, within] : tolerance) {
    const std::string path = dir.file(std::string(dtype_name(dtype)) + ".safetensors");
    write_task_file(path, tasks, {dtype, false});
    expect_same_tasks(read_task_file(path), tasks, within);
    EXPECT_EQ(SafetensorsFile::open(path)->header().tensors[0].dtype, dtype);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 4);
}

TEST(TaskData, Fmnist8ExportsExactlyAsBytes) {
  TempDir dir;
  const TaskSuite suite = make_fmnist8(fake_source(1100, 300), Fmnist8Variant::Tiny);
  write_task_file(dir.file("fmnist8.safetensors"), suite.tasks);
  std::vector<Task> back = read_task_file(dir.file("fmnist8.safetensors"));
  expect_same_tasks(back, suite.tasks, 0.0f);
  EXPECT_TRUE(back[0].train.sources.empty());
}

TEST(TaskData, WriterRefusesWhatItCannotWrite) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  write_task_file(path, {small_task("a", 2, 2)});
  EXPECT_THAT(error_of([&] { write_task_file(path, {small_task("a", 2, 2)}); }),
              HasSubstr("already exists"));
  write_task_file(path, {small_task("b", 2, 2)}, {DType::U8, true});
  EXPECT_EQ(read_task_file(path)[0].name, "b");

  Task comma = small_task("a", 2, 2);
  comma.class_names[0] = "shoe, left";
  EXPECT_THAT(error_of([&] { write_task_file(dir.file("c.safetensors"), {comma}); },
                       ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("has a comma"));
  EXPECT_THAT(error_of([&] { write_task_file(dir.file("c.safetensors"), {small_task("a", 1, 2)}); },
                       ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("two or more"));
  EXPECT_THAT(error_of(
                  [&] {
                    write_task_file(dir.file("c.safetensors"), {small_task("a", 2, 2)},
                                    {DType::I32, false});
                  },
                  ALLOY_ERR_DTYPE),
              HasSubstr("I32"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

RawTensor u8_images(const std::string& name, int64_t n) {
  return {name, "U8", {n, 1, 2, 2}, std::vector<uint8_t>(n * 4, 200)};
}

RawTensor i32_labels(const std::string& name, std::vector<int32_t> labels) {
  return {name, "I32", {static_cast<int64_t>(labels.size())}, test::as_bytes(labels)};
}

// The tensors of a valid hand-built task file: one task "t", three 1x2x2 images and labels
// 0, 1, 2 in every split.
std::vector<RawTensor> valid_tensors() {
  std::vector<RawTensor> tensors;
  for (const char* split : {"train", "validation", "test"}) {
    tensors.push_back(u8_images(std::string("t.") + split + ".images", 3));
    tensors.push_back(i32_labels(std::string("t.") + split + ".labels", {0, 1, 2}));
  }
  return tensors;
}

TEST(TaskData, ReadsHandMadeFiles) {
  TempDir dir;
  std::vector<RawTensor> tensors = valid_tensors();
  tensors[0] = {
      "t.train.images", "F32", {3, 1, 2, 2}, test::as_bytes(std::vector<float>(12, 0.5f))};
  tensors[1] = {"t.train.labels", "I64", {3}, test::as_bytes(std::vector<int64_t>{2, 0, 1})};
  test::write_safetensors(dir.file("a.safetensors"), tensors, {{"format", "pt"}});
  std::vector<Task> tasks = read_task_file(dir.file("a.safetensors"));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].class_names, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(tasks[0].train.labels.data_as<const int32_t>()[0], 2);
  EXPECT_EQ(tasks[0].train.images.data_as<const float>()[0], 0.5f);
  EXPECT_EQ(tasks[0].test.images.data_as<const float>()[0], 200 / 255.0f);

  test::write_safetensors(dir.file("b.safetensors"), valid_tensors(),
                          {{"t.classes", "cat, dog ,bird,fish"}, {"t.description", "pets"}});
  tasks = read_task_file(dir.file("b.safetensors"));
  EXPECT_EQ(tasks[0].class_names, (std::vector<std::string>{"cat", "dog", "bird", "fish"}));
  EXPECT_EQ(tasks[0].description, "pets");
}

TEST(TaskData, RejectsMalformedFilesNamingFileAndTensor) {
  TempDir dir;
  struct Case {
    std::string name;
    std::function<void(std::vector<RawTensor>&, std::map<std::string, std::string>&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"bad name", [](auto& t, auto&) { t[0].name = "t.training.images"; },
       "tensor 't.training.images' is not named"},
      {"no kind", [](auto& t, auto&) { t[0].name = "images"; }, "tensor 'images' is not named"},
      {"missing split", [](auto& t, auto&) { t.erase(t.begin() + 4, t.end()); },
       "task 't' has no tensor 't.test.images'"},
      {"missing labels", [](auto& t, auto&) { t.erase(t.begin() + 3); },
       "no tensor 't.validation.labels'"},
      {"image dtype",
       [](auto& t, auto&) {
         t[2] = {"t.validation.images", "I32", {3, 1, 2, 2}, std::vector<uint8_t>(48)};
       },
       "tensor 't.validation.images' is I32 [3, 1, 2, 2], expected [N, C, H, W] of U8"},
      {"image rank",
       [](auto& t, auto&) {
         t[0].shape = {3, 4};
       },
       "'t.train.images' is U8 [3, 4]"},
      {"label dtype", [](auto& t, auto&) { t[1].dtype = "F32"; },
       "'t.train.labels' is F32 [3], expected [N] of I32 or I64"},
      {"count",
       [](auto& t, auto&) {
         t[5] = i32_labels("t.test.labels", {0, 1, 2, 0});
       },
       "tensor 't.test.labels' holds 4 labels for 3 images"},
      {"negative label",
       [](auto& t, auto&) {
         t[1] = i32_labels("t.train.labels", {0, -1, 2});
       },
       "'t.train.labels' has label -1 at index 1"},
      {"label past classes", [](auto&, auto& m) { m["t.classes"] = "a,b"; },
       "'t.train.labels' has label 2 at index 2, outside 0..1 (2 classes)"},
      {"one class",
       [](auto& t, auto&) {
         for (const char* s : {"train", "validation", "test"}) {
           for (auto& tensor : t) {
             if (tensor.name == std::string("t.") + s + ".labels") {
               tensor = i32_labels(tensor.name, {0, 0, 0});
             }
           }
         }
       },
       "task 't' has 1 class(es)"},
      {"value past 1",
       [](auto& t, auto&) {
         t[4] = {
             "t.test.images", "F32", {3, 1, 2, 2}, test::as_bytes(std::vector<float>(12, 1.5f))};
       },
       "'t.test.images' has value 1.5 at element 0, outside [0, 1]"},
      {"image shapes",
       [](auto& t, auto&) {
         t[2] = {"t.validation.images", "U8", {3, 1, 3, 3}, std::vector<uint8_t>(27)};
       },
       "'t.validation.images' holds images of shape [1, 3, 3], others [1, 2, 2]"},
      {"metadata for nothing", [](auto&, auto& m) { m["u.classes"] = "a,b"; },
       "metadata 'u.classes' is for task 'u', which has no tensors"},
      {"no tasks", [](auto& t, auto&) { t.clear(); }, "holds no tasks"},
  };
  for (const Case& c : cases) {
    std::vector<RawTensor> tensors = valid_tensors();
    std::map<std::string, std::string> metadata;
    c.change(tensors, metadata);
    const std::string path = dir.file("bad.safetensors");
    test::write_safetensors(path, tensors, metadata);
    const std::string message = error_of([&] { read_task_file(path); });
    EXPECT_THAT(message, HasSubstr(path)) << c.name;
    EXPECT_THAT(message, HasSubstr(c.message)) << c.name;
  }
}

}  // namespace
}  // namespace alloy
