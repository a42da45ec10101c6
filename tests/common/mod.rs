//! Helpers shared by integration tests (each test binary uses some of them).
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
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
