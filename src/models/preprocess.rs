//! Image preprocessing: decoding with the `image` crate, resizing as PIL does with
//! `fast_image_resize`.
//!
//! - [`Resize::Clip`]: CLIPImageProcessor's pipeline — bicubic resize of the shortest side to
//!   `size` (the long side `floor(size·long/short)`), centre crop `size`×`size`, rescale by 1/255,
//!   normalise with CLIP's mean and std.
//! - [`Resize::Stretch`]: the paper's transfer code — torchvision's `Resize([size, size])` on a
//!   PIL image, i.e. PIL's bilinear resize straight to `size`×`size` (aspect ratio not kept),
//!   then the same rescale and normalisation.
//! - [`augment`]: seeded training augmentation — torchvision's RandomResizedCrop (scale
//!   0.08–1, ratio 3/4–4/3, ten tries then a centre crop; bilinear, its default) and a
//!   horizontal flip with p = 0.5.

use std::cell::RefCell;

use candle_core::{Device, Tensor};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::imageops;
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

use crate::error::{InputError, Result};

/// CLIP's per-channel mean (openai/clip-vit-base-patch16 preprocessor_config.json).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel standard deviation.
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// How an image is brought to the model's square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Shortest side to `size`, then centre crop (CLIPImageProcessor).
    Clip,
    /// Bilinear straight to `size`×`size` (the paper's transfer-learning code).
    Stretch,
}

/// Opens an image file as RGB.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let img = image::open(path)
        .map_err(|e| InputError::new(format!("cannot read image: {e}")).in_file(path))?;
    Ok(img.to_rgb8())
}

/// The resized (and for CLIP centre-cropped) 8-bit image, before rescaling.
pub fn resize(img: &RgbImage, mode: Resize, size: u32) -> RgbImage {
    match mode {
        Resize::Stretch => resample(img, size, size, FilterType::Bilinear),
        Resize::Clip => {
            let (w, h) = img.dimensions();
            let (nw, nh) = if w <= h {
                (size, (size as u64 * h as u64 / w.max(1) as u64) as u32)
            } else {
                ((size as u64 * w as u64 / h.max(1) as u64) as u32, size)
            };
            let resized = bicubic(img, nw, nh);
            let top = nh.saturating_sub(size) / 2;
            let left = nw.saturating_sub(size) / 2;
            imageops::crop_imm(&resized, left, top, size.min(nw), size.min(nh)).to_image()
        }
    }
}

/// Bicubic (Catmull-Rom, a = -0.5) resize as PIL's `Image.resize(.., BICUBIC)` does it.
pub fn bicubic(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    resample(img, width, height, FilterType::CatmullRom)
}

/// The `(left, top, width, height)` box of `img` resized with PIL's bilinear filter to
/// `size`×`size`: torchvision's `resized_crop` on a PIL image, `img.crop(box).resize(..)`, so the
/// pixels outside the box take no part (unlike a resize of a box within the image, whose
/// filter reaches past the box's edges).
pub fn resized_crop(
    img: &RgbImage,
    (left, top, w, h): (u32, u32, u32, u32),
    size: u32,
) -> RgbImage {
    let crop = imageops::crop_imm(img, left, top, w, h).to_image();
    resample(&crop, size, size, FilterType::Bilinear)
}

/// A resize as PIL's `Image.resize` does it: a separable convolution whose support widens when
/// shrinking, the horizontal pass first, rounded and clipped to 8 bits, then the vertical pass
/// (fast_image_resize's SIMD convolution in Pillow's fixed-point scheme; one call per pass, since
/// in one call it runs the vertical pass first, which rounds differently). A zero-sized image
/// gives a black one.
fn resample(img: &RgbImage, width: u32, height: u32, filter: FilterType) -> RgbImage {
    match (img.width() == width, img.height() == height) {
        (true, true) => img.clone(),
        // One side changes: one pass.
        (true, false) | (false, true) => convolve(img, width, height, filter),
        (false, false) => convolve(
            &convolve(img, width, img.height(), filter),
            width,
            height,
            filter,
        ),
    }
}

