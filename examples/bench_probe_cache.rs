//! Benchmark: an end-to-end linear probe with the feature cache against running the frozen
//! backbone on every step (the authors' way), on a small random-weight BERT (hidden 128, 4
//! layers, 4 heads, intermediate 512, the fixture's 200-token WordPiece vocabulary, 64 tokens)
//! and a synthetic 2,000-example training split (+ 500 test), 3 seeds × 3 epochs, batch 32;
//! the cache is timed cold (filled during the first seed) and warm (already filled).
//!
//! Run: `cargo run --release --example bench_probe_cache` (numbers in BENCHMARKS.md).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device};
use homogen::adapt::{train_cell, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;
use homogen::models::config::ModelConfig;
use homogen::models::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = r#"{"model_type": "bert", "hidden_size": 128, "num_hidden_layers": 4,
 "num_attention_heads": 4, "intermediate_size": 512, "vocab_size": 200,
 "max_position_embeddings": 64, "type_vocab_size": 2, "hidden_act": "gelu",
 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "layer_norm_eps": 1e-12,
 "initializer_range": 0.02, "pad_token_id": 0}"#;

fn write_model(dir: &Path) -> homogen::error::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| homogen::error::Error::io("mkdir", e))?;
    std::fs::write(dir.join("config.json"), CONFIG)
        .map_err(|e| homogen::error::Error::io("config", e))?;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/bert");
    std::fs::copy(fixture.join("tokenizer.json"), dir.join("tokenizer.json"))
        .map_err(|e| homogen::error::Error::io("tokenizer", e))?;
    let config = ModelConfig::from_json(CONFIG)?;
    let model = Model::scratch(&config, None, &Device::Cpu, DType::F32, 1)?;
    let tensors: HashMap<String, candle_core::Tensor> = model
        .store
        .iter()
        .map(|p| (p.name().to_string(), p.var().as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))
        .map_err(|e| homogen::error::Error::Runtime(e.to_string()))
}

fn write_task(dir: &Path, train: usize, test: usize) {
    let pos = ["dog", "fox", "brown", "found", "level", "every"];
    let neg = ["system", "failed", "denied", "lender", "deployed", "bitfit"];
    let fill = [
        "the", "and", "too", "is", "over", "by", "to", "are", "byte", "cafe",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (name, n) in [("train", train), ("test", test)] {
        let mut text = String::from("text,label\n");
        for i in 0..n {
            let label = i % 2;
            let words = if label == 1 { &pos } else { &neg };
            let mut w = Vec::new();
            for k in 0..30 {
                w.push(if k % 5 == 0 {
                    words[rng.gen_range(0..words.len())]
                } else {
                    fill[rng.gen_range(0..fill.len())]
                });
            }
            text.push_str(&format!("{},{label}\n", w.join(" ")));
        }
        std::fs::write(dir.join(format!("{name}.csv")), text).expect("write task");
    }
}

fn main() -> homogen::error::Result<()> {
    homogen::alloc::keep_freed_memory();
    let work = tempfile::tempdir().expect("tempdir");
    let model = work.path().join("model");
    write_model(&model)?;
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    write_task(&data, 2000, 500);
    println!("mode,seconds,mean_test_accuracy");
    let mut times = Vec::new();
    // `cache_warm` reruns the 3 seeds on the cache the first mode filled: what every further
    // task sharing the split (another CelebA attribute) pays.
    for (mode, cache_of, no_cache) in [
        ("cache", "cache", false),
        ("cache_warm", "cache", false),
        ("backbone_every_step", "none", true),
    ] {
        let started = Instant::now();
        let mut acc = 0.0;
        for seed in 0..3 {
            let mut d = DatasetSpec::named("imdb");
            d.root = Some(data.clone());
            let mut s = TrainSpec::new(
                &model.display().to_string(),
                "probe",
                d,
                work.path().join(format!("{mode}-{seed}")),
            );
            s.seed = seed;
            s.epochs = 3;
            s.batch_size = 32;
            s.lr = 1e-3;
            s.max_length = Some(64);
            s.frozen_dropout = no_cache;
            let o = train_cell(
                &s,
                &RunOptions {
                    quiet: true,
                    cache_dir: Some(work.path().join(format!("cache-{cache_of}"))),
                    ..RunOptions::default()
                },
            )?;
            acc += o.test_accuracy / 3.0;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{mode},{secs:.2},{acc:.4}");
        times.push(secs);
    }
    println!(
        "speedup vs backbone every step: cold cache {:.1}x, warm cache {:.1}x",
        times[2] / times[0],
        times[2] / times[1]
    );
    Ok(())
}
