// alloy-train-bench [STEPS] [BATCH]: training throughput of the model runtime (forward +
// backward + Adam through a frozen head) with the fmnist8 zoo's encoder, in images per second.
// bench/train_bench.sh runs it beside the same model in PyTorch.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "data/fmnist8.hpp"
#include "model/training.hpp"
#include "model/zoo.hpp"

int main(int argc, char** argv) {
  using namespace alloy;
  const int64_t steps = argc > 1 ? std::atoll(argv[1]) : 30;
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 128;
  try {
    const ZooSpec spec = default_zoo_spec("fmnist8");
    const TaskSuite suite = make_fmnist8(Fmnist8Variant::Full);
    const Task& task = suite.task("upright");
    const auto provider = create_provider("cpu");
    VitModel model(spec.model, *provider);
    model.init_random(0);
    Head head = class_mean_head(model, task.validation, task.class_names, task.name,
                                spec.preprocessing);
    std::vector<int64_t> first(static_cast<std::size_t>(steps * batch));
    for (std::size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i % 5000);
    const LabelledImages data = gather(task.train, first);
    TrainOptions options;
    options.epochs = 1;
    options.batch_size = batch;
    // One warm-up step (oneDNN primitive creation), then the timed ones.
    TrainOptions warm = options;
    train(model, head, false, gather(task.train, {0}), warm);
    const auto start = std::chrono::steady_clock::now();
    train(model, head, false, data, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("alloy: %lld steps of %lld images in %.2f s: %.0f images/s\n",
                static_cast<long long>(steps), static_cast<long long>(batch), seconds,
                static_cast<double>(steps * batch) / seconds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alloy-train-bench: %s\n", e.what());
    return 1;
  }
}
