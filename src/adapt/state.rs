//! Optimiser state: the per-parameter buffers, and their safetensors form for checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use super::tensor_error;
use crate::error::{Error, InputError, Result};

/// One parameter-sized optimiser buffer (a moment or a momentum buffer).
pub(crate) enum Buffer {
    /// Held as plain memory for the fused CPU kernel, in the parameter's element order.
    Host(Vec<f32>),
    /// A tensor on the parameter's device, for the tensor-operation path.
    Device(Tensor),
}

impl Buffer {
    /// A zero buffer shaped like `var`, held for the fused kernel when `host`.
    pub(crate) fn zeros(var: &Var, host: bool) -> Result<Self> {
        Ok(if host {
            Buffer::Host(vec![0.0; var.elem_count()])
        } else {
            Buffer::Device(var.zeros_like().map_err(tensor_error)?)
        })
    }

    /// The buffer as a tensor shaped like `var` (a copy for a host buffer).
    pub(crate) fn tensor(&self, var: &Var) -> Result<Tensor> {
        match self {
            Buffer::Host(v) => Tensor::from_slice(v, var.shape(), var.device()),
            Buffer::Device(t) => Ok(t.clone()),
        }
        .map_err(tensor_error)
    }

    /// A buffer from a loaded tensor already checked to have `var`'s shape.
    fn from_tensor(t: &Tensor, var: &Var, host: bool) -> Result<Self> {
        Ok(if host {
            Buffer::Host(
                t.to_dtype(DType::F32)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(tensor_error)?,
            )
        } else {
            Buffer::Device(
                t.to_dtype(var.dtype())
                    .and_then(|t| t.to_device(var.device()))
                    .map_err(tensor_error)?,
            )
        })
    }
}

/// A step count as the i64 tensor of shape `[1]` a checkpoint stores.
pub(crate) fn step_tensor(step: u64) -> Result<Tensor> {
    let step = i64::try_from(step)
        .map_err(|_| Error::Runtime(format!("step count {step} does not fit in i64")))?;
    Tensor::new(&[step], &Device::Cpu).map_err(tensor_error)
}

/// Writes named tensors to a safetensors file through a temporary name and a rename.
pub(crate) fn save(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    crate::failures::write_safetensors(&refs, path)
}

/// Reads every tensor of a safetensors state file; a missing or unreadable file is bad input.
pub(crate) fn load(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(InputError::new("optimizer state file not found")
            .in_file(path)
            .into());
    }
    candle_core::safetensors::load(path, device).map_err(|e| {
        InputError::new(format!("not a readable safetensors optimizer state: {e}"))
            .in_file(path)
            .into()
    })
}

/// The tensors of a state file being matched against an optimiser's parameters.
pub(crate) struct StateFile<'a> {
    tensors: HashMap<String, Tensor>,
    origin: &'a Path,
}

impl<'a> StateFile<'a> {
    /// Checks that every tensor is `PARAM.FIELD` for a known parameter and field and has the
    /// right shape (`[1]` for `step`, the parameter's shape otherwise).
    pub(crate) fn new(
        tensors: HashMap<String, Tensor>,
        origin: &'a Path,
        vars: &[(&str, &Var)],
        fields: &[&str],
    ) -> Result<Self> {
        let by_name: HashMap<&str, &Var> = vars.iter().copied().collect();
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        for key in names {
            let bad = |msg: String| -> Error {
                InputError::new(format!("tensor `{key}`: {msg}"))
                    .in_file(origin)
                    .into()
            };
            let (param, field) = key
                .rsplit_once('.')
                .ok_or_else(|| bad(format!("expected PARAM.FIELD with FIELD one of {fields:?}")))?;
            if !fields.contains(&field) {
                return Err(bad(format!(
                    "unknown state field `{field}`, expected one of {fields:?} \
                     (is this another optimizer's state?)"
                )));
            }
            let var = by_name
                .get(param)
                .ok_or_else(|| bad(format!("no trainable parameter named `{param}`")))?;
            let found = tensors[key].dims().to_vec();
            let expected = if field == "step" {
                vec![1]
            } else {
                var.dims().to_vec()
            };
            if found != expected {
                return Err(bad(format!("expected shape {expected:?}, found {found:?}")));
            }
        }
        Ok(StateFile { tensors, origin })
    }

    fn missing(&self, key: &str) -> Error {
        InputError::new(format!("tensor `{key}` missing"))
            .in_file(self.origin)
            .into()
    }

    /// The step count of `param`, or `None` when the file has no state for it.
    pub(crate) fn take_step(&mut self, param: &str) -> Result<Option<u64>> {
        let key = format!("{param}.step");
        let Some(t) = self.tensors.remove(&key) else {
            return Ok(None);
        };
        let step = t
            .to_dtype(DType::I64)
            .and_then(|t| t.to_vec1::<i64>())
            .map_err(tensor_error)?[0];
        u64::try_from(step).map(Some).map_err(|_| {
            InputError::new(format!("tensor `{key}`: negative step count {step}"))
                .in_file(self.origin)
                .into()
        })
    }

    /// The buffer `param.field`, which must be present.
    pub(crate) fn take_buffer(
        &mut self,
        param: &str,
        field: &str,
        var: &Var,
        host: bool,
    ) -> Result<Buffer> {
        let key = format!("{param}.{field}");
        let t = self
            .tensors
            .remove(&key)
            .ok_or_else(|| self.missing(&key))?;
        Buffer::from_tensor(&t, var, host)
    }

    /// Fails when the file has any of `param.field` for `fields` (state without a step count).
    pub(crate) fn expect_absent(&self, param: &str, fields: &[&str]) -> Result<()> {
        let found = fields
            .iter()
            .map(|f| format!("{param}.{f}"))
            .find(|k| self.tensors.contains_key(k));
        match found {
            Some(k) => Err(InputError::new(format!(
                "tensor `{param}.step` missing (found `{k}` without it)"
            ))
            .in_file(self.origin)
            .into()),
            None => Ok(()),
        }
    }
}
