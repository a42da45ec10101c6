//! The trainer end to end on the tiny BERT fixture (tests/fixtures/models/bert, random weights,
//! hidden 32, 2 layers) and a tiny synthetic sentiment task written in IMDB's CSV layout: label 1
//! texts hold two of `dog fox brown found`, label 0 texts two of `system failed denied lender`,
//! each with two filler words — learnable from the words, 48 train / 24 test, balanced.

use std::path::{Path, PathBuf};
use std::process::Command;

use homogen::adapt::{train_cell, FeatureKind, ResizeMode, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;
use homogen::failures::read_table;
use homogen::models::init::InitScheme;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TRAIN: usize = 48;
const TEST: usize = 24;

fn model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models/bert")
        .display()
        .to_string()
}

/// Writes the synthetic task into `dir` (train.csv, test.csv).
fn write_task(dir: &Path, train: usize, test: usize) {
    let pos = ["dog", "fox", "brown", "found"];
    let neg = ["system", "failed", "denied", "lender"];
    let fill = ["the", "and", "too", "every", "level", "is"];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (name, n) in [("train", train), ("test", test)] {
        let mut text = String::from("text,label\n");
        for i in 0..n {
            let label = i % 2;
            let words = if label == 1 { &pos } else { &neg };
            let mut w: Vec<&str> = Vec::new();
            for _ in 0..2 {
                w.push(words[rng.gen_range(0..4)]);
            }
            for _ in 0..2 {
                w.push(fill[rng.gen_range(0..6)]);
            }
            w.shuffle(&mut rng);
            text.push_str(&format!("{},{label}\n", w.join(" ")));
        }
        std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
    }
}

fn task_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_task(dir.path(), TRAIN, TEST);
    dir
}

fn spec(data: &Path, method: &str, out: PathBuf) -> TrainSpec {
    let mut d = DatasetSpec::named("imdb");
    d.root = Some(data.to_path_buf());
    let mut s = TrainSpec::new(&model(), method, d, out);
    s.epochs = 4;
    s.lr = 1e-2;
    s
}

fn opts(cache: &Path) -> RunOptions {
    RunOptions {
        quiet: true,
        cache_dir: Some(cache.to_path_buf()),
        ..RunOptions::default()
    }
}

