//! The probe feature cache: across 3 seeds × 2 epochs the frozen backbone sees each example
//! exactly once (counted by the cache layer). Its own test binary, so that no other test moves
//! the process-wide counter.

use std::path::Path;

use homogen::adapt::cache::backbone_examples;
use homogen::adapt::{train_cell, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;

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
        let mut s = TrainSpec::new(
            &model.display().to_string(),
            "probe",
            d,
            work.path().join(format!("seed{seed}")),
        );
        s.seed = seed;
        s.epochs = 2;
        s.batch_size = 4;
        let o = train_cell(
            &s,
            &RunOptions {
                quiet: true,
                cache_dir: Some(work.path().join("cache")),
                allow_pickle: false,
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert!(!o.skipped);
    }
    // 10 train + 6 test examples, each through the backbone once; no validation split.
    assert_eq!(backbone_examples() - before, 16);
    let files = std::fs::read_dir(work.path().join("cache"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "one cached feature file per split");
}
