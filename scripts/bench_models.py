#!/usr/bin/env python3
"""Benchmark our candle backbones against PyTorch + transformers on the same CPU, 2 threads.

Full-size random-weight RoBERTa-base (batch 8 x 128 tokens, 2-class mlp head, i.e.
RobertaForSequenceClassification) and CLIP ViT-B/16 vision tower (batch 8, linear head):
forward (eval, no grad), finetune step (all parameters, dropout on, plain SGD) and BitFit step
(backbone biases + head). Each (implementation, model, mode) runs in its own process so peak
resident memory is per case. Prints a Markdown table for BENCHMARKS.md.

Run (after `cargo build --release --example bench_models`):
  RAYON_NUM_THREADS=2 /work/venv/bin/python scripts/bench_models.py [--iters 3] [--rounds 3]
With --rounds R each case runs R times, candle and PyTorch alternating (which goes first swaps
every round), so that drift in the machine's speed over minutes falls on both sides; the table
gives the median over rounds of each side's median step and of the per-round ratio, with the
ratio's range.
On a GPU (both sides on cuda:0; bf16 = mixed precision, f32 master weights, autocast in PyTorch):
  python3 scripts/bench_models.py --device cuda --dtype bf16 --batch 32 --iters 10 --bin PATH
"""

import argparse
import json
import os
import subprocess
import sys

TORCH_CASE = r"""
import json, resource, sys, time, torch
from transformers import CLIPVisionConfig, CLIPVisionModel, RobertaConfig, RobertaForSequenceClassification
torch.set_num_threads(2)
torch.manual_seed(0)
which, mode, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
dev, dtype, batch = torch.device(sys.argv[4]), sys.argv[5], int(sys.argv[6])
cuda = dev.type == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)
autocast = lambda: torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dtype == "bf16")
if which == "roberta":
    cfg = RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                        layer_norm_eps=1e-5, pad_token_id=1, num_labels=2)
    model = RobertaForSequenceClassification(cfg)
    ids = torch.randint(3, 50000, (batch, 128), device=dev)
    run = lambda: model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    head = "classifier."
else:
    cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, image_size=224, patch_size=16, hidden_act="quick_gelu")
    tower = CLIPVisionModel(cfg)
    model = torch.nn.ModuleDict({"tower": tower, "classifier": torch.nn.Linear(768, 2)})
    px = torch.randn(batch, 3, 224, 224, device=dev)
    run = lambda: model["classifier"](model["tower"](pixel_values=px).pooler_output)
    head = "classifier."
model.to(dev)
labels = torch.tensor([0, 1] * (batch // 2), device=dev)
if mode == "forward":
    model.eval()
else:
    model.train()
    for name, p in model.named_parameters():
        p.requires_grad = mode == "finetune" or name.startswith(head) or name.endswith(".bias")
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
times = []
for i in range(iters + 1):
    t = time.perf_counter()
    if mode == "forward":
        with torch.no_grad(), autocast():
            run().sum().item()
    else:
        with autocast():
            logits = run()
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync()
    if i > 0:
        times.append(time.perf_counter() - t)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad) if mode != "forward" else 0
print(json.dumps({"impl": "pytorch", "model": which, "mode": mode, "median_s": sorted(times)[len(times) // 2],
                  "times": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                  "trainable": trainable}))
"""


def run(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{cmd} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--bin", default="target/release/examples/bench_models")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:0 on both sides)")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat each case, alternating candle and PyTorch")
    ap.add_argument("--modes", default="forward,finetune,bitfit,bitfit-plain",
                    help="comma-separated steps to time")
    args = ap.parse_args()
    device = "cuda:0" if args.device.startswith("cuda") else "cpu"
    case = [str(args.iters), device, args.dtype, str(args.batch)]
    # The candle side keeps freed memory in-process itself (homogen::alloc::keep_freed_memory).
    env = dict(os.environ, RAYON_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    rows = []
    median = lambda xs: sorted(xs)[len(xs) // 2]
    for which in ["roberta", "clip"]:
        for mode in args.modes.split(","):
            ours, refs = [], []
            for r in range(args.rounds):
                sides = ["ours", "ref"] if r % 2 == 0 else ["ref", "ours"]
                for side in sides:
                    if side == "ours":
                        ours.append(run([args.bin, which, mode] + case, env))
                        print(json.dumps(ours[-1]), file=sys.stderr)
                    elif mode != "bitfit-plain":
                        refs.append(run([sys.executable, "-c", TORCH_CASE, which, mode] + case, env))
                        print(json.dumps(refs[-1]), file=sys.stderr)
            rows.append((which, mode, ours, refs))
    print(f"{device}, {args.dtype}, batch {args.batch}, median of {args.iters} iterations"
          + (f", {args.rounds} alternating rounds (medians over rounds; ratio range)" if args.rounds > 1 else ""))
    print("| model | step | candle s | PyTorch s | ratio | candle peak MB | PyTorch peak MB |")
    print("|---|---|---|---|---|---|---|")
    for which, mode, ours, refs in rows:
        ours_s = median([o["median_s"] for o in ours])
        ours_mb = max(o["peak_rss_mb"] for o in ours)
        if refs:
            ref_s = median([r["median_s"] for r in refs])
            ratios = [o["median_s"] / r["median_s"] for o, r in zip(ours, refs)]
            ratio = f"{median(ratios):.2f}"
            if len(ratios) > 1:
                ratio += f" ({min(ratios):.2f}–{max(ratios):.2f})"
            ref_mb = max(r["peak_rss_mb"] for r in refs)
            print(f"| {which} | {mode} | {ours_s:.3f} | {ref_s:.3f} | {ratio} | "
                  f"{ours_mb:.0f} | {ref_mb:.0f} |")
        else:
            print(f"| {which} | {mode} | {ours_s:.3f} | – | – | {ours_mb:.0f} | – |")

if __name__ == "__main__":
    main()
