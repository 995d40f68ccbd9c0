// What every oneDNN op of the CPU provider shares: the engine, one stream per thread, dense
// descriptors, and running a primitive with oneDNN's errors turned into alloy's.
#pragma once

#include <dnnl.hpp>

#include <string>
#include <unordered_map>

#include "error.hpp"

namespace alloy::cpu::onednn {

using Args = std::unordered_map<int, dnnl::memory>;

const dnnl::engine& cpu_engine();

// A stream must not be shared between threads that execute at the same time.
dnnl::stream& thread_stream();

// A dense row-major descriptor.
dnnl::memory::desc dense(const dnnl::memory::dims& dims,
                         dnnl::memory::data_type type = dnnl::memory::data_type::f32);

dnnl::memory bind(const dnnl::memory::desc& desc, void* data);

[[noreturn]] void fail_onednn(const char* op, const dnnl::error& e);

// The primitive stored under `key` by this thread for its current OpenMP team size, or null.
dnnl::primitive* find_primitive(const std::string& key);
const dnnl::primitive& keep_primitive(const std::string& key, dnnl::primitive primitive);

// Runs a primitive on this thread's stream.
template <typename Make>
void execute(const char* op, const Make& make, const Args& args) {
  try {
    make().execute(thread_stream(), args);
    thread_stream().wait();
  } catch (const dnnl::error& e) {
    fail_onednn(op, e);
  }
}

// execute() with the primitive kept per thread under `key`, which must name everything `make`
// depends on. Making the primitive descriptor costs 1-5 us even when oneDNN's own cache then
// returns the primitive: measured, a layer norm of [50, 128] (one image's tokens) took 6.2 us
// forward and 9.8 us backward that way, 4.8 and 7.1 us with the primitive kept.
template <typename Make>
void execute_cached(const char* op, const std::string& key, const Make& make, const Args& args) {
  try {
    const dnnl::primitive* primitive = find_primitive(key);
    if (!primitive) primitive = &keep_primitive(key, make());
    primitive->execute(thread_stream(), args);
    thread_stream().wait();
  } catch (const dnnl::error& e) {
    fail_onednn(op, e);
  }
}

}  // namespace alloy::cpu::onednn
