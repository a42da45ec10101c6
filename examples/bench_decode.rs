//! CelebA-style decode + preprocess throughput: decode every JPEG in a folder with the data
//! loader's parallel decoder ([`homogen::data::decode_images`]) and preprocess it as CLIP does
//! (bicubic resize of the shortest side to 224, centre crop 224x224, scale to [0, 1], normalise
//! with CLIP's mean/std, CHW f32).
//!
//! The preprocessing here is the benchmark's own few lines so it can run on this branch alone;
//! the models area owns the library's preprocessing.
//!
//! Usage: `cargo run --release --example bench_decode -- DIR [--repeat N] [--dump FILE]`
//! (`RAYON_NUM_THREADS` sets the threads). Prints one JSON line (decode + preprocess, and decode alone); `--dump` writes the first
//! image's tensor as little-endian f32 for `scripts/bench_decode.py` to compare.

use std::path::PathBuf;
use std::time::Instant;

use homogen::data::{decode_images, ImageRef};
use image::imageops::FilterType;
use image::DynamicImage;
use rayon::prelude::*;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const STD: [f32; 3] = [0.268_629_55, 0.261_302_6, 0.275_777_1];
const SIZE: u32 = 224;

fn preprocess(img: &DynamicImage) -> Vec<f32> {
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let scale = SIZE as f64 / w.min(h) as f64;
    let (nw, nh) = if w <= h {
        (SIZE, (h as f64 * scale).round() as u32)
    } else {
        ((w as f64 * scale).round() as u32, SIZE)
    };
    let resized = image::imageops::resize(&rgb, nw, nh, FilterType::CatmullRom);
    let (left, top) = ((nw - SIZE) / 2, (nh - SIZE) / 2);
    let plane = (SIZE * SIZE) as usize;
    let mut out = vec![0f32; 3 * plane];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let p = resized.get_pixel(x + left, y + top);
            let i = (y * SIZE + x) as usize;
            for c in 0..3 {
                out[c * plane + i] = (p[c] as f32 / 255.0 - MEAN[c]) / STD[c];
            }
        }
    }
    out
}

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: DIR"))?);
    let mut repeat = 3usize;
    let mut dump: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => repeat = args.next().unwrap_or_default().parse()?,
            "--dump" => dump = args.next().map(PathBuf::from),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    let refs: Vec<ImageRef> = files.iter().cloned().map(ImageRef::File).collect();
    let refs: Vec<&ImageRef> = refs.iter().collect();
    let mut best = f64::INFINITY;
    let mut best_decode = f64::INFINITY;
    let mut first = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        let images = decode_images(&refs)?;
        best_decode = best_decode.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let images2 = decode_images(&refs)?;
        let tensors: Vec<Vec<f32>> = images2.par_iter().map(preprocess).collect();
        best = best.min(t.elapsed().as_secs_f64());
        first = tensors.into_iter().next().unwrap_or_default();
        drop(images);
    }
    if let Some(path) = dump {
        let bytes: Vec<u8> = first.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
    }
    println!(
        "{{\"images\": {}, \"threads\": {}, \"seconds\": {best:.4}, \"images_per_s\": {:.1}, \
         \"decode_seconds\": {best_decode:.4}}}",
        refs.len(),
        rayon::current_num_threads(),
        refs.len() as f64 / best
    );
    Ok(())
}
