#include <csignal>
#include <cstdio>
#include <string>

#include "commands.hpp"
#include "error.hpp"

namespace alloy::cli {

void print_error(const std::string& message) {
  std::string indented;
  for (char c : message) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  std::fprintf(stderr, "alloy: error: %s\n", indented.c_str());
}

int job_failed(const std::exception& error) {
  print_error(error.what());
  const auto* alloy_error = dynamic_cast<const Error*>(&error);
  return alloy_error && alloy_error->status() == ALLOY_ERR_CANCELLED ? 130 : 1;
}

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted = true; }
}  // namespace

const std::atomic<bool>* cancel_on_interrupt() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  return &g_interrupted;
}

}  // namespace alloy::cli
