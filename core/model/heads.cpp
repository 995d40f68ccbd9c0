#include "model/heads.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "error.hpp"
#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"

namespace alloy {

namespace {
constexpr double kNormEps = 1e-12;  // torch.nn.functional.normalize's default

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  for (const char c : text) {
    if (c == ',') {
      parts.push_back(part);
      part.clear();
    } else {
      part += c;
    }
  }
  if (!part.empty() || !parts.empty()) parts.push_back(part);
  return parts;
}
}  // namespace

Tensor head_forward(Provider& p, const Tensor& embeds, const Head& head, HeadSaved* saved) {
  const int64_t batch = embeds.shape()[0];
  Tensor normalized = p.allocate(DType::F32, embeds.shape());
  Tensor norm = p.allocate(DType::F32, {batch});
  p.l2_normalize(normalized, norm, embeds, kNormEps);
  Tensor logits = p.allocate(DType::F32, {batch, head.weight.shape()[0]});
  p.gemm(false, true, head.logit_scale, normalized, head.weight, 0.0, logits);
  if (saved) *saved = {normalized, norm};
  return logits;
}

Tensor head_backward(Provider& p, const Tensor& dlogits, const Head& head, const HeadSaved& s) {
  Tensor dnormalized = p.allocate(DType::F32, s.normalized.shape());
  p.gemm(false, false, head.logit_scale, dlogits, head.weight, 0.0, dnormalized);
  Tensor dembeds = p.allocate(DType::F32, s.normalized.shape());
  p.l2_normalize_backward(dembeds, dnormalized, s.normalized, s.norm, kNormEps);
  return dembeds;
}

std::vector<Head> load_heads(const std::string& path, Provider& provider) {
  const auto file = SafetensorsFile::open(path);
  const auto& metadata = file->header().metadata;
  std::vector<Head> heads;
  for (const TensorEntry& entry : file->header().tensors) {
    if (entry.dtype != DType::F32 || entry.shape.size() != 2 || entry.shape[0] < 1) {
      fail(ALLOY_ERR_SHAPE, "{}: head '{}' is {} {}, not F32 [classes, projection_dim]", path,
           entry.name, dtype_name(entry.dtype), shape_string(entry.shape));
    }
    Head head;
    head.task = entry.name;
    if (const auto it = metadata.find(entry.name + ".logit_scale"); it != metadata.end()) {
      try {
        head.logit_scale = std::stod(it->second);
      } catch (const std::exception&) {
        fail(ALLOY_ERR_IO, "{}: {}.logit_scale '{}' is not a number", path, entry.name, it->second);
      }
    }
    if (const auto it = metadata.find(entry.name + ".classes"); it != metadata.end()) {
      head.class_names = split_commas(it->second);
      if (head.class_names.size() != static_cast<std::size_t>(entry.shape[0])) {
        fail(ALLOY_ERR_IO, "{}: {}.classes names {} classes but head '{}' has {}", path, entry.name,
             head.class_names.size(), entry.name, entry.shape[0]);
      }
    }
    head.weight = provider.allocate(DType::F32, entry.shape);
    provider.copy(head.weight, provider.to_device(file->tensor(entry)));
    heads.push_back(std::move(head));
  }
  if (heads.empty()) fail(ALLOY_ERR_IO, "{}: holds no heads", path);
  return heads;
}

void save_heads(const std::string& path, const std::vector<Head>& heads, Provider& provider,
                bool overwrite) {
  // The writer makes folders; a heads file is one file, so write a folder and take its shard.
  const std::string folder = path + ".writing";
  WriterOptions options;
  options.overwrite = true;
  for (const Head& head : heads) {
    options.metadata[head.task + ".logit_scale"] = fmt::format("{}", head.logit_scale);
    if (!head.class_names.empty()) {
      options.metadata[head.task + ".classes"] =
          fmt::format("{}", fmt::join(head.class_names, ","));
    }
  }
  namespace fs = std::filesystem;
  if (!overwrite && fs::exists(path)) {
    fail(ALLOY_ERR_IO, "{} already exists", path);
  }
  {
    SafetensorsWriter writer(folder, options);
    for (const Head& head : heads) writer.declare(head.task, DType::F32, head.weight.shape());
    std::vector<char> host;
    for (const Head& head : heads) {
      host.resize(head.weight.nbytes());
      provider.download(head.weight, host.data(), host.size());
      writer.write(head.task, host.data(), host.size());
    }
    writer.finish();
  }
  fs::rename(folder + "/model.safetensors", path);
  fs::remove_all(folder);
}

const Head& find_head(const std::vector<Head>& heads, const std::string& task,
                      const std::string& file_label) {
  std::string known;
  for (const Head& head : heads) {
    if (head.task == task) return head;
    known += (known.empty() ? "" : ", ") + head.task;
  }
  fail(ALLOY_ERR_NOT_FOUND, "{} has no head for task '{}' (it has: {})", file_label, task, known);
}

}  // namespace alloy
