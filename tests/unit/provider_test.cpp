// Provider conformance: every op of a compute provider against a naive reference computed
// here, with the same expectations for every device. Each provider is one instance of the
// suite; one this build or machine lacks (create_provider throws ALLOY_ERR_UNSUPPORTED) skips
// and says why.
#include "compute/provider.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <thread>

#include "error.hpp"
#include "provider_fixture.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Sizes for element-wise ops: empty, one, odd, and one past the CPU kernels' parallel grain.
const std::vector<uint64_t> kSizes = {0, 1, 7, 1001, 65537};

uint32_t bits_of(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Distance in units in the last place; NaN matches NaN, +0 matches -0.
int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  }
  if (a == b) return 0;
  const auto ordered = [](float f) {
    const auto i = static_cast<int64_t>(static_cast<int32_t>(bits_of(f)));
    return i < 0 ? std::numeric_limits<int32_t>::min() - i : i;
  };
  return std::abs(ordered(a) - ordered(b));
}

// Reports the first element further than max_ulps from the reference.
void expect_ulps(const std::vector<float>& got, const std::vector<float>& want, int64_t max_ulps,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (ulps(got[i], want[i]) > max_ulps) {
      ADD_FAILURE() << what << ": element " << i << " of " << got.size() << " is " << got[i]
                    << ", expected " << want[i];
      return;
    }
  }
}

// Random values on a grid of 1/levels, so that equal magnitudes and exact zeros are common.
std::vector<float> quantized(uint64_t n, uint32_t seed, float levels) {
  std::vector<float> values = test::random_floats(n, seed, -1.0f, 1.0f);
  for (float& v : values) v = std::round(v * levels) / levels;
  return values;
}

std::vector<float> magnitudes(std::vector<float> values) {
  for (float& v : values) v = std::fabs(v);
  return values;
}

float nth_largest_magnitude(const std::vector<float>& values, uint64_t k) {
  std::vector<float> m = magnitudes(values);
  std::nth_element(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(k - 1), m.end(),
                   std::greater<float>());
  return m[k - 1];
}

class ProviderTest : public test::ProviderFixture {
 protected:
  using ProviderFixture::tensor;
  // A 1-D tensor of the values.
  Tensor tensor(const std::vector<float>& values) {
    return tensor(values, {static_cast<int64_t>(values.size())});
  }
};

// --- creating providers ------------------------------------------------------------------

TEST(CreateProvider, CpuIsAlwaysThere) {
  const auto provider = create_provider("cpu");
  EXPECT_EQ(provider->name(), "cpu");
  EXPECT_EQ(provider->device().device_type, kDLCPU);
}

TEST(CreateProvider, CudaWorksOrSaysWhyNot) {
  for (const std::string device : {"cuda", "cuda:0", "cuda:12"}) {
    try {
      const auto provider = create_provider(device);
      EXPECT_EQ(provider->device().device_type, kDLCUDA) << device;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), ALLOY_ERR_UNSUPPORTED) << device;
      EXPECT_THAT(e.what(), HasSubstr("CUDA")) << device;
    }
  }
}

TEST(CreateProvider, RejectsUnknownDevicesListingTheValidForms) {
  for (const std::string device : {"", "gpu", "CPU", "cpu:0", "cuda:", "cuda:x", "cuda:0:1"}) {
    const Error e = test::thrown_error([&] { create_provider(device); });
    EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT) << device;
    EXPECT_THAT(e.what(), HasSubstr("\"" + device + "\""));
    EXPECT_THAT(e.what(), HasSubstr("cuda:N"));
  }
}

TEST(CpuProvider, RejectsFewerThanOneOpThread) {
  const auto provider = create_provider("cpu");
  const Error e = test::thrown_error([&] { provider->set_op_threads(0); });
  EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
}

TEST(CpuProvider, RejectsTensorsOfAnotherDevice) {
  const auto provider = create_provider("cpu");
  Tensor host = provider->allocate(DType::F32, {4});
  Tensor gpu(DType::F32, {4},
             std::make_shared<test::BufferView>(host.buffer(), DLDevice{kDLCUDA, 1}, true));
  const Error e = test::thrown_error([&] { provider->unary(ALLOY_UNARY_ABS, host, gpu, 0, 0); });
  EXPECT_EQ(e.status(), ALLOY_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(e.what(), HasSubstr("cuda:1"));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, provider->fill(gpu, 0));
}

// --- memory ------------------------------------------------------------------------------

TEST_P(ProviderTest, AllocatesZeroFilledWritableTensorsOnItsDevice) {
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16, DType::I64, DType::U8}) {
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{3, 0}, Shape{3, 5}}) {
      const Tensor t = p().allocate(dtype, shape);
      EXPECT_EQ(t.dtype(), dtype);
      EXPECT_EQ(t.shape(), shape);
      EXPECT_EQ(t.nbytes(), shape_numel(shape) * dtype_size(dtype));
      EXPECT_TRUE(t.writable());
      EXPECT_EQ(t.device().device_type, p().device().device_type);
      const auto bytes = raw_values<uint8_t>(t);
      EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; }));
    }
  }
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().allocate(DType::F32, {2, -1}));
}

TEST_P(ProviderTest, UploadsAndDownloadsBytes) {
  const std::vector<float> data = test::random_floats(1001, 1);
  Tensor t = tensor(data, {7, 143});
  EXPECT_EQ(values(t), data);
  std::vector<float> out(data.size());
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().download(t, out.data(), 4 * data.size() - 4));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().upload(t, out.data(), 4 * data.size() + 4));
  Tensor frozen = read_only(t);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().upload(frozen, out.data(), 4 * data.size()));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().download(Tensor(), out.data(), 0));
}

TEST_P(ProviderTest, ToDeviceKeepsATensorAlreadyThere) {
  const Tensor t = tensor({1, 2, 3});
  const Tensor same = p().to_device(t);
  EXPECT_EQ(same.buffer(), t.buffer());
  EXPECT_EQ(values(same), (std::vector<float>{1, 2, 3}));
}

// --- copy --------------------------------------------------------------------------------

// Values where rounding to 16 bits is delicate: signed zeros, infinities, NaN, f32 and f16
// subnormals, halfway cases, overflow to infinity; then random values of many magnitudes.
std::vector<float> conversion_inputs() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          kInf,
                          -kInf,
                          kNaN,
                          -kNaN,
                          from_bits(0x7f800001u),  // signalling NaN
                          from_bits(0x00000001u),  // smallest f32 subnormal
                          from_bits(0x807fffffu),
                          from_bits(0x00018000u),
                          from_bits(0x33000000u),  // half of f16's smallest subnormal
                          from_bits(0x33000001u),
                          from_bits(0x387fe000u),
                          from_bits(0x387ff000u),
                          from_bits(0x38800000u),  // smallest f16 normal
                          65504.0f,
                          65519.99f,
                          65520.0f,  // rounds to f16 infinity
                          1.0f + 1.0f / 2048,
                          1.0f + 3.0f / 2048,
                          1.0f + 1.0f / 256,
                          1.0f + 3.0f / 256,
                          from_bits(0x3f808000u),
                          from_bits(0x3f818000u),
                          std::numeric_limits<float>::max()};
  for (const float r : test::random_floats(4000, 2, -40.0f, 40.0f)) {
    v.push_back(std::exp2(r) * (r < 0 ? -1.0f : 1.0f));
  }
  return v;
}

