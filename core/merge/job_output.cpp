#include "merge/job_output.hpp"

#include <alloy/alloy.h>

#include "error.hpp"

namespace alloy {

void FolderOutput::write(const std::string& name, const Tensor& tensor, Provider& provider) {
  if (tensor.device().device_type == kDLCPU) {
    writer_.write(name, tensor.data(), tensor.nbytes());
    return;
  }
  std::vector<char> host(tensor.nbytes());
  provider.download(tensor, host.data(), host.size());
  writer_.write(name, host.data(), host.size());
}

void MemoryOutput::declare(const std::string& name, DType dtype, const Shape& shape) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (writing_) fail(ALLOY_ERR_UNSUPPORTED, "output '{}' declared after the first write", name);
  if (name.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "an output needs a name");
  if (!declared_.emplace(name, std::make_pair(dtype, shape)).second) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "output '{}' declared twice", name);
  }
  order_.push_back(name);
}

const std::pair<DType, Shape>& MemoryOutput::find(const std::string& name) const {
  const auto it = declared_.find(name);
  if (it == declared_.end()) fail(ALLOY_ERR_NOT_FOUND, "output '{}' was not declared", name);
  return it->second;
}

DType MemoryOutput::declared_dtype(const std::string& name) const { return find(name).first; }

const Shape& MemoryOutput::declared_shape(const std::string& name) const {
  return find(name).second;
}

// Nothing reads metadata of a model held in memory; the rule that it comes first still holds,
// so a strategy behaves the same whoever runs it.
void MemoryOutput::set_metadata(const std::string& key, const std::string&) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (writing_) fail(ALLOY_ERR_UNSUPPORTED, "metadata '{}' set after the first output", key);
}

void MemoryOutput::write(const std::string& name, const Tensor& tensor, Provider& provider) {
  find(name);
  Tensor copy = provider.allocate(tensor.dtype(), tensor.shape());
  provider.copy(copy, provider.to_device(tensor));  // e.g. an integer tensor read from a file
  std::lock_guard<std::mutex> lock(mutex_);
  writing_ = true;
  if (!written_.emplace(name, std::move(copy)).second) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "output '{}' written twice", name);
  }
}

std::vector<std::pair<std::string, Tensor>> MemoryOutput::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const std::string& name : order_) {
    auto it = written_.find(name);
    if (it == written_.end()) fail(ALLOY_ERR_PLUGIN, "output '{}' was never put", name);
    out.emplace_back(name, std::move(it->second));
  }
  written_.clear();
  return out;
}

}  // namespace alloy
