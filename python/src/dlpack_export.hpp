// A tensor handed to other frameworks through DLPack (`__dlpack__`): NumPy, PyTorch, JAX and
// CuPy take it without a copy. DLPack 1.0's versioned capsule carries a read-only flag, which
// matters here since tensors of a model view a read-only mapping of its file; consumers that ask
// for no version get the older capsule, which cannot say so.
#pragma once

#include <pybind11/pybind11.h>

#include "tensor/tensor.hpp"

namespace alloy::python {

// A "dltensor_versioned" capsule when `versioned`, else a "dltensor" one, viewing `tensor` (kept
// alive until the consumer's deleter runs) or, when `copy`, a writable copy of it.
pybind11::capsule dlpack_capsule(const Tensor& tensor, bool versioned, bool copy);

}  // namespace alloy::python
