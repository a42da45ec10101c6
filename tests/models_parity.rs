//! Parity with transformers on the tiny random models that scripts/make_model_fixtures.py
//! builds: token ids, features, every hidden state and head logits within 1e-5.
//!
//! `HOMOGEN_TEST_DEVICE=cuda:0` (with `--features cuda`) runs the same comparisons on a GPU,
//! within 1e-4 there (cuBLAS sums in another order).

use candle_core::{DType, Device, Tensor};
use homogen::models::encoder::EncoderInput;
use homogen::models::heads::HeadKind;
use homogen::models::hub::{from_folder, resolve, ResolveOptions};
use homogen::models::init::InitScheme;
use homogen::models::layers::Ctx;
use homogen::models::tokenize::TextTokenizer;
use homogen::models::{Backbone, Batch, HeadSpec, Model};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{device, max_abs_diff};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("reference.safetensors"), &Device::Cpu).unwrap()
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("reference.json")).unwrap())
        .unwrap()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

const SENTENCES: [&str; 4] = [
    "The lazy fox fails the same people.",
    "Hello",
    "Café systems: BitFit, probing & finetuning!",
    "This sentence is deliberately long so that it must be truncated to the model's maximum \
     length by the tokenizer, special tokens included, on both sides of the comparison.",
];

fn assert_close(ours: &Tensor, theirs: &Tensor, what: &str) {
    let d = max_abs_diff(ours, theirs);
    let tolerance = if device().is_cpu() { 1e-5 } else { 1e-4 };
    assert!(d <= tolerance, "{what}: max |ours - transformers| = {d}");
}

fn text_case(name: &str, head: Option<HeadSpec>) -> (Model, EncoderInput) {
    let dir = fixtures().join(name);
    let files = from_folder(&dir, false, None).unwrap();
    let (model, report) = Model::load(&files, head, &device(), DType::F32, 0).unwrap();
    let Backbone::Text(enc) = &model.backbone else {
        panic!("expected a text encoder")
    };
    let cfg = enc.config();
    let tok = TextTokenizer::from_files(
        files.tokenizer.as_deref().unwrap(),
        files.tokenizer_config.as_deref(),
        cfg.max_tokens(),
        cfg.pad_id() as u32,
    )
    .unwrap();
    let batch = tok.encode(&SENTENCES).unwrap();
    let m = &meta()[name];
    assert_eq!(batch.input_ids, rows(&m["input_ids"]), "{name} token ids");
    assert_eq!(
        batch.attention_mask,
        rows(&m["attention_mask"]),
        "{name} attention mask"
    );
    if let Some(tt) = m.get("token_type_ids") {
        assert_eq!(batch.token_type_ids, rows(tt));
    }
    assert!(report.missing_head.is_empty() || head.is_some());
    let dev = device();
    let input = batch.to_input(&dev).unwrap();
    (model, input)
}

fn check_hidden(hidden: &[Tensor], reference: &Tensor, name: &str) {
    assert_eq!(hidden.len(), reference.dim(0).unwrap());
    for (i, h) in hidden.iter().enumerate() {
        assert_close(
            h,
            &reference.get(i).unwrap(),
            &format!("{name} hidden state {i}"),
        );
    }
}

#[test]
fn roberta_matches_transformers_ids_features_hidden_states_and_mlp_logits() {
    let head = HeadSpec {
        kind: HeadKind::Mlp,
        classes: 2,
    };
    let (model, input) = text_case("roberta", Some(head));
    let refs = reference();
    let Backbone::Text(enc) = &model.backbone else {
        unreachable!()
    };
    let out = enc.forward(&input, &Ctx::eval(), true).unwrap();
    assert_close(&out.features, &refs["roberta.features"], "roberta features");
    check_hidden(
        out.hidden_states.as_ref().unwrap(),
        &refs["roberta.hidden_states"],
        "roberta",
    );
    let logits = model.logits(&Batch::Text(input), &Ctx::eval()).unwrap();
    assert_close(&logits, &refs["roberta.logits"], "roberta mlp-head logits");
}

#[test]
fn linear_head_matches_reference_logits() {
    let head = HeadSpec {
        kind: HeadKind::Linear,
        classes: 3,
    };
    let (model, input) = text_case("roberta", Some(head));
    let refs = reference();
    let w = model.store.get("classifier.weight").unwrap().var();
    w.set(&refs["linear_head.weight"].to_device(&device()).unwrap())
        .unwrap();
    let b = model.store.get("classifier.bias").unwrap().var();
    b.set(&refs["linear_head.bias"].to_device(&device()).unwrap())
        .unwrap();
    let logits = model.logits(&Batch::Text(input), &Ctx::eval()).unwrap();
    assert_close(
        &logits,
        &refs["roberta.linear_logits"],
        "linear-head logits",
    );
}

