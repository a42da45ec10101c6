"""PyTorch reference for examples/bench_prefetch.rs: a random-weight CLIPVisionModel embeds N
CelebA-sized JPEGs (178x218, smooth colours plus noise), 64 at a time, read through a
DataLoader without a worker (each batch decoded in the loop, then run) and with one worker
process (the next batch decoded meanwhile, prefetch_factor 2): PIL decode, CLIP's resize
(shortest side to 224, bicubic), centre crop and normalisation with numpy, pooled output under
no_grad, read back to the CPU. Rounds alternate the two loaders; prints one JSON line with the
medians.

    /tmp/venv-torch/bin/python scripts/bench_prefetch_torch.py [N] [cpu|cuda] [f32|bf16] [tiny|base] [ROUNDS]

bf16 is autocast (what `--dtype bf16` does in homogen for a frozen model's features).
"""
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from transformers import CLIPVisionConfig, CLIPVisionModel

torch.set_num_threads(2)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
dev = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
size = sys.argv[4] if len(sys.argv) > 4 else "tiny"
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
BATCH = 64
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
shape = dict(hidden_size=192, intermediate_size=768, num_hidden_layers=4, num_attention_heads=3)
if size == "base":
    shape = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
config = CLIPVisionConfig(image_size=224, patch_size=16, hidden_act="quick_gelu", **shape)
torch.manual_seed(1)
model = CLIPVisionModel(config).to(dev).eval()


def write_images(folder):
    rng = np.random.default_rng(0x2545F4914F6CDD1D)
    y, x = np.mgrid[0:218, 0:178]
    paths = []
    for i in range(n):
        jitter = rng.integers(0, 32, size=(218, 178))
        img = np.stack([(x + 7 * i + jitter) % 256, (y + jitter) % 256, (x + y + jitter) % 256], -1)
        path = os.path.join(folder, f"{i + 1:06}.jpg")
        Image.fromarray(img.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


class Images(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        s = 224 / min(w, h)
        img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BICUBIC)
        w, h = img.size
        left, top = (w - 224) // 2, (h - 224) // 2
        img = img.crop((left, top, left + 224, top + 224))
        a = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
        return torch.from_numpy(a.transpose(2, 0, 1).copy())


def embed(loader):
    out = []
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        for pixels in loader:
            out.append(model(pixel_values=pixels.to(dev)).pooler_output.float().cpu())
    return torch.cat(out)


with tempfile.TemporaryDirectory() as folder:
    data = Images(write_images(folder))
    serial_loader = torch.utils.data.DataLoader(data, batch_size=BATCH, num_workers=0)
    worker_loader = torch.utils.data.DataLoader(data, batch_size=BATCH, num_workers=1,
                                                prefetch_factor=2, persistent_workers=True)
    embed(torch.utils.data.DataLoader(torch.utils.data.Subset(data, range(min(BATCH, n))),
                                      batch_size=BATCH))
    serial, worker = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        embed(serial_loader)
        serial.append(time.perf_counter() - t)
        t = time.perf_counter()
        embed(worker_loader)
        worker.append(time.perf_counter() - t)
    t = time.perf_counter()
    batches = list(serial_loader)
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        for pixels in batches:
            model(pixel_values=pixels.to(dev)).pooler_output.float().cpu()
    model_s = time.perf_counter() - t
s, w = sorted(serial)[len(serial) // 2], sorted(worker)[len(worker) // 2]
print(json.dumps({
    "images": n, "device": str(dev), "dtype": "bf16" if bf16 else "f32", "model": size,
    "batch": BATCH, "serial_s": serial, "one_worker_s": worker,
    "serial_images_per_s": round(n / s, 1), "one_worker_images_per_s": round(n / w, 1),
    "serial_over_one_worker": round(s / w, 3), "decode_only_s": round(decode_s, 3),
    "model_only_s": round(model_s, 3),
}))
