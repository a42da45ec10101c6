//! Helpers shared by integration tests (each test binary uses some of them).
#![allow(dead_code)]

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use homogen::models::Model;
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

/// How far a gradient may be from PyTorch's: per element, `of_scale` × the largest reference
/// gradient of the model plus `of_value` × the element's own reference value.
pub struct GradTolerance {
    /// Share of the largest reference gradient (absolute floor, for elements near zero).
    pub of_scale: f64,
    /// Share of the element's own reference value.
    pub of_value: f64,
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
    let scale = expected
        .values()
        .flat_map(|t| values(t))
        .fold(0.0f64, |m, v| m.max(v.abs()));
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
                let largest = values(g).iter().fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(
                    largest == 0.0,
                    "{what}: {name} has a gradient (max {largest}) where PyTorch has none"
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
