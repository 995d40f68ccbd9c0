// One CUDA device as the provider uses it: a compute stream every op runs on, a copy stream
// for host-to-device staging, the cuBLAS and cuSOLVER handles bound to the compute stream,
// device memory under an optional cap, and a pool of pinned staging buffers.
//
// Ordering: every op, allocation and free is enqueued on the one compute stream, so device
// tensors never race however many host threads call in. Uploads run on the copy stream through
// pinned buffers and the compute stream waits on their event; the calling thread returns as
// soon as the bytes are staged, so the next tensor's read from disk and copy overlap the
// current tensor's kernels.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace alloy::cuda {

// Throws alloy::Error (ALLOY_ERR_OUT_OF_MEMORY for allocation failures, else ALLOY_ERR_INTERNAL)
// naming `what` and CUDA's message.
void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);
void check(cusolverStatus_t status, const char* what);
// check(cudaGetLastError()) after a kernel launch.
void check_launch(const char* what);

class Device {
 public:
  // Throws alloy::Error with a one-line reason (no driver, no such device) when it cannot.
  Device(int ordinal, uint64_t max_memory);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  int ordinal() const { return ordinal_; }
  const std::string& name() const { return name_; }
  uint64_t total_memory() const { return total_memory_; }
  uint64_t max_memory() const { return max_memory_; }  // 0: no cap
  uint64_t memory_in_use() const { return in_use_.load(); }
  uint64_t peak_memory() const { return peak_.load(); }

  // Makes this device current on the calling thread (cheap; every entry point calls it).
  void activate() const;
  cudaStream_t stream() const { return compute_; }
  // The handles, bound to stream(); hold lock() while using them (they are not reentrant).
  cublasHandle_t cublas() const { return cublas_; }
  cusolverDnHandle_t cusolver() const { return cusolver_; }
  std::unique_lock<std::mutex> lock_handles() const { return std::unique_lock(handles_mutex_); }

  // Device memory, stream-ordered on stream(). Throws ALLOY_ERR_OUT_OF_MEMORY naming the cap
  // or the device's free memory when the request does not fit.
  void* allocate(uint64_t bytes);
  void free(void* ptr, uint64_t bytes) noexcept;

  // Host -> device: copies `bytes` from pageable `src` to device `dst` through pinned staging
  // on the copy stream, after everything already enqueued on the compute stream; the compute
  // stream waits for it. Returns once src may be reused.
  void upload(void* dst, const void* src, uint64_t bytes);
  // Device -> host: after everything enqueued on the compute stream; returns when dst holds it.
  void download(void* dst, const void* src, uint64_t bytes);
  // Waits for everything enqueued on the compute stream.
  void synchronize();

 private:
  struct Staging {
    void* host = nullptr;  // pinned
    cudaEvent_t done{};    // recorded after the copy that reads (or writes) it
    bool in_use = false;
  };
  Staging& acquire_staging();
  void release_staging(Staging& staging);

  int ordinal_;
  std::string name_;
  uint64_t total_memory_ = 0;
  uint64_t max_memory_;
  std::atomic<uint64_t> in_use_{0};
  std::atomic<uint64_t> peak_{0};
  cudaStream_t compute_{};
  cudaStream_t copy_{};
  cublasHandle_t cublas_{};
  cusolverDnHandle_t cusolver_{};
  mutable std::mutex handles_mutex_;
  std::mutex staging_mutex_;
  std::condition_variable staging_free_;
  std::vector<Staging> staging_;
};

// Size of one pinned staging buffer; uploads and downloads move at most this much per copy.
constexpr uint64_t kStagingBytes = 8ull << 20;
constexpr int kStagingBuffers = 6;

// Device memory a tensor views; freed (stream-ordered) when the last tensor lets go of it.
// Holds the device alive: tensors may outlive the provider that made them.
class DeviceBuffer : public Buffer {
 public:
  DeviceBuffer(std::shared_ptr<Device> device, uint64_t bytes);
  ~DeviceBuffer() override;

 private:
  std::shared_ptr<Device> device_;
};

}  // namespace alloy::cuda
