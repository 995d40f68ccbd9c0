#include "tensor/registry.hpp"

#include <utility>

#include "error.hpp"
#include "io/model_files.hpp"
#include "io/sigbus_guard.hpp"

namespace alloy {

Model::Model(std::string name, const std::string& path, int32_t role)
    : name_(std::move(name)), path_(path), role_(role) {
  const ModelFiles located = find_model_files(path);
  const bool indexed = !located.index_path.empty();
  for (const std::string& file_path : located.files) {
    const std::size_t file = files_.size();
    files_.push_back(SafetensorsFile::open(file_path));
    for (const TensorEntry& entry : files_.back()->header().tensors) {
      const auto [it, inserted] = by_name_.emplace(entry.name, Location{tensors_.size(), file});
      if (!inserted) {
        fail(ALLOY_ERR_IO, "model '{}': tensor '{}' is in both {} and {}", name_, entry.name,
             files_[it->second.file]->path(), file_path);
      }
      if (indexed) {
        const auto owner = located.owners.find(entry.name);
        if (owner == located.owners.end()) {
          fail(ALLOY_ERR_IO, "{} holds tensor '{}', which index {} does not list", file_path,
               entry.name, located.index_path);
        }
        if (owner->second != file_path) {
          fail(ALLOY_ERR_IO, "index {} puts tensor '{}' in {}, but it is in {}", located.index_path,
               entry.name, owner->second, file_path);
        }
      }
      tensors_.push_back(entry);
    }
  }
  for (const auto& [tensor, owner] : located.owners) {
    if (by_name_.count(tensor) == 0) {
      fail(ALLOY_ERR_IO, "index {} lists tensor '{}' in {}, which does not hold it",
           located.index_path, tensor, owner);
    }
  }
}

Model::Model(std::string name, int32_t role) : name_(std::move(name)), role_(role) {}

void Model::put(const std::string& tensor, const Tensor& value) {
  if (!in_memory()) fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' is read from files", name_);
  if (!value.defined()) fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}': no tensor to put", name_);
  if (tensor.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}': empty tensor name", name_);
  if (by_name_.count(tensor)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' already has a tensor '{}'", name_, tensor);
  }
  TensorEntry entry;
  entry.name = tensor;
  entry.dtype = value.dtype();
  entry.shape = value.shape();
  entry.bytes = value.nbytes();
  by_name_.emplace(tensor, Location{tensors_.size(), kInMemory});
  tensors_.push_back(std::move(entry));
  memory_.push_back(value);
}

void Model::replace(const std::string& tensor, const Tensor& value) {
  if (!in_memory()) fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' is read from files", name_);
  const auto it = by_name_.find(tensor);
  if (it == by_name_.end())
    fail(ALLOY_ERR_NOT_FOUND, "model '{}' has no tensor '{}'", name_, tensor);
  const TensorEntry& entry = tensors_[it->second.entry];
  if (!value.defined() || value.dtype() != entry.dtype || value.shape() != entry.shape) {
    fail(ALLOY_ERR_SHAPE, "model '{}': tensor '{}' is {} {}; it cannot be replaced by another",
         name_, tensor, dtype_name(entry.dtype), shape_string(entry.shape));
  }
  memory_[it->second.entry] = value;
}

void Model::clear() {
  if (!in_memory()) fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}' is read from files", name_);
  tensors_.clear();
  by_name_.clear();
  memory_.clear();
}

const Model::Location& Model::locate(const std::string& tensor) const {
  const auto it = by_name_.find(tensor);
  if (it == by_name_.end()) {
    if (in_memory()) fail(ALLOY_ERR_NOT_FOUND, "model '{}' has no tensor '{}'", name_, tensor);
    fail(ALLOY_ERR_NOT_FOUND, "model '{}' ({}) has no tensor '{}'", name_, path_, tensor);
  }
  return it->second;
}

const TensorEntry* Model::find(const std::string& tensor) const {
  const auto it = by_name_.find(tensor);
  return it == by_name_.end() ? nullptr : &tensors_[it->second.entry];
}

Tensor Model::read(const std::string& tensor) const {
  const Location& at = locate(tensor);
  if (at.file == kInMemory) return memory_[at.entry];
  return files_[at.file]->tensor(tensors_[at.entry]);
}

void Model::release(const std::string& tensor) const {
  const Location& at = locate(tensor);
  if (at.file == kInMemory) return;
  const TensorEntry& entry = tensors_[at.entry];
  files_[at.file]->mapped().release(entry.offset, entry.bytes);
}

const std::string& Model::file_of(const std::string& tensor) const {
  const Location& at = locate(tensor);
  if (at.file == kInMemory) return name_;
  return files_[at.file]->path();
}

std::vector<std::string> Model::files() const {
  std::vector<std::string> paths;
  for (const auto& file : files_) paths.push_back(file->path());
  return paths;
}

void Model::check_intact() const {
  for (const auto& file : files_) file->check_intact();
}

void Registry::check_intact() const {
  if (sigbus_guard::damage_count() == 0) return;
  for (const auto& model : models_) model->check_intact();
}

int32_t Registry::add_memory_model(std::string name, int32_t role) {
  models_.push_back(std::make_unique<Model>(std::move(name), role));
  return size() - 1;
}

int32_t Registry::add_model(std::string name, const std::string& path, int32_t role) {
  models_.push_back(std::make_unique<Model>(std::move(name), path, role));
  return size() - 1;
}

}  // namespace alloy
