"""Reference statistics for `init = "torch"` (tests/models_init.rs).

The paper's vision code (github.com/AnanyaKumar/transfer_learning, models/clip_model.py) built
its scratch model as OpenAI's `clip.model.CLIP` class, cast it to fp16 with
`clip.model.convert_weights`, then back with `.visual.float()`, and put an `nn.Linear` head on
the image embedding. This script builds a small vision tower the same way (the `openai-clip`
package from PyPI, no download: only the class), and records for every parameter, under the
transformers name our model uses, statistics the Rust test compares with its own draws:
element count, mean, sample std, excess kurtosis (uniform -1.2, normal 0), largest magnitude,
share of zeros and whether every value is an f16 number. The q/k/v rows of the fused attention
in-projection are reported as transformers' three projections.

    python -m venv /tmp/venv && /tmp/venv/bin/pip install torch numpy openai-clip
    /tmp/venv/bin/python scripts/make_init_fixtures.py

writes tests/fixtures/models/torch_init/{config.json,reference.json} (a few KB).
"""

import importlib.util
import json
import os

import numpy as np
import torch

# Only clip/model.py (torch and numpy): the package's __init__ would import torchvision and
# pkg_resources for the download and preprocessing code, which this script does not use.
_spec = importlib.util.find_spec("clip")
_model_py = os.path.join(os.path.dirname(_spec.origin), "model.py")
_loader = importlib.util.spec_from_file_location("openai_clip_model", _model_py)
clip_model = importlib.util.module_from_spec(_loader)
_loader.loader.exec_module(clip_model)
VisionTransformer, convert_weights = clip_model.VisionTransformer, clip_model.convert_weights

WIDTH, LAYERS, HEADS, RESOLUTION, PATCH, OUTPUT = 128, 2, 4, 64, 16, 64
CLASSES = 10
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "models", "torch_init")


def stats(values: torch.Tensor) -> dict:
    v = values.detach().double().flatten().numpy()
    n = v.size
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    kurt = float(((v - mean) ** 4).mean() / std**4 - 3.0) if std > 0 else 0.0
    f16 = bool(np.all(v.astype(np.float16).astype(np.float64) == v))
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "excess_kurtosis": kurt,
        "max_abs": float(np.abs(v).max()),
        "zero_share": float((v == 0).mean()),
        "f16": f16,
    }


def main() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(RESOLUTION, PATCH, WIDTH, LAYERS, HEADS, OUTPUT)
    # What the reference code's scratch model went through.
    convert_weights(vit)
    vit.float()
    head = torch.nn.Linear(OUTPUT, CLASSES)

    p = "vision_model"
    ref = {
        f"{p}.embeddings.class_embedding": vit.class_embedding,
        f"{p}.embeddings.position_embedding.weight": vit.positional_embedding,
        f"{p}.embeddings.patch_embedding.weight": vit.conv1.weight,
        f"{p}.pre_layrnorm.weight": vit.ln_pre.weight,
        f"{p}.pre_layrnorm.bias": vit.ln_pre.bias,
        f"{p}.post_layernorm.weight": vit.ln_post.weight,
        f"{p}.post_layernorm.bias": vit.ln_post.bias,
        "visual_projection.weight": vit.proj.t(),
        "classifier.weight": head.weight,
        "classifier.bias": head.bias,
    }
    for i, block in enumerate(vit.transformer.resblocks):
        layer = f"{p}.encoder.layers.{i}"
        w, b = block.attn.in_proj_weight, block.attn.in_proj_bias
        for j, qkv in enumerate("qkv"):
            ref[f"{layer}.self_attn.{qkv}_proj.weight"] = w[j * WIDTH : (j + 1) * WIDTH]
            ref[f"{layer}.self_attn.{qkv}_proj.bias"] = b[j * WIDTH : (j + 1) * WIDTH]
        ref[f"{layer}.self_attn.out_proj.weight"] = block.attn.out_proj.weight
        ref[f"{layer}.self_attn.out_proj.bias"] = block.attn.out_proj.bias
        ref[f"{layer}.layer_norm1.weight"] = block.ln_1.weight
        ref[f"{layer}.layer_norm1.bias"] = block.ln_1.bias
        ref[f"{layer}.layer_norm2.weight"] = block.ln_2.weight
        ref[f"{layer}.layer_norm2.bias"] = block.ln_2.bias
        ref[f"{layer}.mlp.fc1.weight"] = block.mlp.c_fc.weight
        ref[f"{layer}.mlp.fc1.bias"] = block.mlp.c_fc.bias
        ref[f"{layer}.mlp.fc2.weight"] = block.mlp.c_proj.weight
        ref[f"{layer}.mlp.fc2.bias"] = block.mlp.c_proj.bias

    config = {
        "model_type": "clip_vision_model",
        "hidden_size": WIDTH,
        "intermediate_size": 4 * WIDTH,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "image_size": RESOLUTION,
        "patch_size": PATCH,
        "num_channels": 3,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
        "projection_dim": OUTPUT,
        "initializer_range": 0.02,
        "initializer_factor": 1.0,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    reference = {
        "classes": CLASSES,
        "torch": torch.__version__,
        "parameters": {name: stats(t) for name, t in sorted(ref.items())},
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
