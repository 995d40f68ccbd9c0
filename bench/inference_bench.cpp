// alloy-inference-bench MODEL... [--batch N] [--images N] [--device D]: inference throughput of
// model folders (a plain merge, a WEMoE or a Twin-Merging model) on the same random images, so that
// their costs can be set side by side: parameters, then images per second of the forward pass
// (image embeddings), the best of 3 passes over --images images (default 2048) in batches of
// --batch (default 256), after one warm-up batch.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "model/vit.hpp"
#include "tensor/registry.hpp"

int main(int argc, char** argv) {
  using namespace alloy;
  std::vector<std::string> models;
  int64_t batch = 256, images = 2048;
  std::string device = "cpu";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) {
      batch = std::atoll(argv[++i]);
    } else if (!std::strcmp(argv[i], "--images") && i + 1 < argc) {
      images = std::atoll(argv[++i]);
    } else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
      device = argv[++i];
    } else {
      models.emplace_back(argv[i]);
    }
  }
  if (models.empty() || batch < 1 || images < batch) {
    std::fprintf(stderr,
                 "usage: alloy-inference-bench MODEL... [--batch N] [--images N] [--device D]\n");
    return 2;
  }
  const auto provider = create_provider(device);
  std::printf("forward passes of %lld images in batches of %lld on %s\n",
              static_cast<long long>(images), static_cast<long long>(batch),
              provider->describe().c_str());
  for (const std::string& dir : models) {
    const VitModel model = VitModel::load(dir, *provider);
    const VitConfig& c = model.config();
    uint64_t parameters = 0;
    const Model files(dir, dir, ALLOY_ROLE_MODEL);
    for (const TensorEntry& t : files.tensors()) {
      parameters += shape_numel(t.shape);
    }
    Tensor input =
        provider->allocate(DType::F32, {batch, c.num_channels, c.image_size, c.image_size});
    provider->fill_random(input, Distribution::normal, 0.0, 1.0, 7);
    model.forward(input);  // warm-up: oneDNN primitives, first touch of memory
    double best = 1e300;
    for (int round = 0; round < 3; ++round) {
      const auto start = std::chrono::steady_clock::now();
      for (int64_t done = 0; done < images; done += batch) model.forward(input);
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("%-60s %10llu parameters  %8.0f images/s\n", dir.c_str(),
                static_cast<unsigned long long>(parameters), static_cast<double>(images) / best);
    std::fflush(stdout);
  }
  return 0;
}
