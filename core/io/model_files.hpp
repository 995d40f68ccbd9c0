// Where a model's tensors live: one safetensors file, or a Hugging Face folder (a single
// model.safetensors, or shards listed by model.safetensors.index.json).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace alloy {

struct ShardIndex {
  std::map<std::string, std::string> metadata;    // string values of "metadata"
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name
};

// Parses a *.safetensors.index.json text. Throws alloy::Error naming `file_label` for broken
// JSON, a missing weight_map, non-string entries, and shard names that are not a plain file
// name inside the folder (absolute paths, "..", path separators).
ShardIndex parse_shard_index(const std::string& text, const std::string& file_label);

// The safetensors files of a model path, in a stable order, and the index when there is one.
// A file path is taken as is; a folder uses, in order of preference,
// model.safetensors.index.json, model.safetensors, or its only *.safetensors file.
// Throws alloy::Error naming the path when none of these applies.
struct ModelFiles {
  std::vector<std::string> files;
  std::string index_path;                     // empty without an index
  std::map<std::string, std::string> owners;  // from the index: tensor -> file path
};
ModelFiles find_model_files(const std::string& path);

}  // namespace alloy
