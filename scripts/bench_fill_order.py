#!/usr/bin/env python3
"""Feature extraction over texts of mixed lengths, shortest first against input order: ours
(`examples/bench_fill_order.rs`, the feature cache's fill; also with concurrent batches, as the
trainer runs it on the CPU) and PyTorch + transformers on the same
random-weight BERT (hidden 256, 4 layers, 512 positions, the test fixture's WordPiece
vocabulary), the same texts and batches of 64, 2 threads each.

The texts: N (default 1000) of log-normally distributed word counts (median 120, clipped to
5-400 words; up to 512 tokens after truncation), a shape like IMDB reviews'.

Run (after `cargo build --release --example bench_fill_order`):
  RAYON_NUM_THREADS=2 /work/venv/bin/python scripts/bench_fill_order.py [N]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

WORDS = ["dog", "fox", "brown", "found", "level", "every", "system", "failed", "denied",
         "lender", "deployed", "the", "and", "too", "is", "over", "by", "to", "are", "cafe"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    torch.set_num_threads(2)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    keep = len(sys.argv) > 2  # a folder given: keep the model and texts there
    work = sys.argv[2] if keep else tempfile.mkdtemp()
    os.makedirs(work, exist_ok=True)
    try:
        model_dir = os.path.join(work, "model")
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=200, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=1024, max_position_embeddings=512, pad_token_id=0)
        model = BertModel(cfg, add_pooling_layer=False).eval()
        model.save_pretrained(model_dir, safe_serialization=True)
        shutil.copy(os.path.join(root, "tests/fixtures/models/bert/tokenizer.json"), model_dir)
        rng = np.random.default_rng(7)
        counts = np.clip(np.exp(rng.normal(np.log(120), 0.8, n)), 5, 400).astype(int)
        texts = [" ".join(rng.choice(WORDS, c)) for c in counts]
        texts_file = os.path.join(work, "texts.txt")
        with open(texts_file, "w") as f:
            f.write("\n".join(texts) + "\n")

        ours = json.loads(subprocess.run(
            [os.path.join(root, "target/release/examples/bench_fill_order"), model_dir, texts_file],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])

        tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"),
                                      pad_token="[PAD]")
        lengths = [len(tok(t, truncation=True, max_length=512)["input_ids"]) for t in texts]
        ref = {}
        for name, order in [("input_order", list(range(n))),
                            ("shortest_first", sorted(range(n), key=lambda i: lengths[i]))]:
            start = time.perf_counter()
            with torch.no_grad():
                for s in range(0, n, 64):
                    batch = [texts[i] for i in order[s:s + 64]]
                    enc = tok(batch, truncation=True, max_length=512, padding=True, return_tensors="pt")
                    model(**enc).last_hidden_state[:, 0]
            ref[name] = time.perf_counter() - start

        print(f"{n} texts, {ours['tokens']} tokens, batches of {ours['batch']}; seconds")
        print("| order | padded share | ours s | PyTorch s | ours / PyTorch |")
        print("|---|---|---|---|---|")
        # Concurrent batches are ours alone; PyTorch's row is its shortest-first loop.
        for name, ref_name in [("input_order", "input_order"), ("shortest_first", "shortest_first"),
                               ("shortest_first_concurrent", "shortest_first")]:
            o = ours[name]
            print(f"| {name.replace('_', ' ')} | {o['padding_share']:.2f} | {o['seconds']:.2f} | "
                  f"{ref[ref_name]:.2f} | {o['seconds'] / ref[ref_name]:.2f} |")
        print(f"ours shortest first / PyTorch input order: "
              f"{ours['shortest_first']['seconds'] / ref['input_order']:.2f}; "
              f"largest feature difference between our two orders: {ours['max_feature_difference']:.2e}; "
              f"concurrent batches give the same bits: {ours['concurrent_same_bits']}")
    finally:
        if not keep:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
