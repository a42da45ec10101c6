"""PyTorch reference for examples/bench_trainer.rs: the same training loop on a full-size
random-weight RoBERTa-base (RobertaForSequenceClassification, 2 labels), batch 8 x 128 tokens,
AdamW lr 2e-5, linear schedule, clip 1.0, dropout on; the same tokenizer.json. Prints
method,examples_per_s over STEPS optimiser steps after one warm-up step.

    RAYON_NUM_THREADS=2 /work/venv/bin/python scripts/bench_trainer_torch.py [STEPS] [cpu|cuda] [f32|bf16] [BATCH]

bf16 is autocast with f32 master weights (what `--dtype bf16` does in homogen).
"""
import sys
import time

import torch
from tokenizers import Tokenizer
from transformers import RobertaConfig, RobertaForSequenceClassification, get_linear_schedule_with_warmup

torch.set_num_threads(2)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 2
dev = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 8
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
tok = Tokenizer.from_file("tests/fixtures/models/roberta/tokenizer.json")
tok.enable_truncation(128)
tok.enable_padding(pad_id=1, pad_token="<pad>")
text = "the quick brown fox jumps over the lazy dog " * 30
print("method,examples_per_s")
for method in ["probe-mlp", "bitfit", "finetune"]:
    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=2)
    model = RobertaForSequenceClassification(cfg).to(dev)
    for name, p in model.named_parameters():
        head = name.startswith("classifier.")
        p.requires_grad = head or (method == "finetune") or (method == "bitfit" and name.endswith(".bias"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, 0, steps + 1)
    model.train()

    def step(i):
        enc = tok.encode_batch([text] * batch)
        ids = torch.tensor([e.ids for e in enc], device=dev)
        mask = torch.tensor([e.attention_mask for e in enc], device=dev)
        labels = torch.tensor([(i + k) % 2 for k in range(batch)], device=dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
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
