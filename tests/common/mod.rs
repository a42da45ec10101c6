//! Helpers shared by integration tests.

use candle_core::Device;
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
