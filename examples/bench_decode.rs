//! CelebA-style decode + preprocess throughput: decode every JPEG in a folder with the data
//! loader's parallel decoder ([`homogen::data::decode_images`]) and preprocess it with the
//! library's own functions, as the trainer does: `clip` (bicubic shortest side to 224, centre
//! crop), `stretch` (bilinear straight to 224×224, the paper's vision recipe) or `augment`
//! (seeded random resized crop + flip), each then scaled and normalised with CLIP's mean/std.
//!
//! Usage: `cargo run --release --example bench_decode -- DIR [--mode clip|stretch|augment]
//! [--repeat N] [--dump FILE]` (`RAYON_NUM_THREADS` sets the threads). Prints one JSON line
//! (decode + preprocess, decode alone, and preprocess alone on decoded images); `--dump` writes
//! the first image's tensor as little-endian f32 for `scripts/bench_decode.py` to compare.

use std::path::PathBuf;
use std::time::Instant;

use homogen::data::{decode_images, ImageRef};
use homogen::models::preprocess::{augment, preprocess, Resize};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZE: u32 = 224;

/// The image's [3, 224, 224] input under `mode`; image `i` augments with its own seed.
fn prepare(img: &RgbImage, mode: &str, i: usize) -> Vec<f32> {
    match mode {
        "clip" => preprocess(img, Resize::Clip, SIZE),
        "stretch" => preprocess(img, Resize::Stretch, SIZE),
        _ => augment(img, SIZE, &mut ChaCha8Rng::seed_from_u64(i as u64)),
    }
}

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: DIR"))?);
    let mut repeat = 3usize;
    let mut dump: Option<PathBuf> = None;
    let mut mode = String::from("clip");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => repeat = args.next().unwrap_or_default().parse()?,
            "--dump" => dump = args.next().map(PathBuf::from),
            "--mode" => mode = args.next().unwrap_or_default(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        ["clip", "stretch", "augment"].contains(&mode.as_str()),
        "--mode is clip, stretch or augment, not `{mode}`"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    let refs: Vec<ImageRef> = files.iter().cloned().map(ImageRef::File).collect();
    let refs: Vec<&ImageRef> = refs.iter().collect();
    let (mut best, mut best_decode, mut best_prep) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let mut first = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        let images = decode_images(&refs)?;
        best_decode = best_decode.min(t.elapsed().as_secs_f64());
        let rgb: Vec<RgbImage> = images.iter().map(|i| i.to_rgb8()).collect();
        let t = Instant::now();
        let tensors: Vec<Vec<f32>> = rgb
            .par_iter()
            .enumerate()
            .map(|(i, img)| prepare(img, &mode, i))
            .collect();
        best_prep = best_prep.min(t.elapsed().as_secs_f64());
        drop((images, rgb, tensors));
        // Decode and preprocess together, image by image, as the trainer's batches do.
        let t = Instant::now();
        let tensors = refs
            .par_iter()
            .enumerate()
            .map(|(i, r)| Ok(prepare(&r.decode()?.to_rgb8(), &mode, i)))
            .collect::<homogen::error::Result<Vec<Vec<f32>>>>()?;
        best = best.min(t.elapsed().as_secs_f64());
        first = tensors.into_iter().next().unwrap_or_default();
    }
    if let Some(path) = dump {
        let bytes: Vec<u8> = first.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
    }
    println!(
        "{{\"mode\": \"{mode}\", \"images\": {}, \"threads\": {}, \"seconds\": {best:.4}, \
         \"images_per_s\": {:.1}, \"decode_seconds\": {best_decode:.4}, \
         \"preprocess_seconds\": {best_prep:.4}}}",
        refs.len(),
        rayon::current_num_threads(),
        refs.len() as f64 / best
    );
    Ok(())
}
