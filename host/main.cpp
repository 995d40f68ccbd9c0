// alloy: merges fine-tuned models with strategies loaded from plugins.
#include <cstdio>
#include <cstring>
#include <string>

#include <alloy/alloy.h>

#include "commands.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: alloy <command> [options]\n\n"
      "commands:\n"
      "  merge CONFIG.yaml -o OUTDIR   merge models as a mergekit-style config says\n"
      "  plugins                       list strategy plugins and their parameters\n"
      "  providers                     list compute devices and why one is unavailable\n"
      "  inspect FILE|DIR              list a model's tensors, dtypes, shapes, metadata\n"
      "  zoo build SUITE -o DIR        pretrain, make heads, fine-tune one model per task\n"
      "  eval MODEL --suite S --heads H  top-1 accuracy of a model on every task\n"
      "  train MODEL --task T -o OUT   fine-tune a model on one task through its frozen head\n"
      "  compare SPEC.yaml -o DIR      run and evaluate many merges; tables and charts\n\n"
      "`alloy <command> --help` shows a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string command = argv[1];
  const alloy::cli::Args args(argv + 2, argv + argc);
  if (command == "merge") return alloy::cli::merge_command(args);
  if (command == "plugins") return alloy::cli::plugins_command(args);
  if (command == "providers") return alloy::cli::providers_command(args);
  if (command == "inspect") return alloy::cli::inspect_command(args);
  if (command == "zoo") return alloy::cli::zoo_command(args);
  if (command == "eval") return alloy::cli::eval_command(args);
  if (command == "train") return alloy::cli::train_command(args);
  if (command == "compare") return alloy::cli::compare_command(args);
  if (command == "--help" || command == "-h" || command == "help") {
    usage(stdout);
    return 0;
  }
  if (command == "--version") {
    std::printf("alloy %s (plugin ABI %d.%d)\n", ALLOY_VERSION, ALLOY_ABI_MAJOR, ALLOY_ABI_MINOR);
    return 0;
  }
  std::fprintf(stderr, "alloy: unknown command '%s'\n\n", command.c_str());
  usage(stderr);
  return 2;
}
