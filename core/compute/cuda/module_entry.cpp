// The exported C entry points of liballoy_cuda.so (see module_entry.hpp). No exception
// crosses them: failures become a status and a message.
#include "compute/cuda/module_entry.hpp"

#include <cuda_runtime_api.h>

#include <cstring>

#include "compute/cuda/cuda_provider.hpp"
#include "error.hpp"

namespace {

void write(char* out, uint64_t size, const std::string& text) {
  if (!out || size == 0) return;
  const uint64_t n = std::min<uint64_t>(text.size(), size - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

}  // namespace

ALLOY_CUDA_EXPORT uint32_t alloy_cuda_interface_version() {
  return alloy::kProviderInterfaceVersion;
}

ALLOY_CUDA_EXPORT int32_t alloy_cuda_device_count(char* error, uint64_t error_size) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess) return count;
  if (status == cudaErrorNoDevice) return 0;
  write(error, error_size,
        status == cudaErrorInsufficientDriver
            ? std::string("no CUDA driver on this machine, or one older than the module's runtime")
            : fmt::format("CUDA cannot start: {} ({})", cudaGetErrorString(status),
                          cudaGetErrorName(status)));
  return -1;
}

ALLOY_CUDA_EXPORT int32_t alloy_cuda_describe(int32_t ordinal, char* out, uint64_t size) {
  cudaDeviceProp props{};
  const cudaError_t status = cudaGetDeviceProperties(&props, ordinal);
  if (status != cudaSuccess) {
    write(out, size, cudaGetErrorString(status));
    return ALLOY_ERR_UNSUPPORTED;
  }
  write(out, size,
        fmt::format("{}, {:.1f} GiB, compute {}.{}", props.name,
                    props.totalGlobalMem / double(1ull << 30), props.major, props.minor));
  return ALLOY_OK;
}

ALLOY_CUDA_EXPORT alloy::Provider* alloy_cuda_create(int32_t ordinal, uint64_t max_device_memory,
                                                     int32_t* status, char* error,
                                                     uint64_t error_size) {
  try {
    alloy::ProviderOptions options;
    options.max_device_memory = max_device_memory;
    return new alloy::CudaProvider(ordinal, options);
  } catch (const alloy::Error& e) {
    if (status) *status = e.status();
    write(error, error_size, e.what());
  } catch (const std::exception& e) {
    if (status) *status = ALLOY_ERR_INTERNAL;
    write(error, error_size, e.what());
  }
  return nullptr;
}
