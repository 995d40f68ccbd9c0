#include "compute/cpu/onednn_context.hpp"

#include <omp.h>

namespace alloy::cpu::onednn {
namespace {

// Enough for every shape of a model's forward and backward pass; a thread that sees more
// (shapes that keep changing) starts over rather than growing without bound.
constexpr std::size_t kMaxKeptPrimitives = 512;

// Per thread, so that no lock is needed; keyed by the team size too, since oneDNN sizes a
// primitive's work split for the threads it was made with.
std::unordered_map<std::string, dnnl::primitive>& kept_primitives() {
  thread_local std::unordered_map<std::string, dnnl::primitive> primitives;
  return primitives;
}

std::string team_key(const std::string& key) {
  return key + "/threads=" + std::to_string(omp_get_max_threads());
}

}  // namespace

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

dnnl::memory::desc dense(const dnnl::memory::dims& dims, dnnl::memory::data_type type) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (std::size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return dnnl::memory::desc(dims, type, strides);
}

dnnl::memory bind(const dnnl::memory::desc& desc, void* data) {
  return dnnl::memory(desc, cpu_engine(), data);
}

void fail_onednn(const char* op, const dnnl::error& e) {
  fail(e.status == dnnl_out_of_memory ? ALLOY_ERR_OUT_OF_MEMORY : ALLOY_ERR_INTERNAL,
       "{}: oneDNN failed: {}", op, e.what());
}

dnnl::primitive* find_primitive(const std::string& key) {
  auto& primitives = kept_primitives();
  const auto it = primitives.find(team_key(key));
  return it == primitives.end() ? nullptr : &it->second;
}

const dnnl::primitive& keep_primitive(const std::string& key, dnnl::primitive primitive) {
  auto& primitives = kept_primitives();
  if (primitives.size() >= kMaxKeptPrimitives) primitives.clear();
  return primitives[team_key(key)] = std::move(primitive);
}

}  // namespace alloy::cpu::onednn
