// alloy inspect FILE|DIR: a model's tensors, dtypes, shapes and metadata, read from the
// headers only; for an upscaled or Twin-Merging model (docs/model.md), its modules and where its
// parameters are, against the plain model's count.
#include <cstdio>
#include <filesystem>

#include "error.hpp"
#include "model/twin_parts.hpp"
#include "model/vit.hpp"
#include "options.hpp"
#include "tensor/registry.hpp"

namespace alloy::cli {

namespace {

bool starts_with(const std::string& s, const char* head) { return s.rfind(head, 0) == 0; }

// A Twin-Merging model's parts: the shared model, the experts' exclusive tensors (low-rank
// factors and dense deltas), the router. False for another model.
bool print_twin(const Model& model, int64_t width) {
  const TwinRouterShape router = detect_twin_router(model, width);
  if (router.experts == 0) return false;
  uint64_t all = 0, factors = 0, dense = 0, routers = 0, statistics = 0;
  for (const TensorEntry& t : model.tensors()) {
    const uint64_t n = shape_numel(t.shape);
    all += n;
    if (starts_with(t.name, "twin.router.")) {
      routers += n;
      if (t.name.find("running_") != std::string::npos) statistics += n;
    } else if (starts_with(t.name, "twin.experts.")) {
      const bool factor = t.name.size() > 3 && (t.name.compare(t.name.size() - 3, 3, ".us") == 0 ||
                                                t.name.compare(t.name.size() - 2, 2, ".v") == 0);
      (factor ? factors : dense) += n;
    }
  }
  const uint64_t plain = all - factors - dense - routers;
  std::printf("Twin-Merging model: %lld experts, router of width %lld\n",
              static_cast<long long>(router.experts), static_cast<long long>(router.width));
  std::printf(
      "parameters: %llu (%.2fx a plain model's %llu: low-rank factors %llu, dense deltas %llu, "
      "router %llu of which %llu BatchNorm statistics)\n",
      static_cast<unsigned long long>(all), plain ? double(all) / double(plain) : 0.0,
      static_cast<unsigned long long>(plain), static_cast<unsigned long long>(factors),
      static_cast<unsigned long long>(dense), static_cast<unsigned long long>(routers),
      static_cast<unsigned long long>(statistics));
  return true;
}

// Modules and parameter counts of a model folder with a ViT config.json (nothing otherwise).
void print_modules(const std::string& path, const Model& model) {
  const std::filesystem::path config_path = std::filesystem::path(path) / "config.json";
  std::error_code error;
  if (!std::filesystem::is_regular_file(config_path, error)) return;
  const VitConfig config = load_vit_config(config_path.string());
  if (print_twin(model, config.hidden_size)) return;
  const ExpertLayout layout = detect_expert_layout(config, model);
  uint64_t experts = 0, routers = 0, all = 0;
  for (const TensorEntry& t : model.tensors()) {
    const uint64_t n = shape_numel(t.shape);
    all += n;
    if (t.name.find(".mlp.experts.") != std::string::npos) experts += n;
    if (t.name.find(".mlp.router.") != std::string::npos) routers += n;
  }
  int upscaled = 0;
  for (std::size_t l = 0; l < layout.size(); ++l) {
    if (layout[l].experts == 0) continue;
    ++upscaled;
    std::printf("module %s: WEMoE MLP, %lld experts, router with %d hidden layers\n",
                vit_layer_param(static_cast<int64_t>(l), "mlp").c_str(),
                static_cast<long long>(layout[l].experts), layout[l].router_layers);
  }
  if (upscaled == 0) {
    std::printf("parameters: %llu\n", static_cast<unsigned long long>(all));
    return;
  }
  const uint64_t plain = all - experts - routers;
  std::printf(
      "parameters: %llu (%.2fx a plain model's %llu: experts %llu, routers %llu); %d of %lld "
      "MLPs upscaled\n",
      static_cast<unsigned long long>(all), plain ? double(all) / double(plain) : 0.0,
      static_cast<unsigned long long>(plain), static_cast<unsigned long long>(experts),
      static_cast<unsigned long long>(routers), upscaled,
      static_cast<long long>(config.num_hidden_layers));
}

}  // namespace

int inspect_command(const Args& args) {
  po::options_description visible("inspect options");
  po::options_description hidden;
  std::string path;
  hidden.add_options()("path", po::value(&path)->required(), "model path");
  po::positional_options_description positional;
  positional.add("path", 1);
  po::variables_map vm;
  int exit_code = 0;
  if (!parse_options(args, "alloy inspect FILE|DIR", visible, hidden, positional, vm, &exit_code)) {
    return exit_code;
  }
  try {
    const Model model(path, path, ALLOY_ROLE_MODEL);
    uint64_t total = 0;
    for (const auto& file : model.opened_files()) {
      std::printf("%s\n", file->path().c_str());
      for (const auto& [key, value] : file->header().metadata) {
        std::printf("  metadata %s = %s\n", key.c_str(), value.c_str());
      }
    }
    std::printf("%-60s %-5s %-20s %s\n", "tensor", "dtype", "shape", "bytes");
    for (const TensorEntry& t : model.tensors()) {
      std::printf("%-60s %-5s %-20s %llu\n", t.name.c_str(), dtype_name(t.dtype),
                  shape_string(t.shape).c_str(), static_cast<unsigned long long>(t.bytes));
      total += t.bytes;
    }
    std::printf("%zu tensors, %.3f GB\n", model.tensors().size(), total / 1e9);
    print_modules(path, model);
    return 0;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace alloy::cli
