// Naive reference implementations of the shipped strategies, written plainly from the papers'
// and mergekit's definitions, in double precision, to check alloy's plugins against.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace alloy::test {

using Weights = std::map<std::string, std::vector<float>>;  // tensor name -> values

// base + lambda * sum_i w_i (m_i - base) [/ sum_i w_i when normalize]
Weights reference_task_arithmetic(const Weights& base, const std::vector<Weights>& models,
                                  const std::vector<double>& weights, double lambda,
                                  bool normalize);

struct TiesOptions {
  std::vector<double> densities;
  std::vector<double> weights;
  double lambda = 1.0;
  bool model_scope = false;  // one threshold over the whole task vector
  bool mean = true;          // disjoint mean (weighted) or sum
};

Weights reference_ties(const Weights& base, const std::vector<Weights>& models,
                       const TiesOptions& options);

}  // namespace alloy::test
