#!/usr/bin/env python3
"""PyTorch's gradients and a PyTorch training run on the tiny fixture models, for the Rust tests
that prove our backward passes and our trainer against PyTorch (issues 3 and 5).

Reads the tiny models that scripts/make_model_fixtures.py wrote (tests/fixtures/models/) and
writes:

  tests/fixtures/models/gradients.safetensors
      For three cases, the gradient of the mean cross-entropy with respect to every parameter
      that receives one, computed in float64 by autograd, dropout off, stored as float32 under
      `CASE/NAME` with our parameter names (transformers' names; BERT's with the `bert.` prefix):
        roberta_mlp   RobertaForSequenceClassification with its checkpoint's 2-class mlp head
        bert_linear   BertModel, first token's final hidden state, a 3-class linear head
        clip_linear   CLIP's vision tower, pooled output, a 3-class linear head
      plus each case's inputs, labels, head weights (`CASE.input.*`) and loss (`CASE.loss`).

  tests/fixtures/adapt/trainer_parity/
      train.csv, test.csv   a tiny two-class text task in IMDB's CSV layout (16 / 8 texts)
      reference.json        PyTorch runs on it (RUNS below), the RoBERTa fixture with dropout 0 and
                            its mlp head adapted for 4 full-batch steps: finetuned by
                            torch.optim.AdamW (weight decay 1.0, none on biases and layer norms, as
                            transformers' Trainer groups them), get_linear_schedule_with_warmup (1
                            warmup step), clip_grad_norm_ 1.0, and by torch.optim.SGD (momentum
                            0.9, weight decay 0.01 on every parameter), cosine, no clipping; BitFit,
                            inverted BitFit and the mlp probe by AdamW; the first run again under
                            torch.autocast(bfloat16). For each: the loss before each step, the
                            learning rates, and the test examples' loss and predicted-class
                            probability after training.

With `--full-size FOLDER`: the same gradients for full-size random RoBERTa-base and CLIP
ViT-B/16 (made by `make_model_fixtures.py --full-size FOLDER`) into FOLDER, for the ignored test
in tests/models_fullsize.rs (about 1 GB; not committed).

Run: python scripts/make_training_fixtures.py   (needs torch, transformers, safetensors)
"""

import argparse
import contextlib
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import (
    BertModel,
    CLIPModel,
    CLIPVisionModel,
    PreTrainedTokenizerFast,
    RobertaForSequenceClassification,
    RobertaModel,
    get_constant_schedule,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "tests", "fixtures", "models")
PARITY = os.path.join(HERE, "..", "tests", "fixtures", "adapt", "trainer_parity")


def collect(named_params, prefix=""):
    """Gradients by our parameter name, as float32; parameters without a gradient are left out."""
    out = {}
    for name, p in named_params:
        if p.grad is not None:
            out[prefix + name] = p.grad.detach().to(torch.float32).contiguous()
    return out


def roberta_case(refs):
    model = RobertaForSequenceClassification.from_pretrained(
        os.path.join(MODELS, "roberta"), attn_implementation="eager"
    ).double()
    model.eval()  # dropout off; autograd still records
    m = json.load(open(os.path.join(MODELS, "reference.json")))["roberta"]
    ids = torch.tensor(m["input_ids"])
    mask = torch.tensor(m["attention_mask"])
    labels = torch.tensor([1, 0, 0, 1])
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    for k, v in collect(model.named_parameters()).items():
        refs[f"roberta_mlp/{k}"] = v
    refs["roberta_mlp.input.input_ids"] = ids
    refs["roberta_mlp.input.attention_mask"] = mask
    refs["roberta_mlp.input.labels"] = labels
    refs["roberta_mlp.loss"] = loss.detach().reshape(1)


def linear_head(seed, hidden, classes):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(classes, hidden, generator=g, dtype=torch.float64) * 0.5
    b = torch.randn(classes, generator=g, dtype=torch.float64) * 0.5
    return torch.nn.Parameter(w), torch.nn.Parameter(b)