// Equal bits, or NaN for NaN in a 16-bit float.
void expect_same_half(const std::vector<uint16_t>& got, const std::vector<uint16_t>& want,
                      uint16_t exponent_mask, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  const auto is_nan = [&](uint16_t h) {
    return (h & exponent_mask) == exponent_mask && (h & ~exponent_mask & 0x7fffu) != 0;
  };
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i] && !(is_nan(got[i]) && is_nan(want[i]))) {
      ADD_FAILURE() << what << ": element " << i << " is " << std::hex << got[i] << ", expected "
                    << want[i];
      return;
    }
  }
}

TEST_P(ProviderTest, CopyFromF32RoundsLikeTheScalarConverters) {
  const std::vector<float> in = conversion_inputs();
  const Shape shape{static_cast<int64_t>(in.size())};
  std::vector<uint16_t> want_f16;
  std::vector<uint16_t> want_bf16;
  for (const float v : in) {
    want_f16.push_back(f32_to_f16(v));
    want_bf16.push_back(f32_to_bf16(v));
  }
  Tensor f16 = p().allocate(DType::F16, shape);
  Tensor bf16 = p().allocate(DType::BF16, shape);
  p().copy(f16, tensor(in));
  p().copy(bf16, tensor(in));
  expect_same_half(raw_values<uint16_t>(f16), want_f16, 0x7c00, "f32 -> f16");
  expect_same_half(raw_values<uint16_t>(bf16), want_bf16, 0x7f80, "f32 -> bf16");
}

TEST_P(ProviderTest, CopyFromHalvesMatchesTheScalarConvertersOnEveryBitPattern) {
  std::vector<uint16_t> all(65536);
  std::iota(all.begin(), all.end(), uint16_t{0});
  const Shape shape{65536};
  std::vector<float> want_from_f16;
  std::vector<float> want_from_bf16;
  std::vector<uint16_t> want_f16_to_bf16;
  std::vector<uint16_t> want_bf16_to_f16;
  for (const uint16_t h : all) {
    want_from_f16.push_back(f16_to_f32(h));
    want_from_bf16.push_back(bf16_to_f32(h));
    want_f16_to_bf16.push_back(f32_to_bf16(f16_to_f32(h)));
    want_bf16_to_f16.push_back(f32_to_f16(bf16_to_f32(h)));
  }
  const Tensor f16 = raw_tensor(DType::F16, all, shape);
  const Tensor bf16 = raw_tensor(DType::BF16, all, shape);
  Tensor f32 = p().allocate(DType::F32, shape);
  p().copy(f32, f16);
  const auto as_bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> bits;
    for (const float f : v) bits.push_back(std::isnan(f) ? 0x7fc00000u : bits_of(f));
    return bits;
  };
  EXPECT_EQ(as_bits(values(f32)), as_bits(want_from_f16)) << "f16 -> f32";
  p().copy(f32, bf16);
  EXPECT_EQ(as_bits(values(f32)), as_bits(want_from_bf16)) << "bf16 -> f32";
  Tensor half = p().allocate(DType::F16, shape);
  p().copy(half, bf16);
  expect_same_half(raw_values<uint16_t>(half), want_bf16_to_f16, 0x7c00, "bf16 -> f16");
  half = p().allocate(DType::BF16, shape);
  p().copy(half, f16);
  expect_same_half(raw_values<uint16_t>(half), want_f16_to_bf16, 0x7f80, "f16 -> bf16");
}

TEST_P(ProviderTest, CopyRoundTripsThroughHalfPrecision) {
  for (const uint64_t n : kSizes) {
    const std::vector<float> in = test::random_floats(n, 3, -100.0f, 100.0f);
    const Shape shape{static_cast<int64_t>(n)};
    for (const DType dtype : {DType::F16, DType::BF16}) {
      std::vector<float> want;
      for (const float v : in) {
        want.push_back(dtype == DType::F16 ? f16_to_f32(f32_to_f16(v))
                                           : bf16_to_f32(f32_to_bf16(v)));
      }
      Tensor half = p().allocate(dtype, shape);
      Tensor back = p().allocate(DType::F32, shape);
      p().copy(half, tensor(in));
      p().copy(back, half);
      expect_ulps(values(back), want, 0,
                  std::string(dtype_name(dtype)) + " n=" + std::to_string(n));
    }
  }
}

TEST_P(ProviderTest, CopyOfOneDtypeIsRaw) {
  const std::vector<int64_t> ints = {1, -2, 1LL << 60, 0, 7};
  Tensor dst = p().allocate(DType::I64, {5});
  p().copy(dst, raw_tensor(DType::I64, ints, {5}));
  EXPECT_EQ(raw_values<int64_t>(dst), ints);
  const std::vector<uint16_t> nan_payloads = {0x7c01, 0xfe01, 0x7d55, 0x8000};
  Tensor halves = p().allocate(DType::F16, {4});
  p().copy(halves, raw_tensor(DType::F16, nan_payloads, {4}));
  EXPECT_EQ(raw_values<uint16_t>(halves), nan_payloads);
}

TEST_P(ProviderTest, CopyRejectsBadArguments) {
  const Tensor src = tensor({1, 2, 3, 4}, {2, 2});
  Tensor wrong_shape = p().allocate(DType::F32, {4});
  const Error e = test::thrown_error([&] { p().copy(wrong_shape, src); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("[4]"));
  EXPECT_THAT(e.what(), HasSubstr("[2, 2]"));
  Tensor ints = p().allocate(DType::I64, {2, 2});
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().copy(ints, src));
  Tensor floats = p().allocate(DType::F32, {2, 2});
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().copy(floats, ints));
  Tensor frozen = read_only(floats);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().copy(frozen, src));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().copy(floats, Tensor()));
}

// --- element-wise ------------------------------------------------------------------------

TEST_P(ProviderTest, FillSetsEveryElement) {
  for (const uint64_t n : kSizes) {
    Tensor t = tensor(test::random_floats(n, 4));
    p().fill(t, 2.5);
    EXPECT_EQ(values(t), std::vector<float>(n, 2.5f)) << n;
  }
}

struct UnaryCase {
  int32_t op;
  const char* name;
  float alpha;
  float beta;
  int64_t max_ulps;  // 0 where IEEE arithmetic gives the one right answer
  float low;         // inputs uniform in [low, high), some set to exactly 0
  float high;
  float (*reference)(float x, float alpha, float beta);
};

