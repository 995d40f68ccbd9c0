#!/usr/bin/env python3
"""alloy's vision transformer against Hugging Face transformers on the same checkpoint.

Builds small random CLIPVisionModelWithProjection models (one per activation) with
transformers, saves them with save_pretrained, runs alloy-vit-gradients on them, and compares
the image embeddings and the gradient of sum(weights * embeds) wrt every parameter with
PyTorch's autograd. Exits non-zero on any mismatch.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection


def check(alloy_bin: Path, act: str, work: Path) -> list:
    torch.manual_seed({"quick_gelu": 1, "gelu": 2, "gelu_pytorch_tanh": 3}[act])
    config = CLIPVisionConfig(hidden_size=12, intermediate_size=20, num_hidden_layers=2,
                              num_attention_heads=3, num_channels=2, image_size=6, patch_size=3,
                              projection_dim=5, hidden_act=act, layer_norm_eps=1e-5)
    model = CLIPVisionModelWithProjection(config).float().eval()
    with torch.no_grad():  # larger than CLIP's initialisation, so every layer matters
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    model_dir = work / f"hf_{act}"
    model.save_pretrained(model_dir, safe_serialization=True)

    images = torch.randn(3, 2, 6, 6)
    weights = torch.randn(3, 5)
    save_file({"images": images, "weights": weights}, str(work / f"input_{act}.safetensors"))
    out_dir = work / f"alloy_{act}"
    subprocess.run([str(alloy_bin), str(model_dir), str(work / f"input_{act}.safetensors"),
                    str(out_dir)], check=True)
    alloy = load_file(str(out_dir / "model.safetensors"))

    embeds = model(pixel_values=images).image_embeds
    (embeds * weights).sum().backward()
    problems = []

    def compare(what, ours, theirs):
        # The floor: some gradients are zero in exact arithmetic (a key bias shifts every score
        # of a row alike, and softmax ignores that), so both sides hold rounding noise only.
        scale = max(theirs.abs().max().item(), 1e-2)
        error = (ours - theirs).abs().max().item() / scale
        if error > 1e-4:
            problems.append(f"{act}: {what}: max error {error:.2e} of max |value| {scale:.3g}")

    compare("embeds", alloy["embeds"], embeds.detach())
    names = 0
    for name, p in model.named_parameters():
        key = "grad." + name
        if key not in alloy:
            problems.append(f"{act}: alloy has no gradient for {name}")
            continue
        compare(key, alloy[key], p.grad)
        names += 1
    print(f"{act}: embeddings and {names} parameter gradients compared")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alloy-vit-gradients", required=True, type=Path)
    args = parser.parse_args()
    problems = []
    with tempfile.TemporaryDirectory(prefix="alloy-hf-") as tmp:
        for act in ["quick_gelu", "gelu", "gelu_pytorch_tanh"]:
            problems += check(args.alloy_vit_gradients.resolve(), act, Path(tmp))
    for p in problems:
        print("MISMATCH", p, file=sys.stderr)
    if problems:
        return 1
    print("alloy's ViT matches transformers' CLIPVisionModelWithProjection")
    return 0


if __name__ == "__main__":
    sys.exit(main())