/// One pass of [`resample`]: `img` convolved to `width`×`height`, where only one of the two
/// sides changes.
fn convolve(img: &RgbImage, width: u32, height: u32, filter: FilterType) -> RgbImage {
    thread_local! {
        static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
    }
    let mut out = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    // An RgbImage's buffer always holds width × height pixels of 3 bytes (alignment 1), the
    // one thing ImageRef checks, and both images are U8x3, the one thing resize checks.
    if let Ok(src) = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x3) {
        RESIZER.with(|r| r.borrow_mut().resize(&src, &mut out, &options).ok());
    }
    RgbImage::from_raw(width, height, out.into_vec())
        .unwrap_or_else(|| RgbImage::new(width, height))
}

/// Channel-first values rescaled by 1/255 and normalised with `mean`/`std`: [3, h, w] flattened.
/// Each channel's 256 possible values are computed once and looked up (the same arithmetic, so
/// the same bits, as computing each pixel's).
pub fn normalise(img: &RgbImage, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (c, values) in out.chunks_exact_mut(plane.max(1)).enumerate() {
        let table: [f32; 256] = std::array::from_fn(|v| (v as f32 / 255.0 - mean[c]) / std[c]);
        for (o, px) in values.iter_mut().zip(img.as_raw().chunks_exact(3)) {
            *o = table[px[c] as usize];
        }
    }
    out
}

/// The full deterministic pipeline with CLIP's normalisation: [3, size, size] flattened.
pub fn preprocess(img: &RgbImage, mode: Resize, size: u32) -> Vec<f32> {
    normalise(&resize(img, mode, size), CLIP_MEAN, CLIP_STD)
}

/// Seeded training augmentation (random resized crop to `size`, horizontal flip with p = 0.5)
/// with CLIP's normalisation: [3, size, size] flattened.
pub fn augment(img: &RgbImage, size: u32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let crop = random_resized_crop_box(img.width(), img.height(), rng);
    let mut out = resized_crop(img, crop, size);
    if rng.gen::<f64>() < 0.5 {
        imageops::flip_horizontal_in_place(&mut out);
    }
    normalise(&out, CLIP_MEAN, CLIP_STD)
}

/// torchvision's RandomResizedCrop box (left, top, width, height) for a `width`×`height` image,
/// scale (0.08, 1) and ratio (3/4, 4/3).
pub fn random_resized_crop_box(
    width: u32,
    height: u32,
    rng: &mut ChaCha8Rng,
) -> (u32, u32, u32, u32) {
    let area = width as f64 * height as f64;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.gen_range(0.08..=1.0);
        let aspect = rng.gen_range(lo..=hi).exp();
        let w = (target * aspect).sqrt().round() as u32;
        let h = (target / aspect).sqrt().round() as u32;
        if w > 0 && h > 0 && w <= width && h <= height {
            let top = rng.gen_range(0..=height - h);
            let left = rng.gen_range(0..=width - w);
            return (left, top, w, h);
        }
    }
    let ratio = width as f64 / height.max(1) as f64;
    let (w, h) = if ratio < 3.0 / 4.0 {
        (width, (width as f64 / (3.0 / 4.0)).round() as u32)
    } else if ratio > 4.0 / 3.0 {
        (((height as f64) * 4.0 / 3.0).round() as u32, height)
    } else {
        (width, height)
    };
    (
        (width - w.min(width)) / 2,
        (height - h.min(height)) / 2,
        w.min(width),
        h.min(height),
    )
}

/// Stacks preprocessed images ([3, size, size] each) into `pixel_values` [n, 3, size, size].
pub fn to_tensor(images: &[Vec<f32>], size: usize, device: &Device) -> candle_core::Result<Tensor> {
    let flat: Vec<f32> = images.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (images.len(), 3, size, size), device)
}
