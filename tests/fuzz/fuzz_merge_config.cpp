// libFuzzer target: the merge config parser (mergekit-style YAML, untrusted: configs are shared
// and downloaded). alloy::Error is the expected rejection; any other exception (a yaml-cpp one
// the parser failed to convert, a filesystem error from resolving a model path) escapes and is
// reported. An accepted config must hold what the parser promises; a violation traps.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "error.hpp"
#include "merge/config.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool config_dtype(const std::optional<alloy::DType>& dtype) {
  return !dtype || *dtype == alloy::DType::F32 || *dtype == alloy::DType::F16 ||
         *dtype == alloy::DType::BF16;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  alloy::MergeConfig config;
  try {
    config = alloy::parse_merge_config(text, "fuzz/config.yaml");
  } catch (const alloy::Error& e) {
    check(e.status() == ALLOY_ERR_INVALID_ARGUMENT);  // as documented
    return 0;  // a rejected config: the expected outcome for most inputs
  }
  check(config.source == "fuzz/config.yaml");
  check(!config.models.empty());
  for (const alloy::ModelConfig& m : config.models) {
    check(!m.model.empty());
    check(!m.path.empty());
  }
  if (config.base_model) check(!config.base_model->path.empty());
  check(config_dtype(config.dtype));
  check(config_dtype(config.out_dtype));
  return 0;
}
