// The self-supervised task the shared encoder is pretrained on: tell by how many quarter turns
// an image was rotated (Gidaris et al., 2018). It needs no labels, so the pretraining images
// can stay apart from every task's, and it teaches shape and orientation, which every fmnist8
// task builds on.
#pragma once

#include <cstdint>
#include <vector>

#include "data/task_suite.hpp"

namespace alloy {

constexpr int kRotationClasses = 4;  // 0, 90, 180, 270 degrees clockwise

// For each index i into `images` (F32 [N, C, H, W] with H == W), the image rotated clockwise by
// 0, 90, 180 and 270 degrees, in that order: images [4 * indices.size(), C, H, W], labels
// 0, 1, 2, 3, 0, 1, ... (I32), sources the image index of each. Throws alloy::Error
// (ALLOY_ERR_INVALID_ARGUMENT) for non-square images or an index out of range.
LabelledImages rotation_batch(const Tensor& images, const std::vector<int64_t>& indices);

}  // namespace alloy
