#include "compare/run_key.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

namespace alloy {
namespace fs = std::filesystem;
namespace {

nlohmann::json stat_file(const fs::path& path, std::error_code& error) {
  const auto size = fs::file_size(path, error);
  if (error) return {{"missing", true}};
  const auto time = fs::last_write_time(path, error);
  if (error) return {{"missing", true}};
  return {{"size", size}, {"mtime", time.time_since_epoch().count()}};
}

}  // namespace

nlohmann::json file_fingerprint(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path, error)) {
      if (entry.is_regular_file(error)) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    nlohmann::json all = nlohmann::json::object();
    for (const fs::path& file : files) all[file.filename().string()] = stat_file(file, error);
    return all;
  }
  return stat_file(path, error);
}

std::string run_key(const nlohmann::json& inputs) {
  uint64_t hash = 1469598103934665603ull;        // FNV-1a 64
  for (const unsigned char c : inputs.dump()) {  // nlohmann::json objects keep keys sorted
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace alloy
