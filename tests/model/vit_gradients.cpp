// alloy-vit-gradients MODEL_DIR INPUT.safetensors OUTPUT_DIR
//
// For tests/model/compare_hf.py: runs alloy's vision transformer on INPUT's "images"
// [B, C, H, W] (already normalised) and writes to OUTPUT_DIR the image embeddings ("embeds")
// and the gradient of sum(weights * embeds) wrt every parameter ("grad.<name>"), with INPUT's
// "weights" [B, P], so that both can be compared with Hugging Face transformers on the same
// checkpoint.
#include <cstdio>
#include <vector>

#include "error.hpp"
#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"
#include "model/vit.hpp"

namespace {

alloy::Tensor read_f32(alloy::Provider& p, const alloy::SafetensorsFile& file,
                       const std::string& name) {
  for (const alloy::TensorEntry& entry : file.header().tensors) {
    if (entry.name != name) continue;
    alloy::Tensor out = p.allocate(alloy::DType::F32, entry.shape);
    p.copy(out, file.tensor(entry));
    return out;
  }
  alloy::fail(ALLOY_ERR_NOT_FOUND, "{} has no tensor '{}'", file.path(), name);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: alloy-vit-gradients MODEL_DIR INPUT.safetensors OUTPUT_DIR\n");
    return 2;
  }
  try {
    const auto provider = alloy::create_provider("cpu");
    alloy::Provider& p = *provider;
    const alloy::VitModel model = alloy::VitModel::load(argv[1], p);
    const auto input = alloy::SafetensorsFile::open(argv[2]);
    const alloy::Tensor images = read_f32(p, *input, "images");
    const alloy::Tensor weights = read_f32(p, *input, "weights");

    std::shared_ptr<alloy::VitModel::Saved> saved;
    const alloy::Tensor embeds = model.forward(images, &saved);
    alloy::TensorMap grads = model.zeros_like();
    model.backward(weights, *saved, grads);

    alloy::SafetensorsWriter writer(argv[3], alloy::WriterOptions{});
    writer.declare("embeds", alloy::DType::F32, embeds.shape());
    for (const auto& [name, grad] : grads) {
      writer.declare("grad." + name, alloy::DType::F32, grad.shape());
    }
    writer.write("embeds", embeds.data(), embeds.nbytes());
    for (const auto& [name, grad] : grads) writer.write("grad." + name, grad.data(), grad.nbytes());
    writer.finish();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alloy-vit-gradients: %s\n", e.what());
    return 1;
  }
}