fn train_losses(metrics: &Path) -> Vec<f64> {
    std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// Names (with the `bert.` prefix) and element counts of the fixture's backbone tensors, read
/// straight from its safetensors file.
fn fixture_tensors() -> Vec<(String, usize)> {
    let bytes = std::fs::read(Path::new(&model()).join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .filter(|(n, _)| !n.contains("pooler"))
        .map(|(n, t)| {
            // The model's store names carry BertModel's wrapper prefix.
            let n = if n.starts_with("bert.") {
                n
            } else {
                format!("bert.{n}")
            };
            (n, t.shape().iter().product())
        })
        .collect()
}

/// The cell's saved trainable parameters (the latest epoch's checkpoint folder).
fn checkpoint_file(cell: &Path) -> PathBuf {
    let dir = cell.join("checkpoint");
    let epoch = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    epoch.join("params.safetensors")
}

fn checkpoint_names(cell: &Path) -> Vec<String> {
    let bytes = std::fs::read(checkpoint_file(cell)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    names
}

#[test]
fn each_method_trains_and_touches_exactly_its_parameters() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let tensors = fixture_tensors();
    let backbone_total: usize = tensors.iter().map(|t| t.1).sum();
    let non_bias: usize = tensors
        .iter()
        .filter(|t| !t.0.ends_with(".bias"))
        .map(|t| t.1)
        .sum();
    let bias_names: Vec<String> = tensors
        .iter()
        .filter(|t| t.0.ends_with(".bias"))
        .map(|t| t.0.clone())
        .collect();
    for method in [
        "probe",
        "probe-mlp",
        "bitfit",
        "finetune",
        "scratch",
        "bitfit-inverted",
    ] {
        let cell = work.path().join(method);
        let mut s = spec(data.path(), method, cell.clone());
        if method == "scratch" {
            s.epochs = 8;
        }
        let o = train_cell(&s, &opts(&work.path().join("cache"))).unwrap();
        let losses = train_losses(&o.metrics);
        assert!(
            losses.last().unwrap() < losses.first().unwrap(),
            "{method}: loss did not fall: {losses:?}"
        );
        // Chance on a balanced two-class test set is 0.5.
        assert!(
            o.test_accuracy > 0.5,
            "{method}: accuracy {}",
            o.test_accuracy
        );
        let names = checkpoint_names(&cell);
        let head: Vec<String> = names
            .iter()
            .filter(|n| n.starts_with("classifier."))
            .cloned()
            .collect();
        // Linear head: weight [2, 32] + bias [2] = 66; mlp: 32*32+32 + 2*32+2 = 1122.
        let head_elems = if method == "probe-mlp" { 1122 } else { 66 };
        match method {
            "probe" | "probe-mlp" => {
                assert_eq!(names, head, "{method} checkpoint holds only the head");
                assert_eq!(o.trainable_params, head_elems);
                assert_eq!(o.backbone_identical_share, 1.0);
            }
            "bitfit" => {
                let mut want: Vec<String> = bias_names.clone();
                want.extend(head.clone());
                want.sort();
                assert_eq!(names, want);
                assert_eq!(o.trainable_params, backbone_total - non_bias + head_elems);
                // Every non-bias element is frozen, so at least that share is bit-identical;
                // the biases trained, so not all.
                let frozen = non_bias as f64 / backbone_total as f64;
                assert!(o.backbone_identical_share >= frozen - 1e-12);
                assert!(o.backbone_identical_share < 1.0);
            }
            "bitfit-inverted" => {
                assert_eq!(o.trainable_params, non_bias + head_elems);
            }
            _ => {
                if method == "scratch" {
                    assert_eq!(
                        o.backbone_identical_share, 0.0,
                        "nothing pretrained is kept"
                    );
                }
                assert_eq!(o.trainable_params, backbone_total + head_elems);
                assert_eq!(names.len(), tensors.len() + 2);
            }
        }
        assert_eq!(o.total_params, backbone_total + head_elems);
    }
}

#[test]
fn failure_table_has_the_design_columns_and_consistent_values() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let o = train_cell(
        &spec(data.path(), "probe", work.path().join("cell")),
        &opts(&work.path().join("cache")),
    )
    .unwrap();
    let t = read_table(&o.failures).unwrap();
    assert_eq!(t.len(), TEST);
    let labels = t.label.as_ref().unwrap();
    let preds = t.prediction.as_ref().unwrap();
    let loss = t.loss.as_ref().unwrap();
    // The synthetic test labels alternate 0, 1, ...
    assert_eq!(labels, &(0..TEST as i64).map(|i| i % 2).collect::<Vec<_>>());
    let prob = t.extra_column("prob").unwrap();
    for r in 0..TEST {
        assert_eq!(t.failure[r], labels[r] != preds[r]);
        assert_eq!(t.deployment.value(r), "label");
        let p: f64 = prob.value(r).parse().unwrap();
        // Two classes: the predicted class has probability at least 1/2; where it is right the
        // loss of the true class is -ln(p); where wrong it is -ln(1 - p).
        assert!(p >= 0.5);
        let want = if labels[r] == preds[r] {
            -p.ln()
        } else {
            -(1.0 - p).ln()
        };
        assert!(
            (loss[r] - want).abs() < 1e-5,
            "row {r}: {} vs {want}",
            loss[r]
        );
    }
    for (col, value) in [("method", "probe"), ("seed", "0"), ("split", "test")] {
        let c = t.extra_column(col).unwrap();
        assert!((0..TEST).all(|r| c.value(r) == value), "{col}");
    }
    assert_eq!(t.extra_column("model").unwrap().value(0), model());
    assert!(t.extra_column("gender").is_some() && t.extra_column("length").is_some());
    assert_eq!(t.example_id.levels.len(), TEST);

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&o.manifest).unwrap()).unwrap();
    assert_eq!(m["status"], "finished");
    assert_eq!(m["seed"], 0);
    assert_eq!(m["config"]["method"], "probe");
    assert_eq!(m["config_hash"].as_str().unwrap().len(), 64);
    assert_eq!(m["dataset_fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(train_losses(&o.metrics).len(), 4);

    // A finished cell is skipped.
    let again = train_cell(
        &spec(data.path(), "probe", work.path().join("cell")),
        &opts(&work.path().join("cache")),
    )
    .unwrap();
    assert!(again.skipped);
    assert_eq!(again.test_accuracy, o.test_accuracy);
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let run = |seed: u64, name: &str| {
        // Finetuning: head init, data order and dropout all depend on the seed.
        let mut s = spec(data.path(), "finetune", work.path().join(name));
        s.seed = seed;
        s.epochs = 2;
        s.lr = 1e-3;
        let o = train_cell(&s, &opts(&work.path().join("cache"))).unwrap();
        std::fs::read(o.failures).unwrap()
    };
    let a = run(1, "a");
    let b = run(1, "b");
    let c = run(2, "c");
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn homogen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_homogen"))
}

fn train_args(data: &Path, out: &Path, cache: &Path, method: &str) -> Vec<String> {
    [
        "--quiet",
        "train",
        "--model",
        &model(),
        "--method",
        method,
        "--dataset",
        "imdb",
        "--data-root",
        &data.display().to_string(),
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--seed",
        "3",
        "--out",
        &out.display().to_string(),
        "--cache-dir",
        &cache.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn killed_run_resumes_to_identical_bytes() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let whole = work.path().join("whole");
    let st = homogen()
        .args(train_args(data.path(), &whole, &cache, "bitfit"))
        .status()
        .unwrap();
    assert!(st.success());

    // 48 examples / batch 8 = 6 steps an epoch: step 9 is in the middle of epoch 2.
    let cut = work.path().join("cut");
    let st = homogen()
        .args(train_args(data.path(), &cut, &cache, "bitfit"))
        .env("HOMOGEN_TEST_ABORT_AFTER_STEPS", "9")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(137));
    assert!(!cut.join("failures.parquet").exists());
    let state = std::fs::read_to_string(cut.join("checkpoint/state.json")).unwrap();
    assert!(state.contains("\"epochs_done\": 1"), "{state}");
    let st = homogen()
        .args(train_args(data.path(), &cut, &cache, "bitfit"))
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read(whole.join("failures.parquet")).unwrap(),
        std::fs::read(cut.join("failures.parquet")).unwrap()
    );
    assert_eq!(train_losses(&cut.join("metrics.jsonl")).len(), 3);
    assert_eq!(
        train_losses(&cut.join("metrics.jsonl")),
        train_losses(&whole.join("metrics.jsonl"))
    );
}

