// Training the vision transformer: fine-tuning through a frozen head lowers the loss and raises
// accuracy on the tiny fmnist8 suite; training the head too moves its weights; cancelling stops.
#include "model/training.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/fashion_mnist.hpp"
#include "data/fmnist8.hpp"
#include "data/rotation_task.hpp"
#include "error.hpp"
#include "error_of.hpp"

namespace alloy {
namespace {

VitConfig small_config() {
  VitConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_channels = 1;
  c.image_size = 28;
  c.patch_size = 7;
  c.projection_dim = 16;
  return c;
}

class Training : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fashion_mnist_available()) {
      GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
    }
    suite_ = make_fmnist8(Fmnist8Variant::Tiny);
  }
  std::unique_ptr<Provider> provider_ = create_provider("cpu");
  TaskSuite suite_;
};

TEST_F(Training, FineTuningThroughAFrozenHeadLearnsTheTask) {
  const Task& task = suite_.task("upright");
  // Sixteen images, seen thirty times: enough to show learning in seconds. The head comes
  // from a random encoder, whose class means are close together, so the loss cannot approach 0.
  std::vector<int64_t> first(16);
  for (int64_t i = 0; i < 16; ++i) first[static_cast<std::size_t>(i)] = i;
  const LabelledImages few = gather(task.train, first);
  VitModel model(small_config(), *provider_);
  model.init_random(1);
  const Preprocessing pre;
  Head head = class_mean_head(model, task.train, task.class_names, task.name, pre, 20.0);
  const std::vector<float> head_before(head.weight.data_as<float>(),
                                       head.weight.data_as<float>() + head.weight.numel());
  const double before = accuracy(model, head, few, pre);
  TrainOptions options;
  options.epochs = 30;
  options.batch_size = 16;
  options.adam.lr = 1e-3;
  int64_t steps = 0;
  options.on_step = [&](int64_t done, int64_t total, double loss) {
    steps = done;
    EXPECT_EQ(total, 30);
    EXPECT_TRUE(std::isfinite(loss));
  };
  const std::vector<double> losses = train(model, head, false, few, options);
  ASSERT_EQ(losses.size(), 30u);
  EXPECT_EQ(steps, 30);
  EXPECT_LT(losses.back(), 0.7 * losses.front());
  const double after = accuracy(model, head, few, pre);
  EXPECT_GT(after, before + 0.2) << "before " << before << ", after " << after;
  EXPECT_EQ(std::vector<float>(head.weight.data_as<float>(),
                               head.weight.data_as<float>() + head.weight.numel()),
            head_before)
      << "a frozen head changed";
}

TEST_F(Training, PretrainingTrainsTheHeadToo) {
  VitModel model(small_config(), *provider_);
  model.init_random(2);
  std::vector<int64_t> indices(32);
  for (int64_t i = 0; i < 32; ++i) indices[static_cast<std::size_t>(i)] = i;
  const LabelledImages rotations = rotation_batch(suite_.pretraining.images, indices);
  Head head;
  head.task = "rotation";
  head.logit_scale = 10.0;
  head.weight = provider_->allocate(DType::F32, {4, 16});
  provider_->fill_random(head.weight, Distribution::normal, 0.0, 0.25, 9);
  const std::vector<float> before(head.weight.data_as<float>(),
                                  head.weight.data_as<float>() + head.weight.numel());
  TrainOptions options;
  options.epochs = 4;
  options.batch_size = 32;
  options.adam.lr = 1e-3;
  const std::vector<double> losses = train(model, head, true, rotations, options);
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_NE(std::vector<float>(head.weight.data_as<float>(),
                               head.weight.data_as<float>() + head.weight.numel()),
            before);
}

TEST_F(Training, CancellingStopsBetweenSteps) {
  const Task& task = suite_.task("rot90");
  VitModel model(small_config(), *provider_);
  model.init_random(3);
  Head head = class_mean_head(model, task.train, task.class_names, task.name, Preprocessing());
  std::atomic<bool> cancel{false};
  TrainOptions options;
  options.batch_size = 8;
  options.cancel = &cancel;
  options.on_step = [&](int64_t done, int64_t, double) {
    if (done == 2) cancel = true;
  };
  EXPECT_THAT(
      test::error_of([&] { train(model, head, false, task.train, options); }, ALLOY_ERR_CANCELLED),
      ::testing::HasSubstr("cancelled"));
}

}  // namespace
}  // namespace alloy
