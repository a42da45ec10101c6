//! Gradients reach exactly the parameters a method trains: after one SGD step every trainable
//! parameter changed and every frozen one is bit-identical (finetune, BitFit, probe), for the text
//! encoder and the CLIP tower; the frozen-linear custom op gives the same bias gradients as plain
//! matmuls; loss falls on a tiny separable task; BitFit's trainable count on the real roberta-base
//! configuration equals transformers' (committed by the fixture script). `parity` checks the
//! gradients' values against PyTorch's autograd.
//!
//! `HOMOGEN_TEST_DEVICE=cuda:0` (with `--features cuda`) runs them on a GPU, through the device
//! kernels that replace the CPU's fused element-wise ops there.

use candle_core::{backprop::GradStore, DType, Tensor};
use homogen::device::Precision;
use homogen::models::config::ModelConfig;
use homogen::models::encoder::{ids_tensor, EncoderInput};
use homogen::models::heads::HeadKind;
use homogen::models::hub::from_folder;
use homogen::models::layers::Ctx;
use homogen::models::tokenize::TextTokenizer;
use homogen::models::{Batch, HeadSpec, Model, Selection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "../common/mod.rs"]
mod common;
mod parity;
use common::{device, max_abs_diff};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn text_model(kind: HeadKind) -> Model {
    text_model_in(kind, DType::F32.into())
}

fn text_model_in(kind: HeadKind, precision: Precision) -> Model {
    let files = from_folder(&fixtures().join("roberta"), false, None).unwrap();
    Model::load(
        &files,
        Some(HeadSpec { kind, classes: 2 }),
        &device(),
        precision,
        3,
    )
    .unwrap()
    .0
}

fn text_batch(texts: &[&str]) -> Batch {
    let dir = fixtures().join("roberta");
    let tok = TextTokenizer::from_files(&dir.join("tokenizer.json"), None, 16, 1).unwrap();
    let b = tok.encode(texts).unwrap();
    Batch::Text(EncoderInput {
        input_ids: ids_tensor(&b.input_ids, &device()).unwrap(),
        attention_mask: ids_tensor(&b.attention_mask, &device()).unwrap(),
        token_type_ids: None,
    })
}

fn clip_model() -> Model {
    let files = from_folder(&fixtures().join("clip"), false, None).unwrap();
    let head = HeadSpec {
        kind: HeadKind::Linear,
        classes: 2,
    };
    Model::load(&files, Some(head), &device(), DType::F32, 3)
        .unwrap()
        .0
}

/// Two seeded random 32 × 32 images (seeded, so a failure reproduces).
fn clip_batch() -> Batch {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let values: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|_| rng.gen_range(-2.0f32..2.0))
        .collect();
    Batch::Pixels(Tensor::from_vec(values, (2, 3, 32, 32), &device()).unwrap())
}

/// The attention key bias (BERT's `key.bias`, CLIP's `k_proj.bias`) adds the same amount to
/// every score of a query, which softmax cancels: its gradient is zero up to rounding, so
/// whether a step moves it depends on rounding noise (it gets a gradient: `sgd_step` checks
/// that every trainable parameter has one). Every other trainable parameter must move.
fn key_bias(name: &str) -> bool {
    name.ends_with("attention.self.key.bias") || name.ends_with("self_attn.k_proj.bias")
}

