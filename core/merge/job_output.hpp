// Where a merge job's outputs go: a sharded safetensors folder that appears only when the job
// succeeds (a merge), or tensors held in memory (a strategy that another strategy runs inside its
// job, alloy_host.strategy_run). Both fix the outputs' names, dtypes and shapes by declaration
// before anything is written; the job converts each tensor to its declared dtype first.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "compute/provider.hpp"
#include "io/safetensors_writer.hpp"

namespace alloy {

class JobOutput {
 public:
  virtual ~JobOutput() = default;
  // Before the first write only. Throws for a duplicate or invalid name.
  virtual void declare(const std::string& name, DType dtype, const Shape& shape) = 0;
  virtual bool declared(const std::string& name) const = 0;
  virtual DType declared_dtype(const std::string& name) const = 0;
  virtual const Shape& declared_shape(const std::string& name) const = 0;
  virtual const std::vector<std::string>& names() const = 0;
  // Before the first write only (then ALLOY_ERR_UNSUPPORTED).
  virtual void set_metadata(const std::string& key, const std::string& value) = 0;
  // Stores a declared tensor of its declared dtype and shape, each once; thread-safe. The
  // tensor stays the caller's: it is copied.
  virtual void write(const std::string& name, const Tensor& tensor, Provider& provider) = 0;
};

// A merge's output folder (SafetensorsWriter): finish() renames it into place.
class FolderOutput final : public JobOutput {
 public:
  FolderOutput(const std::string& dir, const WriterOptions& options) : writer_(dir, options) {}
  void declare(const std::string& name, DType dtype, const Shape& shape) override {
    writer_.declare(name, dtype, shape);
  }
  bool declared(const std::string& name) const override { return writer_.declared(name); }
  DType declared_dtype(const std::string& name) const override {
    return writer_.declared_dtype(name);
  }
  const Shape& declared_shape(const std::string& name) const override {
    return writer_.declared_shape(name);
  }
  const std::vector<std::string>& names() const override { return writer_.names(); }
  void set_metadata(const std::string& key, const std::string& value) override {
    writer_.set_metadata(key, value);
  }
  void write(const std::string& name, const Tensor& tensor, Provider& provider) override;
  SafetensorsWriter& writer() { return writer_; }

 private:
  SafetensorsWriter writer_;
};

// Outputs kept as tensors on the job's provider, for the job that ran the strategy.
class MemoryOutput final : public JobOutput {
 public:
  void declare(const std::string& name, DType dtype, const Shape& shape) override;
  bool declared(const std::string& name) const override { return declared_.count(name) > 0; }
  DType declared_dtype(const std::string& name) const override;
  const Shape& declared_shape(const std::string& name) const override;
  const std::vector<std::string>& names() const override { return order_; }
  void set_metadata(const std::string& key, const std::string& value) override;
  void write(const std::string& name, const Tensor& tensor, Provider& provider) override;
  // Every output in declaration order; throws naming the first one never written.
  std::vector<std::pair<std::string, Tensor>> take();

 private:
  const std::pair<DType, Shape>& find(const std::string& name) const;
  std::vector<std::string> order_;
  std::map<std::string, std::pair<DType, Shape>> declared_;
  std::map<std::string, Tensor> written_;
  std::mutex mutex_;
  bool writing_ = false;
};

}  // namespace alloy
