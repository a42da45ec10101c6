//! Full-size parity (RoBERTa-base and CLIP ViT-B/16 shapes, random weights) against
//! transformers. Ignored by default: make the models with
//! `python scripts/make_model_fixtures.py --full-size DIR`, then run
//! `HOMOGEN_FULLSIZE_DIR=DIR cargo test --test models_fullsize -- --ignored`.

use candle_core::{DType, Device};
use homogen::models::encoder::EncoderInput;
use homogen::models::hub::from_folder;
use homogen::models::layers::Ctx;
use homogen::models::{Batch, Model};
use std::path::PathBuf;

mod common;
use common::max_abs_diff;

fn dir() -> PathBuf {
    PathBuf::from(std::env::var("HOMOGEN_FULLSIZE_DIR").expect("set HOMOGEN_FULLSIZE_DIR"))
}

#[test]
#[ignore = "needs full-size random models: set HOMOGEN_FULLSIZE_DIR"]
fn full_size_roberta_and_clip_match_transformers() {
    let refs =
        candle_core::safetensors::load(dir().join("reference.safetensors"), &Device::Cpu).unwrap();
    let files = from_folder(&dir().join("roberta-base-random"), false, None).unwrap();
    let (roberta, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap();
    let ids = refs["roberta.input_ids"].to_dtype(DType::U32).unwrap();
    let input = EncoderInput {
        attention_mask: ids.ones_like().unwrap(),
        input_ids: ids,
        token_type_ids: None,
    };
    let f = roberta.features(&Batch::Text(input), &Ctx::eval()).unwrap();
    let d = max_abs_diff(&f, &refs["roberta.features"]);
    assert!(d <= 1e-4, "roberta-base features differ by {d}");
    let files = from_folder(&dir().join("clip-vit-b16-random"), false, None).unwrap();
    let (clip, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap();
    let f = clip
        .features(
            &Batch::Pixels(refs["clip.pixel_values"].clone()),
            &Ctx::eval(),
        )
        .unwrap();
    let d = max_abs_diff(&f, &refs["clip.features"]);
    assert!(d <= 1e-4, "clip ViT-B/16 features differ by {d}");
}
