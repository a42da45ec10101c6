//! Benchmark: training examples/s of the trainer per method on a full-size random-weight
//! RoBERTa-base (2-class mlp head as RobertaForSequenceClassification, batch 8, 128 tokens,
//! AdamW, linear schedule, clipping 1.0, dropout on), for comparison with
//! `scripts/bench_trainer_torch.py`, the same loop in PyTorch.
//!
//! Run: `cargo run --release --example bench_trainer -- STEPS [cpu|cuda:N] [f32|bf16] [BATCH]`
//! (default 2 optimiser steps per method, cpu, f32, batch 8); prints `method,examples_per_s` from the epoch's `metrics.jsonl` line (the training
//! loop only: batching, tokenization, forward, backward, clipping, optimiser step; the probe
//! runs its frozen backbone every step, as the PyTorch loop does, not from the feature cache).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device};
use homogen::adapt::{train_cell, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;
use homogen::error::{Error, Result};
use homogen::models::config::ModelConfig;
use homogen::models::Model;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = r#"{"model_type": "roberta", "hidden_size": 768, "num_hidden_layers": 12,
 "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 50265,
 "max_position_embeddings": 514, "type_vocab_size": 1, "hidden_act": "gelu",
 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "layer_norm_eps": 1e-05,
 "initializer_range": 0.02, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}"#;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(what, e)
}

fn main() -> Result<()> {
    homogen::alloc::keep_freed_memory();
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let arg = |i: usize, default: &str| std::env::args().nth(i).unwrap_or(default.to_string());
    let (device, dtype) = (arg(2, "cpu"), arg(3, "f32"));
    let batch: usize = arg(4, "8").parse().unwrap_or(8);
    let work = tempfile::tempdir().map_err(io("tempdir"))?;
    let model = work.path().join("model");
    std::fs::create_dir_all(&model).map_err(io("mkdir"))?;
    std::fs::write(model.join("config.json"), CONFIG).map_err(io("config"))?;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/roberta");
    std::fs::copy(fixture.join("tokenizer.json"), model.join("tokenizer.json"))
        .map_err(io("tokenizer"))?;
    let config = ModelConfig::from_json(CONFIG)?;
    let m = Model::scratch(&config, None, &Device::Cpu, DType::F32, 1)?;
    let tensors: HashMap<String, candle_core::Tensor> = m
        .store
        .iter()
        .map(|p| (p.name().to_string(), p.var().as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, model.join("model.safetensors"))
        .map_err(|e| Error::Runtime(e.to_string()))?;
    drop((m, tensors));
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).map_err(io("mkdir"))?;
    // Texts long enough to fill 128 tokens.
    let text = "the quick brown fox jumps over the lazy dog ".repeat(30);
    for (name, n) in [("train", batch * steps), ("test", batch)] {
        let mut csv = String::from("text,label\n");
        for i in 0..n {
            csv.push_str(&format!("{text},{}\n", i % 2));
        }
        std::fs::write(data.join(format!("{name}.csv")), csv).map_err(io("data"))?;
    }
    println!("method,examples_per_s");
    // A finetune cell first, not reported: it faults in the process's memory (a training step
    // touches ~4.5 GB), as PyTorch's timing leaves out one warm-up step.
    for (label, method) in [
        ("warm-up", "finetune"),
        ("probe-mlp", "probe-mlp"),
        ("bitfit", "bitfit"),
        ("finetune", "finetune"),
    ] {
        let mut d = DatasetSpec::named("imdb");
        d.root = Some(data.clone());
        let mut s = TrainSpec::new(
            &model.display().to_string(),
            method,
            d,
            work.path().join(label),
        );
        s.head = "mlp".into();
        s.epochs = 1;
        s.max_length = Some(128);
        s.batch_size = batch;
        s.device = device.clone();
        s.dtype = dtype.clone();
        let o = train_cell(
            &s,
            &RunOptions {
                quiet: true,
                cache_dir: Some(work.path().join("cache")),
                // Like for like with PyTorch: the frozen backbone runs every step.
                no_feature_cache: true,
                ..RunOptions::default()
            },
        )?;
        let line = std::fs::read_to_string(&o.metrics).map_err(io("metrics"))?;
        let v: serde_json::Value =
            serde_json::from_str(line.trim()).map_err(|e| Error::Runtime(e.to_string()))?;
        if label != "warm-up" {
            println!(
                "{method},{:.3}",
                v["examples_per_s"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
