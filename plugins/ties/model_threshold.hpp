// One magnitude threshold per task vector over all of its tensors (TIES' trim_scope: model),
// found exactly with bounded memory: a radix select on the IEEE-754 bits of |tau| in two
// streaming passes of magnitude_histogram, so no task vector is ever held whole.
#pragma once

#include <alloy/alloy.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../common/task_vector.hpp"

namespace ties {

using alloy::sdk::Context;
using alloy::sdk::Tensor;

// The bin holding the k-th largest element of a histogram, counting from the top bin down;
// *above gets how many elements lie in higher bins.
inline uint32_t bin_of_kth(const std::vector<uint64_t>& counts, uint64_t k, uint64_t* above) {
  uint64_t seen = 0;
  for (uint32_t bin = ALLOY_HISTOGRAM_BINS; bin-- > 0;) {
    if (seen + counts[bin] >= k) {
      *above = seen;
      return bin;
    }
    seen += counts[bin];
  }
  *above = seen;
  return 0;
}

// Returns, per model index, the magnitude an entry of its task vector needs to be kept: as in
// the TIES paper's code and FusionBench (`|tau| >= kthvalue(N - int(N * density))`), the k-th
// largest |tau| with k = int(N * density) + 1 over all N entries; 0 (keep all) when k > N.
inline std::vector<double> model_thresholds(const Context& ctx,
                                            const std::vector<int32_t>& models) {
  const int32_t base_model = ctx.base_model();
  std::vector<std::string> names;
  for (const std::string& name : ctx.output_names()) {
    if (ctx.has_tensor(base_model, name.c_str()) &&
        Context::is_float(ctx.tensor_dtype(base_model, name.c_str()))) {
      names.push_back(name);
    }
  }
  const std::size_t n = models.size();
  std::vector<std::vector<uint64_t>> coarse(n, std::vector<uint64_t>(ALLOY_HISTOGRAM_BINS));
  std::vector<std::vector<uint64_t>> fine(n, std::vector<uint64_t>(ALLOY_HISTOGRAM_BINS));
  std::vector<uint32_t> prefix(n);
  std::vector<uint64_t> total(n), k(n), remaining(n);

  // Pass 0 histograms the high 16 bits of every |tau|; pass 1 the low 16 bits within the bin
  // pass 0 found. Each pass reads the base once per tensor, shared by all models.
  const uint64_t steps = 2 * names.size();
  for (int32_t level = 0; level < 2; ++level) {
    for (std::size_t t = 0; t < names.size(); ++t) {
      ctx.check_cancelled();
      ctx.progress(level * names.size() + t, steps);
      Tensor base = ctx.get(base_model, names[t].c_str());
      for (std::size_t i = 0; i < n; ++i) {
        Tensor tau = alloy_plugins::task_vector(ctx, base, models[i], names[t].c_str());
        if (level == 0) total[i] += ctx.numel(tau);
        ctx.magnitude_histogram(tau, level, prefix[i], (level == 0 ? coarse : fine)[i].data());
      }
    }
    if (level == 0) {
      for (std::size_t i = 0; i < n; ++i) {
        const double density = ctx.param_f64("density", models[i]);
        k[i] = static_cast<uint64_t>(density * static_cast<double>(total[i])) + 1;
        uint64_t above = 0;
        prefix[i] = k[i] > total[i] ? 0 : bin_of_kth(coarse[i], k[i], &above);
        remaining[i] = k[i] - above;
      }
    }
  }
  ctx.progress(steps, steps);

  std::vector<double> thresholds(static_cast<std::size_t>(ctx.model_count()), 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double& threshold = thresholds[static_cast<std::size_t>(models[i])];
    if (k[i] > total[i]) {
      threshold = 0.0;
    } else {
      uint64_t above = 0;
      const uint32_t low = bin_of_kth(fine[i], remaining[i], &above);
      const uint32_t bits = (prefix[i] << 16) | low;
      float magnitude;
      std::memcpy(&magnitude, &bits, sizeof magnitude);
      threshold = magnitude;
    }
  }
  return thresholds;
}

}  // namespace ties
