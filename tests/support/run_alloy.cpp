#include "run_alloy.hpp"

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
  return r;
}

}  // namespace alloy::test
