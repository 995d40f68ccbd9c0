#include "model/twin_parts.hpp"

#include <cctype>
#include <vector>

#include <nlohmann/json.hpp>

#include <alloy/alloy.h>

#include "error.hpp"
#include "model/twin_router.hpp"

namespace alloy {
namespace {

const std::string kExperts = "twin.experts.";
const std::string kRouter = "twin.router.";

bool starts_with(const std::string& s, const std::string& head) {
  return s.compare(0, head.size(), head) == 0;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// One expert's tensors of one parameter.
struct ExpertFiles {
  const TensorEntry* us = nullptr;
  const TensorEntry* v = nullptr;
  const TensorEntry* dense = nullptr;
};

Tensor read_f32(const Model& model, const TensorEntry& entry, Provider& p) {
  if (!is_float(entry.dtype)) {
    fail(ALLOY_ERR_DTYPE, "{}: tensor '{}' is {}; Twin-Merging tensors are float",
         model.file_of(entry.name), entry.name, dtype_name(entry.dtype));
  }
  const Tensor stored = p.to_device(model.read(entry.name));
  Tensor out = p.allocate(DType::F32, entry.shape);
  p.copy(out, stored);
  model.release(entry.name);
  return out;
}

void expect_shape(const Model& model, const TensorEntry& entry, const Shape& want,
                  const char* what) {
  if (entry.shape != want) {
    fail(ALLOY_ERR_SHAPE, "{}: tensor '{}' is {}, but {} is {}", model.file_of(entry.name),
         entry.name, shape_string(entry.shape), what, shape_string(want));
  }
}

// The parameter's matrix: [out, in] for a matrix, [out, in*k*k] for a convolution weight.
std::pair<int64_t, int64_t> matrix_of(const Shape& shape) {
  const int64_t out = shape.empty() ? 1 : shape[0];
  return {out, out > 0 ? static_cast<int64_t>(shape_numel(shape)) / out : 0};
}

TwinDelta low_rank_delta(const Model& model, const std::string& param, const Shape& shape,
                         const std::vector<ExpertFiles>& files, bool linear, Provider& p,
                         uint64_t* stored) {
  const auto [out, in] = matrix_of(shape);
  const int64_t experts = static_cast<int64_t>(files.size());
  std::vector<Tensor> us, v;
  std::vector<int64_t> owner;  // expert of each column
  for (int64_t t = 0; t < experts; ++t) {
    const ExpertFiles& f = files[static_cast<std::size_t>(t)];
    if (!f.us && !f.v) continue;
    const std::string name = twin_expert_param(t, param);
    if (!f.us || !f.v) {
      fail(ALLOY_ERR_NOT_FOUND, "model '{}': no tensor '{}', the pair of '{}'", model.name(),
           name + (f.us ? ".v" : ".us"), name + (f.us ? ".us" : ".v"));
    }
    const int64_t rank = f.us->shape.size() == 2 ? f.us->shape[1] : 0;
    expect_shape(model, *f.us, {out, rank}, "the left factor of a [out, in] delta [out, rank]");
    expect_shape(model, *f.v, {in, rank}, "the right factor (with the left's rank) [in, rank]");
    us.push_back(read_f32(model, *f.us, p));
    v.push_back(read_f32(model, *f.v, p));
    *stored += static_cast<uint64_t>((out + in) * rank);
    owner.insert(owner.end(), static_cast<std::size_t>(rank), t);
  }
  const int64_t total = static_cast<int64_t>(owner.size());
  TwinDelta delta;
  if (!linear) {
    // Not applied as x W^T (the position embedding): one dense delta per expert, built once.
    delta.dense = p.allocate(DType::F32, {experts, out * in});
    int64_t used = 0;
    for (int64_t t = 0; t < experts; ++t) {
      const ExpertFiles& f = files[static_cast<std::size_t>(t)];
      if (!f.us) continue;
      Tensor row = delta.dense.rows(t, 1).reshaped({out, in});
      p.gemm(false, true, 1.0, us[static_cast<std::size_t>(used)],
             v[static_cast<std::size_t>(used)], 0.0, row);
      ++used;
    }
    return delta;
  }
  if (total == 0) return delta;
  std::vector<const Tensor*> us_parts, v_parts;
  for (std::size_t i = 0; i < us.size(); ++i) {
    if (us[i].shape()[1] == 0) continue;  // a rank-0 expert adds no column
    us_parts.push_back(&us[i]);
    v_parts.push_back(&v[i]);
  }
  delta.us = p.allocate(DType::F32, {out, total});
  delta.v = p.allocate(DType::F32, {in, total});
  p.concat(delta.us, us_parts, 1);
  p.concat(delta.v, v_parts, 1);
  std::vector<float> columns(static_cast<std::size_t>(experts * total), 0.0f);
  for (int64_t c = 0; c < total; ++c) {
    columns[static_cast<std::size_t>(owner[static_cast<std::size_t>(c)] * total + c)] = 1.0f;
  }
  delta.columns = p.allocate(DType::F32, {experts, total});
  p.upload(delta.columns, columns.data(), columns.size() * sizeof(float));
  return delta;
}

TwinDelta dense_delta(const Model& model, const Shape& shape, const std::vector<ExpertFiles>& files,
                      Provider& p, uint64_t* stored) {
  const int64_t experts = static_cast<int64_t>(files.size());
  const int64_t numel = static_cast<int64_t>(shape_numel(shape));
  TwinDelta delta;
  delta.dense = p.allocate(DType::F32, {experts, numel});
  for (int64_t t = 0; t < experts; ++t) {
    const TensorEntry* entry = files[static_cast<std::size_t>(t)].dense;
    if (!entry) continue;
    expect_shape(model, *entry, shape, "the parameter");
    Tensor row = delta.dense.rows(t, 1);
    p.copy(row, read_f32(model, *entry, p).reshaped({1, numel}));
    *stored += static_cast<uint64_t>(numel);
  }
  return delta;
}

}  // namespace

std::string twin_expert_param(int64_t expert, const std::string& parameter) {
  return kExperts + std::to_string(expert) + "." + parameter;
}

std::vector<std::string> expert_tasks(const Model& model) {
  for (const auto& file : model.opened_files()) {
    const auto& metadata = file->header().metadata;
    const auto it = metadata.find("experts");
    if (it == metadata.end()) continue;
    try {
      return nlohmann::json::parse(it->second).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception&) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: metadata 'experts' is not a JSON list of task names",
           file->path());
    }
  }
  return {};
}

