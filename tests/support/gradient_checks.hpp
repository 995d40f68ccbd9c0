// Helpers of the model runtime's numeric tests: tensors from seeded values, comparisons with a
// reference in double, and gradients against central finite differences of a forward pass.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "compute/provider.hpp"
#include "test_files.hpp"

namespace alloy::test {

inline std::vector<float> host_values(Provider& p, const Tensor& t) {
  std::vector<float> v(t.numel());
  p.download(t, v.data(), t.nbytes());
  return v;
}

inline Tensor random_tensor(Provider& p, const Shape& shape, uint32_t seed, float low = -1.0f,
                            float high = 1.0f) {
  Tensor t = p.allocate(DType::F32, shape);
  const std::vector<float> v = random_floats(shape_numel(shape), seed, low, high);
  p.upload(t, v.data(), t.nbytes());
  return t;
}

inline Tensor filled(Provider& p, const Shape& shape, double value) {
  Tensor t = p.allocate(DType::F32, shape);
  p.fill(t, value);
  return t;
}

// Reports the first element where |got - want| > atol + rtol * |want|.
template <typename Want>
void expect_close(const std::vector<float>& got, const std::vector<Want>& want, double atol,
                  double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(double(got[i]) - double(want[i]));
    if (!(error <= atol + rtol * std::fabs(double(want[i])))) {
      ADD_FAILURE() << what << ": element " << i << " of " << got.size() << " is " << got[i]
                    << ", expected " << want[i] << " (error " << error << ")";
      return;
    }
  }
}

// loss = sum(weights * y), in double, so that finite differences see a smooth scalar.
inline double weighted_sum(Provider& p, const Tensor& y, const std::vector<float>& weights) {
  const std::vector<float> v = host_values(p, y);
  double loss = 0;
  for (std::size_t i = 0; i < v.size(); ++i) loss += double(weights[i]) * v[i];
  return loss;
}

// Every entry of `param`: `analytic` against central differences of `loss`, which runs the
// forward pass on the current contents of the tensors. f32 forward passes: differences of ~1e-6
// relative noise over 2 eps, plus O(eps^2). Reports the first entry that differs.
inline void expect_finite_differences(Provider& p, const Tensor& param,
                                      const std::vector<float>& analytic,
                                      const std::function<double()>& loss,
                                      const std::string& what) {
  std::vector<float> values = host_values(p, param);
  ASSERT_EQ(analytic.size(), values.size()) << what;
  Tensor target = param;
  const float eps = 3e-3f;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float original = values[i];
    const float up_value = original + eps;
    const float down_value = original - eps;
    values[i] = up_value;
    p.upload(target, values.data(), target.nbytes());
    const double up = loss();
    values[i] = down_value;
    p.upload(target, values.data(), target.nbytes());
    const double down = loss();
    values[i] = original;
    p.upload(target, values.data(), target.nbytes());
    const double numeric = (up - down) / (double(up_value) - double(down_value));
    if (!(std::fabs(analytic[i] - numeric) <= 2e-3 + 3e-2 * std::fabs(numeric))) {
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric;
      return;
    }
  }
}

}  // namespace alloy::test