def bert_case(refs):
    model = BertModel.from_pretrained(
        os.path.join(MODELS, "bert"), attn_implementation="eager"
    ).double()
    model.eval()
    m = json.load(open(os.path.join(MODELS, "reference.json")))["bert"]
    ids = torch.tensor(m["input_ids"])
    mask = torch.tensor(m["attention_mask"])
    types = torch.tensor(m["token_type_ids"])
    w, b = linear_head(21, model.config.hidden_size, 3)
    labels = torch.tensor([0, 2, 1, 2])
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
    logits = out.last_hidden_state[:, 0, :] @ w.T + b
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    grads = collect(model.named_parameters(), "bert.")
    grads["classifier.weight"] = w.grad.to(torch.float32)
    grads["classifier.bias"] = b.grad.to(torch.float32)
    for k, v in grads.items():
        refs[f"bert_linear/{k}"] = v
    refs["bert_linear.input.input_ids"] = ids
    refs["bert_linear.input.attention_mask"] = mask
    refs["bert_linear.input.token_type_ids"] = types
    refs["bert_linear.input.labels"] = labels
    refs["bert_linear.input.head_weight"] = w.detach().to(torch.float32)
    refs["bert_linear.input.head_bias"] = b.detach().to(torch.float32)
    refs["bert_linear.loss"] = loss.detach().reshape(1)


def clip_case(refs):
    model = CLIPModel.from_pretrained(
        os.path.join(MODELS, "clip"), attn_implementation="eager"
    ).double()
    model.eval()
    g = torch.Generator().manual_seed(8)
    pixels = torch.randn(4, 3, 32, 32, generator=g, dtype=torch.float64)
    w, b = linear_head(22, model.config.vision_config.hidden_size, 3)
    labels = torch.tensor([2, 0, 1, 0])
    pooled = model.vision_model(pixel_values=pixels).pooler_output
    loss = torch.nn.functional.cross_entropy(pooled @ w.T + b, labels)
    loss.backward()
    grads = collect(model.named_parameters())
    grads = {k: v for k, v in grads.items() if k.startswith("vision_model.")}
    grads["classifier.weight"] = w.grad.to(torch.float32)
    grads["classifier.bias"] = b.grad.to(torch.float32)
    for k, v in grads.items():
        refs[f"clip_linear/{k}"] = v
    refs["clip_linear.input.pixel_values"] = pixels.to(torch.float32)
    refs["clip_linear.input.labels"] = labels
    refs["clip_linear.input.head_weight"] = w.detach().to(torch.float32)
    refs["clip_linear.input.head_bias"] = b.detach().to(torch.float32)
    refs["clip_linear.loss"] = loss.detach().reshape(1)


# The parity task: label 1 texts praise, label 0 texts complain; short enough not to truncate.
POSITIVE = ["good", "great", "fine", "lovely", "brilliant", "happy", "warm", "bright"]
NEGATIVE = ["bad", "awful", "poor", "dull", "broken", "sad", "cold", "grim"]
FILLER = ["the", "film", "plot", "was", "very", "and", "story", "cast"]


def parity_texts(n, offset):
    rows = []
    for i in range(n):
        label = i % 2
        words = POSITIVE if label else NEGATIVE
        k = i + offset
        text = " ".join(
            [FILLER[k % 8], words[k % 8], FILLER[(3 * k + 1) % 8], words[(5 * k + 2) % 8]][
                : 2 + k % 3
            ]
        )
        rows.append((text, label))
    return rows


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write("text,label\n")
        for text, label in rows:
            f.write(f"{text},{label}\n")


