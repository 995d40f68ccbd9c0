// Per-task classification heads on L2-normalised image embeddings, as CLIP classifies with its
// text embeddings: logits = logit_scale * normalise(embeds) @ weight^T, weight [classes, P].
// Heads are frozen while encoders train and merge, so only the gradient wrt the embeddings is
// needed.
#pragma once

#include <string>
#include <vector>

#include "compute/provider.hpp"

namespace alloy {

struct Head {
  std::string task;
  std::vector<std::string> class_names;  // may be empty
  Tensor weight;                         // F32 [classes, projection_dim], on the provider
  double logit_scale = 100.0;            // CLIP's exp(log(100)) after training
};

struct HeadSaved {
  Tensor normalized;  // [B, P]
  Tensor norm;        // [B]
};

// logits [B, classes] from embeds [B, P].
Tensor head_forward(Provider& p, const Tensor& embeds, const Head& head, HeadSaved* saved);
// d(embeds) from d(logits).
Tensor head_backward(Provider& p, const Tensor& dlogits, const Head& head, const HeadSaved& saved);

// A heads file: one safetensors file, tensor "<task>" [classes, P] per task, with metadata
// "<task>.logit_scale" and "<task>.classes" (comma-separated). Errors name the file and task.
std::vector<Head> load_heads(const std::string& path, Provider& provider);
void save_heads(const std::string& path, const std::vector<Head>& heads, Provider& provider,
                bool overwrite = false);
const Head& find_head(const std::vector<Head>& heads, const std::string& task,
                      const std::string& file_label);

}  // namespace alloy
