#!/usr/bin/env python3
"""The reference for alloy-train-bench: the same encoder (transformers'
CLIPVisionModelWithProjection, fmnist8 zoo config), the same frozen normalised-feature head,
cross-entropy and AdamW, on random images of the same shape, in images per second."""
import sys
import time

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
torch.manual_seed(0)
config = CLIPVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=6,
                          num_attention_heads=4, num_channels=1, image_size=28, patch_size=7,
                          projection_dim=128, hidden_act="quick_gelu")
model = CLIPVisionModelWithProjection(config).float().train()
head = torch.nn.functional.normalize(torch.randn(10, 128), dim=-1)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.0)
images = torch.randn(batch, 1, 28, 28)
labels = torch.randint(0, 10, (batch,))


def step():
    embeds = model(pixel_values=images).image_embeds
    logits = 100.0 * torch.nn.functional.normalize(embeds, dim=-1) @ head.T
    loss = torch.nn.functional.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


step()  # warm-up
start = time.perf_counter()
for _ in range(steps):
    step()
seconds = time.perf_counter() - start
print(f"pytorch {torch.__version__} ({torch.get_num_threads()} threads): {steps} steps of "
      f"{batch} images in {seconds:.2f} s: {steps * batch / seconds:.0f} images/s")
