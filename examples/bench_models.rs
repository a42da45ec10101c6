//! Timing of full-size random-weight backbones: forward, finetune step and BitFit step for
//! RoBERTa-base (batch 8 x 128 tokens, 2-class mlp head) and CLIP ViT-B/16 (batch 8, linear
//! head). `scripts/bench_models.py` runs it next to the same steps in PyTorch.
//!
//! Usage: `cargo run --release --example bench_models -- <roberta|clip>
//! <forward|finetune|bitfit|bitfit-plain|eval-tracked> [iterations] [cpu|cuda:N] [f32|bf16]
//! [batch]`.
//! `bitfit-plain` is BitFit without the frozen-linear custom op (weight gradients computed and
//! thrown away); `eval-tracked` is an evaluation forward of a model whose parameters all train,
//! recording the graph as the trainer's evaluation did before `ParamStore::without_gradients`
//! (`forward` is the same pass without it); bf16 trains in mixed precision (f32 master
//! weights). Prints one JSON line: per-iteration seconds (the device synchronised before each clock read), their median, and
//! the process's peak resident memory. A training step is forward, cross-entropy, backward and
//! the product's own SGD update (`adapt::Sgd`, lr 1e-3, no momentum — what the PyTorch side's
//! `torch.optim.SGD(lr=1e-3)` does).

use candle_core::{DType, Tensor};
use homogen::adapt::{Optimizer, Sgd, SgdConfig};
use homogen::models::config::ModelConfig;
use homogen::models::encoder::EncoderInput;
use homogen::models::heads::HeadKind;
use homogen::models::layers::{set_frozen_linear_op, Ctx};
use homogen::models::{Batch, HeadSpec, Model, Selection};
use mimalloc::MiMalloc;
use std::time::Instant;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const ROBERTA: &str = r#"{"model_type": "roberta", "vocab_size": 50265, "hidden_size": 768,
  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
  "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-05,
  "pad_token_id": 1, "hidden_act": "gelu"}"#;
const CLIP: &str = r#"{"model_type": "clip_vision_model", "hidden_size": 768,
  "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
  "image_size": 224, "patch_size": 16, "hidden_act": "quick_gelu"}"#;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("roberta");
    let mode = args.get(2).map(String::as_str).unwrap_or("forward");
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let device_name = args.get(4).map_or("cpu", String::as_str);
    let dev = homogen::device::parse_device(device_name)?;
    let dtype = homogen::device::parse_dtype(args.get(5).map_or("f32", String::as_str))?;
    let batch_size: usize = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(8);
    let (config, head, batch) = match which {
        "roberta" => {
            let ids =
                Tensor::rand(3f32, 50000f32, (batch_size, 128), &dev)?.to_dtype(DType::U32)?;
            let input = EncoderInput {
                attention_mask: ids.ones_like()?,
                input_ids: ids,
                token_type_ids: None,
            };
            (ROBERTA, HeadKind::Mlp, Batch::Text(input))
        }
        "clip" => {
            let px = Tensor::randn(0f32, 1.0, (batch_size, 3, 224, 224), &dev)?.to_dtype(dtype)?;
            (CLIP, HeadKind::Linear, Batch::Pixels(px))
        }
        other => anyhow::bail!("unknown model {other}"),
    };
    let cfg = ModelConfig::from_json(config)?;
    let model = Model::scratch(
        &cfg,
        Some(HeadSpec {
            kind: head,
            classes: 2,
        }),
        &dev,
        homogen::device::Precision::training(dtype),
        0,
    )?;
    let selection = match mode {
        "forward" => None,
        "finetune" | "eval-tracked" => Some(Selection::All),
        "bitfit" => Some(Selection::BitFit),
        "bitfit-plain" => {
            set_frozen_linear_op(false);
            Some(Selection::BitFit)
        }
        other => anyhow::bail!("unknown mode {other}"),
    };
    model
        .store
        .set_trainable(|n| selection.is_some_and(|s| s.selects(n)));
    let labels: Vec<u32> = (0..batch_size as u32).map(|i| i % 2).collect();
    let labels = Tensor::new(labels, &dev)?;
    let mut sgd = Sgd::new(
        model.store.trainable_vars(),
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            ..SgdConfig::default()
        },
    );
    let mut times = Vec::new();
    for i in 0..=iters {
        let start = Instant::now();
        if selection.is_none() || mode == "eval-tracked" {
            let f = model.logits(&batch, &Ctx::eval())?;
            f.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        } else {
            let logits = model.logits(&batch, &Ctx::train(i as u64))?;
            let loss = candle_nn::loss::cross_entropy(&logits.to_dtype(DType::F32)?, &labels)?;
            sgd.step(&loss.backward()?)?;
        }
        dev.synchronize()?;
        if i > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[sorted.len() / 2];
    println!(
        "{{\"impl\": \"candle\", \"model\": \"{which}\", \"mode\": \"{mode}\", \"device\": \"{}\", \"dtype\": \"{dtype:?}\", \"batch\": {batch_size}, \"median_s\": {median:.4}, \"times\": {times:?}, \"peak_rss_mb\": {:.0}, \"trainable\": {}}}",
        device_name,
        peak_rss_mb(),
        model.store.trainable_count()
    );
    Ok(())
}
