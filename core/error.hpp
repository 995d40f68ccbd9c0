// The one exception type inside liballoy. It carries an ABI status code so the host table can
// hand failures to plugins as (status, message) without losing what kind of failure it was.
#pragma once

#include <stdexcept>
#include <string>

#include <alloy/alloy.h>
#include <fmt/format.h>

namespace alloy {

class Error : public std::runtime_error {
 public:
  Error(alloy_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  alloy_status status() const { return status_; }

 private:
  alloy_status status_;
};

template <typename... Args>
[[noreturn]] void fail(alloy_status status, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(status, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace alloy
