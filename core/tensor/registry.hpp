// The tensor registry: every model of a job, opened lazily (headers parsed, nothing read),
// with its tensors by name. Reading a tensor maps it zero-copy; releasing it lets the kernel
// drop its pages, so memory stays bounded by the tensors in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/safetensors.hpp"

namespace alloy {

class Model {
 public:
  // Opens every file of the model path (see find_model_files); throws alloy::Error naming the
  // file and tensor at fault, and for a tensor listed twice or missing from its index shard.
  Model(std::string name, const std::string& path, int32_t role);

  const std::string& name() const { return name_; }
  int32_t role() const { return role_; }
  // Tensors in file order (shard by shard).
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const TensorEntry* find(const std::string& tensor) const;  // nullptr if absent
  // A read-only host view of the tensor's bytes as stored. Throws naming model and tensor.
  Tensor read(const std::string& tensor) const;
  // Drops the tensor's pages from this process's memory once it is no longer needed.
  void release(const std::string& tensor) const;
  // The file that holds a tensor (for messages).
  const std::string& file_of(const std::string& tensor) const;
  // Paths of the model's safetensors files.
  std::vector<std::string> files() const;
  // The opened files, headers parsed (for their metadata).
  const std::vector<std::shared_ptr<SafetensorsFile>>& opened_files() const { return files_; }
  // Throws naming the file and tensor when one of the model's files shrank while being read.
  void check_intact() const;

 private:
  struct Location {
    std::size_t entry;
    std::size_t file;
  };
  const Location& locate(const std::string& tensor) const;  // throws naming model and tensor
  std::string name_;
  std::string path_;
  int32_t role_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::vector<TensorEntry> tensors_;
  std::unordered_map<std::string, Location> by_name_;
};

class Registry {
 public:
  int32_t add_model(std::string name, const std::string& path, int32_t role);
  int32_t size() const { return static_cast<int32_t>(models_.size()); }
  const Model& model(int32_t index) const { return *models_.at(static_cast<std::size_t>(index)); }
  bool valid(int32_t index) const { return index >= 0 && index < size(); }
  // Throws naming the file and tensor when an input file shrank while being read. Cheap when
  // nothing did, so it is called before every output is written.
  void check_intact() const;

 private:
  std::vector<std::unique_ptr<Model>> models_;
};

}  // namespace alloy
