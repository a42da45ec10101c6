//! `homogen embed` through the binary on the tiny fixtures: features equal transformers'
//! (computed by scripts/make_model_fixtures.py), and bad input exits with code 2.

use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::max_abs_diff;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("reference.safetensors"), &Device::Cpu).unwrap()
}

fn homogen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

fn features(path: &Path) -> Tensor {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()["features"].clone()
}

const SENTENCES: &str = "The lazy fox fails the same people.\nHello\nCafé systems: BitFit, probing & finetuning!\nThis sentence is deliberately long so that it must be truncated to the model's maximum length by the tokenizer, special tokens included, on both sides of the comparison.\n";

#[test]
fn embeds_texts_in_batches_equal_to_transformers_features() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = tmp.path().join("texts.txt");
    std::fs::write(&texts, SENTENCES).unwrap();
    let out = tmp.path().join("f.safetensors");
    let model = fixtures().join("roberta");
    // Batches of 3 and 1: each padded to its own longest text.
    let o = homogen(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--texts",
        texts.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "3",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = max_abs_diff(&features(&out), &reference()["roberta.features"]);
    assert!(d <= 1e-5, "max diff {d}");
    // bf16 stays close to f32 (bf16 keeps 8 bits of mantissa).
    let out16 = tmp.path().join("f16.safetensors");
    let o = homogen(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--texts",
        texts.to_str().unwrap(),
        "--out",
        out16.to_str().unwrap(),
        "--dtype",
        "bf16",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = max_abs_diff(&features(&out16), &reference()["roberta.features"]);
    assert!(d <= 0.15, "bf16 max diff {d}");
}

#[test]
fn embeds_pixels_and_images_with_the_clip_tower() {
    let tmp = tempfile::tempdir().unwrap();
    let px = tmp.path().join("px.safetensors");
    let map: HashMap<String, Tensor> = [(
        "pixel_values".to_string(),
        reference()["clip.pixel_values"].clone(),
    )]
    .into();
    candle_core::safetensors::save(&map, &px).unwrap();
    let out = tmp.path().join("f.safetensors");
    let model = fixtures().join("clip");
    let o = homogen(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--pixels",
        px.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(max_abs_diff(&features(&out), &reference()["clip.features"]) <= 1e-5);
    let images = fixtures().join("images");
    let o = homogen(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // One row per PNG in the folder (the fixture images and their references), 32-wide tower.
    let pngs = std::fs::read_dir(&images)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert_eq!(pngs, 12);
    assert_eq!(features(&out).dims(), [pngs, 32]);
}

#[test]
fn bad_input_exits_with_code_2_and_names_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = tmp.path().join("texts.txt");
    std::fs::write(&texts, "hello\n").unwrap();
    let latin1 = tmp.path().join("latin1.txt");
    std::fs::write(&latin1, b"fine\ncaf\xe9\n").unwrap();
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = tmp.path().join("f.safetensors");
    let clip = fixtures().join("clip");
    let roberta = fixtures().join("roberta");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--model",
                roberta.to_str().unwrap(),
                "--texts",
                empty.to_str().unwrap(),
            ],
            "empty.txt: the file is empty; expected one text per line",
        ),
        (
            vec![
                "--model",
                clip.to_str().unwrap(),
                "--texts",
                texts.to_str().unwrap(),
            ],
            "--images or --pixels",
        ),
        (
            vec![
                "--model",
                roberta.to_str().unwrap(),
                "--texts",
                texts.to_str().unwrap(),
                "--device",
                "tpu",
            ],
            "tpu",
        ),
        (
            vec![
                "--model",
                roberta.to_str().unwrap(),
                "--texts",
                texts.to_str().unwrap(),
                "--dtype",
                "f8",
            ],
            "f8",
        ),
        (
            vec![
                "--model",
                "./no/such/model",
                "--texts",
                texts.to_str().unwrap(),
            ],
            "no/such/model",
        ),
        (
            vec![
                "--model",
                "org/not-cached",
                "--texts",
                texts.to_str().unwrap(),
            ],
            "not-cached",
        ),
        (
            vec![
                "--model",
                clip.to_str().unwrap(),
                "--images",
                "./no/such/folder",
            ],
            "./no/such/folder: no such folder",
        ),
        (
            vec![
                "--model",
                clip.to_str().unwrap(),
                "--pixels",
                "./no/such/pixels.safetensors",
            ],
            "pixels.safetensors: no such file",
        ),
        (
            vec![
                "--model",
                roberta.to_str().unwrap(),
                "--texts",
                tmp.path().to_str().unwrap(),
            ],
            "is a folder; expected a file",
        ),
        (
            vec![
                "--model",
                roberta.to_str().unwrap(),
                "--texts",
                latin1.to_str().unwrap(),
            ],
            "latin1.txt, row 2: not valid UTF-8",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["embed", "--out", out.to_str().unwrap(), "--quiet"];
        all.extend(args);
        let o = homogen(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {err}");
        assert!(err.contains(needle), "{all:?}: {err}");
    }
    assert!(!out.exists());
}
