#!/usr/bin/env python3
"""Decode + preprocess throughput, homogen (Rust: image crate decoding, the library's
preprocessing, rayon) against the reference stack, on the same generated 178x218 CelebA-sized
JPEGs, for each way the trainer brings an image to 224x224:

- clip: PIL + transformers' CLIPImageProcessorPil (bicubic shortest side, centre crop);
- stretch: PIL's bilinear resize to 224x224 + scale and normalise, which is what
  torchvision's Resize([224, 224]) + ToTensor + Normalize do to a PIL image (the paper's recipe);
- augment: torchvision's RandomResizedCrop + RandomHorizontalFlip on PIL (crop, bilinear
  resize, flip), then scale and normalise.

Run from the repository root after `cargo build --release --example bench_decode`:
    /work/venv/bin/python scripts/bench_decode.py [--n 300] [--repeat 3] [--modes clip,stretch]
Prints Markdown tables for BENCHMARKS.md and, for clip and stretch, the largest difference
between the two preprocessed tensors of the first image.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image
from transformers import CLIPImageProcessorPil

BIN = os.path.join("target", "release", "examples", "bench_decode")


def make_images(folder, n):
    """Photo-like content (smooth shapes plus sensor noise), JPEG quality 95 like CelebA."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:218, 0:178]
    for i in range(n):
        cx, cy, r = rng.uniform(50, 130), rng.uniform(60, 160), rng.uniform(40, 80)
        face = ((x - cx) ** 2 + (y - cy) ** 2 < r ** 2)[..., None]
        base = rng.uniform(0, 255, 3) * (1 - face) + rng.uniform(100, 230, 3) * face
        grad = (x[..., None] / 178.0 * 40) + (y[..., None] / 218.0 * 30)
        img = np.clip(base + grad + rng.normal(0, 12, (218, 178, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, f"{i + 1:06d}.jpg"), quality=95)


def bench_pil_decode(files, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for f in files:
            Image.open(f).convert("RGB").load()
        best = min(best, time.perf_counter() - t)
    return best


MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)[:, None, None]
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)[:, None, None]


def to_chw(img):
    """ToTensor + Normalize with CLIP's mean and std."""
    return (np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0 - MEAN) / STD


def random_resized_crop(img, rng):
    """torchvision's RandomResizedCrop(224) + RandomHorizontalFlip on a PIL image."""
    w, h = img.size
    area = w * h
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = round(np.sqrt(target * aspect)), round(np.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            break
    else:
        cw, ch, top, left = w, h, 0, 0
    out = img.crop((left, top, left + cw, top + ch)).resize((224, 224), Image.BILINEAR)
    if rng.uniform() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return out


def bench_python(files, repeat, mode):
    proc = CLIPImageProcessorPil()
    rng = np.random.default_rng(0)

    def prepare(f):
        img = Image.open(f).convert("RGB")
        if mode == "clip":
            return proc(images=img, return_tensors="np")["pixel_values"][0]
        if mode == "stretch":
            return to_chw(img.resize((224, 224), Image.BILINEAR))
        return to_chw(random_resized_crop(img, rng))

    best, first = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = [prepare(f) for f in files]
        best = min(best, time.perf_counter() - t)
        first = out[0]
    return best, first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", default="clip,stretch,augment")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        make_images(d, args.n)
        files = sorted(os.path.join(d, f) for f in os.listdir(d))
        pil_decode = bench_pil_decode(files, args.repeat)
        results = []
        for mode in args.modes.split(","):
            py_s, py_first = bench_python(files, args.repeat, mode)
            rows = []
            dump = os.path.join(d, "first.f32")
            for threads in (1, 2):
                env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
                out = subprocess.run(
                    [BIN, d, "--mode", mode, "--repeat", str(args.repeat), "--dump", dump],
                    env=env, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out))
            rust_first = np.fromfile(dump, dtype="<f4").reshape(3, 224, 224)
            results.append((mode, py_s, rows, np.abs(rust_first - py_first)))
    print(f"images: {args.n} generated 178x218 JPEGs (q95); best of {args.repeat}")
    print("| mode | implementation | threads | seconds | images/s | ratio vs reference |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode, py_s, rows, _ in results:
        ref = "PIL + CLIPImageProcessorPil" if mode == "clip" else "PIL + numpy (torchvision's steps)"
        print(f"| {mode} | {ref} | 1 | {py_s:.3f} | {args.n / py_s:.1f} | 1.00 |")
        for r in rows:
            print(f"| {mode} | homogen decode + preprocess | {r['threads']} | {r['seconds']:.3f} "
                  f"| {r['images_per_s']:.1f} | {py_s / r['seconds']:.2f} |")
    print()
    print("| preprocess only (decoded images) | threads | seconds | images/s |")
    print("| --- | --- | --- | --- |")
    for mode, _, rows, _ in results:
        for r in rows:
            p = r["preprocess_seconds"]
            print(f"| homogen {mode} | {r['threads']} | {p:.3f} | {args.n / p:.1f} |")
    print()
    print("| decode only | threads | seconds | images/s | ratio vs PIL |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| PIL `Image.open(f).convert('RGB')` | 1 | {pil_decode:.3f} | {args.n / pil_decode:.1f} | 1.00 |")
    for r in results[0][2]:
        d = r["decode_seconds"]
        print(f"| homogen `decode_images` (image crate + rayon) | {r['threads']} | {d:.3f} "
              f"| {args.n / d:.1f} | {pil_decode / d:.2f} |")
    for mode, _, _, diff in results:
        if mode != "augment":
            print(f"{mode}, first image: max |rust - reference| = {diff.max():.4f}, "
                  f"mean = {diff.mean():.5f} (normalised units)")


if __name__ == "__main__":
    main()
