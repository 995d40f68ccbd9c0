#include "data/rotation_task.hpp"

#include "data/image_transforms.hpp"
#include "error.hpp"

namespace alloy {

LabelledImages rotation_batch(const Tensor& images, const std::vector<int64_t>& indices) {
  const Shape& shape = images.shape();
  if (images.dtype() != DType::F32 || shape.size() != 4 || shape[2] != shape[3]) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "rotation batch: images are {} {}, expected F32 [N, C, H, W] with H == W",
         dtype_name(images.dtype()), shape_string(shape));
  }
  const int64_t count = static_cast<int64_t>(indices.size());
  const int64_t channels = shape[1];
  const int side = static_cast<int>(shape[2]);
  const int64_t plane = int64_t{side} * side;
  LabelledImages batch;
  batch.images = host_tensor(DType::F32, {kRotationClasses * count, channels, side, side});
  std::vector<int32_t> labels;
  const float* in = images.data_as<const float>();
  float* out = batch.images.data_as<float>();
  for (const int64_t index : indices) {
    if (index < 0 || index >= shape[0]) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "rotation batch: image index {} outside 0..{}", index,
           shape[0] - 1);
    }
    for (int turns = 0; turns < kRotationClasses; ++turns) {
      for (int64_t c = 0; c < channels; ++c) {
        rotate_clockwise(in + (index * channels + c) * plane, out, side, turns);
        out += plane;
      }
      labels.push_back(turns);
      batch.sources.push_back(index);
    }
  }
  batch.labels = labels_tensor(labels);
  return batch;
}

}  // namespace alloy