fn snapshot(model: &Model) -> BTreeMap<String, Vec<f32>> {
    model
        .store
        .iter()
        .map(|p| {
            let v = p
                .var()
                .as_tensor()
                .to_dtype(DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (p.name().to_string(), v)
        })
        .collect()
}

fn loss(model: &Model, batch: &Batch, labels: &[u32], ctx: &Ctx) -> Tensor {
    let logits = model.logits(batch, ctx).unwrap();
    let labels = Tensor::new(labels, &device()).unwrap();
    candle_nn::loss::cross_entropy(&logits, &labels).unwrap()
}

fn sgd_step(model: &Model, grads: &GradStore, lr: f64) {
    for p in model.store.trainable() {
        let g = grads
            .get(p.var().as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {}", p.name()));
        let updated = (p.var().as_tensor() - (g * lr).unwrap()).unwrap();
        p.var().set(&updated).unwrap();
    }
}

/// One SGD step under `selection`; checks changed/identical per parameter and returns the
/// number of trainable parameters.
fn check_one_step(model: &Model, batch: &Batch, selection: Selection) -> usize {
    check_one_step_at(model, batch, selection, 0.5, key_bias)
}

/// [`check_one_step`] with learning rate `lr`; trainable parameters for which `may_stay` holds
/// are not required to change.
fn check_one_step_at(
    model: &Model,
    batch: &Batch,
    selection: Selection,
    lr: f64,
    may_stay: fn(&str) -> bool,
) -> usize {
    model.store.set_trainable(|n| selection.selects(n));
    let before = snapshot(model);
    let l = loss(model, batch, &[0, 1], &Ctx::train(9));
    sgd_step(model, &l.backward().unwrap(), lr);
    let after = snapshot(model);
    let mut trained = 0;
    for p in model.store.iter() {
        let (b, a) = (&before[p.name()], &after[p.name()]);
        if selection.selects(p.name()) {
            trained += 1;
            assert!(
                b != a || may_stay(p.name()),
                "{selection:?}: trainable {} did not change",
                p.name()
            );
        } else {
            let same = b.iter().zip(a).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{selection:?}: frozen {} changed", p.name());
        }
    }
    trained
}

#[test]
fn text_finetune_bitfit_and_probe_train_exactly_their_parameters() {
    let batch = text_batch(&["The lazy fox fails the same people.", "Hello"]);
    let all = check_one_step(&text_model(HeadKind::Mlp), &batch, Selection::All);
    let bitfit = check_one_step(&text_model(HeadKind::Mlp), &batch, Selection::BitFit);
    let probe = check_one_step(&text_model(HeadKind::Mlp), &batch, Selection::Head);
    // 2 layers x 16 tensors + 5 embedding tensors + 4 head tensors = 41 in all; BitFit: 2 x 8
    // biases + the embedding LayerNorm bias + 4 head tensors = 21; probe: 4 head tensors.
    assert_eq!((all, bitfit, probe), (41, 21, 4));
}

#[test]
fn clip_finetune_bitfit_and_probe_train_exactly_their_parameters() {
    let batch = clip_batch();
    let all = check_one_step(&clip_model(), &batch, Selection::All);
    let bitfit = check_one_step(&clip_model(), &batch, Selection::BitFit);
    let probe = check_one_step(&clip_model(), &batch, Selection::Head);
    // 3 embedding tensors + 2 pre-LN + 2 x 16 per layer + 2 post-LN + 2 head = 41; BitFit:
    // pre-LN bias + 2 x 8 biases + post-LN bias + head bias and weight = 20; probe: 2.
    assert_eq!((all, bitfit, probe), (41, 20, 2));
}

/// Mixed precision (`--dtype bf16` in training): parameters stay f32 masters, the forward pass
/// computes in bf16 and lands near the f32 model's logits, and a small step (lr 1e-5, far
/// below bf16's resolution relative to the weights) still moves every trainable parameter and
/// no frozen one (but the key bias, see `key_bias`). With the weights themselves in bf16 the same
/// step is rounded away.
#[test]
fn mixed_bf16_training_keeps_f32_masters_and_small_steps_land() {
    let batch = text_batch(&["The lazy fox fails the same people.", "Hello"]);
    let reference = text_model(HeadKind::Mlp)
        .logits(&batch, &Ctx::eval())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mixed = text_model_in(HeadKind::Mlp, Precision::training(DType::BF16));
    assert!(mixed.store.iter().all(|p| p.var().dtype() == DType::F32));
    let logits = mixed.logits(&batch, &Ctx::eval()).unwrap();
    assert_eq!(logits.dtype(), DType::BF16);
    let logits = logits
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (a, b) in logits.iter().zip(&reference) {
        assert!(
            (a - b).abs() <= 0.02 + 0.02 * b.abs(),
            "bf16 {a} vs f32 {b}"
        );
    }
    // The key bias may stay (see `key_bias`).
    for selection in [Selection::All, Selection::BitFit, Selection::Head] {
        let m = text_model_in(HeadKind::Mlp, Precision::training(DType::BF16));
        check_one_step_at(&m, &batch, selection, 1e-5, key_bias);
    }
    // The failure mode the masters prevent: bf16 weights do not move under the same step.
    let pure = text_model_in(HeadKind::Mlp, DType::BF16.into());
    pure.store.set_trainable(|_| true);
    let before = snapshot(&pure);
    let l = loss(&pure, &batch, &[0, 1], &Ctx::train(9))
        .to_dtype(DType::F32)
        .unwrap();
    sgd_step(&pure, &l.backward().unwrap(), 1e-5);
    let after = snapshot(&pure);
    let unchanged = pure
        .store
        .iter()
        .filter(|p| before[p.name()] == after[p.name()])
        .count();
    assert!(
        unchanged > 0,
        "bf16 weights all moved: the test step is too large"
    );
}

#[test]
fn frozen_linear_op_gives_the_same_bias_gradients_as_plain_matmuls() {
    let batch = text_batch(&["The lazy fox fails the same people.", "Café systems!"]);
    let model = text_model(HeadKind::Mlp);
    model.store.set_trainable(|_| true);
    let full = loss(&model, &batch, &[1, 0], &Ctx::eval())
        .backward()
        .unwrap();
    model.store.set_trainable(|n| Selection::BitFit.selects(n));
    let bitfit = loss(&model, &batch, &[1, 0], &Ctx::eval())
        .backward()
        .unwrap();
    let mut compared = 0;
    for p in model.store.trainable() {
        let a = full.get(p.var().as_tensor()).unwrap();
        let b = bitfit.get(p.var().as_tensor()).unwrap();
        let scale = a
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .max(1e-6);
        let d = max_abs_diff(a, b);
        assert!(
            d <= 1e-5 * scale,
            "{}: gradient differs by {d} (scale {scale})",
            p.name()
        );
        compared += 1;
    }
    assert_eq!(compared, 21);
    // Frozen weights got no gradient at all.
    let w = model
        .store
        .get("roberta.encoder.layer.0.attention.self.query.weight")
        .unwrap();
    assert!(bitfit.get(w.var().as_tensor()).is_none());
}

#[test]
fn loss_falls_on_a_tiny_separable_task() {
    let texts = [
        "Hello",
        "Hello there",
        "The lazy fox fails.",
        "The quick brown fox.",
    ];
    let labels = [0u32, 0, 1, 1];
    let batch = text_batch(&texts);
    let model = text_model(HeadKind::Mlp);
    model.store.set_trainable(|n| Selection::BitFit.selects(n));
    let start = loss(&model, &batch, &labels, &Ctx::eval())
        .to_scalar::<f32>()
        .unwrap();
    for step in 0..15 {
        let l = loss(&model, &batch, &labels, &Ctx::train(step));
        sgd_step(&model, &l.backward().unwrap(), 0.1);
    }
    let end = loss(&model, &batch, &labels, &Ctx::eval())
        .to_scalar::<f32>()
        .unwrap();
    assert!(end < 0.5 * start, "loss {start} -> {end}");
}

#[test]
fn bitfit_trainable_count_on_roberta_base_equals_transformers() {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("reference.json")).unwrap())
            .unwrap();
    let expected = &meta["roberta_base"];
    // Real roberta-base configuration (config.json on the Hub), built with zero weights.
    let config = ModelConfig::from_json(
        r#"{"model_type": "roberta", "vocab_size": 50265, "hidden_size": 768,
            "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
            "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-05,
            "pad_token_id": 1, "hidden_act": "gelu"}"#,
    )
    .unwrap();
    let head = HeadSpec {
        kind: HeadKind::Mlp,
        classes: 2,
    };
    let model = Model::from_config(&config, Some(head), &device(), DType::F32).unwrap();
    model.store.set_trainable(|n| Selection::BitFit.selects(n));
    // 694,274 = 12 x (7 x 768 + 3072) + 768 (embedding LN bias) + 768 x 768 + 768 + 768 x 2 + 2.
    assert_eq!(model.store.trainable_count(), 694_274);
    assert_eq!(
        model.store.trainable_count() as u64,
        expected["bitfit_trainable_with_2class_mlp_head"]
            .as_u64()
            .unwrap()
    );
    assert_eq!(
        model.store.total_count() as u64,
        expected["all_params"].as_u64().unwrap()
    );
}

