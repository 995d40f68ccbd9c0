#include "io/model_files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "io/safetensors.hpp"

namespace alloy {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

// A shard must be a file beside the index: anything else could reach outside the model folder.
bool plain_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return c == '/' || c == '\\' || byte < 0x20 || byte == 0x7f;
  });
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ALLOY_ERR_IO, "cannot open {}: {}", path.string(), std::strerror(errno));
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) fail(ALLOY_ERR_IO, "cannot read {}: {}", path.string(), std::strerror(errno));
  return text;
}

bool has_extension(const std::string& name, const std::string& extension) {
  return name.size() > extension.size() &&
         name.compare(name.size() - extension.size(), extension.size(), extension) == 0;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "nothing" : out;
}

ModelFiles from_index(const fs::path& folder, const fs::path& index_path) {
  const ShardIndex index = parse_shard_index(read_text(index_path), index_path.string());
  if (index.weight_map.empty()) fail(ALLOY_ERR_IO, "{} lists no tensors", index_path.string());
  ModelFiles model;
  model.index_path = index_path.string();
  for (const auto& [tensor, shard] : index.weight_map) {
    const std::string file = (folder / shard).string();
    model.owners[tensor] = file;
    if (std::find(model.files.begin(), model.files.end(), file) != model.files.end()) continue;
    if (!fs::is_regular_file(file)) {
      fail(ALLOY_ERR_IO, "index {} lists shard {}, which does not exist", model.index_path, shard);
    }
    model.files.push_back(file);
  }
  return model;
}

ModelFiles from_folder(const fs::path& folder) {
  if (fs::exists(folder / kIndexName)) return from_index(folder, folder / kIndexName);
  if (fs::is_regular_file(folder / kSingleName)) return {{(folder / kSingleName).string()}, {}, {}};

  std::vector<std::string> candidates;
  std::vector<std::string> found;
  for (const auto& item : fs::directory_iterator(folder)) {
    const std::string name = item.path().filename().string();
    found.push_back(name);
    if (item.is_regular_file() && has_extension(name, ".safetensors")) candidates.push_back(name);
  }
  std::sort(candidates.begin(), candidates.end());
  std::sort(found.begin(), found.end());
  if (candidates.size() == 1) return {{(folder / candidates[0]).string()}, {}, {}};
  if (candidates.empty()) {
    fail(ALLOY_ERR_IO, "model folder {} has no {}, {} or other *.safetensors file (it holds: {})",
         folder.string(), kIndexName, kSingleName, join(found));
  }
  fail(ALLOY_ERR_IO,
       "model folder {} has several *.safetensors files ({}) but no {} to say how they belong "
       "together",
       folder.string(), join(candidates), kIndexName);
}

}  // namespace

ShardIndex parse_shard_index(const std::string& text, const std::string& file_label) {
  const std::string& label = file_label;
  // An index needs 3 levels; printing a value nested millions deep in an error message
  // (json::dump recurses) would overflow the stack.
  constexpr int kMaxJsonDepth = 64;
  const auto limit_depth = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) {
      fail(ALLOY_ERR_IO, "{}: JSON values nest more than {} deep", label, kMaxJsonDepth);
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text, limit_depth);
  } catch (const json::exception& e) {
    fail(ALLOY_ERR_IO, "{}: not valid JSON: {}", label, e.what());
  }
  if (!root.is_object()) fail(ALLOY_ERR_IO, "{}: not a JSON object", label);

  ShardIndex index;
  const auto metadata = root.find("metadata");
  if (metadata != root.end() && !metadata->is_null()) {
    if (!metadata->is_object()) fail(ALLOY_ERR_IO, "{}: \"metadata\" is not an object", label);
    // Keep what is printable; total_size is a number in Hugging Face's files.
    for (const auto& [key, value] : metadata->items()) {
      if (value.is_string()) index.metadata[key] = value.get<std::string>();
      if (value.is_number()) index.metadata[key] = value.dump();
    }
  }

  const auto weight_map = root.find("weight_map");
  if (weight_map == root.end()) fail(ALLOY_ERR_IO, "{}: no \"weight_map\"", label);
  if (!weight_map->is_object()) fail(ALLOY_ERR_IO, "{}: \"weight_map\" is not an object", label);
  for (const auto& [tensor, shard] : weight_map->items()) {
    const std::string problem = tensor_name_problem(tensor);
    if (!problem.empty()) fail(ALLOY_ERR_IO, "{}: {}", label, problem);
    if (!shard.is_string()) {
      fail(ALLOY_ERR_IO, "{}: tensor '{}' maps to {}, not a shard file name", label, tensor,
           shard.dump());
    }
    const std::string name = shard.get<std::string>();
    if (!plain_file_name(name)) {
      fail(ALLOY_ERR_IO,
           "{}: tensor '{}' maps to shard {}, which is not a plain file name in the model folder",
           label, tensor, json(name).dump());
    }
    index.weight_map[tensor] = name;
  }
  return index;
}

ModelFiles find_model_files(const std::string& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found) {
    fail(ALLOY_ERR_NOT_FOUND, "model path {} does not exist", path);
  }
  if (error) fail(ALLOY_ERR_IO, "cannot access model path {}: {}", path, error.message());
  if (fs::is_regular_file(status)) return {{path}, {}, {}};
  if (!fs::is_directory(status)) {
    fail(ALLOY_ERR_IO, "model path {} is neither a regular file nor a folder", path);
  }
  try {
    return from_folder(path);
  } catch (const fs::filesystem_error& e) {
    fail(ALLOY_ERR_IO, "cannot list model folder {}: {}", path, e.what());
  }
}

}  // namespace alloy