const UnaryCase kUnaryCases[] = {
    {ALLOY_UNARY_ABS, "abs", 0, 0, 0, -3, 3, [](float x, float, float) { return std::fabs(x); }},
    {ALLOY_UNARY_NEG, "neg", 0, 0, 0, -3, 3, [](float x, float, float) { return -x; }},
    {ALLOY_UNARY_SIGN, "sign", 0, 0, 0, -3, 3,
     [](float x, float, float) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f); }},
    {ALLOY_UNARY_SQUARE, "square", 0, 0, 0, -3, 3, [](float x, float, float) { return x * x; }},
    {ALLOY_UNARY_SQRT, "sqrt", 0, 0, 0, 0, 9, [](float x, float, float) { return std::sqrt(x); }},
    {ALLOY_UNARY_EXP, "exp", 0, 0, 2, -20, 20, [](float x, float, float) { return std::exp(x); }},
    {ALLOY_UNARY_LOG, "log", 0, 0, 2, 0, 50, [](float x, float, float) { return std::log(x); }},
    {ALLOY_UNARY_RELU, "relu", 0, 0, 0, -3, 3,
     [](float x, float, float) { return std::max(x, 0.0f); }},
    {ALLOY_UNARY_LINEAR, "linear", -2.0f, 0.75f, 0, -3, 3,  // alpha * x exact: one rounding
     [](float x, float a, float b) { return a * x + b; }},
    {ALLOY_UNARY_CLIP, "clip", -0.5f, 1.25f, 0, -3, 3,
     [](float x, float a, float b) { return std::min(std::max(x, a), b); }},
    {ALLOY_UNARY_CLIP, "clip with alpha > beta", 1.0f, -1.0f, 0, -3, 3,
     [](float x, float a, float b) { return std::min(std::max(x, a), b); }},
};

std::vector<float> unary_inputs(const UnaryCase& c, uint64_t n) {
  std::vector<float> in = test::random_floats(n, 5, c.low, c.high);
  for (std::size_t i = 0; i < in.size(); i += 5) in[i] = 0;
  return in;
}

TEST_P(ProviderTest, UnaryMatchesReference) {
  for (const UnaryCase& c : kUnaryCases) {
    for (const uint64_t n : kSizes) {
      const std::vector<float> in = unary_inputs(c, n);
      std::vector<float> want;
      for (const float x : in) want.push_back(c.reference(x, c.alpha, c.beta));
      Tensor dst = p().allocate(DType::F32, {static_cast<int64_t>(n)});
      p().unary(c.op, dst, tensor(in), c.alpha, c.beta);
      expect_ulps(values(dst), want, c.max_ulps, std::string(c.name) + " n=" + std::to_string(n));
    }
  }
}

TEST_P(ProviderTest, UnaryWorksInPlace) {
  for (const UnaryCase& c : kUnaryCases) {
    const std::vector<float> in = unary_inputs(c, 1001);
    Tensor out = p().allocate(DType::F32, {1001});
    p().unary(c.op, out, tensor(in), c.alpha, c.beta);
    Tensor t = tensor(in);
    p().unary(c.op, t, t, c.alpha, c.beta);
    expect_ulps(values(t), values(out), 0, c.name);
  }
}

TEST_P(ProviderTest, UnaryHandlesSpecialValues) {
  const auto run = [&](int32_t op, std::vector<float> in) {
    Tensor t = tensor(in);
    p().unary(op, t, t, 0, 0);
    return values(t);
  };
  expect_ulps(run(ALLOY_UNARY_LOG, {1, 0, -1, kInf, kNaN}), {0, -kInf, kNaN, kInf, kNaN}, 0, "log");
  expect_ulps(run(ALLOY_UNARY_EXP, {0, -kInf, kInf, kNaN, -200}), {1, 0, kInf, kNaN, 0}, 0, "exp");
  expect_ulps(run(ALLOY_UNARY_SQRT, {0, -1, kInf, 4}), {0, kNaN, kInf, 2}, 0, "sqrt");
  expect_ulps(run(ALLOY_UNARY_SIGN, {0, -0.0f, 1e-45f, -kInf, kNaN}), {0, 0, 1, -1, kNaN}, 0,
              "sign");
}

// A binary op and its reference in f32.
struct BinaryCase {
  int32_t op;
  const char* name;
  float (*reference)(float a, float b);
};

const BinaryCase kBinaryCases[] = {
    {ALLOY_BINARY_ADD, "add", [](float a, float b) { return a + b; }},
    {ALLOY_BINARY_SUB, "sub", [](float a, float b) { return a - b; }},
    {ALLOY_BINARY_MUL, "mul", [](float a, float b) { return a * b; }},
    {ALLOY_BINARY_DIV, "div", [](float a, float b) { return a / b; }},
    {ALLOY_BINARY_MAX, "max", [](float a, float b) { return std::max(a, b); }},
    {ALLOY_BINARY_MIN, "min", [](float a, float b) { return std::min(a, b); }},
    {ALLOY_BINARY_EQ, "eq", [](float a, float b) { return a == b ? 1.0f : 0.0f; }},
    {ALLOY_BINARY_NE, "ne", [](float a, float b) { return a != b ? 1.0f : 0.0f; }},
    {ALLOY_BINARY_GT, "gt", [](float a, float b) { return a > b ? 1.0f : 0.0f; }},
    {ALLOY_BINARY_GE, "ge", [](float a, float b) { return a >= b ? 1.0f : 0.0f; }},
    {ALLOY_BINARY_LT, "lt", [](float a, float b) { return a < b ? 1.0f : 0.0f; }},
    {ALLOY_BINARY_LE, "le", [](float a, float b) { return a <= b ? 1.0f : 0.0f; }},
};

// Values on a coarse grid (many equal pairs for the comparisons), none zero (for div).
std::vector<float> binary_inputs(uint64_t n, uint32_t seed) {
  std::vector<float> v = quantized(n, seed, 4);
  for (float& x : v) x = x == 0 ? 0.5f : x;
  return v;
}

TEST_P(ProviderTest, BinaryMatchesReference) {
  for (const BinaryCase& c : kBinaryCases) {
    for (const uint64_t n : kSizes) {
      const std::vector<float> a = binary_inputs(n, 6);
      const std::vector<float> b = binary_inputs(n, 7);
      std::vector<float> want;
      for (std::size_t i = 0; i < n; ++i) want.push_back(c.reference(a[i], b[i]));
      Tensor dst = p().allocate(DType::F32, {static_cast<int64_t>(n)});
      p().binary(c.op, dst, tensor(a), tensor(b));
      expect_ulps(values(dst), want, 0, std::string(c.name) + " n=" + std::to_string(n));
    }
  }
}