# The runs. Finetuning twice: the language recipe (AdamW, decay groups, linear warmup, clipping)
# with a weight decay large enough that decaying the wrong parameters shows, and the vision
# recipe (SGD with momentum, decay on every parameter, cosine) without clipping, so that the
# gradient's scale (accumulation) shows in the update. Then the other methods that start from
# the checkpoint, each training only its parameters: BitFit (backbone biases and the head),
# the authors' inverted BitFit (everything but the backbone biases), and the mlp probe (the
# head alone; ours trains it on cached features).
RUNS = {
    "adamw": dict(method="finetune", optimizer="adamw", lr=1e-3, weight_decay=1.0,
                  schedule="linear", warmup_steps=1, clip_norm=1.0),
    "sgd": dict(method="finetune", optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=0.01,
                schedule="cosine", warmup_steps=0, clip_norm=None),
    "bitfit": dict(method="bitfit", optimizer="adamw", lr=1e-2, weight_decay=0.0,
                   schedule="linear", warmup_steps=0, clip_norm=1.0),
    "bitfit-inverted": dict(method="bitfit-inverted", optimizer="adamw", lr=1e-3,
                            weight_decay=0.0, schedule="linear", warmup_steps=0, clip_norm=1.0),
    "probe-mlp": dict(method="probe-mlp", optimizer="adamw", lr=1e-2, weight_decay=0.0,
                      schedule="constant", warmup_steps=0, clip_norm=1.0),
    # Mixed precision: the first run under torch.autocast(bfloat16), f32 master weights.
    "adamw-bf16": dict(method="finetune", optimizer="adamw", lr=1e-3, weight_decay=1.0,
                       schedule="linear", warmup_steps=1, clip_norm=1.0, dtype="bf16"),
}


def trains(method, name):
    """Whether parameter `name` trains under `method` (written from the methods' definitions)."""
    head = name.startswith("classifier.")
    bias = name.split(".")[-1] == "bias"
    return {
        "finetune": True,
        "bitfit": head or bias,
        "bitfit-inverted": head or not bias,
        "probe-mlp": head,
    }[method]
EPOCHS = 4


