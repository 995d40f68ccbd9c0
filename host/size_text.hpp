// Sizes as people write them on a command line: "5GB", "500MB", "64KiB", "1000".
#pragma once

#include <cstdint>
#include <string>

namespace alloy::cli {

// False when `text` is not a number with an optional B, KB, MB, GB, KiB, MiB or GiB suffix.
bool parse_size(const std::string& text, uint64_t* bytes);

}  // namespace alloy::cli
