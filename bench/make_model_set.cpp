// alloy-make-models: writes a synthetic model set (a base and N fine-tuned models of a
// transformer-like layout) for the example and the benchmarks. Fine-tuned weights are the base
// plus a small deterministic task vector, so merges have something real to do. Uses
// liballoy's streaming writer, so sets larger than memory can be generated.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors_writer.hpp"
#include "tensor/dtype.hpp"

namespace {

struct Options {
  std::string out;
  int models = 3;
  double total_gb = 0.05;  // per model
  int hidden = 512;
  alloy::DType dtype = alloy::DType::BF16;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: alloy-make-models OUTDIR [--models N] [--gb-per-model G] [--hidden H] "
               "[--dtype float32|bfloat16|float16]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--models") {
      o.models = std::atoi(value().c_str());
    } else if (a == "--gb-per-model") {
      o.total_gb = std::atof(value().c_str());
    } else if (a == "--hidden") {
      o.hidden = std::atoi(value().c_str());
    } else if (a == "--dtype") {
      if (!alloy::parse_config_dtype(value(), &o.dtype)) usage();
    } else if (o.out.empty() && a[0] != '-') {
      o.out = a;
    } else {
      usage();
    }
  }
  if (o.out.empty() || o.models < 1 || o.total_gb <= 0 || o.hidden < 8) usage();
  return o;
}

struct TensorPlan {
  std::string name;
  alloy::Shape shape;
};

// Blocks of a pre-LayerNorm transformer (attention, MLP, norms) until the size is reached.
std::vector<TensorPlan> layout(const Options& o) {
  const int64_t h = o.hidden;
  std::vector<TensorPlan> plan = {{"embeddings.weight", {4 * h, h}}};
  const double bytes_per_layer = (12.0 * h * h + 13.0 * h) * alloy::dtype_size(o.dtype);
  const int layers = std::max(1, static_cast<int>(o.total_gb * 1e9 / bytes_per_layer));
  for (int l = 0; l < layers; ++l) {
    const std::string p = "encoder.layers." + std::to_string(l) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      plan.push_back({p + "self_attn." + proj + ".weight", {h, h}});
      plan.push_back({p + "self_attn." + proj + ".bias", {h}});
    }
    plan.push_back({p + "layer_norm1.weight", {h}});
    plan.push_back({p + "layer_norm1.bias", {h}});
    plan.push_back({p + "mlp.fc1.weight", {4 * h, h}});
    plan.push_back({p + "mlp.fc1.bias", {4 * h}});
    plan.push_back({p + "mlp.fc2.weight", {h, 4 * h}});
    plan.push_back({p + "mlp.fc2.bias", {h}});
    plan.push_back({p + "layer_norm2.weight", {h}});
    plan.push_back({p + "layer_norm2.bias", {h}});
  }
  return plan;
}

// A fast deterministic generator (xorshift64*) mapped to roughly uniform [-1, 1).
struct Random {
  uint64_t state;
  float next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<float>(static_cast<int64_t>(state * 2685821657736338717ull) >> 40) /
           8388608.0f;
  }
};

void encode(const std::vector<float>& values, alloy::DType dtype, std::vector<char>& bytes) {
  bytes.resize(values.size() * alloy::dtype_size(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (dtype == alloy::DType::F32) {
      std::memcpy(&bytes[4 * i], &values[i], 4);
    } else {
      const uint16_t h = dtype == alloy::DType::BF16 ? alloy::f32_to_bf16(values[i])
                                                     : alloy::f32_to_f16(values[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
}

void write_model(const Options& o, const std::vector<TensorPlan>& plan, const std::string& dir,
                 int task) {
  alloy::WriterOptions wo;
  wo.metadata = {{"generator", "alloy-make-models"}};
  wo.overwrite = true;
  alloy::SafetensorsWriter writer(dir, wo);
  for (const auto& t : plan) writer.declare(t.name, o.dtype, t.shape);
  std::vector<float> values;
  std::vector<char> bytes;
  uint64_t tensor_index = 0;
  for (const auto& t : plan) {
    Random base{0x9e3779b97f4a7c15ull + ++tensor_index};
    Random delta{(static_cast<uint64_t>(task) << 32) + tensor_index + 1};
    values.resize(alloy::shape_numel(t.shape));
    const float scale = 0.02f;
    for (float& v : values) {
      v = scale * base.next();
      if (task > 0) v += 0.1f * scale * delta.next();
    }
    encode(values, o.dtype, bytes);
    writer.write(t.name, bytes.data(), bytes.size());
  }
  writer.finish();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    const std::vector<TensorPlan> plan = layout(o);
    std::filesystem::create_directories(o.out);
    for (int m = 0; m <= o.models; ++m) {
      const std::string dir = o.out + "/" + (m == 0 ? "base" : "task_" + std::to_string(m));
      write_model(o, plan, dir, m);
      std::printf("%s\n", dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alloy-make-models: %s\n", e.what());
    return 1;
  }
  return 0;
}
