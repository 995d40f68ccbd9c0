// What a cached run's result depends on, as one hash: the strategy's file and version, the
// parameters, every input file's size and modification time (models, heads, task files), the
// device, the splits evaluated and alloy's version. Unchanged key: the cached result stands.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace alloy {

// Size and modification time of `path`, or of every file in it when it is a folder (not
// descending); {"missing": true} when it cannot be looked at (the run itself then fails).
nlohmann::json file_fingerprint(const std::string& path);

// 16 hex digits of a 64-bit FNV-1a hash of the JSON's canonical text (keys sorted).
std::string run_key(const nlohmann::json& inputs);

}  // namespace alloy