TEST_P(ProviderTest, BinaryBroadcastsBNumpyStyle) {
  const std::vector<std::pair<Shape, std::vector<Shape>>> cases = {
      {{4, 3, 5},
       {{}, {1}, {5}, {3, 1}, {3, 5}, {1, 3, 1}, {4, 1, 5}, {4, 1, 1}, {1, 1, 1}, {4, 3, 5}}},
      {{2, 1, 3, 4}, {{1, 3, 1}, {2, 1, 1, 4}, {4}, {1, 1, 1, 1}, {2, 1, 3, 1}}},
      {{6}, {{1}, {}}},
      {{}, {{}}},
  };
  for (const auto& [a_shape, b_shapes] : cases) {
    const uint64_t n = shape_numel(a_shape);
    const std::vector<float> a = binary_inputs(n, 8);
    for (const Shape& b_shape : b_shapes) {
      const std::vector<float> b = binary_inputs(shape_numel(b_shape), 9);
      for (const BinaryCase& c : kBinaryCases) {
        std::vector<float> want(n);
        for (uint64_t i = 0; i < n; ++i) {
          // Walk a's index from the last dimension, mapping it onto b's right-aligned dims.
          uint64_t rest = i;
          uint64_t b_index = 0;
          uint64_t b_stride = 1;
          for (std::size_t d = a_shape.size(); d-- > 0;) {
            const auto extent = static_cast<uint64_t>(a_shape[d]);
            const uint64_t coordinate = rest % extent;
            rest /= extent;
            const std::size_t lead = a_shape.size() - b_shape.size();
            if (d >= lead && b_shape[d - lead] != 1) {
              b_index += coordinate * b_stride;
              b_stride *= extent;
            }
          }
          want[i] = c.reference(a[i], b[b_index]);
        }
        Tensor dst = p().allocate(DType::F32, a_shape);
        p().binary(c.op, dst, tensor(a, a_shape), tensor(b, b_shape));
        expect_ulps(
            values(dst), want, 0,
            std::string(c.name) + " " + shape_string(a_shape) + " by " + shape_string(b_shape));
      }
    }
  }
}

TEST_P(ProviderTest, BinaryWorksInPlace) {
  const std::vector<float> a = binary_inputs(1001, 10);
  const std::vector<float> b = binary_inputs(1001, 11);
  for (const BinaryCase& c : kBinaryCases) {
    std::vector<float> want;
    for (std::size_t i = 0; i < a.size(); ++i) want.push_back(c.reference(a[i], b[i]));
    Tensor ta = tensor(a);
    p().binary(c.op, ta, ta, tensor(b));
    expect_ulps(values(ta), want, 0, std::string(c.name) + " into a");
    Tensor tb = tensor(b);
    p().binary(c.op, tb, tensor(a), tb);
    expect_ulps(values(tb), want, 0, std::string(c.name) + " into b");
  }
}

TEST_P(ProviderTest, BinaryRejectsBadArguments) {
  const Tensor a = tensor(std::vector<float>(60, 1.0f), {4, 3, 5});
  Tensor dst = p().allocate(DType::F32, {4, 3, 5});
  const Error e = test::thrown_error([&] { p().binary(ALLOY_BINARY_ADD, dst, a, tensor({1, 2})); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("[2]"));
  EXPECT_THAT(e.what(), HasSubstr("[4, 3, 5]"));
  EXPECT_STATUS(ALLOY_ERR_SHAPE,
                p().binary(ALLOY_BINARY_ADD, dst, a, tensor(std::vector<float>(15), {1, 1, 3, 5})));
  Tensor small = p().allocate(DType::F32, {3, 5});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().binary(ALLOY_BINARY_ADD, small, a, tensor({1})));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().binary(0, dst, a, a));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().binary(ALLOY_BINARY_LE + 1, dst, a, a));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().binary_scalar(99, dst, a, 1.0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().unary(0, dst, a, 0, 0));
}

TEST_P(ProviderTest, BinaryScalarMatchesReference) {
  for (const BinaryCase& c : kBinaryCases) {
    for (const uint64_t n : kSizes) {
      const std::vector<float> a = binary_inputs(n, 12);
      const float scalar = 0.25f;  // on a's grid, so EQ/GE/LE meet equal values
      std::vector<float> want;
      for (const float x : a) want.push_back(c.reference(x, scalar));
      Tensor dst = p().allocate(DType::F32, {static_cast<int64_t>(n)});
      p().binary_scalar(c.op, dst, tensor(a), scalar);
      expect_ulps(values(dst), want, 0, std::string(c.name) + " n=" + std::to_string(n));
      Tensor in_place = tensor(a);
      p().binary_scalar(c.op, in_place, in_place, scalar);
      expect_ulps(values(in_place), want, 0, std::string(c.name) + " in place");
    }
  }
}

TEST_P(ProviderTest, AxpbyMatchesReference) {
  for (const uint64_t n : kSizes) {
    // Terms of one sign, so that a fused multiply-add rounds no differently.
    const std::vector<float> x = test::random_floats(n, 13, 0.0f, 1.0f);
    const std::vector<float> y = test::random_floats(n, 14, -1.0f, 0.0f);
    std::vector<float> want;
    for (std::size_t i = 0; i < n; ++i) want.push_back(0.75f * x[i] + -2.0f * y[i]);
    Tensor ty = tensor(y);
    p().axpby(0.75, tensor(x), -2.0, ty);
    expect_ulps(values(ty), want, 2, "n=" + std::to_string(n));
    Tensor same = tensor(x);
    p().axpby(0.5, same, 2.0, same);
    std::vector<float> twice;
    for (const float v : x) twice.push_back(2.5f * v);
    expect_ulps(values(same), twice, 1, "x aliasing y, n=" + std::to_string(n));
  }
}

TEST_P(ProviderTest, WhereSelectsByCondition) {
  for (const uint64_t n : kSizes) {
    std::vector<float> cond = quantized(n, 15, 2);
    if (n > 3) cond[3] = -0.0f;
    if (n > 5) cond[5] = kNaN;
    const std::vector<float> a = test::random_floats(n, 16);
    const std::vector<float> b = test::random_floats(n, 17);
    std::vector<float> want_b;
    std::vector<float> want_zero;
    for (std::size_t i = 0; i < n; ++i) {
      want_b.push_back(cond[i] != 0 ? a[i] : b[i]);
      want_zero.push_back(cond[i] != 0 ? a[i] : 0.0f);
    }
    const Tensor tb = tensor(b);
    Tensor dst = p().allocate(DType::F32, {static_cast<int64_t>(n)});
    p().where(dst, tensor(cond), tensor(a), &tb);
    expect_ulps(values(dst), want_b, 0, "with b, n=" + std::to_string(n));
    p().where(dst, tensor(cond), tensor(a), nullptr);
    expect_ulps(values(dst), want_zero, 0, "without b, n=" + std::to_string(n));
    Tensor ta = tensor(a);
    p().where(ta, tensor(cond), ta, &tb);
    expect_ulps(values(ta), want_b, 0, "into a, n=" + std::to_string(n));
    Tensor tc = tensor(cond);
    p().where(tc, tc, tensor(a), nullptr);
    expect_ulps(values(tc), want_zero, 0, "into cond, n=" + std::to_string(n));
  }
}

