//! Two `homogen train` processes (as two Slurm array tasks would be) probing the same examples
//! with one feature cache folder, started together: one computes the frozen features, the other
//! waits for its file lock and reads them (or finds them there, if it starts later); the
//! backbone never runs twice. Each process's log says which it did.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::feature_files;

const BIN: &str = env!("CARGO_BIN_EXE_homogen");

/// Writes `n` texts of 5–40 words (a linear congruential draw, so the file is fixed) as
/// `<dir>/<split>.csv` with alternating labels.
fn write_split(dir: &Path, split: &str, n: usize, mut state: u64) {
    let words = [
        "dog", "fox", "system", "failed", "brown", "found", "denied", "lender", "the", "a",
    ];
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut text = String::from("text,label\n");
    for i in 0..n {
        let len = 5 + next() % 36;
        let t: Vec<&str> = (0..len).map(|_| words[next() % words.len()]).collect();
        text.push_str(&format!("{} {i},{}\n", t.join(" "), i % 2));
    }
    std::fs::write(dir.join(format!("{split}.csv")), text).unwrap();
}

#[test]
fn two_processes_fill_one_feature_file_once() {
    let data = tempfile::tempdir().unwrap();
    write_split(data.path(), "train", 4000, 1);
    write_split(data.path(), "test", 1000, 2);
    let work = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/bert");
    let cache = work.path().join("cache");
    let children: Vec<_> = [1, 2]
        .iter()
        .map(|seed| {
            Command::new(BIN)
                .args([
                    "train",
                    "--method",
                    "probe",
                    "--dataset",
                    "imdb",
                    "--epochs",
                    "1",
                ])
                .arg("--model")
                .arg(&model)
                .arg("--data-root")
                .arg(data.path())
                .arg("--cache-dir")
                .arg(&cache)
                .arg("--seed")
                .arg(seed.to_string())
                .arg("--out")
                .arg(work.path().join(format!("seed-{seed}")))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let logs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let log = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{log}");
            log
        })
        .collect();
    let said = |what: &str| logs.iter().filter(|l| l.contains(what)).count();
    assert_eq!(
        said("frozen features of 5000 examples computed and cached"),
        1,
        "{logs:#?}"
    );
    assert_eq!(
        said("frozen features of 5000 examples read from the cache"),
        1,
        "{logs:#?}"
    );
    assert_eq!(feature_files(&cache), 1);
    for seed in [1, 2] {
        let cell = work.path().join(format!("seed-{seed}"));
        assert!(cell.join("failures.parquet").is_file());
    }
}
