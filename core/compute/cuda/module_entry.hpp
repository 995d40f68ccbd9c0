// The C entry points of liballoy_cuda.so: the only symbols it exports. The host and the module
// are built from the same sources, so a Provider* crosses as a C++ object; the interface
// version (kProviderInterfaceVersion) guards against a module from another build.
#pragma once

#include <cstdint>

namespace alloy {
class Provider;
}

#define ALLOY_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

using alloy_cuda_interface_version_fn = uint32_t (*)();
// Number of devices, or -1 with `error` (NUL-terminated, at most error_size bytes) saying why
// none can be used (no driver, driver too old).
using alloy_cuda_device_count_fn = int32_t (*)(char* error, uint64_t error_size);
// "NVIDIA H100 80GB HBM3, 79.2 GiB, compute 9.0" into out.
using alloy_cuda_describe_fn = int32_t (*)(int32_t ordinal, char* out, uint64_t size);
// A new provider (delete it through Provider's virtual destructor), or null with *status an
// ALLOY_ERR_* code and `error` the reason.
using alloy_cuda_create_fn = alloy::Provider* (*)(int32_t ordinal, uint64_t max_device_memory,
                                                  int32_t* status, char* error,
                                                  uint64_t error_size);
