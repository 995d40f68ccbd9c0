// The host side of the CUDA provider module (liballoy_cuda.so). The module is loaded on first
// use, with dlopen, so that `alloy` itself never links CUDA and runs where there is no GPU or
// no driver. This file knows the module's few C entry points and nothing of CUDA.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compute/provider.hpp"

namespace alloy {

// Where the module is looked for: $ALLOY_CUDA_MODULE when set, else lib/alloy/liballoy_cuda.so
// beside the executable's bin/ folder (the build tree mirrors the install tree).
std::string cuda_module_path();

// The provider for CUDA device `ordinal`. Throws alloy::Error with one line saying why not:
// the module is missing or does not load (ALLOY_ERR_UNSUPPORTED), it was built against another
// provider interface (ALLOY_ERR_ABI), no driver or no such device (ALLOY_ERR_UNSUPPORTED).
std::unique_ptr<Provider> create_cuda_provider(int ordinal, const ProviderOptions& options);

// One entry per device the module sees, or one unavailable entry "cuda" saying why none.
std::vector<ProviderAvailability> list_cuda_providers();

}  // namespace alloy
