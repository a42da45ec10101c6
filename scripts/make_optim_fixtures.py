"""Writes tests/fixtures/adapt/: the PyTorch/transformers reference for homogen's optimisers,
learning-rate schedules, gradient clipping and adaptation methods.

Run with the project's Python (torch 2.15, transformers 5.24):

    /work/venv/bin/python scripts/make_optim_fixtures.py

Outputs (all small):
- `optim_steps.safetensors` + `optim_steps.json`: for every case (AdamW without and with weight
  decay plus the no-decay group, SGD with momentum 0.9 without and with weight decay, each under
  transformers' linear-with-warmup and cosine-with-warmup schedules, and SGD under torch's
  CosineAnnealingLR), 5 steps of `torch.optim.*` with `clip_grad_norm_(max_norm=1.0)` before
  every step. Stored: the parameters before the first step and after every step, the raw
  (pre-clip) gradients of every step, the learning rate each step used and the pre-clip norm.
  The Rust tests replay the stored gradients (they do not recompute the loss).
- `schedules.json`: learning rates from transformers' `get_linear_schedule_with_warmup`,
  `get_cosine_schedule_with_warmup`, `get_constant_schedule(_with_warmup)` and torch's
  `CosineAnnealingLR`, stepped through a real optimizer, past the end of training.
- `param_names.json`: `named_parameters()` (name, numel) of RobertaForSequenceClassification
  (roberta-base config, 2 labels, random init, nothing downloaded) and of CLIPVisionModel
  (openai/clip-vit-base-patch16's vision config written out below) plus a 2-class linear head,
  with trainable-parameter counts per adaptation method computed here by walking modules (not
  names), so the Rust name rule is checked against an independent count.
"""
import json
import math
import os

import torch
from safetensors.torch import save_file
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    RobertaConfig,
    RobertaForSequenceClassification,
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "adapt")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# ---------------------------------------------------------------------------------------------
# 1. Optimiser steps
# ---------------------------------------------------------------------------------------------
STEPS = 5
NAMES_SHAPES = [
    ("encoder.layer.0.dense.weight", (6, 4)),
    ("encoder.layer.0.dense.bias", (6,)),
    ("encoder.layer.0.LayerNorm.weight", (6,)),
    ("classifier.weight", (3, 6)),
    ("classifier.bias", (3,)),
]
gen = torch.Generator().manual_seed(20221128)
INIT = {n: torch.randn(s, generator=gen, dtype=torch.float32) * 0.5 for n, s in NAMES_SHAPES}
INIT["encoder.layer.0.LayerNorm.weight"] += 1.0
X = torch.randn(8, 4, generator=gen)
Y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def no_decay(name):
    """transformers' Trainer rule: biases and LayerNorm weights get no weight decay."""
    return name.endswith("bias") or "LayerNorm" in name


def loss_fn(p, scale):
    h = X @ p["encoder.layer.0.dense.weight"].T + p["encoder.layer.0.dense.bias"]
    h = torch.tanh(h) * p["encoder.layer.0.LayerNorm.weight"]
    logits = h @ p["classifier.weight"].T + p["classifier.bias"]
    return torch.nn.functional.cross_entropy(logits, Y) * scale


