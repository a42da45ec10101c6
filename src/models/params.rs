//! The parameter store: every trainable tensor of a model under its transformers name
//! (`roberta.encoder.layer.0.attention.self.query.weight`, `classifier.out_proj.bias`, ...),
//! held as a candle [`Var`] together with a trainable flag and the initialiser transformers uses.
//!
//! Modules keep [`Param`] handles that share the `Var` and the flag with the store, so an
//! adaptation method picks what trains by name ([`ParamStore::set_trainable`]) after the model is
//! built. A frozen parameter enters the graph detached: no gradient flows to it, and frozen
//! linears skip the weight-gradient matmul altogether (see [`crate::models::layers::Linear`]).

use candle_core::{DType, Device, Shape, Tensor, Var};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::device::Precision;
use crate::error::{Error, Result};

/// How a parameter is initialised when training from scratch (the distribution; see
/// [`super::init`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Normal(0, std).
    Normal(f64),
    /// Normal(0, std) with one row (the padding token's embedding) set to zero.
    NormalZeroRow(f64, usize),
    /// All zeros (biases, layer-norm biases).
    Zeros,
    /// All ones (layer-norm weights).
    Ones,
    /// Uniform on [-bound, bound] (PyTorch's default for `nn.Linear` and `nn.Conv2d`).
    Uniform(f64),
}

/// One named parameter: a candle variable plus a trainable flag shared with its store.
#[derive(Debug, Clone)]
pub struct Param {
    name: Arc<str>,
    var: Var,
    trainable: Arc<AtomicBool>,
    /// Shared by every parameter of the store: false inside
    /// [`ParamStore::without_gradients`].
    gradients: Arc<AtomicBool>,
    init: Init,
    compute: DType,
}

impl Param {
    /// The parameter's transformers name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tensor to use in a forward pass: the tracked variable when trainable (outside
    /// [`ParamStore::without_gradients`]), a detached view of the same storage otherwise; cast
    /// to the compute dtype when it differs from the storage dtype (mixed precision: the cast is
    /// part of the graph, so the gradient reaches the f32 variable in f32).
    pub fn tensor(&self) -> candle_core::Result<Tensor> {
        let t = if self.is_trainable() && self.gradients.load(Ordering::Relaxed) {
            self.var.as_tensor().clone()
        } else {
            self.var.as_detached_tensor()
        };
        if t.dtype() == self.compute {
            Ok(t)
        } else {
            t.to_dtype(self.compute)
        }
    }

    /// The underlying variable (for optimisers and for loading weights).
    pub fn var(&self) -> &Var {
        &self.var
    }

    /// Whether gradients flow to this parameter.
    pub fn is_trainable(&self) -> bool {
        self.trainable.load(Ordering::Relaxed)
    }

    /// How transformers initialises it.
    pub fn init(&self) -> Init {
        self.init
    }
}

/// All parameters of one model by name, on one device, stored and computed in one
/// [`Precision`].
#[derive(Debug, Clone)]
pub struct ParamStore {
    params: BTreeMap<String, Param>,
    device: Device,
    precision: Precision,
    gradients: Arc<AtomicBool>,
}

/// Puts the store's gradient switch back as it was when dropped (also on an early return).
struct RestoreGradients {
    switch: Arc<AtomicBool>,
    was: bool,
}

impl Drop for RestoreGradients {
    fn drop(&mut self) {
        self.switch.store(self.was, Ordering::Relaxed);
    }
}

