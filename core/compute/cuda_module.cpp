#include "compute/cuda_module.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "compute/cuda/module_entry.hpp"
#include "error.hpp"

namespace alloy {
namespace {

namespace fs = std::filesystem;

// The loaded module's entry points. Loaded once per process and never unloaded: providers and
// the buffers they made hold code of the module until exit.
struct CudaModule {
  boost::dll::shared_library library;
  alloy_cuda_device_count_fn device_count = nullptr;
  alloy_cuda_describe_fn describe = nullptr;
  alloy_cuda_create_fn create = nullptr;
};

// dlerror()'s text, which names the precise reason (a missing libcublas, an undefined symbol).
std::string load_reason(const std::system_error& e) {
  const std::string what = e.what();
  const std::string marker = "dlerror system message: ";
  const auto at = what.find(marker);
  return at == std::string::npos ? what : what.substr(at + marker.size());
}

// The module, or throws the one-line reason it cannot be had.
const CudaModule& module() {
  static std::mutex mutex;
  static CudaModule* loaded = nullptr;
  static std::string failure;
  std::lock_guard lock(mutex);
  if (loaded) return *loaded;
  if (!failure.empty()) throw Error(ALLOY_ERR_UNSUPPORTED, failure);
  const std::string path = cuda_module_path();
  auto* candidate = new CudaModule();
  try {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      failure = fmt::format(
          "the CUDA provider module {} is not there: this alloy was built without CUDA "
          "(configure with -DALLOY_CUDA=ON where nvcc is installed)",
          path);
      throw Error(ALLOY_ERR_UNSUPPORTED, failure);
    }
    try {
      candidate->library.load(path,
                              boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::system_error& e) {
      failure = fmt::format("cannot load the CUDA provider module {}: {}", path, load_reason(e));
      throw Error(ALLOY_ERR_UNSUPPORTED, failure);
    }
    const char* symbols[] = {"alloy_cuda_interface_version", "alloy_cuda_device_count",
                             "alloy_cuda_describe", "alloy_cuda_create"};
    for (const char* symbol : symbols) {
      if (!candidate->library.has(symbol)) {
        failure = fmt::format("the CUDA provider module {} has no symbol {}: not an alloy module",
                              path, symbol);
        throw Error(ALLOY_ERR_UNSUPPORTED, failure);
      }
    }
    const uint32_t version = candidate->library.get<uint32_t()>("alloy_cuda_interface_version")();
    if (version != kProviderInterfaceVersion) {
      failure = fmt::format(
          "the CUDA provider module {} implements provider interface {}, this alloy {}: "
          "rebuild them together",
          path, version, kProviderInterfaceVersion);
      throw Error(ALLOY_ERR_UNSUPPORTED, failure);
    }
    candidate->device_count =
        &candidate->library.get<int32_t(char*, uint64_t)>("alloy_cuda_device_count");
    candidate->describe =
        &candidate->library.get<int32_t(int32_t, char*, uint64_t)>("alloy_cuda_describe");
    candidate->create =
        &candidate->library.get<alloy::Provider*(int32_t, uint64_t, int32_t*, char*, uint64_t)>(
            "alloy_cuda_create");
  } catch (...) {
    delete candidate;
    throw;
  }
  loaded = candidate;
  return *loaded;
}

}  // namespace

std::string cuda_module_path() {
  if (const char* env = std::getenv("ALLOY_CUDA_MODULE"); env && *env) return env;
  const fs::path exe_dir = boost::dll::program_location().parent_path().string();
  return (exe_dir.parent_path() / ALLOY_MODULE_SUBDIR / "liballoy_cuda.so")
      .lexically_normal()
      .string();
}

std::unique_ptr<Provider> create_cuda_provider(int ordinal, const ProviderOptions& options) {
  const CudaModule& cuda = module();
  char error[512] = {};
  int32_t status = ALLOY_ERR_INTERNAL;
  Provider* provider =
      cuda.create(ordinal, options.max_device_memory, &status, error, sizeof(error));
  if (!provider) throw Error(status, error);
  return std::unique_ptr<Provider>(provider);
}

std::vector<ProviderAvailability> list_cuda_providers() {
  std::vector<ProviderAvailability> list;
  try {
    const CudaModule& cuda = module();
    char text[512] = {};
    const int32_t count = cuda.device_count(text, sizeof(text));
    if (count <= 0) {
      list.push_back({"cuda", false, count < 0 ? text : "no CUDA device on this machine"});
      return list;
    }
    for (int32_t i = 0; i < count; ++i) {
      text[0] = '\0';
      cuda.describe(i, text, sizeof(text));
      list.push_back({fmt::format("cuda:{}", i), true, text});
    }
  } catch (const Error& e) {
    list.push_back({"cuda", false, e.what()});
  }
  return list;
}

}  // namespace alloy
