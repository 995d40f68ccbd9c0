#include "compute/cuda/cuda_provider.hpp"

#include "error.hpp"

namespace alloy {

CudaProvider::CudaProvider(int ordinal, const ProviderOptions& options)
    : device_(std::make_shared<cuda::Device>(ordinal, options.max_device_memory)),
      checks_(DLDevice{kDLCUDA, ordinal}),
      nn_checks_(DLDevice{kDLCUDA, ordinal}) {}

std::string CudaProvider::name() const { return fmt::format("cuda:{}", device_->ordinal()); }

std::string CudaProvider::describe() const {
  std::string text = fmt::format("{} ({})", name(), device_->name());
  if (device_->max_memory()) {
    text += fmt::format(", capped at {:.2f} GiB", device_->max_memory() / double(1ull << 30));
  }
  return text;
}

Tensor CudaProvider::allocate(DType dtype, const Shape& shape) {
  const uint64_t numel = shape_numel(shape);
  if (numel > UINT64_MAX / dtype_size(dtype)) {
    fail(ALLOY_ERR_SHAPE, "allocate: {} {} does not fit in 64-bit byte counts", dtype_name(dtype),
         shape_string(shape));
  }
  const uint64_t bytes = numel * dtype_size(dtype);
  Tensor tensor(dtype, shape, std::make_shared<cuda::DeviceBuffer>(device_, bytes));
  if (bytes) {
    cuda::check(cudaMemsetAsync(tensor.data(), 0, bytes, begin()), "allocate (zero fill)");
  }
  return tensor;
}

Tensor CudaProvider::to_device(const Tensor& tensor) {
  if (!tensor.defined()) fail(ALLOY_ERR_INVALID_ARGUMENT, "to_device: tensor is a null tensor");
  if (tensor.device().device_type == kDLCUDA) {
    checks_.transfer("to_device", tensor, tensor.nbytes());  // this device, not another GPU
    return tensor;
  }
  if (tensor.device().device_type != kDLCPU) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "to_device: tensor ({}) is neither in host memory nor on {}",
         OpChecks::describe(tensor), name());
  }
  const uint64_t bytes = tensor.nbytes();
  Tensor on_device(tensor.dtype(), tensor.shape(),
                   std::make_shared<cuda::DeviceBuffer>(device_, bytes));
  device_->upload(on_device.data(), tensor.data(), bytes);
  return on_device;
}

void CudaProvider::download(const Tensor& tensor, void* dst, uint64_t bytes) {
  checks_.transfer("download", tensor, bytes);
  device_->download(dst, tensor.data(), bytes);
}

void CudaProvider::upload(Tensor& tensor, const void* src, uint64_t bytes) {
  checks_.upload(tensor, bytes);
  device_->upload(tensor.data(), src, bytes);
}

}  // namespace alloy
