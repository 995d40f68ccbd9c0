// The CUDA provider through the CLI: without a device, `--device cuda` is one clear line and a
// non-zero exit; with one, Task Arithmetic and TIES on the GPU write what the CPU writes, to
// float tolerance. The GPU cases skip, saying why, where no device is present.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>

#include "compute/provider.hpp"
#include "error.hpp"
#include "model_set.hpp"
#include "run_alloy.hpp"

namespace alloy::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Why "cuda:0" cannot be used here, or empty when it can.
std::string cuda_unavailable() {
  try {
    create_provider("cuda:0");
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(CudaCli, ProvidersListsCpuAndSaysWhatCudaIs) {
  const RunResult r = run_alloy({"providers"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("cpu      available"));
  const std::string why = cuda_unavailable();
  if (why.empty()) {
    EXPECT_THAT(r.out, HasSubstr("cuda:0   available"));
  } else {
    EXPECT_THAT(r.out, HasSubstr("cuda     unavailable"));
  }
  EXPECT_THAT(r.out, HasSubstr("CUDA module: "));
}

TEST(CudaCli, MergeWithoutADeviceFailsWithOneLine) {
  const std::string why = cuda_unavailable();
  if (why.empty()) GTEST_SKIP() << "a CUDA device is present";
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  const RunResult r =
      run_merge(dir, merge_config(set, "task_arithmetic", "{lambda: 0.3}"), {"--device", "cuda"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("alloy: error: device \"cuda\" is unavailable: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  expect_no_output(dir);
}

TEST(CudaCli, MaxDeviceMemoryMustBeASize) {
  TempDir dir;
  const ModelSet set = make_model_set(dir.path(), 2);
  const std::string err = failing_merge(dir, merge_config(set, "task_arithmetic", "{}"),
                                        {"--device", "cuda", "--max-device-memory", "lots"});
  EXPECT_THAT(err, HasSubstr("--max-device-memory 'lots'"));
}

// The same merge on the CPU and on cuda:0.
struct DeviceCase {
  const char* name;
  const char* dtype;
  const char* method;
  const char* params;
  std::vector<std::string> model_params;
  const char* extra;
};

// gtest would otherwise print the case as raw bytes in test listings.
void PrintTo(const DeviceCase& c, std::ostream* os) { *os << c.name; }

class CudaMatchesCpu : public ::testing::TestWithParam<DeviceCase> {
 protected:
  void SetUp() override {
    if (const std::string why = cuda_unavailable(); !why.empty()) {
      GTEST_SKIP() << "no CUDA device to compare with the CPU: " << why;
    }
  }
};

TEST_P(CudaMatchesCpu, SameOutputToFloatTolerance) {
  const DeviceCase& c = GetParam();
  TempDir cpu_dir, cuda_dir;
  const ModelSet set = make_model_set(cpu_dir.path(), 4, c.dtype);
  const std::string config = merge_config(set, c.method, c.params, c.model_params, c.extra);
  const RunResult cpu = run_merge(cpu_dir, config, {"--device", "cpu"});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  const RunResult cuda =
      run_merge(cuda_dir, config, {"--device", "cuda:0", "--max-device-memory", "1GB"});
  ASSERT_EQ(cuda.exit_code, 0) << cuda.err;
  const auto want = read_model_f32(cpu_dir.file("out"));
  const auto got = read_model_f32(cuda_dir.file("out"));
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    const auto& g = got.at(name);
    ASSERT_EQ(w.size(), g.size()) << name;
    for (std::size_t i = 0; i < w.size(); ++i) {
      ASSERT_NEAR(w[i], g[i], 1e-5 * std::max(1.0f, std::fabs(w[i]))) << name << "[" << i << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, CudaMatchesCpu,
    ::testing::Values(
        DeviceCase{"TaskArithmetic",
                   "F32",
                   "task_arithmetic",
                   "{lambda: 0.3}",
                   {"{weight: 0.5}", "", "{weight: 2.0}", ""},
                   ""},
        DeviceCase{"TaskArithmeticBf16", "BF16", "task_arithmetic", "{normalize: true}", {}, ""},
        DeviceCase{"Ties", "F32", "ties", "{density: 0.2, lambda: 0.7}", {}, ""},
        DeviceCase{"TiesModelScope",
                   "F32",
                   "ties",
                   "{trim_scope: model, disjoint: sum, lambda: 0.3}",
                   {"{density: 0.2}", "{density: 0.1}", "{density: 0.6}", "{density: 0.0}"},
                   ""},
        DeviceCase{"TiesF16", "F16", "ties", "{density: 0.5}", {}, "out_dtype: float32\n"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace alloy::test
