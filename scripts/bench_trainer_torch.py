"""PyTorch reference for examples/bench_trainer.rs: the same training loop on a full-size
random-weight model, one optimiser step after another, printing method,examples_per_s over
STEPS steps after one warm-up step.

- roberta: RobertaForSequenceClassification (2 labels), batch 8 x 128 tokens, AdamW lr 2e-5,
  linear schedule, clip 1.0, dropout on; the same tokenizer.json; probe-mlp, bitfit, finetune.
- clip: CLIPVisionModel with a 2-class nn.Linear on its pooled output, batch 8 of 178x218 JPEGs
  decoded with PIL every step, torchvision's RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3, bilinear)
  and horizontal flip written out with PIL and numpy (torchvision is not needed), CLIP's
  normalisation; SGD momentum 0.9 lr 1e-3, cosine schedule, clip 1.0; probe, bitfit, finetune.

    RAYON_NUM_THREADS=2 /work/venv/bin/python scripts/bench_trainer_torch.py [STEPS] [cpu|cuda] [f32|bf16] [BATCH] [roberta|clip]

bf16 is autocast with f32 master weights (what `--dtype bf16` does in homogen).
"""
import math
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer
from transformers import (CLIPVisionConfig, CLIPVisionModel, RobertaConfig,
                          RobertaForSequenceClassification, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

torch.set_num_threads(2)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 2
dev = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 8
which = sys.argv[5] if len(sys.argv) > 5 else "roberta"
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


class ClipClassifier(torch.nn.Module):
    """The vision tower and a linear head on its pooled (post-layer-normed class) token."""

    def __init__(self):
        super().__init__()
        self.vision = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            image_size=224, patch_size=16, hidden_act="quick_gelu"))
        self.classifier = torch.nn.Linear(768, 2)

    def forward(self, pixel_values):
        return self.classifier(self.vision(pixel_values=pixel_values).pooler_output)


def crop_box(width, height, rng):
    """torchvision's RandomResizedCrop.get_params: (left, top, w, h)."""
    area = width * height
    lo, hi = math.log(3 / 4), math.log(4 / 3)
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(lo, hi))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    ratio = width / height
    if ratio < 3 / 4:
        w, h = width, round(width / (3 / 4))
    elif ratio > 4 / 3:
        w, h = round(height * 4 / 3), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def augmented(path, rng):
    img = Image.open(path).convert("RGB")
    left, top, w, h = crop_box(img.width, img.height, rng)
    img = img.resize((224, 224), Image.BILINEAR, box=(left, top, left + w, top + h))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    x = (np.asarray(img, dtype=np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD
    return torch.from_numpy(x.transpose(2, 0, 1).copy())


def write_images(folder, n):
    """CelebA-sized JPEGs (178x218): smooth colours plus noise, as the Rust side writes."""
    rng = np.random.default_rng(0)
    paths = []
    y, x = np.mgrid[0:218, 0:178]
    for i in range(n):
        jitter = rng.integers(0, 32, (218, 178))
        img = np.stack([(x + 7 * i + jitter) % 256, (y + jitter) % 256, (x + y + jitter) % 256], -1)
        path = os.path.join(folder, f"{i + 1:06}.jpg")
        Image.fromarray(img.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def run(method, model, head_prefix, make_opt, make_sched, inputs):
    for name, p in model.named_parameters():
        head = name.startswith(head_prefix)
        p.requires_grad = head or (method == "finetune") or (method == "bitfit" and name.endswith(".bias"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_opt(params)
    sched = make_sched(opt)
    model.train()

    def step(i):
        x, labels = inputs(i)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(**x)
            logits = logits.logits if hasattr(logits, "logits") else logits
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()

    step(0)  # warm-up
    sync()
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    print(f"{method},{batch * steps / (time.perf_counter() - t):.3f}", flush=True)


def labels_of(i):
    return torch.tensor([(i + k) % 2 for k in range(batch)], device=dev)


print("method,examples_per_s")
if which == "roberta":
    tok = Tokenizer.from_file("tests/fixtures/models/roberta/tokenizer.json")
    tok.enable_truncation(128)
    tok.enable_padding(pad_id=1, pad_token="<pad>")
    text = "the quick brown fox jumps over the lazy dog " * 30

    def text_inputs(i):
        enc = tok.encode_batch([text] * batch)
        ids = torch.tensor([e.ids for e in enc], device=dev)
        mask = torch.tensor([e.attention_mask for e in enc], device=dev)
        return {"input_ids": ids, "attention_mask": mask}, labels_of(i)

    for method in ["probe-mlp", "bitfit", "finetune"]:
        torch.manual_seed(0)
        cfg = RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                            pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=2)
        run(method, RobertaForSequenceClassification(cfg).to(dev), "classifier.",
            lambda ps: torch.optim.AdamW(ps, lr=2e-5, weight_decay=0.0),
            lambda o: get_linear_schedule_with_warmup(o, 0, steps + 1), text_inputs)
elif which == "clip":
    folder = tempfile.mkdtemp()
    paths = write_images(folder, batch * (steps + 1))
    rng = random.Random(0)

    def image_inputs(i):
        picked = paths[(i * batch) % len(paths):][:batch]
        px = torch.stack([augmented(p, rng) for p in picked]).to(dev)
        return {"pixel_values": px}, labels_of(i)

    for method in ["probe", "bitfit", "finetune"]:
        torch.manual_seed(0)
        run(method, ClipClassifier().to(dev), "classifier.",
            lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9),
            lambda o: get_cosine_schedule_with_warmup(o, 0, steps + 1), image_inputs)
else:
    sys.exit(f"unknown model {which}: roberta or clip")