// --- reductions --------------------------------------------------------------------------

TEST_P(ProviderTest, ReduceMatchesDoubleReference) {
  for (const uint64_t n :
       {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{1001}, uint64_t{1000003}}) {
    std::vector<float> x = test::random_floats(n, 18, -3.0f, 2.0f);
    for (std::size_t i = 0; i < n; i += 3) x[i] = 0;
    double sum = 0, abs_sum = 0, squares = 0, max_abs = 0, nonzero = 0;
    for (const float v : x) {
      sum += v;
      abs_sum += std::fabs(v);
      squares += static_cast<double>(v) * v;
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
      nonzero += v != 0;
    }
    const Tensor t = tensor(x);
    const std::string what = "n=" + std::to_string(n);
    // Accumulated in double, the order of the terms moves the result by ~1e-16 per term.
    EXPECT_NEAR(p().reduce(ALLOY_REDUCE_SUM, t), sum, 1e-12 * abs_sum) << what;
    EXPECT_NEAR(p().reduce(ALLOY_REDUCE_ABS_SUM, t), abs_sum, 1e-12 * abs_sum) << what;
    EXPECT_NEAR(p().reduce(ALLOY_REDUCE_L2_NORM, t), std::sqrt(squares), 1e-12 * std::sqrt(squares))
        << what;
    EXPECT_EQ(p().reduce(ALLOY_REDUCE_MAX_ABS, t), max_abs) << what;
    EXPECT_EQ(p().reduce(ALLOY_REDUCE_COUNT_NONZERO, t), nonzero) << what;
  }
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().reduce(6, tensor({1})));
}

TEST_P(ProviderTest, ReduceSumAccumulatesBeyondF32Precision) {
  // 2^24 and a million ones: the sum is odd and above 2^24, where f32 holds only even
  // integers, so no f32 accumulation in any order can return it.
  std::vector<float> x(1000001, 1.0f);
  x.insert(x.begin() + 500, 16777216.0f);
  EXPECT_EQ(p().reduce(ALLOY_REDUCE_SUM, tensor(x)), 17777217.0);
}

// --- selection ---------------------------------------------------------------------------

// Values with ties, zeros, signs and a wide range of magnitudes.
std::vector<float> selection_inputs(uint64_t n, uint32_t seed) {
  std::vector<float> v = quantized(n, seed, 64);
  const std::vector<float> wide = test::random_floats(n, seed + 1, -30.0f, 10.0f);
  for (std::size_t i = 1; i < n; i += 2) v[i] = std::exp2(wide[i]) * (wide[i] < -10 ? -1 : 1);
  return v;
}

std::vector<uint64_t> ranks_to_try(uint64_t n) {
  return {1, n, (n + 1) / 2, std::max<uint64_t>(1, n / 10), n > 3 ? n - 3 : 1};
}

// The largest size spans more than one thread's share of a histogram on any machine of up to
// 8 threads.
const std::vector<uint64_t> kSelectionSizes = {1, 2, 17, 1000, 1000000, (1u << 22) + 3};

TEST_P(ProviderTest, KthMagnitudeEqualsNthElement) {
  for (const uint64_t n : kSelectionSizes) {
    const std::vector<float> x = selection_inputs(n, 19);
    const Tensor t = tensor(x);
    for (const uint64_t k : ranks_to_try(n)) {
      EXPECT_EQ(p().kth_magnitude(t, k), nth_largest_magnitude(x, k)) << "n=" << n << " k=" << k;
    }
  }
}

TEST_P(ProviderTest, KthMagnitudeOrdersSpecialMagnitudes) {
  const std::vector<float> x = {-0.0f, 0.0f, kInf, -kInf, 1e-45f, -1e-40f, 3.0f, -3.0f, 1e38f};
  const Tensor t = tensor(x);
  for (uint64_t k = 1; k <= x.size(); ++k) {
    EXPECT_EQ(p().kth_magnitude(t, k), nth_largest_magnitude(x, k)) << "k=" << k;
  }
}

TEST_P(ProviderTest, KthMagnitudeRejectsKOutOfRange) {
  const Tensor t = tensor({1, 2, 3});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().kth_magnitude(t, 0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().kth_magnitude(t, 4));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().kth_magnitude(tensor({}), 1));
}

// 1 at the k largest |x|, ties to the lower index: the first k of a stable sort by |x| down.
std::vector<float> topk_reference(const std::vector<float>& x, uint64_t k) {
  std::vector<uint64_t> order(x.size());
  std::iota(order.begin(), order.end(), uint64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](uint64_t i, uint64_t j) { return std::fabs(x[i]) > std::fabs(x[j]); });
  std::vector<float> mask(x.size(), 0.0f);
  for (uint64_t i = 0; i < k; ++i) mask[order[i]] = 1.0f;
  return mask;
}

TEST_P(ProviderTest, TopkMaskKeepsExactlyKWithTiesToLowerIndices) {
  for (const uint64_t n : {uint64_t{1}, uint64_t{10}, uint64_t{1001}, uint64_t{1000000}}) {
    // Few distinct magnitudes, so almost every threshold falls inside a run of ties; and
    // continuous values, where the k-th magnitude is almost always unique.
    for (const bool ties : {true, false}) {
      const std::vector<float> x = ties ? quantized(n, 20, 8) : test::random_floats(n, 20);
      const Tensor t = tensor(x);
      for (const uint64_t k : {uint64_t{0}, uint64_t{1}, n / 3, n / 2 + 1, n - 1, n}) {
        Tensor mask = p().allocate(DType::F32, {static_cast<int64_t>(n)});
        p().topk_mask(mask, t, k);
        const std::vector<float> got = values(mask);
        const std::string what = "n=" + std::to_string(n) + " k=" + std::to_string(k) +
                                 (ties ? " with ties" : " without ties");
        EXPECT_EQ(std::count(got.begin(), got.end(), 1.0f), static_cast<std::ptrdiff_t>(k)) << what;
        expect_ulps(got, topk_reference(x, k), 0, what);
      }
    }
  }
}

TEST_P(ProviderTest, TopkMaskWorksInPlace) {
  const std::vector<float> x = quantized(100003, 21, 16);
  Tensor t = tensor(x);
  p().topk_mask(t, t, 777);
  expect_ulps(values(t), topk_reference(x, 777), 0, "mask aliasing x");
}

TEST_P(ProviderTest, TopkMaskRejectsBadArguments) {
  const Tensor x = tensor({1, 2, 3});
  Tensor mask = p().allocate(DType::F32, {3});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().topk_mask(mask, x, 4));
  Tensor wrong = p().allocate(DType::F32, {4});
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().topk_mask(wrong, x, 1));
  Tensor frozen = read_only(mask);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().topk_mask(frozen, x, 1));
}

