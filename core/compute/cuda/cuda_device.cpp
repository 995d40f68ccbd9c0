#include "compute/cuda/cuda_device.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "error.hpp"

namespace alloy::cuda {
namespace {

std::string gib(uint64_t bytes) { return fmt::format("{:.1f} GiB", bytes / double(1ull << 30)); }

// One event for one ordering edge between streams; destroyed when its work completes.
class Edge {
 public:
  explicit Edge(cudaStream_t from) {
    check(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventRecord(event_, from), "cudaEventRecord");
  }
  ~Edge() { cudaEventDestroy(event_); }
  void wait_in(cudaStream_t stream) { check(cudaStreamWaitEvent(stream, event_, 0), "wait"); }

 private:
  cudaEvent_t event_{};
};

}  // namespace

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  const alloy_status code =
      status == cudaErrorMemoryAllocation ? ALLOY_ERR_OUT_OF_MEMORY : ALLOY_ERR_INTERNAL;
  fail(code, "CUDA: {}: {} ({})", what, cudaGetErrorString(status), cudaGetErrorName(status));
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(status == CUBLAS_STATUS_ALLOC_FAILED ? ALLOY_ERR_OUT_OF_MEMORY : ALLOY_ERR_INTERNAL,
       "cuBLAS: {}: {}", what, cublasGetStatusString(status));
}

void check(cusolverStatus_t status, const char* what) {
  if (status == CUSOLVER_STATUS_SUCCESS) return;
  fail(status == CUSOLVER_STATUS_ALLOC_FAILED ? ALLOY_ERR_OUT_OF_MEMORY : ALLOY_ERR_INTERNAL,
       "cuSOLVER: {}: status {}", what, static_cast<int>(status));
}

void check_launch(const char* what) { check(cudaGetLastError(), what); }

Device::Device(int ordinal, uint64_t max_memory) : ordinal_(ordinal), max_memory_(max_memory) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0)) {
    fail(ALLOY_ERR_UNSUPPORTED, "no CUDA device on this machine");
  }
  if (status == cudaErrorInsufficientDriver) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "no CUDA driver on this machine, or one older than this module's CUDA {}.{} runtime",
         CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
  }
  if (status != cudaSuccess) {
    fail(ALLOY_ERR_UNSUPPORTED, "CUDA cannot start: {} ({})", cudaGetErrorString(status),
         cudaGetErrorName(status));
  }
  if (ordinal < 0 || ordinal >= count) {
    fail(ALLOY_ERR_UNSUPPORTED, "no CUDA device {}: this machine has {} (cuda:0 to cuda:{})",
         ordinal, count, count - 1);
  }
  check(cudaSetDevice(ordinal), "cudaSetDevice");
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, ordinal), "cudaGetDeviceProperties");
  name_ = fmt::format("{}, {}, compute {}.{}", props.name, gib(props.totalGlobalMem), props.major,
                      props.minor);
  total_memory_ = props.totalGlobalMem;
  check(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cublasCreate(&cublas_), "cublasCreate");
  check(cublasSetStream(cublas_, compute_), "cublasSetStream");
  // Exact F32 products, as the CPU provider computes: no TF32 tensor-core rounding.
  check(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
  check(cusolverDnCreate(&cusolver_), "cusolverDnCreate");
  check(cusolverDnSetStream(cusolver_, compute_), "cusolverDnSetStream");
  // Freed blocks stay in the stream-ordered pool for the next allocation instead of going back
  // to the driver (which would synchronise the device each time).
  cudaMemPool_t pool{};
  check(cudaDeviceGetDefaultMemPool(&pool, ordinal), "cudaDeviceGetDefaultMemPool");
  uint64_t keep = std::numeric_limits<uint64_t>::max();
  check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
        "cudaMemPoolSetAttribute");
  staging_.resize(kStagingBuffers);
  for (Staging& s : staging_) {
    check(cudaHostAlloc(&s.host, kStagingBytes, cudaHostAllocDefault), "cudaHostAlloc (staging)");
    check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreate");
  }
}

Device::~Device() {
  cudaSetDevice(ordinal_);
  cudaStreamSynchronize(compute_);
  cudaStreamSynchronize(copy_);
  for (Staging& s : staging_) {
    if (s.host) cudaFreeHost(s.host);
    if (s.done) cudaEventDestroy(s.done);
  }
  if (cusolver_) cusolverDnDestroy(cusolver_);
  if (cublas_) cublasDestroy(cublas_);
  if (copy_) cudaStreamDestroy(copy_);
  if (compute_) cudaStreamDestroy(compute_);
}

void Device::activate() const { check(cudaSetDevice(ordinal_), "cudaSetDevice"); }

