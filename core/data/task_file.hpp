// A user's own tasks in one safetensors file, and the writer that exports any tasks (fmnist8
// included) in that layout. docs/data.md is the user's description of the layout:
//   {task}.{split}.images  [N, C, H, W]  U8 (0..255, read as v / 255) or F32/F16/BF16 in [0, 1]
//   {task}.{split}.labels  [N]           I32 or I64, in [0, class count)
// for split in {train, validation, test}, and in __metadata__, optionally,
//   {task}.classes      comma-separated class names (else the class count is the largest
//                       label + 1 and classes are named "0", "1", ...)
//   {task}.description  one line saying what the inputs are
#pragma once

#include <string>
#include <vector>

#include "data/task_suite.hpp"

namespace alloy {

// The tasks of `path` in the order their tensors appear in the file; no sources. Throws
// alloy::Error (ALLOY_ERR_IO) naming the file and the tensor or metadata entry at fault: a
// tensor named otherwise, a missing split, a dtype or rank not above, image and label counts
// that differ, a label outside the classes, an image value outside [0, 1], images of tasks or
// splits of different [C, H, W], metadata for a task with no tensors, fewer than two classes.
std::vector<Task> read_task_file(const std::string& path);

struct TaskFileOptions {
  // U8 (a quarter of the size, exact for images of 8-bit pixels: round(255 v)), F32, F16, BF16.
  DType images_dtype = DType::U8;
  bool overwrite = false;  // replace an existing file instead of failing
};

// Writes `tasks` (checked with check_tasks; class names must not contain ',') in the layout
// above. The file appears whole or not at all. Throws alloy::Error naming the file.
void write_task_file(const std::string& path, const std::vector<Task>& tasks,
                     const TaskFileOptions& options = {});

}  // namespace alloy
