//! Full-size parity (RoBERTa-base and CLIP ViT-B/16 shapes, random weights) against
//! transformers: features, and every parameter's gradient (large shapes take the CPU kernels'
//! blocked, multi-threaded paths). Ignored by default: make the models and references with
//! `python scripts/make_model_fixtures.py --full-size DIR` and
//! `python scripts/make_training_fixtures.py --full-size DIR`, then run
//! `HOMOGEN_FULLSIZE_DIR=DIR cargo test --release --test models_fullsize -- --ignored`.

use candle_core::{DType, Device, Tensor};
use homogen::models::encoder::EncoderInput;
use homogen::models::hub::from_folder;
use homogen::models::layers::Ctx;
use homogen::models::{Batch, Model, Selection};
use std::collections::HashMap;
use std::path::PathBuf;

mod common;
use common::{
    assert_loss_and_gradients_match, max_abs_diff, set_linear_head, GradTolerance, LINEAR_3,
};

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

/// One full-size model with the reference's linear head, its batch, loss and gradients compared.
fn check_gradients(name: &str, folder: &str, batch: impl Fn(&HashMap<String, Tensor>) -> Batch) {
    let refs =
        candle_core::safetensors::load(dir().join("gradients.safetensors"), &Device::Cpu).unwrap();
    let files = from_folder(&dir().join(folder), false, None).unwrap();
    let (model, _) = Model::load(&files, Some(LINEAR_3), &Device::Cpu, DType::F32, 0).unwrap();
    set_linear_head(&model, &refs, name);
    let tol = GradTolerance {
        loss: 1e-5,
        of_scale: 1e-5,
        of_value: 1e-4,
    };
    let batch = batch(&refs);
    // Finetuning, and BitFit (frozen weights: the dense layers' weight-gradient-free backward).
    for selection in [Selection::All, Selection::BitFit] {
        let what = format!("{name} {selection:?}");
        let worst =
            assert_loss_and_gradients_match(&what, &model, &batch, &refs, name, selection, &tol);
        eprintln!("{what}: worst |diff| / largest gradient = {worst:.2e}");
    }
}

#[test]
#[ignore = "needs full-size random models and gradients: set HOMOGEN_FULLSIZE_DIR"]
fn full_size_gradients_match_pytorch() {
    check_gradients("roberta", "roberta-base-random", |refs| {
        let ids = |k: &str| refs[k].to_dtype(DType::U32).unwrap();
        Batch::Text(EncoderInput {
            input_ids: ids("roberta.input.input_ids"),
            attention_mask: ids("roberta.input.attention_mask"),
            token_type_ids: None,
        })
    });
    check_gradients("clip", "clip-vit-b16-random", |refs| {
        Batch::Pixels(refs["clip.input.pixel_values"].clone())
    });
}
