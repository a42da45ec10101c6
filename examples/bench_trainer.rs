//! Benchmark: training examples/s of the trainer per method on a full-size random-weight model,
//! for comparison with `scripts/bench_trainer_torch.py`, the same loop in PyTorch:
//! - `roberta`: RoBERTa-base, 2-class mlp head as RobertaForSequenceClassification, batch 8 ×
//!   128 tokens, AdamW, linear schedule, clipping 1.0, dropout on; probe-mlp, BitFit, finetune;
//! - `clip`: the CLIP ViT-B/16 vision tower, 2-class linear head, batch 8 of 178×218 JPEGs in a
//!   CelebA layout (decoded, random-resized-cropped, flipped and normalised every step), SGD
//!   momentum 0.9, cosine schedule, clipping 1.0 (the vision recipe); probe, BitFit, finetune.
//!
//! Run: `cargo run --release --example bench_trainer -- STEPS [cpu|cuda:N] [f32|bf16] [BATCH]
//! [roberta|clip]` (default 2 optimiser steps per method, cpu, f32, batch 8, roberta); prints
//! `method,examples_per_s` from the epoch's `metrics.jsonl` line (the training loop only:
//! batching, tokenization or image preprocessing, forward, backward, clipping, optimiser step;
//! the probe runs its frozen backbone every step, as the PyTorch loop does, not from the
//! feature cache).

mod common;

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

const ROBERTA: &str = r#"{"model_type": "roberta", "hidden_size": 768, "num_hidden_layers": 12,
 "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 50265,
 "max_position_embeddings": 514, "type_vocab_size": 1, "hidden_act": "gelu",
 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "layer_norm_eps": 1e-05,
 "initializer_range": 0.02, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}"#;
const CLIP: &str = r#"{"model_type": "clip_vision_model", "hidden_size": 768,
 "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
 "image_size": 224, "patch_size": 16, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}"#;

/// Writes `n_train` + `n_test` texts that fill 128 tokens (IMDB's CSV layout).
fn write_texts(data: &Path, n_train: usize, n_test: usize) -> Result<()> {
    let text = "the quick brown fox jumps over the lazy dog ".repeat(30);
    for (name, n) in [("train", n_train), ("test", n_test)] {
        let mut csv = String::from("text,label\n");
        for i in 0..n {
            csv.push_str(&format!("{text},{}\n", i % 2));
        }
        std::fs::write(data.join(format!("{name}.csv")), csv).map_err(io("data"))?;
    }
    Ok(())
}

/// Writes `n_train` + `n_test` CelebA-sized JPEGs (178×218, smooth colours plus noise, so that
/// decoding does real work) with the official attribute and partition files; the attributes
/// alternate so that every task has both classes.
fn write_images(data: &Path, n_train: usize, n_test: usize) -> Result<()> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/data/celeba/official/list_attr_celeba.txt");
    let header = std::fs::read_to_string(&fixture).map_err(io("attributes"))?;
    let names = header.lines().nth(1).unwrap_or_default().to_string();
    let n_attrs = names.split_whitespace().count();
    let images = data.join("img_align_celeba");
    std::fs::create_dir_all(&images).map_err(io("mkdir"))?;
    let n = n_train + n_test;
    let (mut attrs, mut parts) = (format!("{n}\n{names}\n"), String::new());
    let mut maker = common::CelebaLikeImages::default();
    for i in 0..n {
        let file = format!("{:06}.jpg", i + 1);
        let img = maker.image(i);
        img.save(images.join(&file))
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let flag = if i % 2 == 0 { "1" } else { "-1" };
        attrs.push_str(&format!("{file} {}\n", vec![flag; n_attrs].join(" ")));
        parts.push_str(&format!("{file} {}\n", if i < n_train { 0 } else { 2 }));
    }
    std::fs::write(data.join("list_attr_celeba.txt"), attrs).map_err(io("attributes"))?;
    std::fs::write(data.join("list_eval_partition.txt"), parts).map_err(io("partition"))
}

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
    let which = arg(5, "roberta");
    let clip = match which.as_str() {
        "roberta" => false,
        "clip" => true,
        other => {
            return Err(Error::input(format!(
                "unknown model `{other}`: roberta or clip"
            )))
        }
    };
    let config_json = if clip { CLIP } else { ROBERTA };
    let work = tempfile::tempdir().map_err(io("tempdir"))?;
    let model = work.path().join("model");
    std::fs::create_dir_all(&model).map_err(io("mkdir"))?;
    std::fs::write(model.join("config.json"), config_json).map_err(io("config"))?;
    if !clip {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/roberta");
        std::fs::copy(fixture.join("tokenizer.json"), model.join("tokenizer.json"))
            .map_err(io("tokenizer"))?;
    }
    let config = ModelConfig::from_json(config_json)?;
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
    if clip {
        write_images(&data, batch * steps, batch)?;
    } else {
        write_texts(&data, batch * steps, batch)?;
    }
    println!("method,examples_per_s");
    // A finetune cell first, not reported: it faults in the process's memory (a training step
    // touches ~4.5 GB), as PyTorch's timing leaves out one warm-up step.
    let probe = if clip { "probe" } else { "probe-mlp" };
    for (label, method) in [
        ("warm-up", "finetune"),
        (probe, probe),
        ("bitfit", "bitfit"),
        ("finetune", "finetune"),
    ] {
        let mut d = DatasetSpec::named(if clip { "celeba" } else { "imdb" });
        d.root = Some(data.clone());
        let mut s = TrainSpec::new(
            &model.display().to_string(),
            method,
            d,
            work.path().join(label),
        );
        if clip {
            s.task = Some("Wearing_Earrings".into());
            s.optimizer = "sgd".into();
            s.schedule = "cosine".into();
            s.lr = 1e-3;
            // Like the PyTorch loop: RandomResizedCrop and flip of every training image.
            s.augment = true;
        } else {
            s.head = "mlp".into();
            s.max_length = Some(128);
        }
        s.epochs = 1;
        s.batch_size = batch;
        s.device = device.clone();
        s.dtype = dtype.clone();
        // Like for like with PyTorch: the frozen backbone runs every step.
        s.frozen_dropout = true;
        let o = train_cell(
            &s,
            &RunOptions {
                quiet: true,
                cache_dir: Some(work.path().join("cache")),
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
