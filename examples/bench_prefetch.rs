//! Benchmark: what preparing the next batch on a helper thread buys a feature-cache fill run one
//! batch after another (the GPU path of a probe's features, of `homogen embed` and of the
//! trainer's loop). A random-weight CLIP vision tower embeds N CelebA-sized JPEGs (178×218,
//! decoded, resized and centre-cropped to 224, CLIP-normalised), [`FEATURE_BATCH`] at a time:
//! - `serial`: `FeatureCache::fill`, each batch decoded on the calling thread and then run;
//! - `prefetched`: `FeatureCache::fill_in_stages`, the next batch decoded meanwhile;
//!
//! plus the two stages alone (`decode`: every batch decoded, nothing run; `model`: every batch
//! run on inputs decoded beforehand), whose sum is what `serial` should take and whose maximum
//! is the floor for `prefetched`. Rounds alternate the two fills; medians are reported, and
//! whether the two fills' features have the same bits. Images are decoded as the trainer's
//! pipeline does: the batch's images in parallel on rayon's threads.
//!
//! Run: `cargo run --release --example bench_prefetch -- [N] [cpu|cuda:N] [f32|bf16]
//! [tiny|base] [ROUNDS]` (default 256 images, cpu, f32, tiny, 3 rounds; `tiny` is a 4-layer,
//! 192-wide ViT/16, `base` ViT-B/16). `scripts/bench_prefetch_torch.py` times the same work in
//! PyTorch (a DataLoader without and with a worker).

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use homogen::adapt::cache::{FeatureCache, FEATURE_BATCH};
use homogen::device::{parse_device, parse_dtype};
use homogen::error::{Error, Result};
use homogen::models::config::ModelConfig;
use homogen::models::layers::Ctx;
use homogen::models::preprocess::{load_image, preprocess, to_tensor, Resize};
use homogen::models::{Batch, Model};
use rayon::prelude::*;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TINY: &str = r#"{"model_type": "clip_vision_model", "hidden_size": 192,
 "intermediate_size": 768, "num_hidden_layers": 4, "num_attention_heads": 3,
 "image_size": 224, "patch_size": 16, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}"#;
const BASE: &str = r#"{"model_type": "clip_vision_model", "hidden_size": 768,
 "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
 "image_size": 224, "patch_size": 16, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}"#;

/// Writes `n` CelebA-sized JPEGs (the same images as `bench_trainer`'s).
fn write_images(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let mut maker = common::CelebaLikeImages::default();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("{:06}.jpg", i + 1));
            maker
                .image(i)
                .save(&path)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            Ok(path)
        })
        .collect()
}

/// The host batch of `paths[indices]`: decoded and preprocessed in parallel.
fn decode(paths: &[PathBuf], indices: &[usize]) -> Result<Batch> {
    let pixels = indices
        .par_iter()
        .map(|&i| Ok(preprocess(&load_image(&paths[i])?, Resize::Clip, 224)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Batch::Pixels(
        to_tensor(&pixels, 224, &Device::Cpu).map_err(err)?,
    ))
}

fn err(e: candle_core::Error) -> Error {
    Error::Runtime(e.to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    homogen::alloc::keep_freed_memory();
    let arg = |i: usize, default: &str| std::env::args().nth(i).unwrap_or(default.to_string());
    let n: usize = arg(1, "256").parse().unwrap_or(256);
    let device = parse_device(&arg(2, "cpu"))?;
    let dtype = parse_dtype(&arg(3, "f32"))?;
    let size = arg(4, "tiny");
    let rounds: usize = arg(5, "3").parse().unwrap_or(3);
    let config = match size.as_str() {
        "tiny" => TINY,
        "base" => BASE,
        other => {
            return Err(Error::input(format!(
                "unknown size `{other}`: tiny or base"
            )))
        }
    };
    let model = Model::scratch(&ModelConfig::from_json(config)?, None, &device, dtype, 1)?;
    model.store.set_trainable(|_| false);
    let work = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let paths = write_images(work.path(), n)?;
    let order: Vec<usize> = (0..n).collect();
    let run = |batch: Batch| -> Result<Tensor> {
        batch
            .to_device(&device)
            .and_then(|b| model.features(&b, &Ctx::eval()))
            .map_err(err)
    };
    // One pass unreported: warms the allocator, the caches and (on a GPU) the kernels.
    let _ = run(decode(&paths, &order[..FEATURE_BATCH.min(n)])?)?;

    let cache = FeatureCache::new(work.path().join("cache"));
    let (mut serial, mut prefetched) = (Vec::new(), Vec::new());
    let mut same_bits = true;
    for round in 0..rounds {
        let key = format!("serial-{round}");
        let t = Instant::now();
        let (a, _) = cache.fill(
            &key,
            n,
            FEATURE_BATCH,
            || Ok(order.clone()),
            |indices| run(decode(&paths, indices)?),
        )?;
        serial.push(t.elapsed().as_secs_f64());
        let key = format!("prefetched-{round}");
        let t = Instant::now();
        let (b, _) = cache.fill_in_stages(
            &key,
            n,
            FEATURE_BATCH,
            || Ok(order.clone()),
            |indices| decode(&paths, indices),
            run,
        )?;
        prefetched.push(t.elapsed().as_secs_f64());
        let (a, b) = (
            a.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(err)?,
            b.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(err)?,
        );
        same_bits &= a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
    }
    // The stages alone.
    let t = Instant::now();
    let batches = order
        .chunks(FEATURE_BATCH)
        .map(|c| decode(&paths, c))
        .collect::<Result<Vec<_>>>()?;
    let decode_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for b in batches {
        // Read back, as a fill does, so that a GPU has finished.
        run(b)?.to_device(&Device::Cpu).map_err(err)?;
    }
    let model_s = t.elapsed().as_secs_f64();
    let (s, p) = (median(serial.clone()), median(prefetched.clone()));
    println!(
        "{{\"images\": {n}, \"device\": \"{}\", \"dtype\": \"{}\", \"model\": \"{size}\", \
         \"batch\": {FEATURE_BATCH}, \"serial_s\": {serial:?}, \"prefetched_s\": {prefetched:?}, \
         \"serial_images_per_s\": {:.1}, \"prefetched_images_per_s\": {:.1}, \
         \"serial_over_prefetched\": {:.3}, \"decode_only_s\": {decode_s:.3}, \
         \"model_only_s\": {model_s:.3}, \"same_bits\": {same_bits}}}",
        arg(2, "cpu"),
        arg(3, "f32"),
        n as f64 / s,
        n as f64 / p,
        s / p,
    );
    Ok(())
}
