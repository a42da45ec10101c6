"""Fixtures for the paper's vision recipe (configs/vision-celeba.toml), made from the committed
tiny models and images that scripts/make_model_fixtures.py wrote:

- tests/fixtures/models/images/stretch_ref{i}.png: torchvision's `Resize([224, 224])` on each
  fixture image as the paper's transfer-learning code ran it on PIL images, which is PIL's
  bilinear resize straight to 224x224 (torchvision's functional resize calls
  `img.resize(size, Image.BILINEAR)` for PIL input).
- tests/fixtures/models/images/crop_ref{i}.png: torchvision's `resized_crop` (what
  RandomResizedCrop applies once it has drawn a box) on each fixture image with the box in
  CROP_BOXES, which is `img.crop(box).resize((224, 224), Image.BILINEAR)` for PIL input: boxes
  that shrink, stretch and enlarge.
- tests/fixtures/models/clip_projected.safetensors: CLIP's image embedding
  (`CLIPModel.get_image_features`: the pooled output through `visual_projection`) of the tiny
  CLIP model on the pixel values already stored in reference.safetensors (`clip.pixel_values`).

Run from the repository root with PyTorch, transformers, safetensors and Pillow installed:

    python scripts/make_vision_recipe_fixtures.py
"""

import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import CLIPModel

ROOT = os.path.join("tests", "fixtures", "models")


def stretch_refs():
    images = os.path.join(ROOT, "images")
    for i in range(3):
        pil = Image.open(os.path.join(images, f"img{i}.png")).convert("RGB")
        out = np.asarray(pil.resize((224, 224), Image.BILINEAR))
        Image.fromarray(out).save(os.path.join(images, f"stretch_ref{i}.png"))


# (left, top, width, height) per fixture image (300x200, 180x260, 224x224); the Rust test
# (tests/models_preprocess.rs) uses the same boxes.
CROP_BOXES = [(13, 7, 251, 170), (40, 100, 61, 150), (0, 0, 224, 224)]


def crop_refs():
    images = os.path.join(ROOT, "images")
    for i, (left, top, w, h) in enumerate(CROP_BOXES):
        pil = Image.open(os.path.join(images, f"img{i}.png")).convert("RGB")
        out = pil.crop((left, top, left + w, top + h)).resize((224, 224), Image.BILINEAR)
        Image.fromarray(np.asarray(out)).save(os.path.join(images, f"crop_ref{i}.png"))


def projected_features():
    refs = load_file(os.path.join(ROOT, "reference.safetensors"))
    model = CLIPModel.from_pretrained(os.path.join(ROOT, "clip")).eval()
    with torch.no_grad():
        out = model.get_image_features(pixel_values=refs["clip.pixel_values"])
    features = out if isinstance(out, torch.Tensor) else out.pooler_output
    # The projection must change something for the Rust test to be able to fail.
    assert features.shape[1] != refs["clip.features"].shape[1]
    save_file(
        {"features": features.contiguous()},
        os.path.join(ROOT, "clip_projected.safetensors"),
    )


if __name__ == "__main__":
    stretch_refs()
    crop_refs()
    projected_features()
