#include "compute/provider.hpp"

#include <cctype>

#include "compute/cpu/cpu_provider.hpp"
#include "compute/cuda_module.hpp"
#include "error.hpp"

namespace alloy {
namespace {

// The ordinal of "cuda" (0) or "cuda:N" (N, decimal, below 2^15), or -1 for anything else.
int cuda_ordinal(const std::string& device) {
  if (device == "cuda") return 0;
  const std::string prefix = "cuda:";
  if (device.size() <= prefix.size() || device.size() > prefix.size() + 5 ||
      device.compare(0, prefix.size(), prefix) != 0) {
    return -1;
  }
  int ordinal = 0;
  for (std::size_t i = prefix.size(); i < device.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(device[i]))) return -1;
    ordinal = ordinal * 10 + (device[i] - '0');
  }
  return ordinal < (1 << 15) ? ordinal : -1;
}

}  // namespace

std::unique_ptr<Provider> create_provider(const std::string& device,
                                          const ProviderOptions& options) {
  if (device == "cpu") return std::make_unique<CpuProvider>();
  if (const int ordinal = cuda_ordinal(device); ordinal >= 0) {
    try {
      return create_cuda_provider(ordinal, options);
    } catch (const Error& e) {
      fail(e.status(), "device \"{}\" is unavailable: {}", device, e.what());
    }
  }
  fail(ALLOY_ERR_INVALID_ARGUMENT,
       "unknown device \"{}\": expected \"cpu\", \"cuda\" or \"cuda:N\" (N a device number)",
       device);
}

std::vector<ProviderAvailability> list_providers() {
  std::vector<ProviderAvailability> list{{"cpu", true, CpuProvider().describe()}};
  for (auto& cuda : list_cuda_providers()) list.push_back(std::move(cuda));
  return list;
}

}  // namespace alloy
