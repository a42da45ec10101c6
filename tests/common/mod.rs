//! Helpers shared by integration tests (each test binary uses some of them).
#![allow(dead_code)]

pub mod http;
pub mod hub;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use homogen::models::heads::HeadKind;
use homogen::models::layers::Ctx;
use homogen::models::{Batch, HeadSpec, Model, Selection};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The device under test: `HOMOGEN_TEST_DEVICE` (`cpu` when unset; `cuda:0` with a build that
/// has the `cuda` feature), so the same tests check the GPU code paths on a GPU machine. Opened
/// once per test binary: candle treats two handles opened on one GPU as different devices.
pub fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let name = std::env::var("HOMOGEN_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
            homogen::device::parse_device(&name).unwrap()
        })
        .clone()
}

/// The largest absolute difference between two tensors of one shape, compared in f32 on the
/// CPU (so tensors of any float dtype, on any device, compare with a reference).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "compared tensors differ in shape");
    let cpu = |t: &Tensor| {
        t.to_device(&Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    };
    (cpu(a) - cpu(b))
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// A tensor's values as f64 on the CPU, flattened.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_device(&Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// How far a loss and gradients may be from PyTorch's: the loss within `loss` of its value;
/// per gradient element, `of_scale` × the largest reference gradient of the model plus
/// `of_value` × the element's own reference value.
pub struct GradTolerance {
    /// Relative tolerance of the loss.
    pub loss: f64,
    /// Share of the largest reference gradient (absolute floor, for elements near zero).
    pub of_scale: f64,
    /// Share of the element's own reference value.
    pub of_value: f64,
}

/// A 3-class linear head, the one the gradient references put on every linear-head case.
pub const LINEAR_3: HeadSpec = HeadSpec {
    kind: HeadKind::Linear,
    classes: 3,
};

/// Sets `model`'s linear head to the reference's (`{case}.input.head_weight`, `head_bias`).
pub fn set_linear_head(model: &Model, refs: &HashMap<String, Tensor>, case: &str) {
    for (param, key) in [
        ("classifier.weight", "head_weight"),
        ("classifier.bias", "head_bias"),
    ] {
        let value = refs[&format!("{case}.input.{key}")]
            .to_dtype(model.store.storage_dtype())
            .unwrap()
            .to_device(model.store.device())
            .unwrap();
        model.store.get(param).unwrap().var().set(&value).unwrap();
    }
}

/// Trains `selection`'s parameters of `model` for one backward pass (dropout off) on `batch`
/// with the labels `{case}.input.labels` of `refs`, and checks the mean cross-entropy (in the
/// storage dtype, as the trainer computes it) against `{case}.loss` and every gradient against
/// `{case}/NAME` ([`assert_gradients_match`]). Returns the worst gradient difference relative
/// to the largest reference gradient.
pub fn assert_loss_and_gradients_match(
    what: &str,
    model: &Model,
    batch: &Batch,
    refs: &HashMap<String, Tensor>,
    case: &str,
    selection: Selection,
    tol: &GradTolerance,
) -> f64 {
    let labels = refs[&format!("{case}.input.labels")]
        .to_dtype(DType::U32)
        .unwrap()
        .to_device(model.store.device())
        .unwrap();
    model.store.set_trainable(|n| selection.selects(n));
    let logits = model.logits(batch, &Ctx::eval()).unwrap();
    let logits = logits.to_dtype(model.store.storage_dtype()).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &labels).unwrap();
    let want = values(&refs[&format!("{case}.loss")])[0];
    let got = values(&loss)[0];
    assert!(
        (got - want).abs() <= tol.loss * want.abs(),
        "{what}: loss {got} vs PyTorch {want}"
    );
    let prefix = format!("{case}/");
    let expected: HashMap<&str, &Tensor> = refs
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|n| (n, v)))
        .collect();
    let grads = loss.backward().unwrap();
    let trains = |n: &str| selection.selects(n);
    assert_gradients_match(what, model, &grads, &expected, trains, tol)
}

/// The largest |value| of a tensor.
fn largest(t: &Tensor) -> f64 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Checks the gradients in `grads` of `model`'s parameters against PyTorch's (`expected`, by
/// our parameter name): every parameter `trains` selects has one within `tol`, or, where
/// PyTorch has none, none or an all-zero one; the others (frozen) have none; every expected
/// gradient of a trained parameter is one of ours. Returns the worst |difference| relative to
/// the largest reference gradient. `what` starts every message.
pub fn assert_gradients_match(
    what: &str,
    model: &Model,
    grads: &GradStore,
    expected: &HashMap<&str, &Tensor>,
    trains: impl Fn(&str) -> bool,
    tol: &GradTolerance,
) -> f64 {
    let scale = expected.values().map(|t| largest(t)).fold(0.0f64, f64::max);
    assert!(scale > 0.0, "{what}: every reference gradient is zero");
    let mut worst = 0.0f64;
    let mut compared = 0;
    for p in model.store.iter() {
        let name = p.name();
        let got = grads.get(p.var().as_tensor());
        if !trains(name) {
            assert!(got.is_none(), "{what}: frozen {name} got a gradient");
            continue;
        }
        let Some(want) = expected.get(name) else {
            // PyTorch gave it no gradient: it must not influence the loss here either.
            if let Some(g) = got {
                let max = largest(g);
                assert!(
                    max == 0.0,
                    "{what}: {name} has a gradient (max {max}) where PyTorch has none"
                );
            }
            continue;
        };
        let got = got.unwrap_or_else(|| panic!("{what}: no gradient for {name}"));
        assert_eq!(got.elem_count(), want.elem_count(), "{what}: {name}'s size");
        for (i, (g, w)) in values(got).iter().zip(values(want)).enumerate() {
            let d = (g - w).abs();
            let allowed = tol.of_scale * scale + tol.of_value * w.abs();
            assert!(
                d <= allowed,
                "{what}: {name}[{i}] = {g}, PyTorch {w} (|diff| {d:.3e} > {allowed:.3e})"
            );
            worst = worst.max(d / scale);
        }
        compared += 1;
    }
    let expected_trained = expected.keys().filter(|n| trains(n)).count();
    assert_eq!(
        compared, expected_trained,
        "{what}: PyTorch has gradients for parameters we do not have"
    );
    worst
}

/// The feature files in a probe feature cache folder: its files, not its `.locks/` folder.
pub fn feature_files(cache: &std::path::Path) -> usize {
    std::fs::read_dir(cache)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count()
}

/// Copies a folder of plain files and folders (a fixture) to `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A copy of the CelebA fixture (tests/fixtures/data/celeba/official) under `dir` whose images
/// are not images: the annotations load, decoding any image fails.
pub fn broken_celeba(dir: &std::path::Path) -> std::path::PathBuf {
    let broken = dir.join("broken-celeba");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/data/celeba/official");
    std::fs::create_dir_all(broken.join("img_align_celeba")).unwrap();
    for f in ["list_attr_celeba.txt", "list_eval_partition.txt"] {
        std::fs::copy(fixture.join(f), broken.join(f)).unwrap();
    }
    for e in std::fs::read_dir(fixture.join("img_align_celeba")).unwrap() {
        let name = e.unwrap().file_name();
        std::fs::write(broken.join("img_align_celeba").join(name), b"not a jpeg").unwrap();
    }
    broken
}
