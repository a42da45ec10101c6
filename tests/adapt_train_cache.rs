//! The probe feature cache: across 3 seeds × 2 epochs the frozen backbone sees each example
//! exactly once (counted by the cache layer), also when each seed cuts the examples into train
//! and test differently. Its own test binary, and one test, so that nothing else moves the
//! process-wide counter while it counts.

use std::path::Path;

use homogen::adapt::cache::backbone_examples;
use homogen::adapt::{fill_cell_features, train_cell, RunOptions, TrainSpec};
use homogen::data::{DatasetSpec, Split};

mod common;
use common::feature_files;

/// A `method` cell on `dataset` for 2 epochs with `seed` into `out`.
fn spec(model: &Path, method: &str, dataset: DatasetSpec, seed: u64, out: &Path) -> TrainSpec {
    let mut s = TrainSpec::new(
        &model.display().to_string(),
        method,
        dataset,
        out.to_path_buf(),
    );
    s.seed = seed;
    s.epochs = 2;
    s.batch_size = 4;
    s
}

/// Quiet, with the feature cache in `out`'s parent's `cache/`.
fn options(out: &Path) -> RunOptions {
    RunOptions {
        quiet: true,
        cache_dir: Some(out.parent().unwrap().join("cache")),
        allow_pickle: false,
        ..RunOptions::default()
    }
}

/// Trains a probe on `dataset` for 2 epochs with `seed` into `out`, the feature cache in
/// `out`'s parent's `cache/`.
fn train_probe(model: &Path, dataset: DatasetSpec, seed: u64, out: &Path) {
    let o = train_cell(&spec(model, "probe", dataset, seed, out), &options(out)).unwrap();
    assert!(!o.skipped);
}

#[test]
fn backbone_runs_once_per_example_across_seeds_and_epochs() {
    let data = tempfile::tempdir().unwrap();
    // 10 train and 6 test texts made of words in the fixture's vocabulary.
    let mut train = String::from("text,label\n");
    for i in 0..10 {
        let w = if i % 2 == 1 {
            "dog fox"
        } else {
            "system failed"
        };
        train.push_str(&format!("{w} the {i},{}\n", i % 2));
    }
    let mut test = String::from("text,label\n");
    for i in 0..6 {
        let w = if i % 2 == 1 {
            "brown found"
        } else {
            "denied lender"
        };
        test.push_str(&format!("{w} and {i},{}\n", i % 2));
    }
    std::fs::write(data.path().join("train.csv"), train).unwrap();
    std::fs::write(data.path().join("test.csv"), test).unwrap();
    let work = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/bert");
    let before = backbone_examples();
    for seed in 0..3 {
        let mut d = DatasetSpec::named("imdb");
        d.root = Some(data.path().to_path_buf());
        train_probe(&model, d, seed, &work.path().join(format!("seed{seed}")));
    }
    // 10 train + 6 test examples, each through the backbone once; no validation split.
    assert_eq!(backbone_examples() - before, 16);
    let files = feature_files(&work.path().join("cache"));
    assert_eq!(
        files, 1,
        "one cached feature file for the examples of all splits"
    );

    // HateSpeech18 cut 80/20 by each training seed (`split_seed = "seed"` in a config): every
    // seed trains and tests on other examples, but the examples are the same ones, so the
    // backbone still sees each once.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/hate_speech18/parquet");
    let hate = |seed: u64| {
        let mut d = DatasetSpec::named("hate_speech18");
        d.root = Some(fixture.clone());
        d.split_seed = seed;
        d
    };
    let test_ids = |seed: u64| {
        let ds = homogen::data::load(&hate(seed), false).unwrap();
        let mut ids: Vec<String> = ds
            .split(Split::Test)
            .map(|e| e.example_id.clone())
            .collect();
        ids.sort();
        (ds.examples.len() as u64, ids)
    };
    let (pool, cut_1) = test_ids(1);
    assert_ne!(cut_1, test_ids(2).1, "the fixture's cuts should differ");
    let before = backbone_examples();
    for seed in 1..=3 {
        train_probe(
            &model,
            hate(seed),
            seed,
            &work.path().join(format!("hate{seed}")),
        );
    }
    assert!(pool > 0);
    assert_eq!(backbone_examples() - before, pool);
    let files = feature_files(&work.path().join("cache"));
    assert_eq!(
        files, 2,
        "one more cached feature file: HateSpeech18's examples"
    );

    // A fill alone (the first array of a Slurm run) computes a probe cell's features and
    // trains nothing; the cell then trains on them without running the backbone, and so does
    // a cell of another seed and a probe with the MLP head; a method that trains its backbone
    // has nothing to fill.
    let mut imdb = DatasetSpec::named("imdb");
    imdb.root = Some(data.path().to_path_buf());
    let filled = work.path().join("filled");
    let probe = |seed: u64, method: &str| {
        let out = filled.join(format!("{method}-{seed}"));
        (
            spec(&model, method, imdb.clone(), seed, &out),
            options(&out),
        )
    };
    let (s0, o0) = probe(0, "probe");
    let before = backbone_examples();
    let line = fill_cell_features(&s0, &o0).unwrap().unwrap();
    assert!(line.contains("16 examples computed and cached"), "{line}");
    assert_eq!(backbone_examples() - before, 16);
    assert!(
        !s0.out.join("failures.parquet").exists() && !s0.out.join("manifest.json").exists(),
        "a fill trains nothing"
    );
    let again = fill_cell_features(&s0, &o0).unwrap().unwrap();
    assert!(again.contains("read from the cache"), "{again}");
    for (seed, method) in [(0, "probe"), (1, "probe"), (1, "probe-mlp")] {
        let (s, o) = probe(seed, method);
        assert!(!train_cell(&s, &o).unwrap().skipped);
    }
    assert_eq!(
        backbone_examples() - before,
        16,
        "training ran the backbone"
    );
    assert_eq!(feature_files(&filled.join("cache")), 1);
    let (finetune, o) = probe(0, "finetune");
    assert_eq!(fill_cell_features(&finetune, &o).unwrap(), None);
    assert_eq!(backbone_examples() - before, 16);
}
