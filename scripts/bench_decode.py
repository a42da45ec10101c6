#!/usr/bin/env python3
"""Decode + preprocess throughput, homogen (Rust, image crate + rayon) against PIL +
transformers' CLIP image processor, on the same generated 178x218 CelebA-sized JPEGs.

Run from the repository root after `cargo build --release --example bench_decode`:
    /work/venv/bin/python scripts/bench_decode.py [--n 300] [--repeat 3]
Prints a Markdown table for BENCHMARKS.md and the largest difference between the two
preprocessed tensors of the first image.
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


def bench_python(files, repeat):
    proc = CLIPImageProcessorPil()
    best, first = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = [proc(images=Image.open(f).convert("RGB"), return_tensors="np")["pixel_values"][0]
               for f in files]
        best = min(best, time.perf_counter() - t)
        first = out[0]
    return best, first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        make_images(d, args.n)
        files = sorted(os.path.join(d, f) for f in os.listdir(d))
        py_s, py_first = bench_python(files, args.repeat)
        pil_decode = bench_pil_decode(files, args.repeat)
        rows = []
        dump = os.path.join(d, "first.f32")
        for threads in (1, 2):
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
            out = subprocess.run([BIN, d, "--repeat", str(args.repeat), "--dump", dump],
                                 env=env, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out))
        rust_first = np.fromfile(dump, dtype="<f4").reshape(3, 224, 224)
    diff = np.abs(rust_first - py_first)
    print(f"images: {args.n} generated 178x218 JPEGs (q95); best of {args.repeat}")
    print("| implementation | threads | seconds | images/s | ratio vs PIL+transformers |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| PIL + transformers CLIPImageProcessorPil | 1 | {py_s:.3f} | {args.n / py_s:.1f} | 1.00 |")
    for r in rows:
        print(f"| homogen decode_images + CLIP preprocess | {r['threads']} | {r['seconds']:.3f} "
              f"| {r['images_per_s']:.1f} | {py_s / r['seconds']:.2f} |")
    print()
    print("| decode only | threads | seconds | images/s | ratio vs PIL |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| PIL `Image.open(f).convert('RGB')` | 1 | {pil_decode:.3f} | {args.n / pil_decode:.1f} | 1.00 |")
    for r in rows:
        d = r["decode_seconds"]
        print(f"| homogen `decode_images` (image crate + rayon) | {r['threads']} | {d:.3f} "
              f"| {args.n / d:.1f} | {pil_decode / d:.2f} |")
    print(f"first image: max |rust - transformers| = {diff.max():.4f}, mean = {diff.mean():.5f} "
          "(normalised units)")


if __name__ == "__main__":
    main()
