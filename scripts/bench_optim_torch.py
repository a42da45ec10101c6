"""PyTorch reference for examples/bench_optim.rs: one torch.optim.AdamW step over
roberta-base-sized f32 parameters (the 201 tensors of RobertaForSequenceClassification, sizes
from tests/fixtures/adapt/param_names.json), on CPU with a fixed number of threads.

    /work/venv/bin/python scripts/bench_optim_torch.py [STEPS] [THREADS]

Times foreach=True (the implementation the brief names), fused=True and the single-tensor loop
(foreach=False, torch's CPU default), with the same hyper-parameters as the Rust benchmark
(lr 1e-3, weight decay 0.01, betas 0.9/0.999, eps 1e-8). One warm-up step, then STEPS timed.
"""
import json
import os
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)

here = os.path.dirname(__file__)
with open(os.path.join(here, "..", "tests", "fixtures", "adapt", "param_names.json")) as f:
    sizes = [n for _, n in json.load(f)["roberta_base_seqcls_2"]["params"]]
elems = sum(sizes)
print(f"AdamW step, {len(sizes)} tensors, {elems} f32 params, torch {torch.__version__}, "
      f"threads {torch.get_num_threads()}")

gen = torch.Generator().manual_seed(7)
grads = [(torch.rand(n, generator=gen) * 2 - 1) * 1e-3 for n in sizes]
params = [torch.nn.Parameter(torch.empty(n)) for n in sizes]
for p, g in zip(params, grads):
    p.grad = g
ms = []
for _ in range(steps + 1):
    t = time.perf_counter()
    # max_norm huge: the norm is computed, the gradients are left alone (as in the Rust timing).
    torch.nn.utils.clip_grad_norm_(params, max_norm=1e9)
    ms.append((time.perf_counter() - t) * 1e3)
ms = ms[1:]
s = sorted(ms)
print(f"{'torch clip_grad_norm_ (norm)':<32} median {s[len(s) // 2]:8.1f} ms/step  min {s[0]:8.1f}  "
      f"all {[round(x) for x in ms]}")
del params, grads

for label, kwargs in [
    ("torch AdamW foreach=True", {"foreach": True}),
    ("torch AdamW fused=True", {"fused": True}),
    ("torch AdamW foreach=False", {"foreach": False}),
]:
    gen = torch.Generator().manual_seed(7)
    params = []
    for n in sizes:
        p = torch.nn.Parameter((torch.rand(n, generator=gen) * 2 - 1) * 0.05)
        p.grad = (torch.rand(n, generator=gen) * 2 - 1) * 1e-3
        params.append(p)
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                            **kwargs)
    opt.step()  # warm-up: allocates the moments
    ms = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.step()
        ms.append((time.perf_counter() - t) * 1e3)
    s = sorted(ms)
    median = s[len(s) // 2]
    print(f"{label:<32} median {median:8.1f} ms/step  min {s[0]:8.1f}  "
          f"({elems / median / 1e6:.2f} Gparam/s)  all {[round(x) for x in ms]}")
    del opt, params