#[test]
fn bert_matches_transformers_ids_features_and_hidden_states() {
    let (model, input) = text_case("bert", None);
    let refs = reference();
    let Backbone::Text(enc) = &model.backbone else {
        unreachable!()
    };
    let out = enc.forward(&input, &Ctx::eval(), true).unwrap();
    assert_close(&out.features, &refs["bert.features"], "bert features");
    check_hidden(
        out.hidden_states.as_ref().unwrap(),
        &refs["bert.hidden_states"],
        "bert",
    );
    // Without hidden states the last layer computes the first token alone: same features.
    let features = model.features(&Batch::Text(input), &Ctx::eval()).unwrap();
    assert_close(
        &features,
        &refs["bert.features"],
        "bert first-token-only features",
    );
}

#[test]
fn clip_vision_tower_matches_transformers_pooled_output_and_hidden_states() {
    let files = resolve(
        fixtures().join("clip").to_str().unwrap(),
        &ResolveOptions::default(),
    )
    .unwrap();
    let (model, report) = Model::load(&files, None, &device(), DType::F32, 0).unwrap();
    assert!(report.prefixed);
    // A full CLIPModel checkpoint: the text tower and projections are reported, not loaded.
    assert!(report
        .unexpected
        .iter()
        .any(|k| k.starts_with("text_model.")));
    assert!(report
        .unexpected
        .iter()
        .any(|k| k == "visual_projection.weight"));
    let refs = reference();
    let Backbone::Vision(v) = &model.backbone else {
        panic!("expected the vision tower")
    };
    let out = v
        .forward(
            &refs["clip.pixel_values"].to_device(&device()).unwrap(),
            &Ctx::eval(),
            true,
        )
        .unwrap();
    assert_close(&out.features, &refs["clip.features"], "clip pooled output");
    // Without hidden states the last layer computes the class token alone: same pooled output.
    let pooled = model
        .features(
            &Batch::Pixels(refs["clip.pixel_values"].to_device(&device()).unwrap()),
            &Ctx::eval(),
        )
        .unwrap();
    assert_close(
        &pooled,
        &refs["clip.features"],
        "clip class-token-only pooled output",
    );
    check_hidden(
        out.hidden_states.as_ref().unwrap(),
        &refs["clip.hidden_states"],
        "clip",
    );
}

/// With its visual projection the tower gives CLIP's image embedding, as
/// `CLIPModel.get_image_features` (scripts/make_vision_recipe_fixtures.py); the projection is
/// loaded from the checkpoint, not reported as unexpected, and a head reads its output.
#[test]
fn clip_projected_features_match_get_image_features() {
    use homogen::models::config::ModelConfig;
    let files = resolve(
        fixtures().join("clip").to_str().unwrap(),
        &ResolveOptions::default(),
    )
    .unwrap();
    let config = ModelConfig::from_file(&files.config)
        .unwrap()
        .with_projected_features()
        .unwrap();
    assert_eq!(config.feature_size(), 16);
    let head = HeadSpec {
        kind: HeadKind::Linear,
        classes: 2,
    };
    let (model, report) = Model::load_as(
        &config,
        &files,
        Some(head),
        &device(),
        DType::F32,
        0,
        InitScheme::Transformers,
    )
    .unwrap();
    assert!(!report
        .unexpected
        .iter()
        .any(|k| k == "visual_projection.weight"));
    let theirs =
        candle_core::safetensors::load(fixtures().join("clip_projected.safetensors"), &Device::Cpu)
            .unwrap();
    let pixels = Batch::Pixels(
        reference()["clip.pixel_values"]
            .to_device(&device())
            .unwrap(),
    );
    let ours = model.features(&pixels, &Ctx::eval()).unwrap();
    assert_close(&ours, &theirs["features"], "clip projected features");
    assert_eq!(model.logits(&pixels, &Ctx::eval()).unwrap().dims(), &[3, 2]);
    // A text encoder has no image embedding: an input error naming the key.
    let text = ModelConfig::from_file(&fixtures().join("roberta/config.json")).unwrap();
    let e = text.with_projected_features().unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("features"), "{e}");
}
