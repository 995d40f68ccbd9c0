// alloy.open_model(): the tensors of a safetensors model (a file, or a folder with one file or
// shards and an index) read as the merge's registry reads them: the header parsed, the file
// mapped read-only, every tensor a view of the mapping. TensorView exposes one tensor through
// the buffer protocol (numpy.asarray: zero-copy, read-only) and DLPack.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "dlpack_export.hpp"
#include "error.hpp"
#include "tensor/registry.hpp"

namespace alloy::python {
namespace {

// The struct-module format of a dtype's element. BF16 has no NumPy type: its bits, as uint16.
const char* buffer_format(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "f";
    case DType::F16:
      return "e";
    case DType::BF16:
      return "H";
    case DType::I16:
      return "h";
    case DType::F64:
      return "d";
    case DType::I64:
      return "q";
    case DType::I32:
      return "i";
    case DType::I8:
      return "b";
    case DType::U8:
      return "B";
    case DType::BOOL:
      return "?";
  }
  return "B";
}

struct TensorView {
  std::string name;
  Tensor tensor;  // keeps the mapping alive

  py::buffer_info buffer() const {
    const ssize_t item = static_cast<ssize_t>(dtype_size(tensor.dtype()));
    std::vector<ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
    std::vector<ssize_t> strides(shape.size(), item);
    for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
    return py::buffer_info(tensor.data(), item, buffer_format(tensor.dtype()), tensor.ndim(),
                           std::move(shape), std::move(strides), /*readonly=*/!tensor.writable());
  }

  py::capsule dlpack(const py::object& stream, const py::object& max_version,
                     const py::object& dl_device, const py::object& copy) const {
    if (!stream.is_none()) {
      throw py::buffer_error("__dlpack__: stream must be None for a CPU tensor");
    }
    if (!dl_device.is_none()) {
      const auto device = dl_device.cast<std::pair<int, int>>();
      if (device.first != kDLCPU || device.second != 0) {
        throw py::buffer_error(
            "__dlpack__: the tensor is on the CPU (device (1, 0)); copies to "
            "other devices are the consumer's to make");
      }
    }
    const bool versioned =
        !max_version.is_none() && max_version.cast<std::pair<int, int>>().first >= 1;
    return dlpack_capsule(tensor, versioned, !copy.is_none() && copy.cast<bool>());
  }
};

const TensorEntry& entry_of(const Model& model, const std::string& name) {
  const TensorEntry* entry = model.find(name);
  if (!entry) throw py::key_error(name);
  return *entry;
}

py::tuple shape_tuple(const Shape& shape) {
  py::tuple t(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) t[d] = shape[d];
  return t;
}

void bind_tensor_view(py::module_& m) {
  py::class_<TensorView>(m, "TensorView", py::buffer_protocol(), R"doc(
One tensor of a model, viewing the mapped file: read-only, never copied.

numpy.asarray(view) gives a read-only array over the same bytes (BF16 as uint16: its bits);
__dlpack__ hands it to torch.from_dlpack, numpy.from_dlpack and others without a copy. The
view, and every array made from it, keeps the file mapped.)doc")
      .def_buffer(&TensorView::buffer)
      .def_readonly("name", &TensorView::name)
      .def_property_readonly("shape",
                             [](const TensorView& v) { return shape_tuple(v.tensor.shape()); })
      .def_property_readonly("dtype",
                             [](const TensorView& v) { return dtype_name(v.tensor.dtype()); })
      .def_property_readonly("nbytes", [](const TensorView& v) { return v.tensor.nbytes(); })
      .def("__dlpack__", &TensorView::dlpack, py::kw_only(), py::arg("stream") = py::none(),
           py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(),
           py::arg("copy") = py::none(),
           "A DLPack capsule of the tensor: versioned (read-only flag set) when the consumer "
           "gives max_version >= (1, 0); copy=True exports a writable copy")
      .def("__dlpack_device__",
           [](const TensorView&) { return py::make_tuple(static_cast<int>(kDLCPU), 0); })
      .def("__repr__", [](const TensorView& v) {
        return lenient_str("<alloy.TensorView '" + v.name + "' " + dtype_name(v.tensor.dtype()) +
                           " " + shape_string(v.tensor.shape()) + ">");
      });
}

}  // namespace

void bind_model(py::module_& m) {
  bind_tensor_view(m);
  py::class_<Model, std::shared_ptr<Model>>(m, "_Model")
      .def(py::init([](const std::string& path) {
             return std::make_shared<Model>(path, path, ALLOY_ROLE_MODEL);
           }),
           py::arg("path"))
      .def_property_readonly("path", [](const Model& model) { return lenient_str(model.path()); })
      .def("files", &Model::files)
      .def("names",
           [](const Model& model) {
             py::list names;
             for (const TensorEntry& t : model.tensors()) names.append(lenient_str(t.name));
             return names;
           })
      .def("__contains__",
           [](const Model& model, const std::string& name) { return model.find(name) != nullptr; })
      .def("__len__", [](const Model& model) { return model.tensors().size(); })
      .def("shape",
           [](const Model& model, const std::string& name) {
             return shape_tuple(entry_of(model, name).shape);
           })
      .def("dtype", [](const Model& model,
                       const std::string& name) { return dtype_name(entry_of(model, name).dtype); })
      .def("view",
           [](const Model& model, const std::string& name) {
             entry_of(model, name);
             return TensorView{name, model.read(name)};
           })
      .def("metadata", [](const Model& model) {
        py::dict metadata;  // every shard's __metadata__; the first shard's value wins
        for (const auto& file : model.opened_files()) {
          for (const auto& [key, value] : file->header().metadata) {
            const py::str k = lenient_str(key);
            if (!metadata.contains(k)) metadata[k] = lenient_str(value);
          }
        }
        return metadata;
      });
}

}  // namespace alloy::python
