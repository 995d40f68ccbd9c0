// Boost.Program_options glue shared by the subcommands.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

#include "commands.hpp"

namespace alloy::cli {

namespace po = boost::program_options;

// Parses `args` against `visible` (+ positional names in `hidden`); prints usage for --help
// (returns 0 in *exit_code) and the parse error for bad usage (2). Returns true to go on.
bool parse_options(const Args& args, const char* usage_line, po::options_description& visible,
                   const po::options_description& hidden,
                   const po::positional_options_description& positional, po::variables_map& vm,
                   int* exit_code);

}  // namespace alloy::cli
