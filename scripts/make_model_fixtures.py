#!/usr/bin/env python3
"""Tiny random models in Hugging Face layout, plus transformers' outputs on them, for the Rust
tests of src/models (issue 3).

Writes tests/fixtures/models/:
  roberta/   RobertaForSequenceClassification (keys `roberta.*` + `classifier.*`, 2-class mlp head),
             byte-level BPE tokenizer.json trained here with `tokenizers`
  bert/      BertModel (keys without prefix, pooler included), WordPiece tokenizer.json
  bert_pickle/  the same BERT weights as pytorch_model.bin (torch.save of the state dict)
  clip/      CLIPModel (full config with `vision_config`, keys `vision_model.*`, `text_model.*`, ...)
  images/    a few PNGs and CLIPImageProcessor's output on them (as PNG of the uint8 crop);
             scripts/make_vision_recipe_fixtures.py adds PIL's bilinear 224x224 resize of them
  reference.safetensors  features, all hidden states, logits
  reference.json         token ids and attention masks, BitFit count on the real roberta-base config

Every float parameter, biases and layer-norm weights included, is random, so a swapped or
misnamed key changes the outputs. `--full-size DIR` writes full-size random roberta-base and
clip-vit-base-patch16 models with reference features instead (for the #[ignore] parity test).

The WordPiece trainer orders equal-count pieces by hash, so a rerun may renumber the tiny BERT
vocabulary; the tokenizer and the reference ids are written together, so they always agree.

Run: /work/venv/bin/python scripts/make_model_fixtures.py
"""

import argparse
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertModel,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPVisionConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Homogenization: do deployed systems fail the same people?",
    "Foundation models are adapted by probing, BitFit or finetuning.",
    "A person denied by every lender is failed systemically.",
    "Café naïve résumé — unicode text survives byte-level BPE.",
    "Numbers like 12345 and symbols #@! are tokenized too.",
] * 4

SENTENCES = [
    "The lazy fox fails the same people.",
    "Hello",
    "Café systems: BitFit, probing & finetuning!",
    "This sentence is deliberately long so that it must be truncated to the model's maximum "
    "length by the tokenizer, special tokens included, on both sides of the comparison.",
]


