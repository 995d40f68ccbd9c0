#include "options.hpp"

#include <iostream>

namespace alloy::cli {

bool parse_options(const Args& args, const char* usage_line, po::options_description& visible,
                   const po::options_description& hidden,
                   const po::positional_options_description& positional, po::variables_map& vm,
                   int* exit_code) {
  visible.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(visible).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: " << usage_line << "\n\n" << visible << "\n";
      *exit_code = 0;
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "alloy: " << e.what() << "\nusage: " << usage_line << "\n";
    *exit_code = 2;
    return false;
  }
  return true;
}

}  // namespace alloy::cli