impl ParamStore {
    /// An empty store whose parameters will live on `device` with `precision` (a plain
    /// [`DType`] stores and computes in that dtype).
    pub fn new(device: Device, precision: impl Into<Precision>) -> Self {
        ParamStore {
            params: BTreeMap::new(),
            device,
            precision: precision.into(),
            gradients: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Runs `f` with every parameter entering forward passes detached, as PyTorch's
    /// `torch.no_grad()` does: evaluation of a model being trained then records no graph (no
    /// activations kept for a backward pass that never comes) and takes the layers' inference
    /// kernels. Trainable flags are unchanged. Not for use while another thread trains the
    /// same model.
    pub fn without_gradients<T>(&self, f: impl FnOnce() -> T) -> T {
        let _restore = RestoreGradients {
            switch: self.gradients.clone(),
            was: self.gradients.swap(false, Ordering::Relaxed),
        };
        f()
    }

    /// The device parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype dense layers compute in (their inputs are cast to it; see [`Precision`]).
    pub fn dtype(&self) -> DType {
        self.precision.compute
    }

    /// The dtype parameters are stored in (what loading, optimisers and checkpoints use).
    pub fn storage_dtype(&self) -> DType {
        self.precision.storage
    }

    /// Registers a parameter (zero-filled until loaded or initialised) that forward passes use
    /// in the compute dtype: the dense layers' weights and biases, whose products run in bf16
    /// under mixed precision. All start trainable. Registering the same name twice is a
    /// programming error reported as a runtime error.
    pub fn register(&mut self, name: &str, shape: impl Into<Shape>, init: Init) -> Result<Param> {
        self.register_as(name, shape, init, self.precision.compute)
    }

    /// Registers a parameter that forward passes use in its storage dtype even under mixed
    /// precision: embedding tables and layer norms, which PyTorch's autocast leaves in f32 (so
    /// the residual stream they feed stays f32, and no embedding table is cast per step).
    pub fn register_full(
        &mut self,
        name: &str,
        shape: impl Into<Shape>,
        init: Init,
    ) -> Result<Param> {
        self.register_as(name, shape, init, self.precision.storage)
    }

    fn register_as(
        &mut self,
        name: &str,
        shape: impl Into<Shape>,
        init: Init,
        compute: DType,
    ) -> Result<Param> {
        if self.params.contains_key(name) {
            return Err(Error::Runtime(format!(
                "parameter `{name}` registered twice"
            )));
        }
        let var = Var::zeros(shape, self.precision.storage, &self.device).map_err(candle_err)?;
        let param = Param {
            name: Arc::from(name),
            var,
            trainable: Arc::new(AtomicBool::new(true)),
            gradients: self.gradients.clone(),
            init,
            compute,
        };
        self.params.insert(name.to_string(), param.clone());
        Ok(param)
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.params.get(name)
    }

    /// Every parameter in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.params.values()
    }

    /// Parameter names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.keys().map(|k| k.as_str())
    }

    /// Makes exactly the parameters whose name satisfies `pred` trainable; all others frozen.
    pub fn set_trainable(&self, pred: impl Fn(&str) -> bool) {
        for (name, p) in &self.params {
            p.trainable.store(pred(name), Ordering::Relaxed);
        }
    }

    /// The trainable parameters, in name order (what an optimiser updates).
    pub fn trainable(&self) -> Vec<Param> {
        self.params
            .values()
            .filter(|p| p.is_trainable())
            .cloned()
            .collect()
    }

    /// The trainable parameters as `(name, variable)` pairs, in name order: what an optimiser
    /// takes (`adapt::NamedVars`).
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.params
            .iter()
            .filter(|(_, p)| p.is_trainable())
            .map(|(name, p)| (name.clone(), p.var.clone()))
            .collect()
    }

    /// Number of scalar values in the trainable parameters.
    pub fn trainable_count(&self) -> usize {
        self.trainable().iter().map(|p| p.var.elem_count()).sum()
    }

    /// Number of scalar values in all parameters.
    pub fn total_count(&self) -> usize {
        self.params.values().map(|p| p.var.elem_count()).sum()
    }
}

/// Wraps a candle error as a runtime error.
pub(crate) fn candle_err(e: candle_core::Error) -> Error {
    Error::Runtime(format!("tensor operation failed: {e}"))
}
