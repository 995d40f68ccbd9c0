// Fashion-MNIST (Xiao et al., 2017): 70,000 grey 28x28 pictures of clothes in 10 classes, as
// the Debian package dataset-fashion-mnist installs it. The source of the fmnist8 task suite.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace alloy {

constexpr int kFashionMnistSide = 28;
constexpr int kFashionMnistPixels = kFashionMnistSide * kFashionMnistSide;
constexpr int kFashionMnistClasses = 10;
// Where the Debian package puts the files.
constexpr const char* kFashionMnistDebianDir = "/usr/share/datasets/fashion-mnist";
// Names a folder to read instead (a copy elsewhere, or files a test made).
constexpr const char* kFashionMnistDirVariable = "ALLOY_FASHION_MNIST_DIR";

// "T-shirt/top", "Trouser", ..., "Ankle boot", in label order.
const std::array<const char*, kFashionMnistClasses>& fashion_mnist_class_names();

// One of the two official splits, decoded.
struct FashionMnistPart {
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // count x 28 x 28, row-major, 0 (background) .. 255
  std::vector<uint8_t> labels;  // count, each < kFashionMnistClasses

  const uint8_t* image(int64_t i) const { return pixels.data() + i * kFashionMnistPixels; }
};

struct FashionMnist {
  FashionMnistPart train;  // 60,000 in the real data set
  FashionMnistPart test;   // 10,000
};

// $ALLOY_FASHION_MNIST_DIR when set and not empty, else kFashionMnistDebianDir.
std::string fashion_mnist_dir();
// Whether fashion_mnist_dir() holds the four files (gzip-compressed or not).
bool fashion_mnist_available();

// Reads the four IDX files of `dir` (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-...). Throws alloy::Error: ALLOY_ERR_NOT_FOUND naming the missing file, the Debian
// package and the variable; ALLOY_ERR_IO naming the file for a malformed one (wrong image size,
// label count not matching image count, label out of range).
FashionMnist read_fashion_mnist(const std::string& dir);

// read_fashion_mnist(fashion_mnist_dir()), decoded once per folder and process (thread-safe):
// loading twice costs nothing.
std::shared_ptr<const FashionMnist> load_fashion_mnist();

}  // namespace alloy