std::vector<uint64_t> histogram_reference(const std::vector<float>& x, int level, uint32_t prefix) {
  std::vector<uint64_t> counts(ALLOY_HISTOGRAM_BINS);
  for (const float v : x) {
    const uint32_t bits = bits_of(std::fabs(v));
    if (level == 0) ++counts[bits >> 16];
    if (level == 1 && bits >> 16 == prefix) ++counts[bits & 0xffff];
  }
  return counts;
}

TEST_P(ProviderTest, MagnitudeHistogramAddsCountsPerBinOfTheBits) {
  for (const uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{1001}, uint64_t{(1u << 22) + 3}}) {
    const std::vector<float> x = selection_inputs(n, 22);
    const Tensor t = tensor(x);
    std::vector<uint64_t> counts(ALLOY_HISTOGRAM_BINS, 0);
    p().magnitude_histogram(t, 0, 0, counts.data());
    p().magnitude_histogram(t, 0, 0, counts.data());
    std::vector<uint64_t> want = histogram_reference(x, 0, 0);
    for (uint64_t& c : want) c *= 2;
    EXPECT_EQ(counts, want) << "level 0, n=" << n;
    const uint32_t prefix = n ? bits_of(std::fabs(x[0])) >> 16 : 0x3f80;
    std::fill(counts.begin(), counts.end(), 5);
    p().magnitude_histogram(t, 1, prefix, counts.data());
    want = histogram_reference(x, 1, prefix);
    for (uint64_t& c : want) c += 5;
    EXPECT_EQ(counts, want) << "level 1, n=" << n;
  }
}

TEST_P(ProviderTest, MagnitudeHistogramTwoPassesFindTheKthMagnitudeOfManyTensors) {
  // One threshold over several tensors, as a whole-model selection streams them.
  const std::vector<std::vector<float>> parts = {
      selection_inputs(1000, 23), selection_inputs(17, 24), selection_inputs(300001, 25)};
  std::vector<float> all;
  std::vector<Tensor> tensors;
  for (const auto& part : parts) {
    all.insert(all.end(), part.begin(), part.end());
    tensors.push_back(tensor(part));
  }
  const Tensor joined = tensor(all);
  for (const uint64_t k : ranks_to_try(all.size())) {
    std::vector<uint64_t> counts(ALLOY_HISTOGRAM_BINS, 0);
    for (const Tensor& t : tensors) p().magnitude_histogram(t, 0, 0, counts.data());
    uint64_t need = k;
    uint32_t high = ALLOY_HISTOGRAM_BINS - 1;
    for (; counts[high] < need; --high) need -= counts[high];
    std::fill(counts.begin(), counts.end(), 0);
    for (const Tensor& t : tensors) p().magnitude_histogram(t, 1, high, counts.data());
    uint32_t low = ALLOY_HISTOGRAM_BINS - 1;
    for (; counts[low] < need; --low) need -= counts[low];
    const float found = from_bits(high << 16 | low);
    EXPECT_EQ(found, nth_largest_magnitude(all, k)) << "k=" << k;
    EXPECT_EQ(found, p().kth_magnitude(joined, k)) << "k=" << k;
  }
}

TEST_P(ProviderTest, MagnitudeHistogramRejectsBadArguments) {
  const Tensor x = tensor({1, 2, 3});
  std::vector<uint64_t> counts(ALLOY_HISTOGRAM_BINS);
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().magnitude_histogram(x, 2, 0, counts.data()));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().magnitude_histogram(x, -1, 0, counts.data()));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().magnitude_histogram(x, 0, 0, nullptr));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT,
                p().magnitude_histogram(x, 1, ALLOY_HISTOGRAM_BINS, counts.data()));
}

// --- sign election -----------------------------------------------------------------------

std::vector<float> elect_reference(int32_t method, const std::vector<std::vector<float>>& xs,
                                   uint64_t n) {
  std::vector<float> want(n);
  for (uint64_t i = 0; i < n; ++i) {
    double total = 0;
    for (const auto& x : xs) {
      total += method == ALLOY_ELECT_SUM ? x[i] : (x[i] > 0) - (x[i] < 0);
    }
    want[i] = total >= 0 ? 1.0f : -1.0f;
  }
  return want;
}

TEST_P(ProviderTest, SignElectMatchesReference) {
  for (const int32_t method : {ALLOY_ELECT_SUM, ALLOY_ELECT_COUNT}) {
    for (const std::size_t models : {1, 2, 3, 5}) {
      for (const uint64_t n : kSizes) {
        std::vector<std::vector<float>> xs;
        for (std::size_t m = 0; m < models; ++m) xs.push_back(quantized(n, 26 + m, 4));
        std::vector<Tensor> tensors;
        std::vector<const Tensor*> pointers;
        for (const auto& x : xs) tensors.push_back(tensor(x));
        for (const Tensor& t : tensors) pointers.push_back(&t);
        Tensor dst = p().allocate(DType::F32, {static_cast<int64_t>(n)});
        p().sign_elect(method, dst, pointers);
        expect_ulps(values(dst), elect_reference(method, xs, n), 0,
                    "method " + std::to_string(method) + ", " + std::to_string(models) +
                        " models, n=" + std::to_string(n));
      }
    }
  }
}

TEST_P(ProviderTest, SignElectGivesPlusOneToZeroTotals) {
  // Element by element: sums that cancel exactly, votes that tie, all zeros; then a sum that
  // is negative though most votes are positive, and the reverse.
  const std::vector<float> x0 = {0.5f, 3.0f, 0.0f, 1.0f, -10.0f, 0.25f};
  const std::vector<float> x1 = {-0.25f, -1.0f, 0.0f, -1.0f, 1.0f, 0.5f};
  const std::vector<float> x2 = {-0.25f, -2.0f, 0.0f, 0.0f, 1.0f, -2.0f};
  const Tensor t0 = tensor(x0), t1 = tensor(x1), t2 = tensor(x2);
  Tensor dst = p().allocate(DType::F32, {6});
  p().sign_elect(ALLOY_ELECT_SUM, dst, {&t0, &t1, &t2});
  EXPECT_EQ(values(dst), (std::vector<float>{1, 1, 1, 1, -1, -1}));
  p().sign_elect(ALLOY_ELECT_COUNT, dst, {&t0, &t1, &t2});
  EXPECT_EQ(values(dst), (std::vector<float>{-1, -1, 1, 1, 1, 1}));
}

TEST_P(ProviderTest, SignElectWorksInPlace) {
  const std::vector<float> x0 = quantized(1001, 31, 4);
  const std::vector<float> x1 = quantized(1001, 32, 4);
  Tensor t0 = tensor(x0);
  const Tensor t1 = tensor(x1);
  p().sign_elect(ALLOY_ELECT_SUM, t0, {&t0, &t1});
  expect_ulps(values(t0), elect_reference(ALLOY_ELECT_SUM, {x0, x1}, 1001), 0,
              "dst aliasing xs[0]");
}

