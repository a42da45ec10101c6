#!/usr/bin/env python3
"""PyTorch's (MKL's) f32 matmul on the shapes of `examples/bench_gemm_split.rs`, same threads,
best of 8, GFLOP/s: the reference for the gemm crate's two ways of sharing a product.

Run: RAYON_NUM_THREADS=2 /work/venv/bin/python scripts/bench_gemm_split.py [rows]
(runs the Rust example too, after `cargo build --release --example bench_gemm_split`).
"""

import os
import subprocess
import sys
import time

import torch


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    threads = int(os.environ.get("RAYON_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    h, f = 768, 3072
    # (name, m, n, k, a stored transposed, b stored transposed) as in the Rust example.
    cases = [
        ("forward 768 -> 768", rows, h, h, False, True),
        ("forward 768 -> 3072", rows, f, h, False, True),
        ("forward 3072 -> 768", rows, h, f, False, True),
        ("dx of 768 -> 3072", rows, h, f, False, False),
        ("dx of 3072 -> 768", rows, f, h, False, False),
        ("dW of 768 -> 3072", f, h, rows, True, False),
        ("dW of 3072 -> 768", h, f, rows, True, False),
    ]
    torch_gflops = {}
    for name, m, n, k, a_t, b_t in cases:
        a = torch.rand(k, m).t() if a_t else torch.rand(m, k)
        b = torch.rand(n, k).t() if b_t else torch.rand(k, n)
        best = float("inf")
        for _ in range(8):
            t = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t)
        torch_gflops[name] = 2 * m * n * k / best / 1e9
    out = subprocess.run(
        ["target/release/examples/bench_gemm_split", str(rows)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    print(out[0] + "; PyTorch " + torch.__version__ + " (" + torch.backends.mkl.is_available() * "MKL" + ")")
    print(out[1] + " PyTorch | ours / PyTorch time |")
    print(out[2] + "---|---|")
    for line in out[3:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        m, n, k = (int(c) for c in cells[1:4])
        # What models::dense uses: column blocks when n <= k, except for weight gradients.
        blocks = n <= k and not cells[0].startswith("dW")
        ours = float(cells[5] if blocks else cells[4])
        ref = torch_gflops[cells[0]]
        print(line + f" {ref:.0f} | {ref / ours:.2f} |")

if __name__ == "__main__":
    main()
