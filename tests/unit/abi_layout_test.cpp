// ABI 1.0's layout, frozen: members only ever get appended, so every offset below holds for
// every later 1.x header (ONNX Runtime's rule). The numbers were read off the frozen header in
// tests/frozen/abi-1.0 on x86_64 Linux; this file compiles against the current one.
#include <gtest/gtest.h>

#include <alloy/alloy.h>

#include <cstddef>

namespace {

constexpr bool layout_checked() {
  static_assert(offsetof(alloy_plugin, abi_major) == 0, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, param_spec_size) == 12, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, id) == 16, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, params) == 40, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, param_count) == 48, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, flags) == 52, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, begin) == 56, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, merge) == 64, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, run) == 72, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_plugin, end) == 80, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_param_spec, name) == 0, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_param_spec, type) == 8, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_param_spec, scope) == 12, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_param_spec, default_value) == 16, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_param_spec, doc) == 24, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_param_spec, choices) == 32, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, struct_size) == 8, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, log) == 16, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, is_cancelled) == 48, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, param_f64) == 56, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, param_string) == 80, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, model_count) == 88, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, tensor_describe) == 144, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, tensor_get) == 152, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, tensor_release) == 168, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, tensor_upload) == 192, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, output_declare) == 200, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, output_put) == 224, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, copy) == 232, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, axpby) == 272, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, magnitude_histogram) == 304, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, sign_elect) == 312, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, where) == 320, "ABI 1.0 layout changed");
  static_assert(offsetof(alloy_host, gemm) == 328, "ABI 1.0 layout changed");
  return true;
}

TEST(AbiLayout, MembersKeepTheirAbi10Offsets) {
  EXPECT_TRUE(layout_checked());
  // Tables may only grow.
  EXPECT_GE(sizeof(alloy_plugin), 88u);
  EXPECT_GE(sizeof(alloy_param_spec), 40u);
  EXPECT_GE(sizeof(alloy_host), 336u);
  EXPECT_EQ(ALLOY_ABI_MAJOR, 1);
}

}  // namespace
