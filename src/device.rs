//! The one place that chooses the compute device and the floating-point dtype.
//!
//! CPU is the default. `cuda:N` needs the crate's `cuda` feature (candle's CUDA backend, which
//! needs nvcc to build); without it, asking for CUDA is an input error, not a silent fallback.

use crate::error::{Error, InputError, Result};
use candle_core::{DType, Device};

/// Parses a device name: `cpu` or `cuda:N` (`cuda` alone means `cuda:0`).
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim();
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match name.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| device_error(name))?,
        None => return Err(device_error(name)),
    };
    cuda_device(ordinal)
}

fn device_error(name: &str) -> Error {
    InputError::new(format!(
        "unknown device `{name}`: expected `cpu` or `cuda:N`"
    ))
    .at_key("--device")
    .into()
}

#[cfg(feature = "cuda")]
fn cuda_device(ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|e| {
        // The driver's error on its first line; candle appends a backtrace when one is captured.
        let e = e.to_string();
        let first = e.lines().next().unwrap_or_default();
        Error::Runtime(format!(
            "cannot open cuda:{ordinal} ({first}): is an NVIDIA driver loaded and GPU {ordinal} visible (nvidia-smi, CUDA_VISIBLE_DEVICES)?"
        ))
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(ordinal: usize) -> Result<Device> {
    Err(InputError::new(format!(
        "cuda:{ordinal} requested but this build has no CUDA support; rebuild with `--features cuda`"
    ))
    .at_key("--device")
    .into())
}

/// How a model keeps and computes its numbers: parameters are stored in `storage`, and dense
/// layers compute in `compute`. Training in bf16 is mixed precision as PyTorch's autocast does
/// it: f32 master weights that the optimiser updates (a bf16 weight would round away updates
/// below 1/256 of its size); the dense layers' products (inputs cast to bf16), their outputs,
/// activations and attention's products in bf16; embeddings, layer norms, the residual stream,
/// softmax and the loss in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    /// The dtype of the stored parameters (what optimisers and checkpoints see).
    pub storage: DType,
    /// The dtype dense layers compute in: their weights' and biases' copies in a forward pass,
    /// their inputs (cast) and outputs. Embeddings and layer norms use the storage dtype.
    pub compute: DType,
}

impl Precision {
    /// Training precision for a compute dtype: f32 master weights under any compute dtype.
    pub fn training(compute: DType) -> Self {
        Precision {
            storage: DType::F32,
            compute,
        }
    }
}

impl From<DType> for Precision {
    /// Storage and compute in one dtype (inference, or f32 training).
    fn from(dtype: DType) -> Self {
        Precision {
            storage: dtype,
            compute: dtype,
        }
    }
}

/// Parses a compute dtype: `f32` (default) or `bf16` (inference, or mixed-precision training
/// with [`Precision::training`]).
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name.trim() {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        other => Err(
            InputError::new(format!("unknown dtype `{other}`: expected `f32` or `bf16`"))
                .at_key("--dtype")
                .into(),
        ),
    }
}

/// Fixes the number of threads candle's CPU kernels use, once, before any thread pool exists:
/// `threads`, or else the count candle picks itself (the physical cores). A value the user set
/// in `RAYON_NUM_THREADS` is kept. Without the variable candle counts the cores again, reading
/// /proc, on every matrix product.
pub fn fix_thread_count(threads: Option<usize>) {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = threads.unwrap_or_else(candle_core::utils::get_num_threads);
        std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_unknown_devices() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        let e = parse_device("tpu").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("tpu"));
        assert!(parse_device("cuda:x").is_err());
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert_eq!(parse_dtype("f16").unwrap_err().exit_code(), 2);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_an_input_error() {
        assert_eq!(parse_device("cuda:0").unwrap_err().exit_code(), 2);
    }
}
