//! How much the order of a feature-cache fill matters for texts of mixed lengths: the
//! product's fill (`FeatureCache::fill`, batches of `FEATURE_BATCH`, texts shortest first as
//! the trainer orders them) against the same fill in input order, on a model folder and a file
//! of texts (one per line). Prints one JSON line: seconds and padded-token share per order, and
//! the largest difference between the two orders' features; then shortest first with concurrent
//! batches (what the trainer does on the CPU), and whether its features have the same bits.
//!
//! Usage: `cargo run --release --example bench_fill_order -- MODEL_DIR TEXTS_FILE`;
//! `scripts/bench_fill_order.py` makes the model and texts and times PyTorch on the same work.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use candle_core::{DType, Device};
use homogen::adapt::cache::{FeatureCache, FEATURE_BATCH};
use homogen::models::config::ModelConfig;
use homogen::models::hub::from_folder;
use homogen::models::layers::Ctx;
use homogen::models::tokenize::{length_order, TextTokenizer};
use homogen::models::{Batch, Model};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let (model_dir, texts_file) = match (args.get(1), args.get(2)) {
        (Some(m), Some(t)) => (Path::new(m), Path::new(t)),
        _ => anyhow::bail!("usage: bench_fill_order MODEL_DIR TEXTS_FILE"),
    };
    let files = from_folder(model_dir, false, None)?;
    let (model, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0)?;
    // Frozen, as the trainer freezes a probe's backbone before filling the cache.
    model.store.set_trainable(|_| false);
    let ModelConfig::Text(cfg) = ModelConfig::from_file(&files.config)? else {
        anyhow::bail!("a text encoder is needed")
    };
    let tok = TextTokenizer::from_files(
        files
            .tokenizer
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("no tokenizer.json"))?,
        files.tokenizer_config.as_deref(),
        cfg.max_tokens(),
        cfg.pad_id() as u32,
    )?;
    let text = std::fs::read_to_string(texts_file)?;
    let texts: Vec<&str> = text.lines().collect();
    let lengths = tok.lengths(&texts)?;
    let tokens: usize = lengths.iter().sum();
    let work = tempfile::tempdir()?;
    let mut out = serde_json::json!({
        "texts": texts.len(), "tokens": tokens, "batch": FEATURE_BATCH,
    });
    let mut features = Vec::new();
    // The two orders one batch at a time, then shortest first with concurrent batches (what
    // the trainer does on the CPU).
    for (name, order, concurrent) in [
        ("input_order", (0..texts.len()).collect::<Vec<_>>(), false),
        ("shortest_first", length_order(&lengths), false),
        ("shortest_first_concurrent", length_order(&lengths), true),
    ] {
        let cache = FeatureCache::new(work.path().join(name)).with_concurrent_batches(concurrent);
        let padded = AtomicUsize::new(0);
        let started = Instant::now();
        let (f, _) = cache.fill(
            name,
            texts.len(),
            FEATURE_BATCH,
            || Ok(order.clone()),
            |idx| {
                let batch: Vec<&str> = idx.iter().map(|&i| texts[i]).collect();
                let b = tok.encode(&batch)?;
                let n: usize = b.input_ids.iter().map(Vec::len).sum();
                padded.fetch_add(n, Ordering::Relaxed);
                let input = b.to_input(&Device::Cpu).map_err(err)?;
                model
                    .host_features(&Batch::Text(input), &Ctx::eval())
                    .map_err(err)
            },
        )?;
        out[name] = serde_json::json!({
            "seconds": started.elapsed().as_secs_f64(),
            "padding_share": 1.0 - tokens as f64 / padded.into_inner() as f64,
        });
        features.push(f);
    }
    let max_diff = |a: &candle_core::Tensor, b: &candle_core::Tensor| -> anyhow::Result<f32> {
        Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
    };
    out["max_feature_difference"] = serde_json::json!(max_diff(&features[0], &features[1])?);
    out["concurrent_same_bits"] = serde_json::json!(
        features[1].flatten_all()?.to_vec1::<f32>()?
            == features[2].flatten_all()?.to_vec1::<f32>()?
    );
    println!("{out}");
    Ok(())
}

fn err(e: candle_core::Error) -> homogen::error::Error {
    homogen::error::Error::Runtime(e.to_string())
}
