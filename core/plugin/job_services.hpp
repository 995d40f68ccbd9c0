// What the host table needs from a running job. The merge job implements it; the host table
// (the C ABI side) only forwards to it, so the ABI layer knows nothing of configs or writers.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <alloy/alloy.h>

#include "compute/provider.hpp"
#include "merge/param_value.hpp"
#include "model/tensor_training.hpp"
#include "tensor/registry.hpp"

namespace alloy {

class JobServices {
 public:
  virtual ~JobServices() = default;
  virtual const Registry& registry() const = 0;
  virtual Provider& provider() = 0;
  virtual int32_t base_model() const = 0;
  // Throws ALLOY_ERR_NOT_FOUND for a name outside the schema or a per-model parameter asked
  // with ALLOY_GLOBAL that has no top-level value or default; ALLOY_ERR_INVALID_ARGUMENT for a
  // bad model index. A global parameter asked with a model index gives its one value.
  virtual const ParamValue& param(const std::string& name, int32_t model) const = 0;
  virtual void log(int32_t level, const std::string& message) = 0;
  virtual void progress(uint64_t done, uint64_t total) = 0;
  virtual bool cancelled() const = 0;
  virtual void declare_output(const std::string& name, DType dtype, const Shape& shape) = 0;
  virtual const std::vector<std::string>& output_names() const = 0;
  virtual void put_output(const std::string& name, const Tensor& tensor) = 0;

  // ABI 1.1 (see alloy.h). The ones that change the registry throw ALLOY_ERR_UNSUPPORTED when
  // called from merge(), where other threads read the registry.
  virtual int32_t create_model(const std::string& name) = 0;
  virtual void put_model_tensor(int32_t model, const std::string& name, const Tensor& tensor) = 0;
  virtual void drop_model(int32_t model) = 0;
  virtual int32_t task_count() const = 0;
  virtual const std::string& task_name(int32_t task) const = 0;
  virtual int32_t model_task(int32_t model) const = 0;
  virtual int32_t collect_features(int32_t model, int32_t task, int64_t exemplars,
                                   const std::vector<std::string>& layers) = 0;

  // ABI 1.3. set_output_metadata throws ALLOY_ERR_UNSUPPORTED once outputs are being written;
  // train_model returns each step's loss.
  virtual void set_output_metadata(const std::string& key, const std::string& value) = 0;
  virtual std::vector<double> train_model(int32_t model, const std::vector<std::string>& tensors,
                                          const TensorTrainOptions& options) = 0;

  // ABI 1.4 (see alloy.h). task_inputs is -1 when the task, split or images are missing;
  // run_strategy changes the registry (ALLOY_ERR_UNSUPPORTED from merge()) and returns the index
  // of the derived model holding the strategy's output.
  virtual int64_t task_inputs(int32_t task, const std::optional<Split>& split) const = 0;
  virtual int32_t run_strategy(const std::string& strategy, const std::string& parameters,
                               const std::vector<int32_t>& models) = 0;
};

}  // namespace alloy

// One callback invocation. Defined here (not in the SDK) because it is opaque to plugins.
struct alloy_context {
  alloy::JobServices* job = nullptr;
  std::string error;
};

// A tensor handed to a plugin: the core tensor it owns a reference to. A zero-copy view of a
// model file remembers where it came from, so giving it back also drops its pages from memory
// (global passes over every tensor would otherwise keep whole models resident).
struct alloy_tensor {
  alloy::Tensor tensor;
  const alloy::Model* source = nullptr;
  std::string name;
  ~alloy_tensor() {
    if (source) source->release(name);
  }
};