/// A damaged checkpoint is moved aside with a warning naming the file, and the cell trains from
/// the start (`tests/cell_resume_corrupt.rs` checks every kind of damage and the bytes).
#[test]
fn a_damaged_checkpoint_is_set_aside_and_the_cell_starts_over() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let cell = work.path().join("cell");
    let args = train_args(data.path(), &cell, &cache, "bitfit");
    let st = homogen()
        .args(&args)
        .env("HOMOGEN_TEST_ABORT_AFTER_STEPS", "9")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(137));
    let params = cell.join("checkpoint/epoch-1/params.safetensors");
    let bytes = std::fs::read(&params).unwrap();
    std::fs::write(&params, &bytes[..100]).unwrap();
    let out = homogen().args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: cannot resume from the checkpoint in")
            && err.contains(&params.display().to_string())
            && err.contains("trains from the start"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(cell.join("checkpoint.corrupt/epoch-1/params.safetensors")).unwrap(),
        &bytes[..100]
    );
    assert!(cell.join("failures.parquet").is_file());
}

#[test]
fn bad_input_exits_with_code_2() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let run = |extra: &[&str], data: &Path, method: &str| {
        let mut args = train_args(data, &work.path().join("bad"), &cache, method);
        // A flag that train_args already gives takes the new value in place.
        for pair in extra.chunks(2) {
            match args.iter().position(|a| a == pair[0]) {
                Some(i) if pair.len() == 2 => args[i + 1] = pair[1].to_string(),
                _ => args.extend(pair.iter().map(|s| s.to_string())),
            }
        }
        let out = homogen().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&[], data.path(), "linear-probe");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("linear-probe"), "{err}");

    let (code, err) = run(&["--num-labels", "3"], data.path(), "bitfit");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("option `--num-labels`: the head has 3 outputs") && err.contains("2 classes"),
        "{err}"
    );

    // Negative numbers reach the checks (not clap's "unexpected argument"); the flag is named.
    for (flag, value, says) in [
        ("--lr", "-1", "must be a positive number"),
        ("--weight-decay", "-0.5", "must be 0 or more"),
        ("--momentum", "-0.9", "must be 0 or more"),
        ("--clip-norm", "-1", "must be positive"),
        ("--max-train", "0", "must be at least 1"),
        (
            "--max-length",
            "2",
            "a maximum of 2 tokens leaves no room for text",
        ),
    ] {
        let (code, err) = run(&[flag, value], data.path(), "bitfit");
        assert_eq!(code, Some(2), "{flag} {value}: {err}");
        assert!(
            err.contains(&format!("option `{flag}`: {says}")),
            "{flag} {value}: {err}"
        );
    }

    // A text encoder has no torch initialisation to start from scratch with.
    let (code, err) = run(&["--init", "torch"], data.path(), "scratch");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("option `--init`") && err.contains("text encoder"),
        "{err}"
    );

    let (code, err) = run(&["--task", "stars"], data.path(), "bitfit");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no task `stars`") && err.contains("label"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    write_task(empty.path(), 0, 4);
    let (code, err) = run(&[], empty.path(), "bitfit");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no train examples"), "{err}");
}

