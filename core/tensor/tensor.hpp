// A tensor inside liballoy: a dtype, a shape and a window onto a shared buffer. Buffers are
// either host memory owned by a provider or a read-only window of a memory-mapped file; the
// tensor keeps its buffer (and so the mapping) alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.hpp"

namespace alloy {

using Shape = std::vector<int64_t>;

// Highest rank alloy reads or allocates (alloy.h promises plugins 8 dims are always enough).
constexpr std::size_t kMaxRank = 8;

// Number of elements; throws alloy::Error when a dimension is negative or the product
// overflows 64 bits.
uint64_t shape_numel(const Shape& shape);
// "[768, 3072]"
std::string shape_string(const Shape& shape);

// Memory somewhere (host or device). Subclasses free it in their destructor.
class Buffer {
 public:
  virtual ~Buffer() = default;
  void* data() const { return data_; }
  uint64_t bytes() const { return bytes_; }
  DLDevice device() const { return device_; }
  bool writable() const { return writable_; }

 protected:
  Buffer(void* data, uint64_t bytes, DLDevice device, bool writable)
      : data_(data), bytes_(bytes), device_(device), writable_(writable) {}

 private:
  void* data_;
  uint64_t bytes_;
  DLDevice device_;
  bool writable_;
};

inline DLDevice cpu_device() { return DLDevice{kDLCPU, 0}; }

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, uint64_t offset = 0);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int32_t ndim() const { return static_cast<int32_t>(shape_.size()); }
  uint64_t numel() const { return numel_; }
  uint64_t nbytes() const { return numel_ * dtype_size(dtype_); }
  void* data() const { return static_cast<char*>(buffer_->data()) + offset_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data());
  }
  bool writable() const { return buffer_ && buffer_->writable(); }
  DLDevice device() const { return buffer_ ? buffer_->device() : cpu_device(); }
  bool defined() const { return buffer_ != nullptr; }
  // The same elements under another shape with the same element count; shares the buffer.
  Tensor reshaped(Shape shape) const;
  // Entries [begin, begin + count) of the leading axis, a contiguous window; shares the buffer.
  Tensor rows(int64_t begin, int64_t count) const;
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  uint64_t numel_ = 0;
  std::shared_ptr<Buffer> buffer_;
  uint64_t offset_ = 0;
};

// Host memory (see host_memory.hpp), 64-byte aligned, zero-filled.
class HostBuffer : public Buffer {
 public:
  explicit HostBuffer(uint64_t bytes);
  ~HostBuffer() override;
};

}  // namespace alloy
