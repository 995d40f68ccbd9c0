// alloy providers: the compute devices this alloy can use here, and why one cannot.
#include <cstdio>

#include "compute/cuda_module.hpp"
#include "compute/provider.hpp"
#include "options.hpp"

namespace alloy::cli {

int providers_command(const Args& args) {
  po::options_description visible("providers options");
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy providers", visible, {}, {}, vm, &exit_code)) return exit_code;
  for (const ProviderAvailability& p : list_providers()) {
    std::printf("%-8s %-12s %s\n", p.device.c_str(), p.available ? "available" : "unavailable",
                p.detail.c_str());
  }
  std::printf("\nCUDA module: %s\n", cuda_module_path().c_str());
  return 0;
}

}  // namespace alloy::cli