/// A learning rate that blows the weights up stops the cell with an error instead of writing
/// predictions made by NaN weights (which would be measured as a trained model's).
#[test]
fn a_diverging_run_fails_instead_of_writing_predictions() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("cell");
    let mut s = spec(data.path(), "finetune", out.clone());
    s.optimizer = "sgd".into();
    s.lr = 1e30;
    s.clip_norm = None;
    let err = train_cell(&s, &opts(&work.path().join("cache")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("training diverged"), "{err}");
    assert!(err.contains("learning rate 1e30"), "{err}");
    assert!(!out.join("failures.parquet").exists());
}

/// The vision path: the tiny CLIP fixture (image 32, patch 8) on the CelebA fixture in its
/// official layout (6 train, 2 valid, 4 test), BitFit with SGD and cosine decay, seeded
/// augmentation.
#[test]
fn clip_on_celeba_trains_evaluates_and_is_deterministic() {
    let work = tempfile::tempdir().unwrap();
    let run = |seed: u64, name: &str| {
        let mut d = DatasetSpec::named("celeba");
        d.root =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/celeba/official"));
        let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/clip");
        let mut s = TrainSpec::new(
            &clip.display().to_string(),
            "bitfit",
            d,
            work.path().join(name),
        );
        s.task = Some("Wearing_Necklace".into());
        s.optimizer = "sgd".into();
        s.schedule = "cosine".into();
        s.lr = 0.05;
        s.epochs = 3;
        s.batch_size = 2;
        s.seed = seed;
        s.augment = true;
        train_cell(&s, &opts(&work.path().join("cache"))).unwrap()
    };
    let a = run(5, "a");
    let lines = std::fs::read_to_string(&a.metrics).unwrap();
    let m: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(m.len(), 3);
    // 6 training images in batches of 2: 3 optimiser steps an epoch.
    assert_eq!(m[2]["step"], 9);
    // Cosine over 9 steps, no warmup: the last step (index 8) uses
    // 0.05 * 0.5 * (1 + cos(pi * 8 / 9)) = 0.05 * 0.5 * (1 - 0.9396926) = 0.0015076848.
    assert!(
        (m[2]["lr"].as_f64().unwrap() - 0.001_507_684_8).abs() < 1e-9,
        "{}",
        m[2]["lr"]
    );
    assert!(m.iter().all(|e| e["valid_accuracy"].is_number()));
    let t = read_table(&a.failures).unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t.deployment.value(0), "Wearing_Necklace");
    assert!(t.extra_column("hair").is_some() && t.extra_column("beard").is_some());
    assert!(a.backbone_identical_share > 0.5 && a.backbone_identical_share < 1.0);
    let b = run(5, "b");
    assert_eq!(
        std::fs::read(&a.failures).unwrap(),
        std::fs::read(&b.failures).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&b.metrics)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"].clone())
            .collect::<Vec<_>>(),
        m.iter()
            .map(|e| e["train_loss"].clone())
            .collect::<Vec<_>>()
    );
}

