//! The probe feature cache's contents do not depend on the training batch size of the cell that
//! happens to fill it: the backbone pass uses its own fixed batch (`FEATURE_BATCH`), so two
//! studies that share a split get the same cached features whichever runs first.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use homogen::adapt::cache::FeatureCache;
use homogen::adapt::{train_cell, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;
use homogen::models::config::ModelConfig;
use homogen::models::hub::from_folder;
use homogen::models::layers::Ctx;
use homogen::models::tokenize::{length_order, TextTokenizer};
use homogen::models::{Batch, Model};

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

/// The texts of a split written by [`write_split`] (its CSV's contents), in order.
fn texts_of(csv: &str) -> Vec<&str> {
    csv.lines()
        .skip(1)
        .map(|l| l.rsplit_once(',').unwrap().0)
        .collect()
}

/// The tiny RoBERTa fixture, frozen, and its tokenizer.
fn fixture_model() -> (Model, TextTokenizer) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/roberta");
    let model_files = from_folder(&dir, false, None).unwrap();
    let (model, _) = Model::load(&model_files, None, &Device::Cpu, DType::F32, 0).unwrap();
    model.store.set_trainable(|_| false);
    let ModelConfig::Text(cfg) = ModelConfig::from_file(&model_files.config).unwrap() else {
        panic!("a text model")
    };
    let tok = TextTokenizer::from_files(
        model_files.tokenizer.as_deref().unwrap(),
        model_files.tokenizer_config.as_deref(),
        cfg.max_tokens(),
        cfg.pad_id() as u32,
    )
    .unwrap();
    (model, tok)
}

/// The features of `texts` (one batch of them) through `model`.
fn features_of(model: &Model, tok: &TextTokenizer, texts: &[&str]) -> Tensor {
    let b = tok.encode(texts).unwrap();
    let input = b.to_input(&Device::Cpu).unwrap();
    model
        .host_features(&Batch::Text(input), &Ctx::eval())
        .unwrap()
}

/// Trains one probe cell with `batch_size` and returns its cache folder's files (not its
/// `.locks/`), sorted.
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
        .filter(|e| e.as_ref().unwrap().path().is_file())
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
    assert_eq!(
        small.len(),
        1,
        "one feature file for the examples of both splits"
    );
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

/// The cache is filled shortest text first (each pass pads little) but keeps one row per example
/// in the canonical order of the examples of all splits, sorted by example id (here
/// `imdb:<split>:<row>`, so `imdb:test:0`, `imdb:test:1`, `imdb:test:10`, …): every cached row
/// equals that example's features computed alone (no padding at all), within rounding, and the
/// texts' lengths really differ.
#[test]
fn cached_rows_follow_the_example_ids_and_match_unpadded_features() {
    let data = tempfile::tempdir().unwrap();
    write_split(data.path(), "train", 40);
    write_split(data.path(), "test", 12);
    let work = tempfile::tempdir().unwrap();
    let files = cache_after_cell(data.path(), work.path(), 8);
    assert_eq!(files.len(), 1);
    let cached = candle_core::safetensors::load_buffer(&files[0].1, &Device::Cpu).unwrap()
        ["features"]
        .clone();
    assert_eq!(cached.dim(0).unwrap(), 52);

    let mut examples: Vec<(String, String)> = Vec::new();
    for split in ["train", "test"] {
        let csv = std::fs::read_to_string(data.path().join(format!("{split}.csv"))).unwrap();
        for (row, text) in texts_of(&csv).into_iter().enumerate() {
            examples.push((format!("imdb:{split}:{row}"), text.to_string()));
        }
    }
    examples.sort();
    assert_eq!(examples[2].0, "imdb:test:10");
    let (model, tok) = fixture_model();
    let texts: Vec<&str> = examples.iter().map(|(_, t)| t.as_str()).collect();
    let lengths = tok.lengths(&texts).unwrap();
    assert!(
        lengths.iter().min() < lengths.iter().max(),
        "lengths {lengths:?}"
    );
    for (r, (id, text)) in examples.iter().enumerate() {
        let alone = features_of(&model, &tok, &[text])
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let row = cached.get(r).unwrap().to_vec1::<f32>().unwrap();
        let diff = alone
            .iter()
            .zip(&row)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-5,
            "row {r} ({id}): differs by {diff} from its features"
        );
    }
}

/// A fill whose batches run concurrently (what the trainer does on the CPU; here on three
/// threads, batches of 4 texts of different lengths) gives the bits of a fill one batch at a
/// time, row for row.
#[test]
fn concurrent_batches_fill_the_cache_with_the_same_bits() {
    let data = tempfile::tempdir().unwrap();
    write_split(data.path(), "train", 60);
    let csv = std::fs::read_to_string(data.path().join("train.csv")).unwrap();
    let texts = texts_of(&csv);
    let (model, tok) = fixture_model();
    let order = length_order(&tok.lengths(&texts).unwrap());
    let fill = |concurrent: bool| {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path()).with_concurrent_batches(concurrent);
        let (f, _) = cache
            .fill(
                "k",
                texts.len(),
                4,
                || Ok(order.clone()),
                |idx| {
                    let batch: Vec<&str> = idx.iter().map(|&i| texts[i]).collect();
                    Ok(features_of(&model, &tok, &batch))
                },
            )
            .unwrap();
        f.to_vec2::<f32>().unwrap()
    };
    let one_at_a_time = fill(false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let concurrent = pool.install(|| fill(true));
    assert_eq!(one_at_a_time.len(), texts.len());
    assert_eq!(one_at_a_time, concurrent);
}

/// Predictions through the whole model run texts shortest first, and each still lands on its
/// own example: a probe that cannot move (learning rate 1e-30) predicts the same from cached
/// features (split order) as from the model (length order), row by row.
#[test]
fn predictions_through_the_model_land_on_their_own_examples() {
    use homogen::failures::read_table;
    let data = tempfile::tempdir().unwrap();
    write_split(data.path(), "train", 20);
    write_split(data.path(), "test", 45);
    let work = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/roberta");
    let table = |frozen_dropout: bool| {
        let mut d = DatasetSpec::named("imdb");
        d.root = Some(data.path().to_path_buf());
        let cell = work.path().join(format!("cell-{frozen_dropout}"));
        let mut s = TrainSpec::new(&model.display().to_string(), "probe", d, cell);
        s.epochs = 1;
        s.batch_size = 4;
        s.lr = 1e-30;
        s.frozen_dropout = frozen_dropout;
        let o = train_cell(
            &s,
            &RunOptions {
                quiet: true,
                cache_dir: Some(work.path().join("cache")),
                ..RunOptions::default()
            },
        )
        .unwrap();
        read_table(&o.failures).unwrap()
    };
    let (cached, direct) = (table(false), table(true));
    let (lc, ld) = (cached.loss.as_ref().unwrap(), direct.loss.as_ref().unwrap());
    assert_eq!(lc.len(), 45);
    assert_eq!(cached.prediction, direct.prediction);
    for r in 0..45 {
        assert!(
            (lc[r] - ld[r]).abs() < 1e-5,
            "row {r}: {} vs {}",
            lc[r],
            ld[r]
        );
    }
    // The rows differ from one another, so a shuffled placement could not pass.
    assert!(lc.iter().any(|&l| (l - lc[0]).abs() > 1e-4));
}
