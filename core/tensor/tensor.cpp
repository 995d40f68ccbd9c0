#include "tensor/tensor.hpp"

#include <cstring>

#include "error.hpp"
#include "tensor/host_memory.hpp"

namespace alloy {

uint64_t shape_numel(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(ALLOY_ERR_SHAPE, "negative dimension {} in shape {}", d, shape_string(shape));
    if (d != 0 && n > UINT64_MAX / static_cast<uint64_t>(d)) {
      fail(ALLOY_ERR_SHAPE, "element count of shape {} overflows 64 bits", shape_string(shape));
    }
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, uint64_t offset)
    : dtype_(dtype),
      shape_(std::move(shape)),
      numel_(shape_numel(shape_)),
      buffer_(std::move(buffer)),
      offset_(offset) {
  if (!buffer_ || offset_ + nbytes() > buffer_->bytes()) {
    fail(ALLOY_ERR_INTERNAL, "tensor of shape {} does not fit its buffer", shape_string(shape_));
  }
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel_) {
    fail(ALLOY_ERR_SHAPE, "cannot view a tensor of shape {} as {}", shape_string(shape_),
         shape_string(shape));
  }
  return Tensor(dtype_, std::move(shape), buffer_, offset_);
}

Tensor Tensor::rows(int64_t begin, int64_t count) const {
  if (shape_.empty() || begin < 0 || count < 0 || begin > shape_[0] || count > shape_[0] - begin) {
    fail(ALLOY_ERR_SHAPE, "rows [{}, {}) lie outside a tensor of shape {}", begin, begin + count,
         shape_string(shape_));
  }
  Shape shape = shape_;
  shape[0] = count;
  const uint64_t row_bytes = shape_[0] == 0 ? 0 : nbytes() / static_cast<uint64_t>(shape_[0]);
  return Tensor(dtype_, std::move(shape), buffer_, offset_ + row_bytes * begin);
}

namespace {
void* zeroed(uint64_t bytes) {
  void* p = host_allocate(bytes);
  std::memset(p, 0, bytes);
  return p;
}
}  // namespace

HostBuffer::HostBuffer(uint64_t bytes) : Buffer(zeroed(bytes), bytes, cpu_device(), true) {}

HostBuffer::~HostBuffer() { host_free(data(), bytes()); }

}  // namespace alloy
