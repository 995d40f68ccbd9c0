#include "run_alloy.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace alloy::test {
namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  std::remove(path.c_str());
  return s.str();
}

// In a sanitizer build (scripts/sanitize.sh) the child is checked too. Its report must fail the
// test even where the test expects alloy to fail, so it is found by its text, not its exit code.
bool has_sanitizer_report(const std::string& err) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
    if (err.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

RunResult run_alloy(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  const std::string stem = "/tmp/alloy-run-" + std::to_string(getpid()) + "-" +
                           std::to_string(reinterpret_cast<std::uintptr_t>(&args));
  std::string command = "env";
  for (const auto& e : env) command += " " + quote(e);
  command += " " + quote(ALLOY_BINARY);
  for (const auto& a : args) command += " " + quote(a);
  command += " </dev/null >" + stem + ".out 2>" + stem + ".err";
  const int status = std::system(command.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(stem + ".out");
  r.err = slurp(stem + ".err");
  if (has_sanitizer_report(r.err))
    ADD_FAILURE() << "sanitizer report from " << command << "\n" << r.err;
  return r;
}

}  // namespace alloy::test
