#include "tensor/host_memory.hpp"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "error.hpp"

namespace alloy {
namespace {

// Blocks below this go straight to the C heap, which recycles them well already.
constexpr uint64_t kPooledFrom = 1ull << 20;
// Freed blocks kept for reuse, in bytes: bounded so the pool cannot hold a model's worth.
constexpr uint64_t kPoolCapacity = 256ull << 20;

uint64_t rounded(uint64_t bytes) {
  const uint64_t granule = bytes >= kPooledFrom ? (64ull << 10) : 64;
  return (bytes + granule - 1) / granule * granule;
}

class Pool {
 public:
  void* take(uint64_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    return p;
  }
  bool give(void* p, uint64_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + size > kPoolCapacity) return false;
    free_[size].push_back(p);
    cached_ += size;
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, std::vector<void*>> free_;
  uint64_t cached_ = 0;
};

Pool& pool() {
  static auto* p = new Pool();  // never destroyed: buffers may be freed during exit
  return *p;
}

}  // namespace

void* host_allocate(uint64_t bytes) {
  const uint64_t size = rounded(bytes == 0 ? 1 : bytes);
  if (size >= kPooledFrom) {
    if (void* p = pool().take(size)) return p;
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) fail(ALLOY_ERR_OUT_OF_MEMORY, "out of memory allocating {} bytes", bytes);
  return p;
}

void host_free(void* data, uint64_t bytes) noexcept {
  if (!data) return;
  const uint64_t size = rounded(bytes == 0 ? 1 : bytes);
  if (size >= kPooledFrom && pool().give(data, size)) return;
  std::free(data);
}

}  // namespace alloy