TEST_P(ProviderTest, SignElectRejectsBadArguments) {
  const Tensor x = tensor({1, -2});
  const Tensor longer = tensor({1, 2, 3});
  Tensor dst = p().allocate(DType::F32, {2});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().sign_elect(0, dst, {&x}));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().sign_elect(3, dst, {&x}));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().sign_elect(ALLOY_ELECT_SUM, dst, {&x, nullptr}));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().sign_elect(ALLOY_ELECT_SUM, dst, {&x, &longer}));
  const Tensor halves = p().allocate(DType::F16, {2});
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().sign_elect(ALLOY_ELECT_COUNT, dst, {&halves}));
}

// --- gemm --------------------------------------------------------------------------------

struct GemmShape {
  int64_t m, n, k;
};

// c = alpha * op(a) @ op(b) + beta * c in double; *scale gets, per element, the sum of the
// magnitudes of its terms, which bounds the f32 rounding error.
std::vector<float> gemm_reference(bool trans_a, bool trans_b, double alpha,
                                  const std::vector<float>& a, const std::vector<float>& b,
                                  double beta, const std::vector<float>& c, GemmShape s,
                                  std::vector<double>* scale) {
  std::vector<float> out(c.size());
  scale->assign(c.size(), 0);
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double sum = 0, magnitude = 0;
      for (int64_t l = 0; l < s.k; ++l) {
        const double av = trans_a ? a[l * s.m + i] : a[i * s.k + l];
        const double bv = trans_b ? b[j * s.k + l] : b[l * s.n + j];
        sum += av * bv;
        magnitude += std::fabs(av * bv);
      }
      const double old = beta == 0 ? 0 : beta * c[i * s.n + j];
      out[i * s.n + j] = static_cast<float>(alpha * sum + old);
      (*scale)[i * s.n + j] = std::fabs(alpha) * magnitude + std::fabs(old);
    }
  }
  return out;
}

TEST_P(ProviderTest, GemmMatchesTripleLoopForEveryTransposeAndScale) {
  const GemmShape shapes[] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 64, 96}};
  const std::pair<double, double> scales[] = {{1, 0}, {1, 1}, {0.5, 2}, {-1.5, -0.25}};
  uint32_t seed = 40;
  for (const GemmShape s : shapes) {
    for (const bool trans_a : {false, true}) {
      for (const bool trans_b : {false, true}) {
        for (const auto& [alpha, beta] : scales) {
          const std::vector<float> a = test::random_floats(s.m * s.k, seed++);
          const std::vector<float> b = test::random_floats(s.k * s.n, seed++);
          const std::vector<float> c = test::random_floats(s.m * s.n, seed++);
          std::vector<double> scale;
          const std::vector<float> want =
              gemm_reference(trans_a, trans_b, alpha, a, b, beta, c, s, &scale);
          const Tensor ta = tensor(a, trans_a ? Shape{s.k, s.m} : Shape{s.m, s.k});
          const Tensor tb = tensor(b, trans_b ? Shape{s.n, s.k} : Shape{s.k, s.n});
          Tensor tc = tensor(c, {s.m, s.n});
          p().gemm(trans_a, trans_b, alpha, ta, tb, beta, tc);
          const std::vector<float> got = values(tc);
          for (std::size_t i = 0; i < got.size(); ++i) {
            // The classic bound for k products summed in f32, plus the final scaling.
            ASSERT_NEAR(got[i], want[i], (s.k + 2) * FLT_EPSILON * scale[i])
                << "m=" << s.m << " n=" << s.n << " k=" << s.k << " trans_a=" << trans_a
                << " trans_b=" << trans_b << " alpha=" << alpha << " beta=" << beta << " element "
                << i;
          }
        }
      }
    }
  }
}

TEST_P(ProviderTest, GemmWithBetaZeroNeverReadsC) {
  const Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor c = tensor(std::vector<float>(4, kNaN), {2, 2});
  p().gemm(false, false, 1.0, a, a, 0.0, c);
  EXPECT_EQ(values(c), (std::vector<float>{7, 10, 15, 22}));
}

TEST_P(ProviderTest, GemmWithAnEmptyDimension) {
  // K = 0: the product is zero, so c = beta * c.
  const Tensor a = p().allocate(DType::F32, {3, 0});
  const Tensor b = p().allocate(DType::F32, {0, 2});
  Tensor c = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  p().gemm(false, false, 1.0, a, b, 2.0, c);
  EXPECT_EQ(values(c), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  p().gemm(false, false, 1.0, a, b, 0.0, c);
  EXPECT_EQ(values(c), std::vector<float>(6, 0.0f));
  // M = 0 or N = 0: nothing to compute.
  Tensor none = p().allocate(DType::F32, {0, 2});
  p().gemm(false, false, 1.0, p().allocate(DType::F32, {0, 4}),
           tensor(std::vector<float>(8), {4, 2}), 1.0, none);
  EXPECT_EQ(none.numel(), 0u);
  Tensor thin = p().allocate(DType::F32, {3, 0});
  p().gemm(true, false, 1.0, p().allocate(DType::F32, {4, 3}), p().allocate(DType::F32, {4, 0}),
           0.0, thin);
  EXPECT_EQ(thin.numel(), 0u);
}

TEST_P(ProviderTest, GemmRejectsBadArguments) {
  const Tensor a = tensor(std::vector<float>(6), {2, 3});
  const Tensor b = tensor(std::vector<float>(8), {4, 2});
  Tensor c = p().allocate(DType::F32, {2, 2});
  const Error e = test::thrown_error([&] { p().gemm(false, false, 1, a, b, 0, c); });
  EXPECT_EQ(e.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  EXPECT_THAT(e.what(), HasSubstr("[4, 2]"));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().gemm(true, false, 1, a, b, 0, c));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().gemm(false, false, 1, tensor({1, 2}), b, 0, c));
  Tensor wrong_c = p().allocate(DType::F32, {3, 2});
  EXPECT_STATUS(ALLOY_ERR_SHAPE,
                p().gemm(false, true, 1, a, tensor(std::vector<float>(6), {2, 3}), 0, wrong_c));
  Tensor square = tensor({1, 2, 3, 4}, {2, 2});
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().gemm(false, false, 1, square, square, 0, square));
  Tensor frozen = read_only(c);
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().gemm(false, false, 1, square, square, 0, frozen));
  EXPECT_STATUS(ALLOY_ERR_DTYPE,
                p().gemm(false, false, 1, p().allocate(DType::BF16, {2, 2}), square, 0, c));
}

// --- every op: the common argument rules -------------------------------------------------

