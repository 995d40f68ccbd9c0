// The message of the alloy::Error a call throws, checking its status; fails the test if the
// call throws nothing.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "error.hpp"

namespace alloy::test {

template <typename Action>
std::string error_of(Action action, alloy_status status = ALLOY_ERR_IO) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

}  // namespace alloy::test
