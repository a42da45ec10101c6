//! The probe feature cache's contents do not depend on the training batch size of the cell that
//! happens to fill it: the backbone pass uses its own fixed batch (`FEATURE_BATCH`), so two
//! studies that share a split get the same cached features whichever runs first.

use std::path::{Path, PathBuf};

use homogen::adapt::{train_cell, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;

/// Texts of different lengths, so that how examples are grouped into batches changes the padded
/// length of each batch.
fn write_split(dir: &Path, name: &str, n: usize) {
    let words = [
        "dog", "fox", "system", "failed", "brown", "found", "denied", "lender",
    ];
    let mut text = String::from("text,label\n");
    for i in 0..n {
        let len = 2 + (i * 7) % 23;
        let t: Vec<&str> = (0..len).map(|k| words[(i + 3 * k) % words.len()]).collect();
        text.push_str(&format!("{},{}\n", t.join(" "), i % 2));
    }
    std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
}

/// Trains one probe cell with `batch_size` and returns its cache folder's files, sorted.
fn cache_after_cell(data: &Path, work: &Path, batch_size: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/roberta");
    let mut d = DatasetSpec::named("imdb");
    d.root = Some(data.to_path_buf());
    let mut s = TrainSpec::new(&model.display().to_string(), "probe", d, work.join("cell"));
    s.batch_size = batch_size;
    s.epochs = 1;
    let cache = work.join("cache");
    train_cell(
        &s,
        &RunOptions {
            quiet: true,
            cache_dir: Some(cache.clone()),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (PathBuf::from(p.file_name().unwrap()), bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn cached_features_are_the_same_whatever_the_training_batch() {
    let data = tempfile::tempdir().unwrap();
    write_split(data.path(), "train", 150);
    write_split(data.path(), "test", 70);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let small = cache_after_cell(data.path(), a.path(), 3);
    let large = cache_after_cell(data.path(), b.path(), 50);
    assert_eq!(small.len(), 2, "one feature file per split");
    let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&small), names(&large), "same cache keys");
    for ((name, x), (_, y)) in small.iter().zip(&large) {
        assert!(
            x == y,
            "{} differs between training batch sizes",
            name.display()
        );
    }
}
