// Files for tests, built by hand so that tests of alloy's reader and writer never depend on the
// code under test: raw safetensors bytes (also malformed ones), valid safetensors files from a
// list of tensors, temporary folders that clean up after themselves, and seeded random data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace alloy::test {

// One tensor of a hand-built safetensors file. `dtype` is the safetensors spelling ("F32",
// "BF16", ...) and is written as given, so a test may also use a name alloy does not know.
struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes exactly: the 8-byte little-endian length of `header_json`, `header_json`, `data`.
// Nothing is checked, so malformed files can be made.
void write_raw_safetensors(const std::string& path, const std::string& header_json,
                           const std::vector<uint8_t>& data);

// Writes a valid safetensors file: tensors in the given order, packed back to back, the header
// padded with spaces to a multiple of 8 bytes. `metadata` becomes "__metadata__" unless empty.
void write_safetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Writes `text` to `path` (index files, configs, anything else).
void write_text(const std::string& path, const std::string& text);
// The whole content of a file; throws std::runtime_error when it cannot be read.
std::string read_text(const std::string& path);

// A fresh, empty folder under /tmp, named alloy-test-XXXXXX. Not removed: see TempDir.
std::string make_temp_dir();

// A fresh folder under /tmp, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() : path_(make_temp_dir()) {}
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `count` floats uniform in [low, high); the same seed gives the same values on every run (with
// one standard library: std::uniform_real_distribution is not specified bit for bit).
std::vector<float> random_floats(std::size_t count, uint32_t seed, float low = -1.0f,
                                 float high = 1.0f);

// The bytes of `values` as stored in memory (little-endian on every machine alloy runs on).
template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& values) {
  const auto* p = reinterpret_cast<const uint8_t*>(values.data());
  return std::vector<uint8_t>(p, p + values.size() * sizeof(T));
}

// `values` rounded to F16 or BF16 (nearest even) and returned as their bytes.
std::vector<uint8_t> f16_bytes(const std::vector<float>& values);
std::vector<uint8_t> bf16_bytes(const std::vector<float>& values);

}  // namespace alloy::test