def train_run(settings, train, test):
    path = os.path.join(MODELS, "roberta")
    model = RobertaForSequenceClassification.from_pretrained(
        path,
        attn_implementation="eager",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    tok = PreTrainedTokenizerFast.from_pretrained(path)
    max_length = model.config.max_position_embeddings - 2  # RoBERTa's padding offset

    def encode(rows):
        enc = tok(
            [t for t, _ in rows],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        return enc, torch.tensor([y for _, y in rows])

    lr, wd = settings["lr"], settings["weight_decay"]
    for name, p in model.named_parameters():
        p.requires_grad_(trains(settings["method"], name))
    trainable = [p for p in model.parameters() if p.requires_grad]
    if settings["optimizer"] == "adamw":
        # transformers' Trainer grouping: no decay on biases and layer-norm parameters.
        norm_params = {
            id(p)
            for mod in model.modules()
            if isinstance(mod, torch.nn.LayerNorm)
            for p in mod.parameters()
        }
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if p.requires_grad:
                (no_decay if name.endswith("bias") or id(p) in norm_params else decay).append(p)
        groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD(trainable, lr=lr, momentum=settings["momentum"], weight_decay=wd)
    sched = {
        "linear": lambda: get_linear_schedule_with_warmup(opt, settings["warmup_steps"], EPOCHS),
        "cosine": lambda: get_cosine_schedule_with_warmup(opt, settings["warmup_steps"], EPOCHS),
        "constant": lambda: get_constant_schedule(opt),
    }[settings["schedule"]]()
    enc, labels = encode(train)
    def precision():
        if settings.get("dtype") == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    model.train()
    step_losses, lrs = [], []
    for _ in range(EPOCHS):
        with precision():
            logits = model(**enc).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        if settings["clip_norm"] is not None:
            torch.nn.utils.clip_grad_norm_(trainable, settings["clip_norm"])
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
        opt.zero_grad()
        step_losses.append(float(loss.detach()))
    model.eval()
    enc, labels = encode(test)
    with torch.no_grad(), precision():
        logits = model(**enc).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    return {
        "settings": dict(settings, epochs=EPOCHS),
        "train_loss": step_losses,
        "lr": lrs,
        "test": {
            "example_id": [f"imdb:test:{i}" for i in range(len(test))],
            "label": labels.tolist(),
            "prediction": logits.argmax(dim=-1).tolist(),
            "loss": (-logp[torch.arange(len(test)), labels]).tolist(),
            "prob": logp.exp().max(dim=-1).values.tolist(),
        },
    }


def trainer_parity():
    os.makedirs(PARITY, exist_ok=True)
    train, test = parity_texts(16, 0), parity_texts(8, 16)
    write_csv(os.path.join(PARITY, "train.csv"), train)
    write_csv(os.path.join(PARITY, "test.csv"), test)
    reference = {
        "about": "tests/fixtures/models/roberta with hidden and attention dropout 0, adapted "
        "with its mlp head; one full-batch step per epoch (the Rust side: batch 4, grad_accum 4)",
        "runs": {name: train_run(settings, train, test) for name, settings in RUNS.items()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    with open(os.path.join(PARITY, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")


def full_size(folder):
    """Gradients of full-size random RoBERTa-base and CLIP ViT-B/16 (the models
    `make_model_fixtures.py --full-size FOLDER` wrote there), each with a 3-class linear head on
    its features, batch 4, float64: FOLDER/gradients.safetensors, for the ignored test in
    tests/models_fullsize.rs. Large shapes reach the CPU kernels' blocked and multi-threaded
    paths, which the tiny models may not."""
    refs = {}
    g = torch.Generator().manual_seed(31)
    model = RobertaModel.from_pretrained(
        os.path.join(folder, "roberta-base-random"), attn_implementation="eager"
    ).double().eval()
    ids = torch.randint(3, model.config.vocab_size, (4, 128), generator=g)
    ids[:, 0], ids[:, -1] = 0, 2
    mask = torch.ones_like(ids)
    ids[1, 77:], mask[1, 77:] = 1, 0  # a padded row: RoBERTa's pad id, masked
    ids[1, 76] = 2
    w, b = linear_head(32, model.config.hidden_size, 3)
    labels = torch.tensor([0, 2, 1, 1])
    features = model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
    loss = torch.nn.functional.cross_entropy(features @ w.T + b, labels)
    loss.backward()
    grads = collect(model.named_parameters(), "roberta.")
    grads["classifier.weight"], grads["classifier.bias"] = w.grad.float(), b.grad.float()
    refs.update({f"roberta/{k}": v for k, v in grads.items()})
    refs.update({"roberta.input.input_ids": ids, "roberta.input.attention_mask": mask,
                 "roberta.input.labels": labels, "roberta.loss": loss.detach().reshape(1),
                 "roberta.input.head_weight": w.detach().float(),
                 "roberta.input.head_bias": b.detach().float()})
    del model

    model = CLIPVisionModel.from_pretrained(
        os.path.join(folder, "clip-vit-b16-random"), attn_implementation="eager"
    ).double().eval()
    pixels = torch.randn(4, 3, 224, 224, generator=g, dtype=torch.float64)
    w, b = linear_head(33, model.config.hidden_size, 3)
    labels = torch.tensor([1, 0, 2, 2])
    pooled = model(pixel_values=pixels).pooler_output
    loss = torch.nn.functional.cross_entropy(pooled @ w.T + b, labels)
    loss.backward()
    # CLIPVisionModel's names may lack the `vision_model.` of a full CLIPModel checkpoint.
    grads = {
        (k if k.startswith("vision_model.") else "vision_model." + k): v
        for k, v in collect(model.named_parameters()).items()
    }
    grads["classifier.weight"], grads["classifier.bias"] = w.grad.float(), b.grad.float()
    refs.update({f"clip/{k}": v for k, v in grads.items()})
    refs.update({"clip.input.pixel_values": pixels.float(), "clip.input.labels": labels,
                 "clip.loss": loss.detach().reshape(1),
                 "clip.input.head_weight": w.detach().float(),
                 "clip.input.head_bias": b.detach().float()})
    save_file({k: v.contiguous() for k, v in refs.items()}, os.path.join(folder, "gradients.safetensors"))
    print("wrote", os.path.join(folder, "gradients.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full-size", metavar="FOLDER",
                    help="write full-size gradients for the models make_model_fixtures.py "
                    "--full-size FOLDER made, instead of the committed fixtures")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    if args.full_size:
        full_size(args.full_size)
        return
    refs = {}
    roberta_case(refs)
    bert_case(refs)
    clip_case(refs)
    save_file(
        {k: v.contiguous() for k, v in refs.items()},
        os.path.join(MODELS, "gradients.safetensors"),
    )
    trainer_parity()


if __name__ == "__main__":
    main()