TwinRouterShape detect_twin_router(const Model& model, int64_t features) {
  bool any = false;
  for (const TensorEntry& entry : model.tensors()) any |= starts_with(entry.name, "twin.");
  if (!any) return {};
  const std::string last = twin_router_param("8.weight");
  const TensorEntry* out = model.find(last);
  if (!out) {
    fail(ALLOY_ERR_NOT_FOUND, "model '{}' has Twin-Merging tensors but no router ('{}')",
         model.name(), last);
  }
  if (out->shape.size() != 2 || out->shape[0] < 1 || out->shape[1] < 1) {
    fail(ALLOY_ERR_SHAPE, "{}: tensor '{}' is {}; the router's last layer is [experts, width]",
         model.file_of(last), last, shape_string(out->shape));
  }
  const TwinRouterShape shape{out->shape[1], out->shape[0]};
  for (const std::string& leaf : twin_router_leaves()) {
    const std::string name = twin_router_param(leaf);
    const TensorEntry* entry = model.find(name);
    if (!entry) {
      fail(ALLOY_ERR_NOT_FOUND, "model '{}': no tensor '{}' (the Twin-Merging router)",
           model.name(), name);
    }
    const int64_t h = shape.width;
    const Shape want = leaf == "0.weight"   ? Shape{h, features}
                       : leaf == "4.weight" ? Shape{h, h}
                       : leaf == "8.weight" ? Shape{shape.experts, h}
                       : leaf == "8.bias"   ? Shape{shape.experts}
                                            : Shape{h};
    expect_shape(model, *entry, want, "its place in the router makes it");
  }
  return shape;
}

TwinParts load_twin_parts(const Model& model, const std::map<std::string, Shape>& params,
                          const std::map<std::string, bool>& linear, int64_t experts,
                          Provider& provider) {
  TwinParts parts;
  parts.experts = experts;
  std::map<std::string, std::vector<ExpertFiles>> found;
  for (const TensorEntry& entry : model.tensors()) {
    const std::string& name = entry.name;
    if (!starts_with(name, "twin.") || starts_with(name, kRouter)) continue;
    const auto bad = [&](const std::string& why) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "model '{}': tensor '{}' {}", model.name(), name, why);
    };
    if (!starts_with(name, kExperts)) {
      bad("is not a Twin-Merging tensor (twin.experts.* or twin.router.*)");
    }
    std::size_t end = kExperts.size();
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    if (end == kExperts.size() || end - kExperts.size() > 6 || end >= name.size() ||
        name[end] != '.') {
      bad("has no expert number (twin.experts.<t>.<parameter>)");
    }
    const int64_t expert = std::stoll(name.substr(kExperts.size(), end - kExperts.size()));
    if (expert >= experts) {
      bad(fmt::format("is for expert {}, but the router has {} experts", expert, experts));
    }
    std::string param = name.substr(end + 1);
    const TensorEntry** slot = nullptr;
    ExpertFiles probe;
    if (ends_with(param, ".us") && params.count(param.substr(0, param.size() - 3))) {
      param.resize(param.size() - 3);
      slot = &probe.us;
    } else if (ends_with(param, ".v") && params.count(param.substr(0, param.size() - 2))) {
      param.resize(param.size() - 2);
      slot = &probe.v;
    } else if (params.count(param)) {
      slot = &probe.dense;
    } else {
      bad("names no parameter of the model");
    }
    auto& files = found[param];
    files.resize(static_cast<std::size_t>(experts));
    ExpertFiles& f = files[static_cast<std::size_t>(expert)];
    const TensorEntry** target = slot == &probe.us ? &f.us : slot == &probe.v ? &f.v : &f.dense;
    *target = &entry;
  }
  for (const auto& [param, files] : found) {
    bool any_dense = false, any_low_rank = false;
    for (const ExpertFiles& f : files) {
      any_dense |= f.dense != nullptr;
      any_low_rank |= f.us || f.v;
    }
    if (any_dense && any_low_rank) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "model '{}': parameter '{}' has dense and low-rank Twin-Merging deltas; one kind only",
           model.name(), param);
    }
    const Shape& shape = params.at(param);
    const auto is_linear = linear.find(param);
    parts.deltas.emplace(
        param, any_low_rank ? low_rank_delta(model, param, shape, files,
                                             is_linear != linear.end() && is_linear->second,
                                             provider, &parts.stored_values)
                            : dense_delta(model, shape, files, provider, &parts.stored_values));
  }
  return parts;
}

}  // namespace alloy