def run_case(name, opt_kind, wd, schedule, base_lr, scale):
    params = {n: INIT[n].clone().requires_grad_(True) for n, _ in NAMES_SHAPES}
    order = [n for n, _ in NAMES_SHAPES]
    if wd > 0 and opt_kind == "adamw":
        groups = [
            {"params": [params[n] for n in order if not no_decay(n)], "weight_decay": wd},
            {"params": [params[n] for n in order if no_decay(n)], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": [params[n] for n in order], "weight_decay": wd}]
    if opt_kind == "adamw":
        opt = torch.optim.AdamW(groups, lr=base_lr, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    else:
        opt = torch.optim.SGD(groups, lr=base_lr, momentum=0.9, foreach=False)
    if schedule == "linear":
        sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=STEPS)
    elif schedule == "cosine":
        sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=1, num_training_steps=STEPS)
    elif schedule == "cosine_annealing":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)
    else:
        raise ValueError(schedule)
    tensors = {}
    for n in order:
        tensors[f"{name}/param/{n}/0"] = params[n].detach().clone()
    lrs, norms = [], []
    for k in range(STEPS):
        opt.zero_grad()
        loss_fn(params, scale).backward()
        for n in order:
            tensors[f"{name}/grad/{n}/{k}"] = params[n].grad.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_([params[n] for n in order], max_norm=1.0)
        norms.append(float(norm))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        for n in order:
            tensors[f"{name}/param/{n}/{k + 1}"] = params[n].detach().clone()
    case = {
        "name": name,
        "optimizer": opt_kind,
        "weight_decay": wd,
        "schedule": schedule,
        "base_lr": base_lr,
        "loss_scale": scale,
        "lrs": lrs,
        "pre_clip_norms": norms,
    }
    return case, tensors


cases, all_tensors = [], {}
# Loss scale 6 makes the gradient norm exceed 1.0 on most steps (clipping active); base lrs are
# large so that 5 steps move the parameters visibly.
for opt_kind, wd, lr in [("adamw", 0.0, 0.05), ("adamw", 0.1, 0.05), ("sgd", 0.0, 0.5), ("sgd", 0.01, 0.5)]:
    for schedule in ["linear", "cosine"]:
        name = f"{opt_kind}_wd{wd}_{schedule}"
        case, t = run_case(name, opt_kind, wd, schedule, lr, 6.0)
        cases.append(case)
        all_tensors.update(t)
case, t = run_case("sgd_wd0.0_cosine_annealing", "sgd", 0.0, "cosine_annealing", 0.5, 6.0)
cases.append(case)
all_tensors.update(t)
for c in cases:
    clipped = sum(n > 1.0 for n in c["pre_clip_norms"])
    assert clipped >= 2, (c["name"], c["pre_clip_norms"])
# Loss scale 1: the norm stays below 1.0, so clipping must leave the gradients alone.
case, t = run_case("adamw_wd0.1_linear_unclipped", "adamw", 0.1, "linear", 0.05, 1.0)
assert max(case["pre_clip_norms"]) < 1.0, case["pre_clip_norms"]
cases.append(case)
all_tensors.update(t)

save_file(all_tensors, os.path.join(OUT, "optim_steps.safetensors"))
with open(os.path.join(OUT, "optim_steps.json"), "w") as f:
    json.dump(
        {
            "torch_version": torch.__version__,
            "steps": STEPS,
            "max_norm": 1.0,
            "param_names": [n for n, _ in NAMES_SHAPES],
            "schedules": {
                "linear": "get_linear_schedule_with_warmup(num_warmup_steps=2, num_training_steps=5)",
                "cosine": "get_cosine_schedule_with_warmup(num_warmup_steps=1, num_training_steps=5)",
                "cosine_annealing": "torch.optim.lr_scheduler.CosineAnnealingLR(T_max=5)",
            },
            "cases": cases,
        },
        f,
        indent=1,
    )

# ---------------------------------------------------------------------------------------------
# 2. Schedules, stepped through a real optimizer, including past the end of training
# ---------------------------------------------------------------------------------------------


def lrs_of(make, base_lr, n):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


schedules = []
for total, warmup in [(10, 0), (10, 3), (7, 7), (1, 0)]:
    for kind, make in [
        ("linear", lambda o: get_linear_schedule_with_warmup(o, warmup, total)),
        ("cosine", lambda o: get_cosine_schedule_with_warmup(o, warmup, total)),
        ("constant_with_warmup", lambda o: get_constant_schedule_with_warmup(o, warmup)),
    ]:
        schedules.append(
            {"kind": kind, "base_lr": 0.1, "total_steps": total, "warmup_steps": warmup,
             "lrs": lrs_of(make, 0.1, total + 3)}
        )
