#include "dlpack_export.hpp"

#include <cstring>
#include <memory>
#include <vector>

namespace alloy::python {
namespace {

namespace py = pybind11;

// DLPack 1.0's versioned tensor (dlpack.h v1.0, ABI-stable). The sdk's dlpack.h stays at the
// version the plugin ABI was frozen with, so the one struct and flags the export needs are here.
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr uint64_t kDLPackFlagReadOnly = 1ull << 0;
constexpr uint64_t kDLPackFlagIsCopied = 1ull << 1;

// The managed tensor, its shape and strides, and the tensor that keeps the bytes alive.
template <typename Managed>
struct Export {
  Managed managed{};
  Tensor tensor;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements, row-major
};

template <typename Managed>
Managed* export_tensor(const Tensor& tensor) {
  auto owned = std::make_unique<Export<Managed>>();
  owned->tensor = tensor;
  owned->shape = tensor.shape();
  owned->strides.assign(owned->shape.size(), 1);
  for (size_t d = owned->shape.size(); d-- > 1;) {
    owned->strides[d - 1] = owned->strides[d] * owned->shape[d];
  }
  DLTensor& dl = owned->managed.dl_tensor;
  dl.data = tensor.data();
  dl.device = cpu_device();
  dl.ndim = tensor.ndim();
  dl.dtype = to_dlpack(tensor.dtype());
  dl.shape = owned->shape.data();
  dl.strides = owned->strides.data();
  dl.byte_offset = 0;
  owned->managed.manager_ctx = owned.get();
  // Any thread may run it, without the GIL: it touches no Python object.
  owned->managed.deleter = [](Managed* self) {
    delete static_cast<Export<Managed>*>(self->manager_ctx);
  };
  return &owned.release()->managed;
}

// A capsule nobody consumed still owns its tensor; a consumer renames it "used_...".
extern "C" void delete_unused(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    managed->deleter(managed);
  } else if (PyCapsule_IsValid(capsule, "dltensor_versioned")) {
    auto* managed =
        static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, "dltensor_versioned"));
    managed->deleter(managed);
  }
}

Tensor copy_of(const Tensor& tensor) {
  Tensor copy(tensor.dtype(), tensor.shape(), std::make_shared<HostBuffer>(tensor.nbytes()));
  if (tensor.nbytes() > 0) std::memcpy(copy.data(), tensor.data(), tensor.nbytes());
  return copy;
}

}  // namespace

py::capsule dlpack_capsule(const Tensor& tensor, bool versioned, bool copy) {
  const Tensor exported = copy ? copy_of(tensor) : tensor;
  PyObject* capsule = nullptr;
  if (versioned) {
    DLManagedTensorVersioned* managed = export_tensor<DLManagedTensorVersioned>(exported);
    managed->version = {1, 0};
    managed->flags = copy ? kDLPackFlagIsCopied : (exported.writable() ? 0 : kDLPackFlagReadOnly);
    capsule = PyCapsule_New(managed, "dltensor_versioned", delete_unused);
    if (!capsule) managed->deleter(managed);
  } else {
    DLManagedTensor* managed = export_tensor<DLManagedTensor>(exported);
    capsule = PyCapsule_New(managed, "dltensor", delete_unused);
    if (!capsule) managed->deleter(managed);
  }
  if (!capsule) throw py::error_already_set();
  return py::reinterpret_steal<py::capsule>(capsule);
}

}  // namespace alloy::python
