// The layouts of ABI 1.0 to 1.4, frozen: members only ever get appended, so every offset
// below holds for every later 1.x header (ONNX Runtime's rule). The numbers were read off the
// frozen headers in tests/frozen/abi-1.* on x86_64 Linux; this file compiles against the current
// one.
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
  static_assert(offsetof(alloy_host, model_create) == 336, "ABI 1.1 layout changed");
  static_assert(offsetof(alloy_host, model_put) == 344, "ABI 1.1 layout changed");
  static_assert(offsetof(alloy_host, model_drop) == 352, "ABI 1.1 layout changed");
  static_assert(offsetof(alloy_host, task_count) == 360, "ABI 1.1 layout changed");
  static_assert(offsetof(alloy_host, task_name) == 368, "ABI 1.1 layout changed");
  static_assert(offsetof(alloy_host, model_task) == 376, "ABI 1.1 layout changed");
  static_assert(offsetof(alloy_host, features_collect) == 384, "ABI 1.1 layout changed");
  static_assert(ALLOY_ROLE_DERIVED == 3 && ALLOY_ROLE_FEATURES == 4, "ABI 1.1 constants changed");
  static_assert(offsetof(alloy_host, sym_eig) == 392, "ABI 1.2 layout changed");
  static_assert(offsetof(alloy_host, fill_random) == 400, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_host, output_metadata) == 408, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_host, model_train) == 416, "ABI 1.3 layout changed");
  // The options struct grows at its end like the tables (the host reads struct_size).
  static_assert(offsetof(alloy_train_options, objective) == 4, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, split) == 8, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, steps) == 16, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, batch_per_task) == 24, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, lr) == 32, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, weight_decay) == 64, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, schedule) == 72, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, flags) == 76, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, seed) == 80, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, tasks) == 88, "ABI 1.3 layout changed");
  static_assert(offsetof(alloy_train_options, task_count) == 96, "ABI 1.3 layout changed");
  static_assert(ALLOY_RANDOM_UNIFORM == 1 && ALLOY_RANDOM_NORMAL == 2 &&
                    ALLOY_OBJECTIVE_ENTROPY == 1 && ALLOY_OBJECTIVE_CROSS_ENTROPY == 2 &&
                    ALLOY_SCHEDULE_CONSTANT == 0 && ALLOY_SCHEDULE_COSINE == 1 &&
                    ALLOY_TRAIN_SHARED_GATES == 1,
                "ABI 1.3 constants changed");
  static_assert(offsetof(alloy_host, svd) == 424, "ABI 1.4 layout changed");
  static_assert(offsetof(alloy_host, task_inputs) == 432, "ABI 1.4 layout changed");
  static_assert(offsetof(alloy_host, strategy_run) == 440, "ABI 1.4 layout changed");
  static_assert(ALLOY_SVD_EXACT == 1 && ALLOY_SVD_RANDOMIZED == 2 && ALLOY_OBJECTIVE_TASK_ID == 3 &&
                    ALLOY_SCHEDULE_LINEAR == 2,
                "ABI 1.4 constants changed");
  return true;
}

TEST(AbiLayout, MembersKeepTheirAbi10Offsets) {
  EXPECT_TRUE(layout_checked());
  // Tables may only grow.
  EXPECT_GE(sizeof(alloy_plugin), 88u);
  EXPECT_GE(sizeof(alloy_param_spec), 40u);
  EXPECT_GE(sizeof(alloy_host), 448u);  // 1.4
  EXPECT_GE(sizeof(alloy_train_options), 104u);
  EXPECT_EQ(ALLOY_ABI_MAJOR, 1);
  EXPECT_GE(ALLOY_ABI_MINOR, 4);
}

// A host table of 1.0's size holds no 1.1 member; the macro plugins use says so.
TEST(AbiLayout, HasMemberTellsAnOldHostFromANewOne) {
  alloy_host old_host{};
  old_host.struct_size = 336;
  EXPECT_TRUE(ALLOY_HAS_MEMBER(&old_host, alloy_host, gemm));
  EXPECT_FALSE(ALLOY_HAS_MEMBER(&old_host, alloy_host, model_create));
  alloy_host new_host{};
  new_host.struct_size = sizeof(alloy_host);
  EXPECT_TRUE(ALLOY_HAS_MEMBER(&new_host, alloy_host, features_collect));
}

}  // namespace