schedules.append(
    {"kind": "constant", "base_lr": 0.1, "total_steps": 5, "warmup_steps": 0,
     "lrs": lrs_of(get_constant_schedule, 0.1, 8)}
)
for t_max in [10, 3]:
    schedules.append(
        {"kind": "cosine_annealing", "base_lr": 0.01, "total_steps": t_max, "warmup_steps": 0,
         "lrs": lrs_of(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max), 0.01,
                       t_max + 1)}
    )
with open(os.path.join(OUT, "schedules.json"), "w") as f:
    json.dump({"torch_version": torch.__version__, "schedules": schedules}, f, indent=1)

# ---------------------------------------------------------------------------------------------
# 3. Parameter names and trainable counts per method
# ---------------------------------------------------------------------------------------------
ROBERTA_BASE = RobertaConfig(
    vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072, hidden_act="gelu", max_position_embeddings=514, type_vocab_size=1,
    layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=2,
)
# openai/clip-vit-base-patch16, config.json "vision_config", written out literally.
CLIP_B16_VISION = CLIPVisionConfig(
    hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12,
    num_attention_heads=12, num_channels=3, image_size=224, patch_size=16,
    hidden_act="quick_gelu", layer_norm_eps=1e-5,
)

LAYER_TYPES = (torch.nn.Linear, torch.nn.LayerNorm, torch.nn.Conv2d, torch.nn.Embedding)


def bias_numel(module):
    """Counts bias parameters by walking modules: the `bias` of every Linear/LayerNorm/Conv2d."""
    return sum(m.bias.numel() for m in module.modules()
               if isinstance(m, LAYER_TYPES) and getattr(m, "bias", None) is not None)


def numel(module):
    return sum(p.numel() for p in module.parameters())


def counts(backbone, head_numel):
    backbone_total = numel(backbone)
    backbone_bias = bias_numel(backbone)
    return {
        "total": backbone_total + head_numel,
        "backbone_total": backbone_total,
        "scratch": backbone_total + head_numel,
        "finetune": backbone_total + head_numel,
        "probe": head_numel,
        "bitfit": backbone_bias + head_numel,
        "bitfit-inverted": backbone_total - backbone_bias + head_numel,
    }


roberta = RobertaForSequenceClassification(ROBERTA_BASE)
roberta_names = [[n, p.numel()] for n, p in roberta.named_parameters()]
roberta_counts = counts(roberta.roberta, numel(roberta.classifier))
# The brief's number: BitFit on roberta-base with RoBERTa's 2-class MLP head (dense + out_proj).
# By hand: 12 layers x (4x768 attention + 768 + 3072 + 768 + 768 LayerNorm/MLP biases) = 101,376,
# + 768 embedding LayerNorm bias = 102,144; head 768*768+768 + 768*2+2 = 592,130.
assert roberta_counts["bitfit"] == 694_274, roberta_counts

clip = CLIPVisionModel(CLIP_B16_VISION)
clip_names = [[n, p.numel()] for n, p in clip.named_parameters()]
# A 2-class linear head on the pooled output, named as transformers' *ForImageClassification.
clip_head = [["classifier.weight", 2 * 768], ["classifier.bias", 2]]
clip_counts = counts(clip, 2 * 768 + 2)

with open(os.path.join(OUT, "param_names.json"), "w") as f:
    json.dump(
        {
            "transformers_version": __import__("transformers").__version__,
            "roberta_base_seqcls_2": {"params": roberta_names, "counts": roberta_counts},
            "clip_vit_b16_vision_linear_2": {"params": clip_names + clip_head,
                                             "counts": clip_counts},
        },
        f,
        indent=0,
    )
print("roberta", roberta_counts)
print("clip", clip_counts)
for c in cases:
    print(c["name"], ["%.3f" % n for n in c["pre_clip_norms"]], ["%.4f" % l for l in c["lrs"]])
