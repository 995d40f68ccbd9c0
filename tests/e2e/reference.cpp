#include "reference.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace alloy::test {

Weights reference_task_arithmetic(const Weights& base, const std::vector<Weights>& models,
                                  const std::vector<double>& weights, double lambda,
                                  bool normalize) {
  const double weight_sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  Weights out;
  for (const auto& [name, b] : base) {
    std::vector<float>& o = out[name];
    o.resize(b.size());
    for (std::size_t j = 0; j < b.size(); ++j) {
      double mixed = 0;
      for (std::size_t i = 0; i < models.size(); ++i) {
        mixed += weights[i] * (double(models[i].at(name)[j]) - b[j]);
      }
      if (normalize) mixed /= weight_sum;
      o[j] = static_cast<float>(b[j] + lambda * mixed);
    }
  }
  return out;
}

namespace {

// Keeps the k largest |d| (ties towards the lower index), zeroing the rest.
void keep_top_k(std::vector<double>& d, std::size_t k) {
  std::vector<std::size_t> order(d.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return std::fabs(d[a]) > std::fabs(d[b]); });
  for (std::size_t r = k; r < order.size(); ++r) d[order[r]] = 0;
}

}  // namespace

Weights reference_ties(const Weights& base, const std::vector<Weights>& models,
                       const TiesOptions& opt) {
  const std::size_t n = models.size();
  // Task vectors: deltas[i][name]
  std::vector<std::map<std::string, std::vector<double>>> deltas(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& [name, b] : base) {
      auto& d = deltas[i][name];
      for (std::size_t j = 0; j < b.size(); ++j) d.push_back(double(models[i].at(name)[j]) - b[j]);
    }
  }
  // Trim.
  for (std::size_t i = 0; i < n; ++i) {
    if (opt.model_scope) {
      std::vector<double> magnitudes;
      for (const auto& [name, d] : deltas[i]) {
        for (double v : d) magnitudes.push_back(std::fabs(v));
      }
      // FusionBench: keep |d| >= the (int(N * density) + 1)-th largest magnitude.
      const auto k = static_cast<std::size_t>(opt.densities[i] * magnitudes.size()) + 1;
      if (k > magnitudes.size()) continue;
      std::sort(magnitudes.rbegin(), magnitudes.rend());
      const double threshold = magnitudes[k - 1];
      for (auto& [name, d] : deltas[i]) {
        for (double& v : d) {
          if (std::fabs(v) < threshold) v = 0;
        }
      }
    } else if (opt.densities[i] < 1.0) {
      for (auto& [name, d] : deltas[i]) {
        keep_top_k(d, static_cast<std::size_t>(opt.densities[i] * d.size()));
      }
    }
  }
  // Elect, merge disjointly.
  Weights out;
  for (const auto& [name, b] : base) {
    std::vector<float>& o = out[name];
    for (std::size_t j = 0; j < b.size(); ++j) {
      double total = 0;
      for (std::size_t i = 0; i < n; ++i) total += opt.weights[i] * deltas[i][name][j];
      const double sign = total >= 0 ? 1.0 : -1.0;
      double mixed = 0, divisor = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double wd = opt.weights[i] * deltas[i][name][j];
        if (wd != 0 && (wd > 0) == (sign > 0)) {
          mixed += wd;
          divisor += opt.weights[i];
        }
      }
      if (opt.mean) mixed /= divisor == 0 ? 1.0 : divisor;
      o.push_back(static_cast<float>(b[j] + opt.lambda * mixed));
    }
  }
  return out;
}

}  // namespace alloy::test
