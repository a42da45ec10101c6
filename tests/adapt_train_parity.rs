//! The whole trainer against PyTorch training loops: `train_cell` adapts the tiny RoBERTa
//! fixture (dropout set to 0, its checkpoint's mlp head) to a 16-text task for four epochs, in
//! micro-batches of 4 accumulated to one step per epoch. Finetuning twice: the language recipe
//! (AdamW with weight decay 1.0 — large, so that decaying a bias or layer norm shows —
//! transformers' linear schedule with one warmup step, clipping at 1.0) and the vision recipe
//! (SGD with momentum 0.9, weight decay 0.01 on every parameter, cosine schedule, no clipping —
//! so that a wrongly scaled accumulated gradient shows). Then BitFit, the authors' inverted
//! BitFit and the mlp probe (on our feature cache), each by AdamW on its own parameters; and the
//! first run again in bf16 mixed precision against torch.autocast (within bf16's rounding).
//!
//! `scripts/make_training_fixtures.py` ran each in PyTorch + transformers (full-batch steps,
//! which the accumulated micro-batches equal) and committed the loss before each step, the
//! learning rates, and the test predictions after training
//! (tests/fixtures/adapt/trainer_parity/reference.json). Tokenization, the model's forward and
//! backward, accumulation, clipping, the schedule, the optimiser and its decay groups, and the
//! final evaluation must all agree for these to match.

use std::path::{Path, PathBuf};

use homogen::adapt::{train_cell, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;
use homogen::failures::read_table;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The RoBERTa fixture with hidden and attention dropout 0, in `dir`.
fn model_without_dropout(dir: &Path) -> PathBuf {
    let src = fixture("tests/fixtures/models/roberta");
    let dst = dir.join("roberta-no-dropout");
    std::fs::create_dir_all(&dst).unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["hidden_dropout_prob"] = 0.0.into();
    config["attention_probs_dropout_prob"] = 0.0.into();
    std::fs::write(dst.join("config.json"), config.to_string()).unwrap();
    dst
}

fn reference() -> serde_json::Value {
    let path = fixture("tests/fixtures/adapt/trainer_parity/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: ours {got}, PyTorch {want} (|diff| {:.3e} > {tol:.0e})",
        (got - want).abs()
    );
}

/// Trains the run `name` of the reference with `train_cell` and compares.
fn check_run(name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_without_dropout(tmp.path());
    let r = &reference()["runs"][name];
    let settings = &r["settings"];
    let mut data = DatasetSpec::named("imdb");
    data.root = Some(fixture("tests/fixtures/adapt/trainer_parity"));
    let mut spec = TrainSpec::new(
        model.to_str().unwrap(),
        settings["method"].as_str().unwrap(),
        data,
        tmp.path().join("cell"),
    );
    spec.head = "mlp".into();
    spec.optimizer = settings["optimizer"].as_str().unwrap().into();
    spec.lr = settings["lr"].as_f64().unwrap();
    if let Some(m) = settings.get("momentum") {
        spec.momentum = m.as_f64().unwrap();
    }
    spec.weight_decay = settings["weight_decay"].as_f64().unwrap();
    spec.schedule = settings["schedule"].as_str().unwrap().into();
    spec.warmup_steps = settings["warmup_steps"].as_u64().unwrap();
    spec.epochs = settings["epochs"].as_u64().unwrap() as usize;
    spec.clip_norm = settings["clip_norm"].as_f64();
    spec.batch_size = 4;
    spec.grad_accum = 4;
    // f32 agrees to rounding. bf16 mixed precision (ours and autocast) rounds each its own way:
    // measured train losses within 2.5e-4, test losses 1.2e-2 (1%), probabilities 4e-3.
    let (train_tol, loss_tol, prob_tol) = match settings.get("dtype").and_then(|d| d.as_str()) {
        Some(d) => {
            spec.dtype = d.into();
            (2e-3, 3e-2, 1e-2)
        }
        None => (2e-6, 3e-6, 3e-6),
    };
    let opts = RunOptions {
        quiet: true,
        cache_dir: Some(tmp.path().join("cache")),
        ..RunOptions::default()
    };
    let outcome = train_cell(&spec, &opts).unwrap();

    // Per epoch: the mean training loss (over four equal micro-batches = the full-batch loss
    // PyTorch computed before its step) and the step's learning rate.
    let metrics: Vec<serde_json::Value> = std::fs::read_to_string(&outcome.metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (want_loss, want_lr) = (floats(&r["train_loss"]), floats(&r["lr"]));
    assert_eq!(metrics.len(), want_loss.len());
    for (e, m) in metrics.iter().enumerate() {
        let what = format!("{name} epoch {} train loss", e + 1);
        close(
            m["train_loss"].as_f64().unwrap(),
            want_loss[e],
            train_tol,
            &what,
        );
        let what = format!("{name} epoch {} learning rate", e + 1);
        close(m["lr"].as_f64().unwrap(), want_lr[e], 1e-15, &what);
    }
    // The losses moved: the comparison is of a model that trained.
    assert!(want_loss[3] < want_loss[0] - 0.05, "{name}: {want_loss:?}");

    // The test predictions after training, example by example.
    let t = read_table(&outcome.failures).unwrap();
    let test = &r["test"];
    let ids = test["example_id"].as_array().unwrap();
    assert_eq!(t.len(), ids.len());
    let (want_loss, want_prob) = (floats(&test["loss"]), floats(&test["prob"]));
    let prob = t.extra_column("prob").unwrap();
    for (row, id) in ids.iter().enumerate() {
        assert_eq!(t.example_id.value(row), id.as_str().unwrap());
        assert_eq!(
            t.label.as_ref().unwrap()[row],
            test["label"][row].as_i64().unwrap()
        );
        // The same class wherever PyTorch's is not within the tolerance of a tie.
        if want_prob[row] > 0.5 + prob_tol {
            assert_eq!(
                t.prediction.as_ref().unwrap()[row],
                test["prediction"][row].as_i64().unwrap(),
                "{name} row {row}: prediction"
            );
        }
        let what = format!("{name} row {row} loss");
        close(
            t.loss.as_ref().unwrap()[row],
            want_loss[row],
            loss_tol,
            &what,
        );
        let p: f64 = prob.value(row).parse().unwrap();
        close(
            p,
            want_prob[row],
            prob_tol,
            &format!("{name} row {row} prob"),
        );
    }
}

#[test]
fn adamw_finetuning_matches_a_pytorch_training_loop() {
    check_run("adamw");
}

#[test]
fn sgd_finetuning_matches_a_pytorch_training_loop() {
    check_run("sgd");
}

#[test]
fn bitfit_matches_a_pytorch_training_loop() {
    check_run("bitfit");
}

#[test]
fn inverted_bitfit_matches_a_pytorch_training_loop() {
    check_run("bitfit-inverted");
}

/// Ours trains the probe on cached features (the backbone runs once per example).
#[test]
fn mlp_probe_matches_a_pytorch_training_loop() {
    check_run("probe-mlp");
}

/// `dtype = "bf16"` against torch.autocast(bfloat16), both with f32 master weights.
#[test]
fn bf16_mixed_precision_finetuning_tracks_pytorch_autocast() {
    check_run("adamw-bf16");
}
