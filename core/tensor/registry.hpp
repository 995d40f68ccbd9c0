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
  // An empty model held in memory: a tensor set a strategy builds, or features the host
  // collected for it. Tensors are added with put().
  Model(std::string name, int32_t role);

  const std::string& name() const { return name_; }
  // The file or folder it was opened from; empty for an in-memory model.
  const std::string& path() const { return path_; }
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

  // In-memory models only (throws otherwise): adds a tensor (kept by reference, not copied;
  // the caller must not write it afterwards), or frees every tensor (the model becomes empty).
  bool in_memory() const { return path_.empty(); }
  void put(const std::string& tensor, const Tensor& value);
  // Swaps in another value of the same dtype and shape (a trained one).
  void replace(const std::string& tensor, const Tensor& value);
  void clear();

 private:
  // `file` is kInMemory for a tensor of an in-memory model; `entry` then also indexes memory_.
  static constexpr std::size_t kInMemory = static_cast<std::size_t>(-1);
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
  std::vector<Tensor> memory_;
};

class Registry {
 public:
  int32_t add_model(std::string name, const std::string& path, int32_t role);
  // An empty in-memory model (see Model::put).
  int32_t add_memory_model(std::string name, int32_t role);
  Model& mutable_model(int32_t index) { return *models_.at(static_cast<std::size_t>(index)); }
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