/// On a GPU (`HOMOGEN_TEST_DEVICE=cuda:0`), training-mode dropout drops the same elements as
/// on the CPU and gives the same values, bit for bit, in f32 and bf16, forward and backward:
/// the mask is a function of the seed and the element index, whatever the device. On the CPU
/// there is nothing to compare, and the test says so.
#[test]
fn dropout_on_the_test_device_equals_the_cpu_bit_for_bit() {
    let dev = device();
    if dev.is_cpu() {
        eprintln!("skipped: HOMOGEN_TEST_DEVICE is the CPU; this compares a GPU's dropout with it");
        return;
    }
    let n = 50_000;
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let weights: Vec<f32> = (0..n)
        .map(|i| ((i * 104_729) % 997) as f32 / 997.0)
        .collect();
    for dtype in [DType::F32, DType::BF16] {
        let run = |on: &candle_core::Device| -> (Vec<f32>, Vec<f32>) {
            let x = candle_core::Var::from_tensor(
                &Tensor::from_vec(values.clone(), (50, 1000), on)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
            let r = Tensor::from_vec(weights.clone(), (50, 1000), on)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let y = Ctx::train(17).dropout(x.as_tensor(), 0.1).unwrap();
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let host = |t: &Tensor| {
                t.to_device(&candle_core::Device::Cpu)
                    .unwrap()
                    .to_dtype(DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            (host(&y), host(grads.get(x.as_tensor()).unwrap()))
        };
        let (cpu, gpu) = (run(&candle_core::Device::Cpu), run(&dev));
        let differ = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count()
        };
        assert_eq!(differ(&cpu.0, &gpu.0), 0, "{dtype:?} forward values differ");
        assert_eq!(differ(&cpu.1, &gpu.1), 0, "{dtype:?} gradients differ");
        let dropped = cpu.0.iter().filter(|&&v| v == 0.0).count();
        assert!(
            (4_000..6_000).contains(&dropped),
            "{dtype:?}: {dropped} zeros"
        );
    }
}

/// Evaluation of a model being finetuned records no graph inside `without_gradients` (what
/// the trainer's evaluation uses), gives the tracked pass's logits, leaves the trainable flags
/// alone, and the switch comes back even when the closure panics.
#[test]
fn without_gradients_records_no_graph_and_changes_no_result() {
    for (model, batch) in [
        (
            text_model(HeadKind::Mlp),
            text_batch(&["a short one", "and a longer text here"]),
        ),
        (clip_model(), clip_batch()),
    ] {
        model.store.set_trainable(|n| Selection::All.selects(n));
        let trainable = model.store.trainable_count();
        let tracked = model.logits(&batch, &Ctx::eval()).unwrap();
        assert!(tracked.track_op(), "a trainable model's pass is recorded");
        let plain = model
            .store
            .without_gradients(|| model.logits(&batch, &Ctx::eval()).unwrap());
        assert!(!plain.track_op(), "no graph inside without_gradients");
        assert!(max_abs_diff(&tracked, &plain) <= 1e-6);
        assert_eq!(model.store.trainable_count(), trainable);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            model.store.without_gradients(|| panic!("inside"))
        }));
        assert!(caught.is_err());
        assert!(model.logits(&batch, &Ctx::eval()).unwrap().track_op());
    }
}
