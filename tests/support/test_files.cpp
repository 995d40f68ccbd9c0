#include "test_files.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "tensor/dtype.hpp"

namespace alloy::test {

namespace {

void write_bytes(const std::string& path, const std::string& head,
                 const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string length_prefix(uint64_t n) {
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return prefix;
}

template <typename Convert>
std::vector<uint8_t> halves(const std::vector<float>& values, Convert convert) {
  std::vector<uint16_t> out;
  out.reserve(values.size());
  for (const float v : values) out.push_back(convert(v));
  return as_bytes(out);
}

}  // namespace

void write_raw_safetensors(const std::string& path, const std::string& header_json,
                           const std::vector<uint8_t>& data) {
  write_bytes(path, length_prefix(header_json.size()) + header_json, data);
}

void write_safetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint8_t> data;
  for (const RawTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_raw_safetensors(path, text, data);
}

void write_text(const std::string& path, const std::string& text) { write_bytes(path, text, {}); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string make_temp_dir() {
  std::string pattern = "/tmp/alloy-test-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<float> random_floats(std::size_t count, uint32_t seed, float low, float high) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = distribution(engine);
  return values;
}

std::vector<uint8_t> f16_bytes(const std::vector<float>& values) {
  return halves(values, f32_to_f16);
}

std::vector<uint8_t> bf16_bytes(const std::vector<float>& values) {
  return halves(values, f32_to_bf16);
}

}  // namespace alloy::test