void* Device::allocate(uint64_t bytes) {
  if (bytes == 0) return nullptr;
  activate();
  uint64_t used = in_use_.load();
  do {
    if (max_memory_ && (bytes > max_memory_ || used > max_memory_ - bytes)) {
      fail(ALLOY_ERR_OUT_OF_MEMORY,
           "cuda:{}: the device memory cap of {} bytes (--max-device-memory) does not fit {} "
           "more bytes: {} are in use",
           ordinal_, max_memory_, bytes, used);
    }
  } while (!in_use_.compare_exchange_weak(used, used + bytes));
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(&ptr, bytes, compute_);
  if (status != cudaSuccess) {
    in_use_ -= bytes;
    cudaGetLastError();  // clear the sticky-free error state of this thread
    fail(ALLOY_ERR_OUT_OF_MEMORY,
         "cuda:{} is out of memory: {} bytes asked, {} in use by alloy ({})", ordinal_, bytes,
         in_use_.load(), cudaGetErrorString(status));
  }
  const uint64_t now = used + bytes;
  uint64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
  return ptr;
}

void Device::free(void* ptr, uint64_t bytes) noexcept {
  if (!ptr) return;
  cudaSetDevice(ordinal_);
  cudaFreeAsync(ptr, compute_);
  in_use_ -= bytes;
}

Device::Staging& Device::acquire_staging() {
  std::unique_lock lock(staging_mutex_);
  for (;;) {
    for (Staging& s : staging_) {
      if (!s.in_use) {
        s.in_use = true;
        lock.unlock();
        // The copy that last used it may still be reading it.
        check(cudaEventSynchronize(s.done), "staging buffer");
        return s;
      }
    }
    staging_free_.wait(lock);
  }
}

void Device::release_staging(Staging& staging) {
  {
    std::lock_guard lock(staging_mutex_);
    staging.in_use = false;
  }
  staging_free_.notify_one();
}

void Device::upload(void* dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return;
  activate();
  // The copy must not overtake ops already enqueued on dst (or on its allocation).
  Edge(compute_).wait_in(copy_);
  for (uint64_t offset = 0; offset < bytes; offset += kStagingBytes) {
    const uint64_t n = std::min(kStagingBytes, bytes - offset);
    Staging& s = acquire_staging();
    try {
      std::memcpy(s.host, static_cast<const char*>(src) + offset, n);  // reads the mmap here
      check(cudaMemcpyAsync(static_cast<char*>(dst) + offset, s.host, n, cudaMemcpyHostToDevice,
                            copy_),
            "upload");
      check(cudaEventRecord(s.done, copy_), "cudaEventRecord");
    } catch (...) {
      release_staging(s);
      throw;
    }
    release_staging(s);
  }
  Edge(copy_).wait_in(compute_);
}

void Device::download(void* dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return;
  activate();
  // Two chunks in flight: the next one copies while this one is memcpy'd out of pinned memory.
  Staging* pending = nullptr;
  uint64_t pending_offset = 0, pending_bytes = 0;
  auto drain = [&] {
    if (!pending) return;
    const cudaError_t status = cudaEventSynchronize(pending->done);
    if (status == cudaSuccess) {
      std::memcpy(static_cast<char*>(dst) + pending_offset, pending->host, pending_bytes);
    }
    release_staging(*pending);
    pending = nullptr;
    check(status, "download");
  };
  try {
    for (uint64_t offset = 0; offset < bytes; offset += kStagingBytes) {
      const uint64_t n = std::min(kStagingBytes, bytes - offset);
      Staging& s = acquire_staging();
      const cudaError_t copied = cudaMemcpyAsync(s.host, static_cast<const char*>(src) + offset, n,
                                                 cudaMemcpyDeviceToHost, compute_);
      const cudaError_t recorded =
          copied == cudaSuccess ? cudaEventRecord(s.done, compute_) : copied;
      if (recorded != cudaSuccess) {
        release_staging(s);
        check(recorded, "download");
      }
      drain();
      pending = &s;
      pending_offset = offset;
      pending_bytes = n;
    }
    drain();
  } catch (...) {
    if (pending) release_staging(*pending);
    throw;
  }
}

void Device::synchronize() {
  activate();
  check(cudaStreamSynchronize(compute_), "synchronize");
}

DeviceBuffer::DeviceBuffer(std::shared_ptr<Device> device, uint64_t bytes)
    : Buffer(device->allocate(bytes), bytes, DLDevice{kDLCUDA, device->ordinal()}, true),
      device_(std::move(device)) {}

DeviceBuffer::~DeviceBuffer() { device_->free(data(), bytes()); }

}  // namespace alloy::cuda
