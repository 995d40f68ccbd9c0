// libFuzzer target: the Hugging Face shard index parser (model.safetensors.index.json, untrusted:
// it names the files alloy opens). alloy::Error is the expected rejection; any other exception
// escapes and is reported. An accepted index must only name plain files beside it and valid
// tensor names; a violation traps.
#include <cstddef>
#include <cstdint>
#include <string>

#include "error.hpp"
#include "io/model_files.hpp"
#include "io/safetensors.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool plain_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  alloy::ShardIndex index;
  try {
    index = alloy::parse_shard_index(text, "fuzz.index.json");
  } catch (const alloy::Error&) {
    return 0;  // a rejected index: the expected outcome for most inputs
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    check(alloy::tensor_name_problem(tensor).empty());
    check(plain_file_name(shard));
  }
  return 0;
}