/// The paper's vision recipe (configs/vision-celeba.toml) on the tiny CLIP fixture: heads on
/// CLIP's projected image embedding, whose projection trains with the backbone under finetune
/// and stays frozen under BitFit and probing; torch's per-epoch cosine annealing; no clipping;
/// and the resize and augmentation settings reach the training batches.
#[test]
fn clip_paper_recipe_keys_reach_the_trainer() {
    let work = tempfile::tempdir().unwrap();
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/clip");
    let spec = |method: &str, name: &str, edit: &dyn Fn(&mut TrainSpec)| {
        let mut d = DatasetSpec::named("celeba");
        d.root =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/celeba/official"));
        let mut s = TrainSpec::new(
            &clip.display().to_string(),
            method,
            d,
            work.path().join(name),
        );
        s.task = Some("Wearing_Earrings".into());
        s.optimizer = "sgd".into();
        s.schedule = "cosine-epochs".into();
        s.clip_norm = None;
        s.resize = ResizeMode::Stretch;
        s.features = FeatureKind::Projected;
        s.lr = 0.05;
        s.epochs = 3;
        s.batch_size = 2;
        edit(&mut s);
        s
    };
    let run = |s: &TrainSpec| train_cell(s, &opts(&work.path().join("cache"))).unwrap();
    // The vision tower's own tensors (the CLIPModel checkpoint also holds a text tower) and the
    // projection: 32 hidden -> 16.
    let bytes = std::fs::read(clip.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tower: usize = st
        .tensors()
        .iter()
        .filter(|(n, _)| n.starts_with("vision_model."))
        .map(|(_, t)| t.shape().iter().product::<usize>())
        .sum();
    let (projection, head) = (32 * 16, 16 * 2 + 2);
    for method in ["probe", "bitfit", "finetune"] {
        let o = run(&spec(method, method, &|_| {}));
        assert_eq!(o.total_params, tower + projection + head, "{method}");
        let names = checkpoint_names(&work.path().join(method));
        let has_projection = names.iter().any(|n| n == "visual_projection.weight");
        assert_eq!(has_projection, method == "finetune", "{method}: {names:?}");
        if method == "finetune" {
            assert_eq!(o.trainable_params, tower + projection + head);
        }
        // Epoch 3 of 3 steps each uses 0.05 * (1 + cos(2 pi / 3)) / 2 = 0.0125 throughout.
        let last: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(&o.metrics)
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap();
        assert!(
            (last["lr"].as_f64().unwrap() - 0.0125).abs() < 1e-12,
            "{last}"
        );
    }
    // Resize and augmentation change what the training steps see (same seed, same everything
    // else), and a run without augmentation is reproducible.
    let loss = |name: &str, edit: &dyn Fn(&mut TrainSpec)| {
        train_losses(&run(&spec("finetune", name, edit)).metrics)
    };
    let stretch = loss("stretch", &|_| {});
    assert_eq!(stretch, loss("stretch-again", &|_| {}));
    assert_ne!(
        stretch,
        loss("clip-resize", &|s| s.resize = ResizeMode::Clip)
    );
    assert_ne!(stretch, loss("augmented", &|s| s.augment = true));
    // `init = "torch"` reaches the scratch backbone and a pretrained model's new head (same
    // seed, so only the initialisation differs), and is part of the cell's spec.
    let torch = |method: &str| {
        let name = format!("{method}-torch-init");
        let o = run(&spec(method, &name, &|s| s.init = InitScheme::Torch));
        let manifest = std::fs::read_to_string(work.path().join(&name).join("manifest.json"));
        assert!(
            manifest.unwrap().contains("\"init\": \"torch\""),
            "{method}"
        );
        train_losses(&o.metrics)
    };
    for method in ["scratch", "probe"] {
        let default = train_losses(&run(&spec(method, method, &|_| {})).metrics);
        assert_ne!(torch(method), default, "{method}");
    }
}

/// `frozen_dropout` (the authors' probing: the Trainer keeps the frozen encoder in training
/// mode) runs the backbone on every step with its dropout on, so nothing is cached and the
/// training losses differ from the cached probe's; evaluation stays dropout-free.
#[test]
fn frozen_dropout_runs_the_backbone_every_step_with_dropout() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let run = |name: &str, frozen_dropout: bool| {
        let mut s = spec(data.path(), "probe", work.path().join(name));
        s.epochs = 2;
        s.frozen_dropout = frozen_dropout;
        let o = train_cell(&s, &opts(&work.path().join(format!("cache-{name}")))).unwrap();
        let cached =
            std::fs::read_dir(work.path().join(format!("cache-{name}"))).map_or(0, |d| d.count());
        (train_losses(&o.metrics), cached, o)
    };
    let (plain, plain_cached, _) = run("cached", false);
    let (live, live_cached, o) = run("live", true);
    assert!(plain_cached > 0);
    // The manifests say which features each head trained on: the cached file, or none.
    let manifest = |name: &str| {
        homogen::adapt::manifest::Manifest::load(&work.path().join(name).join("manifest.json"))
            .unwrap()
            .unwrap()
    };
    let file = manifest("cached").feature_cache.expect("the cache file");
    assert!(
        work.path().join("cache-cached").join(&file).is_file(),
        "{file}"
    );
    assert_eq!(manifest("live").feature_cache, None);
    assert_eq!(
        live_cached, 0,
        "a probe with backbone dropout caches nothing"
    );
    assert_ne!(plain, live);
    assert_eq!(o.backbone_identical_share, 1.0, "the backbone stays frozen");
}

