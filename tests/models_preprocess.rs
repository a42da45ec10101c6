//! Image preprocessing against transformers' CLIPImageProcessor (and PIL's bilinear resize,
//! which torchvision's `Resize([224, 224])` is on PIL images, for the paper's vision code) on
//! PNGs made by scripts/make_model_fixtures.py and scripts/make_vision_recipe_fixtures.py:
//! every pixel within 1/255 (the resampler rounds its coefficients to 16 bits where PIL keeps
//! 22, so a value that lies on a rounding tie can land one level away).

use candle_core::{Device, Tensor};
use homogen::models::preprocess::{
    augment, load_image, preprocess, random_resized_crop_box, resize, resized_crop, Resize,
    CLIP_STD,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

fn images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/images")
}

fn max_u8_diff(a: &image::RgbImage, b: &image::RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap()
}

#[test]
fn clip_resize_and_crop_within_1_of_255_of_clip_image_processor() {
    for i in 0..3 {
        let img = load_image(&images().join(format!("img{i}.png"))).unwrap();
        let ours = resize(&img, Resize::Clip, 224);
        let theirs = load_image(&images().join(format!("clip_ref{i}.png"))).unwrap();
        let d = max_u8_diff(&ours, &theirs);
        assert!(d <= 1, "image {i}: max pixel difference {d}/255");
    }
}

#[test]
fn stretch_resize_within_1_of_255_of_torchvision_resize_on_pil() {
    for i in 0..3 {
        let img = load_image(&images().join(format!("img{i}.png"))).unwrap();
        let ours = resize(&img, Resize::Stretch, 224);
        let theirs = load_image(&images().join(format!("stretch_ref{i}.png"))).unwrap();
        let d = max_u8_diff(&ours, &theirs);
        assert!(d <= 1, "image {i}: max pixel difference {d}/255");
        // Not a centre crop: the whole image is kept (the two differ on non-square images).
        if img.width() != img.height() {
            assert!(
                max_u8_diff(&ours, &resize(&img, Resize::Clip, 224)) > 2,
                "image {i}"
            );
        }
    }
}

/// The boxes of scripts/make_vision_recipe_fixtures.py's CROP_BOXES: one that shrinks one side
/// and enlarges the other, one that enlarges both, and the whole image.
const CROP_BOXES: [(u32, u32, u32, u32); 3] =
    [(13, 7, 251, 170), (40, 100, 61, 150), (0, 0, 224, 224)];

#[test]
fn resized_crop_within_1_of_255_of_torchvision_resized_crop_on_pil() {
    for (i, crop) in CROP_BOXES.into_iter().enumerate() {
        let img = load_image(&images().join(format!("img{i}.png"))).unwrap();
        let ours = resized_crop(&img, crop, 224);
        let theirs = load_image(&images().join(format!("crop_ref{i}.png"))).unwrap();
        let d = max_u8_diff(&ours, &theirs);
        assert!(d <= 1, "image {i}: max pixel difference {d}/255");
    }
    // The box matters: the same size elsewhere in the image is another picture.
    let img = load_image(&images().join("img1.png")).unwrap();
    let theirs = load_image(&images().join("crop_ref1.png")).unwrap();
    assert!(max_u8_diff(&resized_crop(&img, (0, 0, 61, 150), 224), &theirs) > 1);
}

#[test]
fn normalised_values_match_clip_image_processor_output() {
    let refs =
        candle_core::safetensors::load(images().join("../reference.safetensors"), &Device::Cpu)
            .unwrap();
    for i in 0..3 {
        let img = load_image(&images().join(format!("img{i}.png"))).unwrap();
        let ours = Tensor::from_vec(
            preprocess(&img, Resize::Clip, 224),
            (3, 224, 224),
            &Device::Cpu,
        )
        .unwrap()
        .narrow(1, 0, 4)
        .unwrap()
        .narrow(2, 0, 4)
        .unwrap();
        let theirs = &refs[&format!("images.clip_corner{i}")];
        let ours = ours.to_vec3::<f32>().unwrap();
        let theirs = theirs.to_vec3::<f32>().unwrap();
        for c in 0..3 {
            for y in 0..4 {
                for x in 0..4 {
                    // 1/255 in pixel units is 1/255/std after normalisation.
                    let tol = 1.0 / 255.0 / CLIP_STD[c] + 1e-5;
                    let d = (ours[c][y][x] - theirs[c][y][x]).abs();
                    assert!(d <= tol, "image {i} c{c} ({y},{x}): {d}");
                }
            }
        }
    }
}

#[test]
fn augmentation_is_seeded_and_crops_follow_random_resized_crop() {
    let img = load_image(&images().join("img0.png")).unwrap();
    let a = augment(&img, 224, &mut ChaCha8Rng::seed_from_u64(4));
    let b = augment(&img, 224, &mut ChaCha8Rng::seed_from_u64(4));
    let c = augment(&img, 224, &mut ChaCha8Rng::seed_from_u64(5));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 3 * 224 * 224);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for _ in 0..200 {
        let (x, y, w, h) = random_resized_crop_box(300, 200, &mut rng);
        assert!(x + w <= 300 && y + h <= 200);
        let area = (w * h) as f64 / 60_000.0;
        let ratio = w as f64 / h as f64;
        // Rounding of w and h to pixels loosens the bounds slightly.
        assert!((0.075..=1.0).contains(&area), "area share {area}");
        assert!((0.74..=1.36).contains(&ratio), "ratio {ratio}");
    }
}
