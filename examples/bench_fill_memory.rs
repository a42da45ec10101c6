//! Peak memory of a feature-cache fill at CelebA scale: `FeatureCache::fill` of N examples ×
//! HIDDEN features (f32), batches of 256 visited in reverse order (so the rows must be put back
//! in example order, as after a shortest-first fill), the "backbone" a constant so that only
//! the fill's own copies count. Prints one JSON line: the features' size, the process's peak
//! resident memory before and after (VmHWM), and the peak over the features' size.
//!
//! Usage: `cargo run --release --example bench_fill_memory -- N HIDDEN`;
//! `scripts/bench_fill_memory.py` runs it and the same work in numpy + safetensors.

use candle_core::{DType, Device, Tensor};
use homogen::adapt::cache::FeatureCache;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The process's peak resident memory so far, in bytes (Linux's VmHWM).
fn peak_rss() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/self/status"))?;
    Ok(kb * 1024)
}

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [n, hidden] = args[..] else {
        anyhow::bail!("usage: bench_fill_memory N HIDDEN")
    };
    let dir = std::env::temp_dir().join(format!("bench_fill_memory-{}", std::process::id()));
    let cache = FeatureCache::new(&dir);
    let before = peak_rss()?;
    let (features, _) = cache.fill(
        "features",
        n,
        256,
        || Ok((0..n).rev().collect()),
        |indices| {
            Tensor::ones((indices.len(), hidden), DType::F32, &Device::Cpu)
                .map_err(|e| homogen::error::Error::Runtime(e.to_string()))
        },
    )?;
    let after = peak_rss()?;
    drop(features);
    std::fs::remove_dir_all(&dir)?;
    let bytes = (n * hidden * 4) as f64;
    println!(
        "{{\"n\": {n}, \"hidden\": {hidden}, \"features_mb\": {:.1}, \"peak_before_mb\": {:.1}, \
         \"peak_after_mb\": {:.1}, \"peak_over_features\": {:.2}}}",
        bytes / 1e6,
        before as f64 / 1e6,
        after as f64 / 1e6,
        (after - before) as f64 / bytes
    );
    Ok(())
}
