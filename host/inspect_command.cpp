// alloy inspect FILE|DIR: a model's tensors, dtypes, shapes and metadata, read from the
// headers only.
#include <cstdio>

#include "error.hpp"
#include "options.hpp"
#include "tensor/registry.hpp"

namespace alloy::cli {

int inspect_command(const Args& args) {
  po::options_description visible("inspect options");
  po::options_description hidden;
  std::string path;
  hidden.add_options()("path", po::value(&path)->required(), "model path");
  po::positional_options_description positional;
  positional.add("path", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy inspect FILE|DIR", visible, hidden, positional, vm, &exit_code)) {
    return exit_code;
  }
  try {
    const Model model(path, path, ALLOY_ROLE_MODEL);
    uint64_t total = 0;
    for (const auto& file : model.opened_files()) {
      std::printf("%s\n", file->path().c_str());
      for (const auto& [key, value] : file->header().metadata) {
        std::printf("  metadata %s = %s\n", key.c_str(), value.c_str());
      }
    }
    std::printf("%-60s %-5s %-20s %s\n", "tensor", "dtype", "shape", "bytes");
    for (const TensorEntry& t : model.tensors()) {
      std::printf("%-60s %-5s %-20s %llu\n", t.name.c_str(), dtype_name(t.dtype),
                  shape_string(t.shape).c_str(), static_cast<unsigned long long>(t.bytes));
      total += t.bytes;
    }
    std::printf("%zu tensors, %.3f GB\n", model.tensors().size(), total / 1e9);
    return 0;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace alloy::cli