def randomise(model, seed):
    """Every parameter ~ N(0, 0.2) (layer-norm weights around 1), so nothing is zero or one."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.2
            if "LayerNorm.weight" in name or "layer_norm" in name and name.endswith("weight") or (
                "layrnorm.weight" in name or "post_layernorm.weight" in name
            ):
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)


def bpe_tokenizer(path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=16,
    )
    fast.save_pretrained(path)
    return fast


def wordpiece_tokenizer(path):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(CORPUS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        sep_token="[SEP]",
        cls_token="[CLS]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=16,
    )
    fast.save_pretrained(path)
    return fast


def encode(fast, token_types=False):
    enc = fast(
        SENTENCES, padding=True, truncation=True, return_tensors="pt", return_token_type_ids=token_types
    )
    return enc


def hidden_states(outputs):
    return torch.stack(list(outputs.hidden_states), dim=0)  # [layers+1, batch, seq, hidden]


def roberta_fixture(refs, meta):
    path = os.path.join(ROOT, "roberta")
    fast = bpe_tokenizer(path)
    cfg = RobertaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=18,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=2,
        attn_implementation="eager",
    )
    torch.manual_seed(1)
    model = RobertaForSequenceClassification(cfg).eval()
    randomise(model, 11)
    model.save_pretrained(path, safe_serialization=True)
    enc = encode(fast)
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hs = hidden_states(out)
    refs["roberta.features"] = hs[-1][:, 0, :].contiguous()
    refs["roberta.hidden_states"] = hs.contiguous()
    refs["roberta.logits"] = out.logits.contiguous()
    refs["roberta.attention_mask"] = enc["attention_mask"].to(torch.int64)
    meta["roberta"] = {
        "input_ids": enc["input_ids"].tolist(),
        "attention_mask": enc["attention_mask"].tolist(),
    }
    # Linear head on the same features, its weights committed with the references.
    g = torch.Generator().manual_seed(5)
    w = torch.randn(3, 32, generator=g)
    b = torch.randn(3, generator=g)
    refs["linear_head.weight"] = w
    refs["linear_head.bias"] = b
    refs["roberta.linear_logits"] = (refs["roberta.features"] @ w.T + b).contiguous()


def bert_fixture(refs, meta):
    path = os.path.join(ROOT, "bert")
    fast = wordpiece_tokenizer(path)
    cfg = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=16,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        hidden_act="gelu",
        attn_implementation="eager",
    )
    torch.manual_seed(2)
    model = BertModel(cfg).eval()
    randomise(model, 12)
    model.save_pretrained(path, safe_serialization=True)
    enc = encode(fast, token_types=True)
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hs = hidden_states(out)
    # The same weights as a PyTorch pickle, for the --allow-pickle path.
    pickle_dir = os.path.join(ROOT, "bert_pickle")
    os.makedirs(pickle_dir)
    cfg.save_pretrained(pickle_dir)
    torch.save(model.state_dict(), os.path.join(pickle_dir, "pytorch_model.bin"))
    refs["bert.features"] = hs[-1][:, 0, :].contiguous()
    refs["bert.hidden_states"] = hs.contiguous()
    meta["bert"] = {
        "input_ids": enc["input_ids"].tolist(),
        "attention_mask": enc["attention_mask"].tolist(),
        "token_type_ids": enc["token_type_ids"].tolist(),
    }


def clip_fixture(refs, meta):
    path = os.path.join(ROOT, "clip")
    vision = dict(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        projection_dim=16,
    )
    text = dict(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=20,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=8,
        projection_dim=16,
    )
    cfg = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    cfg._attn_implementation = "eager"
    torch.manual_seed(3)
    model = CLIPModel(cfg).eval()
    randomise(model, 13)
    model.save_pretrained(path, safe_serialization=True)
    g = torch.Generator().manual_seed(7)
    pixels = torch.randn(3, 3, 32, 32, generator=g)
    with torch.no_grad():
        out = model.vision_model(pixel_values=pixels, output_hidden_states=True)
    refs["clip.pixel_values"] = pixels
    refs["clip.features"] = out.pooler_output.contiguous()
    refs["clip.hidden_states"] = hidden_states(out).contiguous()


def make_images(refs, meta):
    """PNGs the Rust preprocessing tests read, and CLIPImageProcessor's output on them."""
    path = os.path.join(ROOT, "images")
    os.makedirs(path, exist_ok=True)
    proc = CLIPImageProcessor()  # openai/clip-vit-base-patch16's settings are the defaults
    mean = np.array(proc.image_mean, dtype=np.float64)[:, None, None]
    std = np.array(proc.image_std, dtype=np.float64)[:, None, None]
    sizes = [(300, 200), (180, 260), (224, 224)]
    names = []
    for i, (w, h) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w]
        r = 127.5 + 127.5 * np.sin(x / 17.0 + i)
        gch = 127.5 + 127.5 * np.cos(y / 11.0 - i)
        b = ((x // 25 + y // 25) % 2) * 200 + 20 * i
        img = np.stack([r, gch, b], axis=-1).clip(0, 255).astype(np.uint8)
        name = f"img{i}.png"
        Image.fromarray(img).save(os.path.join(path, name))
        names.append(name)
        pil = Image.open(os.path.join(path, name)).convert("RGB")
        pv = proc(images=pil, return_tensors="np")["pixel_values"][0].astype(np.float64)
        u8 = np.rint((pv * std + mean) * 255.0)
        assert np.abs((pv * std + mean) * 255.0 - u8).max() < 1e-3, "processor output is not a uint8 crop"
        Image.fromarray(u8.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)).save(
            os.path.join(path, f"clip_ref{i}.png")
        )
        refs[f"images.clip_corner{i}"] = torch.tensor(pv[:, :4, :4], dtype=torch.float32)
    meta["images"] = {"files": names, "image_mean": proc.image_mean, "image_std": proc.image_std}


def bitfit_count_roberta_base(meta):
    """Trainable parameters under BitFit (every backbone bias, layer-norm biases included, plus a
    2-class mlp head) on the real roberta-base configuration, counted by transformers."""
    cfg = RobertaConfig(
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        num_labels=2,
    )
    with torch.device("meta"):
        model = RobertaForSequenceClassification(cfg)
    total = 0
    for name, p in model.named_parameters():
        if name.startswith("classifier.") or name.endswith(".bias"):
            total += p.numel()
    all_params = sum(p.numel() for p in model.parameters())
    meta["roberta_base"] = {"bitfit_trainable_with_2class_mlp_head": total, "all_params": all_params}
    print("BitFit trainable on roberta-base + 2-class mlp head:", total, "of", all_params)


def full_size(out):
    os.makedirs(out, exist_ok=True)
    refs = {}
    cfg = RobertaConfig(
        vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, attn_implementation="eager",
    )
    torch.manual_seed(0)
    from transformers import RobertaModel

    model = RobertaModel(cfg, add_pooling_layer=False).eval()
    model.save_pretrained(os.path.join(out, "roberta-base-random"), safe_serialization=True)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 50265, (2, 128), generator=g)
    ids[:, 0] = 0
    ids[:, -1] = 2
    mask = torch.ones_like(ids)
    with torch.no_grad():
        refs["roberta.features"] = model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0].contiguous()
    refs["roberta.input_ids"] = ids
    vcfg = CLIPVisionConfig(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        image_size=224, patch_size=16, hidden_act="quick_gelu", projection_dim=512,
    )
    vcfg._attn_implementation = "eager"
    from transformers import CLIPVisionModel

    vmodel = CLIPVisionModel(vcfg).eval()
    vmodel.save_pretrained(os.path.join(out, "clip-vit-b16-random"), safe_serialization=True)
    px = torch.randn(2, 3, 224, 224, generator=g)
    with torch.no_grad():
        refs["clip.features"] = vmodel(pixel_values=px).pooler_output.contiguous()
    refs["clip.pixel_values"] = px
    save_file(refs, os.path.join(out, "reference.safetensors"))
    print("wrote", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full-size", help="write full-size random models to this folder instead")
    args = ap.parse_args()
    if args.full_size:
        full_size(args.full_size)
        return
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    torch.set_num_threads(1)
    refs, meta = {}, {}
    roberta_fixture(refs, meta)
    bert_fixture(refs, meta)
    clip_fixture(refs, meta)
    make_images(refs, meta)
    bitfit_count_roberta_base(meta)
    refs = {k: v.contiguous() for k, v in refs.items()}
    save_file(refs, os.path.join(ROOT, "reference.safetensors"))
    with open(os.path.join(ROOT, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