/// `homogen train --config FILE` reads a `[train]` table; an unknown key is an input error.
#[test]
fn config_file_train_table() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("cell.toml");
    let write = |extra: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[train]\nmodel = {:?}\nmethod = \"probe\"\nseed = 4\nepochs = 2\nlr = 0.01\n\
                 out = {:?}\n{extra}\n[train.dataset]\nname = \"imdb\"\nroot = {:?}\n",
                model(),
                work.path().join("cell").display().to_string(),
                data.path().display().to_string()
            ),
        )
        .unwrap();
    };
    write("");
    let st = homogen()
        .args(["--quiet", "train", "--config"])
        .arg(&cfg)
        .status()
        .unwrap();
    assert!(st.success());
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("cell/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["seed"], 4);
    assert_eq!(m["config"]["epochs"], 2);

    write("learning_rate = 0.1");
    let out = homogen()
        .args(["--quiet", "train", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("learning_rate"));

    // A training flag beside --config is refused, not silently ignored; --out may be given.
    write("");
    let out = homogen()
        .args(["--quiet", "train", "--lr", "5", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("'--lr <LR>' cannot be used with '--config <CONFIG>'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An --out that is a file.
    let file = work.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = homogen()
        .args(["--quiet", "train", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a-file: exists and is not a folder"),
        "{stderr}"
    );
}

/// Two accumulated batches of 4 make the same update as one batch of 8 (mean of the two means =
/// mean over 8, the same examples in the same order): a probe (no dropout) ends with the same
/// predictions and per-example losses up to float rounding.
#[test]
fn gradient_accumulation_matches_a_larger_batch() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    let run = |batch: usize, accum: usize, name: &str| {
        let mut s = spec(data.path(), "probe", work.path().join(name));
        s.batch_size = batch;
        s.grad_accum = accum;
        s.clip_norm = None;
        // SGD, not AdamW: Adam's update hardly depends on the gradient's scale, so only SGD
        // would notice a sum where a mean belongs.
        s.optimizer = "sgd".into();
        s.lr = 0.5;
        let o = train_cell(&s, &opts(&work.path().join("cache"))).unwrap();
        let m: Vec<serde_json::Value> = std::fs::read_to_string(&o.metrics)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (read_table(&o.failures).unwrap(), m)
    };
    let (one, m1) = run(8, 1, "one");
    let (two, m2) = run(4, 2, "two");
    // 48 examples: 6 optimiser steps an epoch either way.
    assert_eq!(m1[0]["step"], 6);
    assert_eq!(m2[0]["step"], 6);
    assert_eq!(one.prediction, two.prediction);
    for (a, b) in one.loss.unwrap().iter().zip(two.loss.unwrap().iter()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

/// `dtype = "bf16"` trains with mixed precision: the finetune learns the task like f32 does
/// (loss falls, accuracy above chance), its checkpoint holds f32 master weights, and a probe
/// and BitFit run too.
#[test]
fn bf16_mixed_precision_trains_with_f32_master_weights() {
    let data = task_dir();
    let work = tempfile::tempdir().unwrap();
    for method in ["finetune", "bitfit", "probe"] {
        let cell = work.path().join(method);
        let mut s = spec(data.path(), method, cell.clone());
        s.dtype = "bf16".into();
        let o = train_cell(&s, &opts(&work.path().join("cache"))).unwrap();
        let losses = train_losses(&o.metrics);
        assert!(
            losses.last().unwrap() < losses.first().unwrap(),
            "{method}: loss did not fall: {losses:?}"
        );
        assert!(o.test_accuracy > 0.5, "{method}: {}", o.test_accuracy);
        let bytes = std::fs::read(checkpoint_file(&cell)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, t) in st.tensors() {
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{method}: {name}");
        }
    }
}