TEST_P(ProviderTest, OpsRejectWrongDtypesShapesAndReadOnlyDestinations) {
  const Tensor x = tensor({1, -2, 3, -4}, {2, 2});
  const Tensor halves = p().allocate(DType::F16, {2, 2});
  const Tensor other_shape = tensor({1, 2, 3, 4}, {4});
  Tensor dst = p().allocate(DType::F32, {2, 2});
  Tensor frozen = read_only(dst);
  Tensor half_dst = p().allocate(DType::F16, {2, 2});

  const Error dtype = test::thrown_error([&] { p().unary(ALLOY_UNARY_ABS, dst, halves, 0, 0); });
  EXPECT_EQ(dtype.status(), ALLOY_ERR_DTYPE);
  EXPECT_THAT(dtype.what(), HasSubstr("F16"));
  const Error shape =
      test::thrown_error([&] { p().unary(ALLOY_UNARY_ABS, dst, other_shape, 0, 0); });
  EXPECT_EQ(shape.status(), ALLOY_ERR_SHAPE);
  EXPECT_THAT(shape.what(), HasSubstr("[4]"));
  EXPECT_THAT(shape.what(), HasSubstr("[2, 2]"));

  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().fill(half_dst, 1));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().binary(ALLOY_BINARY_ADD, dst, x, halves));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().binary_scalar(ALLOY_BINARY_ADD, half_dst, x, 1));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().axpby(1, halves, 1, dst));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().reduce(ALLOY_REDUCE_SUM, halves));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().kth_magnitude(halves, 1));
  EXPECT_STATUS(ALLOY_ERR_DTYPE, p().where(dst, halves, x, nullptr));

  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().binary_scalar(ALLOY_BINARY_ADD, dst, other_shape, 1));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().axpby(1, other_shape, 1, dst));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().where(dst, x, other_shape, nullptr));
  EXPECT_STATUS(ALLOY_ERR_SHAPE, p().where(dst, x, x, &other_shape));

  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().fill(frozen, 1));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().unary(ALLOY_UNARY_ABS, frozen, x, 0, 0));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().binary(ALLOY_BINARY_ADD, frozen, x, x));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().binary_scalar(ALLOY_BINARY_ADD, frozen, x, 1));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().axpby(1, x, 1, frozen));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().sign_elect(ALLOY_ELECT_SUM, frozen, {&x}));
  EXPECT_STATUS(ALLOY_ERR_READ_ONLY, p().where(frozen, x, x, nullptr));

  Tensor null;
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().fill(null, 1));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().unary(ALLOY_UNARY_ABS, dst, null, 0, 0));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().reduce(ALLOY_REDUCE_SUM, null));
  EXPECT_STATUS(ALLOY_ERR_INVALID_ARGUMENT, p().where(dst, x, null, nullptr));
}

TEST_P(ProviderTest, EveryOpAcceptsEmptyTensors) {
  for (const Shape& shape : {Shape{0}, Shape{3, 0}}) {
    Tensor e = p().allocate(DType::F32, shape);
    Tensor h = p().allocate(DType::F16, shape);
    const Tensor b = p().allocate(DType::F32, {1});
    EXPECT_NO_THROW(p().copy(h, e));
    EXPECT_NO_THROW(p().copy(e, h));
    EXPECT_NO_THROW(p().fill(e, 1));
    for (const UnaryCase& c : kUnaryCases) EXPECT_NO_THROW(p().unary(c.op, e, e, c.alpha, c.beta));
    for (const BinaryCase& c : kBinaryCases) {
      EXPECT_NO_THROW(p().binary(c.op, e, e, e));
      EXPECT_NO_THROW(p().binary(c.op, e, e, b));
      EXPECT_NO_THROW(p().binary_scalar(c.op, e, e, 2));
    }
    EXPECT_NO_THROW(p().axpby(1, e, 1, e));
    for (int32_t op = ALLOY_REDUCE_SUM; op <= ALLOY_REDUCE_COUNT_NONZERO; ++op) {
      EXPECT_EQ(p().reduce(op, e), 0.0) << op;
    }
    EXPECT_NO_THROW(p().topk_mask(e, e, 0));
    std::vector<uint64_t> counts(ALLOY_HISTOGRAM_BINS, 3);
    p().magnitude_histogram(e, 0, 0, counts.data());
    p().magnitude_histogram(e, 1, 0, counts.data());
    EXPECT_EQ(counts, std::vector<uint64_t>(ALLOY_HISTOGRAM_BINS, 3));
    EXPECT_NO_THROW(p().sign_elect(ALLOY_ELECT_SUM, e, {&e, &e}));
    EXPECT_NO_THROW(p().where(e, e, e, &e));
    EXPECT_NO_THROW(p().where(e, e, e, nullptr));
  }
}

// --- threads -----------------------------------------------------------------------------

TEST_P(ProviderTest, OpsRunConcurrentlyOnDifferentTensors) {
  constexpr int kThreads = 6;
  const std::vector<float> a = test::random_floats(64 * 64, 50);
  const std::vector<float> b = quantized(200003, 51, 16);
  // Each thread's results, computed first on this thread alone.
  const auto work = [&](Provider& provider, int thread) {
    const float shift = static_cast<float>(thread);
    Tensor ta = provider.allocate(DType::F32, {64, 64});
    provider.upload(ta, a.data(), a.size() * sizeof(float));
    provider.binary_scalar(ALLOY_BINARY_ADD, ta, ta, shift);
    Tensor c = provider.allocate(DType::F32, {64, 64});
    provider.gemm(false, true, 1.0, ta, ta, 0.0, c);
    provider.unary(ALLOY_UNARY_ABS, c, c, 0, 0);
    Tensor tb = provider.allocate(DType::F32, {static_cast<int64_t>(b.size())});
    provider.upload(tb, b.data(), b.size() * sizeof(float));
    provider.binary_scalar(ALLOY_BINARY_MUL, tb, tb, shift + 1);
    Tensor mask = provider.allocate(DType::F32, tb.shape());
    provider.topk_mask(mask, tb, 1000 + thread);
    std::vector<float> out(c.numel() + mask.numel() + 1);
    provider.download(c, out.data(), c.nbytes());
    provider.download(mask, out.data() + c.numel(), mask.nbytes());
    out.back() = static_cast<float>(provider.reduce(ALLOY_REDUCE_SUM, mask));
    return out;
  };
  std::vector<std::vector<float>> want;
  for (int t = 0; t < kThreads; ++t) want.push_back(work(p(), t));
  std::vector<std::vector<float>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (t % 2) p().set_op_threads(1);
      for (int repeat = 0; repeat < 3; ++repeat) got[t] = work(p(), t);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    expect_ulps(got[t], want[t], 0, "thread " + std::to_string(t));
    EXPECT_EQ(want[t].back(), 1000.0f + t);
  }
}

// One line per provider; add "cuda:0" once its module exists.
INSTANTIATE_TEST_SUITE_P(Cpu, ProviderTest, ::testing::Values("cpu"), test::provider_test_name);
// Skips, saying why, where this build has no CUDA module or the machine no device.
INSTANTIATE_TEST_SUITE_P(Cuda, ProviderTest, ::testing::Values("cuda:0"), test::provider_test_name);

}  // namespace
}  // namespace alloy
