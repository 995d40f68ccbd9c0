#include "data/fashion_mnist.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "data/idx.hpp"
#include "error.hpp"

namespace alloy {

namespace fs = std::filesystem;

namespace {

// The file of `stem` in `dir`: the compressed one the package ships, else a decompressed copy.
// Empty when neither exists.
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem}) {
    std::error_code error;
    const fs::path path = fs::path(dir) / name;
    if (fs::is_regular_file(path, error)) return path.string();
  }
  return {};
}

std::string require_file(const std::string& dir, const std::string& stem) {
  std::string path = find_file(dir, stem);
  if (path.empty()) {
    fail(ALLOY_ERR_NOT_FOUND,
         "Fashion-MNIST file {}.gz not found in {}: install the Debian package "
         "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set {} to a folder "
         "holding it",
         stem, dir, kFashionMnistDirVariable);
  }
  return path;
}

constexpr const char* kStems[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

FashionMnistPart read_part(const std::string& dir, const std::string& images_stem,
                           const std::string& labels_stem) {
  const std::string images_path = require_file(dir, images_stem);
  const std::string labels_path = require_file(dir, labels_stem);
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.shape.size() != 3 || images.shape[1] != kFashionMnistSide ||
      images.shape[2] != kFashionMnistSide) {
    fail(ALLOY_ERR_IO, "{}: images of shape {}, expected [N, {}, {}]", images_path,
         shape_string(images.shape), kFashionMnistSide, kFashionMnistSide);
  }
  if (labels.shape.size() != 1 || labels.shape[0] != images.shape[0]) {
    fail(ALLOY_ERR_IO, "{}: labels of shape {} do not match the {} images of {}", labels_path,
         shape_string(labels.shape), images.shape[0], images_path);
  }
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kFashionMnistClasses) {
      fail(ALLOY_ERR_IO, "{}: label {} at index {} is not a class (0..{})", labels_path,
           labels.data[i], i, kFashionMnistClasses - 1);
    }
  }
  FashionMnistPart part;
  part.count = images.shape[0];
  part.pixels = std::move(images.data);
  part.labels = std::move(labels.data);
  return part;
}

}  // namespace

const std::array<const char*, kFashionMnistClasses>& fashion_mnist_class_names() {
  static const std::array<const char*, kFashionMnistClasses> names = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::string fashion_mnist_dir() {
  const char* dir = std::getenv(kFashionMnistDirVariable);
  return dir && *dir ? dir : kFashionMnistDebianDir;
}

bool fashion_mnist_available() {
  const std::string dir = fashion_mnist_dir();
  for (const char* stem : kStems) {
    if (find_file(dir, stem).empty()) return false;
  }
  return true;
}

FashionMnist read_fashion_mnist(const std::string& dir) {
  FashionMnist data;
  data.train = read_part(dir, kStems[0], kStems[1]);
  data.test = read_part(dir, kStems[2], kStems[3]);
  return data;
}

std::shared_ptr<const FashionMnist> load_fashion_mnist() {
  // Keyed by folder, so a test that points the variable elsewhere gets what it asked for.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const FashionMnist>> cache;
  const std::string dir = fashion_mnist_dir();
  std::lock_guard<std::mutex> lock(mutex);
  auto& entry = cache[dir];
  if (!entry) entry = std::make_shared<const FashionMnist>(read_fashion_mnist(dir));
  return entry;
}

}  // namespace alloy
