#include "compute/provider.hpp"

#include <cctype>

#include "compute/cpu/cpu_provider.hpp"
#include "error.hpp"

namespace alloy {
namespace {

// "cuda" or "cuda:N" with N a decimal device number.
bool is_cuda_device(const std::string& device) {
  if (device == "cuda") return true;
  const std::string prefix = "cuda:";
  if (device.size() <= prefix.size() || device.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  for (std::size_t i = prefix.size(); i < device.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(device[i]))) return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Provider> create_provider(const std::string& device) {
  if (device == "cpu") return std::make_unique<CpuProvider>();
  if (is_cuda_device(device)) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "device \"{}\": the CUDA provider module is not built into this alloy yet; use "
         "--device cpu",
         device);
  }
  fail(ALLOY_ERR_INVALID_ARGUMENT,
       "unknown device \"{}\": expected \"cpu\", \"cuda\" or \"cuda:N\" (N a device number)",
       device);
}

}  // namespace alloy
