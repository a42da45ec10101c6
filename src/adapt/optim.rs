//! Optimisers over named candle variables: AdamW exactly as `torch.optim.AdamW` and SGD with
//! momentum exactly as `torch.optim.SGD`.
//!
//! candle-nn's `AdamW` defaults to weight decay 0.01 and has no parameter groups, and its `SGD`
//! has no momentum (DESIGN.md §6), so these are our own. Both take the trainable parameters as
//! `(name, Var)` pairs: the name decides the weight-decay group ([`DecayRule`]) and keys the
//! checkpointed state. A parameter without a gradient in the [`GradStore`] is skipped, its state
//! untouched (PyTorch does the same, including AdamW's per-parameter step count).
//!
//! Hot path: for contiguous f32 parameters (the normal case, mixed precision included: the
//! parameters stay f32) the update is a fused in-place kernel, one pass over memory with no tensor
//! temporaries: on the CPU `kernel.rs` (moments held as plain buffers), on a CUDA device
//! `device_kernel.rs` (moments as device tensors, same arithmetic). Elsewhere (bf16 or f64
//! storage, strided parameters) the same arithmetic runs as candle tensor operations
//! ([`UpdatePath::TensorOps`]), which allocates temporaries but works on any device.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, InplaceOp2, Tensor, Var};

use super::device_kernel::DeviceUpdate;
use super::kernel::{AdamWScalars, AdamWUpdate, SgdScalars, SgdUpdate};
use super::state::{self, Buffer, StateFile};
use super::tensor_error;
use crate::error::Result;

/// Trainable parameters with their names, in a fixed order.
pub type NamedVars = Vec<(String, Var)>;

/// Which parameters receive weight decay when the decay is above 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecayRule {
    /// transformers' Trainer grouping: no decay for biases and layer-norm weights ([`no_decay`]).
    #[default]
    ExceptBiasAndNorm,
    /// Every parameter decays (one parameter group, as `torch.optim.SGD(model.parameters())`).
    All,
}

impl DecayRule {
    /// Whether the parameter called `name` is decayed under this rule.
    pub fn decays(self, name: &str) -> bool {
        match self {
            DecayRule::All => true,
            DecayRule::ExceptBiasAndNorm => !no_decay(name),
        }
    }
}

/// True for the parameters transformers' Trainer exempts from weight decay, by name: biases
/// (the name ends with `bias`) and layer-norm parameters (the name contains `LayerNorm`,
/// `layer_norm`, `layernorm`, `ln_`, or `layrnorm` — transformers' CLIP spells its first norm
/// `pre_layrnorm`).
pub fn no_decay(name: &str) -> bool {
    name.ends_with("bias")
        || ["LayerNorm", "layer_norm", "layernorm", "layrnorm", "ln_"]
            .iter()
            .any(|marker| name.contains(marker))
}

/// How an optimiser updates a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdatePath {
    /// The fused in-place kernel (CPU, or CUDA in a `cuda` build) for contiguous f32
    /// parameters, tensor operations otherwise.
    #[default]
    Auto,
    /// Always candle tensor operations (any device and dtype; allocates temporaries).
    TensorOps,
}

/// The interface the training loop uses, the same for every optimiser.
pub trait Optimizer {
    /// One update with the gradients in `grads`; parameters without a gradient are skipped.
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_scaled(grads, 1.0)
    }

    /// One update with every gradient multiplied by `grad_scale` first — the factor
    /// [`clip_coefficient`](super::clip_coefficient) returns — without rewriting the gradients.
    fn step_scaled(&mut self, grads: &GradStore, grad_scale: f64) -> Result<()>;

    /// The learning rate the next step uses.
    fn lr(&self) -> f64;

    /// Sets the learning rate for the next step (the schedule's value).
    fn set_lr(&mut self, lr: f64);

    /// The parameters this optimiser updates.
    fn params(&self) -> &[(String, Var)];

    /// The state as named tensors (see [`Optimizer::save_state`] for the names).
    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>>;

    /// Replaces the state with `tensors` (as [`Optimizer::state_tensors`] names them), after
    /// checking every name and shape; `origin` names the source in error messages. On error the
    /// state is left as it was.
    fn load_state_tensors(&mut self, tensors: HashMap<String, Tensor>, origin: &Path)
        -> Result<()>;

    /// Writes the state to a safetensors file, atomically: per parameter `NAME.step` (i64,
    /// shape `[1]`) and `NAME.exp_avg`/`NAME.exp_avg_sq` (AdamW) or `NAME.momentum_buffer`
    /// (SGD), for the parameters that have been stepped.
    fn save_state(&self, path: &Path) -> Result<()> {
        state::save(&self.state_tensors()?, path)
    }

    /// Reads a state written by [`Optimizer::save_state`]; a tensor with an unknown name, a wrong
    /// shape or a missing partner is an input error naming the tensor.
    fn load_state(&mut self, path: &Path) -> Result<()> {
        let device = self
            .params()
            .first()
            .map(|(_, v)| v.device().clone())
            .unwrap_or(Device::Cpu);
        let tensors = state::load(path, &device)?;
        self.load_state_tensors(tensors, path)
    }
}

/// AdamW's hyper-parameters; the defaults are transformers' `TrainingArguments` defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate (overwritten every step by the schedule). Default 5e-5.
    pub lr: f64,
    /// Default 0.9.
    pub beta1: f64,
    /// Default 0.999.
    pub beta2: f64,
    /// Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay. Default 0.
    pub weight_decay: f64,
    /// Which parameters decay when `weight_decay > 0`. Default: all but biases and layer norms.
    pub decay_rule: DecayRule,
    /// Fused CPU kernel or tensor operations.
    pub path: UpdatePath,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 5e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay_rule: DecayRule::ExceptBiasAndNorm,
            path: UpdatePath::Auto,
        }
    }
}

/// One parameter with its decay and optimiser state.
struct Slot<S> {
    name: String,
    var: Var,
    weight_decay: f64,
    state: Option<S>,
}

fn slots<S>(params: NamedVars, weight_decay: f64, rule: DecayRule) -> Vec<Slot<S>> {
    params
        .into_iter()
        .map(|(name, var)| Slot {
            weight_decay: if rule.decays(&name) {
                weight_decay
            } else {
                0.0
            },
            name,
            var,
            state: None,
        })
        .collect()
}

/// Which update runs for one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// The fused in-place CPU kernel (`kernel.rs`), state in host buffers.
    Host,
    /// The fused in-place CUDA kernel (`device_kernel.rs`), state in device tensors.
    Device,
    /// candle tensor operations, state in tensors.
    TensorOps,
}

impl Kernel {
    /// The update for `var`: a fused kernel for contiguous f32 parameters on the CPU, or on a
    /// CUDA device in a build with the `cuda` feature, unless `path` asks for tensor operations.
    fn for_var(var: &Var, path: UpdatePath) -> Kernel {
        let fusable =
            path == UpdatePath::Auto && var.dtype() == DType::F32 && var.layout().is_contiguous();
        if !fusable {
            Kernel::TensorOps
        } else if var.device().is_cpu() {
            Kernel::Host
        } else if cfg!(feature = "cuda") && var.device().is_cuda() {
            Kernel::Device
        } else {
            Kernel::TensorOps
        }
    }

    /// Whether the optimiser state lives in host buffers.
    fn host(self) -> bool {
        self == Kernel::Host
    }
}

/// Runs a fused update `op` on `var` in place with the gradient `g` (made contiguous: a copy
/// only when the backward pass left it strided).
fn update_in_place(var: &Var, g: &Tensor, op: &impl InplaceOp2) -> Result<()> {
    let g = g.contiguous().map_err(tensor_error)?;
    var.as_tensor().inplace_op2(&g, op).map_err(tensor_error)
}

/// AdamW's state for one parameter.
struct AdamState {
    step: u64,
    exp_avg: Buffer,
    exp_avg_sq: Buffer,
}

/// `torch.optim.AdamW`: decoupled weight decay `p -= lr*wd*p` before the Adam update, bias
/// correction as PyTorch, per-parameter step counts.
pub struct AdamW {
    config: AdamWConfig,
    slots: Vec<Slot<AdamState>>,
    params: NamedVars,
}

impl AdamW {
    /// An AdamW over `params` (the trainable ones only).
    pub fn new(params: NamedVars, config: AdamWConfig) -> Self {
        AdamW {
            config,
            slots: slots(params.clone(), config.weight_decay, config.decay_rule),
            params,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// The weight decay each parameter gets, by name (0 for the no-decay group).
    pub fn weight_decays(&self) -> Vec<(String, f64)> {
        self.slots
            .iter()
            .map(|s| (s.name.clone(), s.weight_decay))
            .collect()
    }
}

impl Optimizer for AdamW {
    fn step_scaled(&mut self, grads: &GradStore, grad_scale: f64) -> Result<()> {
        let c = self.config;
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let kernel = Kernel::for_var(&slot.var, c.path);
            let st = match &mut slot.state {
                Some(st) => st,
                None => slot.state.insert(AdamState {
                    step: 0,
                    exp_avg: Buffer::zeros(&slot.var, kernel.host())?,
                    exp_avg_sq: Buffer::zeros(&slot.var, kernel.host())?,
                }),
            };
            let step = st.step + 1;
            let t = step as f64;
            let bias_correction1 = 1.0 - c.beta1.powf(t);
            let bias_correction2 = 1.0 - c.beta2.powf(t);
            let step_size = c.lr / bias_correction1;
            let bias_correction2_sqrt = bias_correction2.sqrt();
            let decay = 1.0 - c.lr * slot.weight_decay;
            let scalars = AdamWScalars {
                grad_scale: grad_scale as f32,
                decay: decay as f32,
                one_minus_beta1: (1.0 - c.beta1) as f32,
                beta2: c.beta2 as f32,
                one_minus_beta2: (1.0 - c.beta2) as f32,
                bias_correction2_sqrt: bias_correction2_sqrt as f32,
                eps: c.eps as f32,
                neg_step_size: (-step_size) as f32,
            };
            match (&mut st.exp_avg, &mut st.exp_avg_sq) {
                (Buffer::Host(m), Buffer::Host(v)) if kernel == Kernel::Host => {
                    let op = AdamWUpdate {
                        exp_avg: RefCell::new(m.as_mut_slice()),
                        exp_avg_sq: RefCell::new(v.as_mut_slice()),
                        s: scalars,
                    };
                    update_in_place(&slot.var, g, &op)?;
                }
                (Buffer::Device(m), Buffer::Device(v)) if kernel == Kernel::Device => {
                    let op = DeviceUpdate::AdamW {
                        exp_avg: m,
                        exp_avg_sq: v,
                        s: scalars,
                    };
                    update_in_place(&slot.var, g, &op)?;
                }
                (m, v) => {
                    let m_t = m.tensor(&slot.var)?;
                    let v_t = v.tensor(&slot.var)?;
                    let (p, m_t, v_t) = adamw_tensor_ops(
                        slot.var.as_tensor(),
                        g,
                        &m_t,
                        &v_t,
                        grad_scale,
                        decay,
                        c,
                        bias_correction2_sqrt,
                        step_size,
                    )
                    .map_err(tensor_error)?;
                    slot.var.set(&p).map_err(tensor_error)?;
                    *m = Buffer::Device(m_t);
                    *v = Buffer::Device(v_t);
                }
            }
            st.step = step;
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for slot in &self.slots {
            if let Some(st) = &slot.state {
                out.push((format!("{}.step", slot.name), state::step_tensor(st.step)?));
                out.push((
                    format!("{}.exp_avg", slot.name),
                    st.exp_avg.tensor(&slot.var)?,
                ));
                out.push((
                    format!("{}.exp_avg_sq", slot.name),
                    st.exp_avg_sq.tensor(&slot.var)?,
                ));
            }
        }
        Ok(out)
    }

    fn load_state_tensors(
        &mut self,
        tensors: HashMap<String, Tensor>,
        origin: &Path,
    ) -> Result<()> {
        let vars: Vec<(&str, &Var)> = self
            .slots
            .iter()
            .map(|s| (s.name.as_str(), &s.var))
            .collect();
        let mut file = StateFile::new(tensors, origin, &vars, &["step", "exp_avg", "exp_avg_sq"])?;
        let mut loaded = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let host = Kernel::for_var(&slot.var, self.config.path).host();
            loaded.push(match file.take_step(&slot.name)? {
                None => {
                    file.expect_absent(&slot.name, &["exp_avg", "exp_avg_sq"])?;
                    None
                }
                Some(step) => Some(AdamState {
                    step,
                    exp_avg: file.take_buffer(&slot.name, "exp_avg", &slot.var, host)?,
                    exp_avg_sq: file.take_buffer(&slot.name, "exp_avg_sq", &slot.var, host)?,
                }),
            });
        }
        for (slot, st) in self.slots.iter_mut().zip(loaded) {
            slot.state = st;
        }
        Ok(())
    }
}

/// AdamW with candle tensor operations, in PyTorch's order; returns new (param, m, v).
#[allow(clippy::too_many_arguments)]
fn adamw_tensor_ops(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    grad_scale: f64,
    decay: f64,
    c: AdamWConfig,
    bias_correction2_sqrt: f64,
    step_size: f64,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let g = if grad_scale != 1.0 {
        (g * grad_scale)?
    } else {
        g.clone()
    };
    let p = if decay != 1.0 {
        (p * decay)?
    } else {
        p.clone()
    };
    let m = (m + ((&g - m)? * (1.0 - c.beta1))?)?;
    let v = ((v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let denom = ((v.sqrt()? / bias_correction2_sqrt)? + c.eps)?;
    let p = (p + ((&m * -step_size)? / denom)?)?;
    Ok((p, m, v))
}

/// SGD's hyper-parameters; the defaults are the vision recipe (DESIGN.md §2): momentum 0.9,
/// no weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (overwritten every step by the schedule). Default 0.01.
    pub lr: f64,
    /// Momentum (dampening 0, no Nesterov). Default 0.9; 0 keeps no buffer.
    pub momentum: f64,
    /// L2 penalty added to the gradient (`grad + weight_decay * param`). Default 0.
    pub weight_decay: f64,
    /// Which parameters decay when `weight_decay > 0`. Default: all, as
    /// `torch.optim.SGD(model.parameters())`.
    pub decay_rule: DecayRule,
    /// Fused CPU kernel or tensor operations.
    pub path: UpdatePath,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
            decay_rule: DecayRule::All,
            path: UpdatePath::Auto,
        }
    }
}

/// SGD's state for one parameter: the number of steps taken and the momentum buffer.
struct SgdState {
    step: u64,
    momentum_buffer: Option<Buffer>,
}

/// `torch.optim.SGD` with momentum: `buf = momentum*buf + grad` (the first step `buf = grad`),
/// `p -= lr*buf`; weight decay is added to the gradient first.
pub struct Sgd {
    config: SgdConfig,
    slots: Vec<Slot<SgdState>>,
    params: NamedVars,
}

impl Sgd {
    /// An SGD over `params` (the trainable ones only).
    pub fn new(params: NamedVars, config: SgdConfig) -> Self {
        Sgd {
            config,
            slots: slots(params.clone(), config.weight_decay, config.decay_rule),
            params,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Optimizer for Sgd {
    fn step_scaled(&mut self, grads: &GradStore, grad_scale: f64) -> Result<()> {
        let c = self.config;
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let kernel = Kernel::for_var(&slot.var, c.path);
            let st = slot.state.get_or_insert(SgdState {
                step: 0,
                momentum_buffer: None,
            });
            st.step += 1;
            let first = st.momentum_buffer.is_none();
            if c.momentum != 0.0 && first {
                st.momentum_buffer = Some(Buffer::zeros(&slot.var, kernel.host())?);
            }
            let scalars = SgdScalars {
                grad_scale: grad_scale as f32,
                weight_decay: slot.weight_decay as f32,
                momentum: c.momentum as f32,
                neg_lr: (-c.lr) as f32,
            };
            let host_buffer = !matches!(st.momentum_buffer, Some(Buffer::Device(_)));
            let device_buffer = !matches!(st.momentum_buffer, Some(Buffer::Host(_)));
            if kernel == Kernel::Host && host_buffer {
                let op = SgdUpdate {
                    momentum_buffer: match &mut st.momentum_buffer {
                        Some(Buffer::Host(b)) => Some(RefCell::new(b.as_mut_slice())),
                        _ => None,
                    },
                    first,
                    s: scalars,
                };
                update_in_place(&slot.var, g, &op)?;
                continue;
            }
            if kernel == Kernel::Device && device_buffer {
                let op = DeviceUpdate::Sgd {
                    momentum_buffer: match &st.momentum_buffer {
                        Some(Buffer::Device(b)) => Some(b),
                        _ => None,
                    },
                    first,
                    s: scalars,
                };
                update_in_place(&slot.var, g, &op)?;
                continue;
            }
            // Tensor-operation path.
            let buf = match &st.momentum_buffer {
                Some(b) => Some(b.tensor(&slot.var)?),
                None => None,
            };
            let (p, buf) = sgd_tensor_ops(
                slot.var.as_tensor(),
                g,
                buf.as_ref(),
                first,
                grad_scale,
                slot.weight_decay,
                c,
            )
            .map_err(tensor_error)?;
            slot.var.set(&p).map_err(tensor_error)?;
            st.momentum_buffer = buf.map(Buffer::Device);
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for slot in &self.slots {
            if let Some(st) = &slot.state {
                out.push((format!("{}.step", slot.name), state::step_tensor(st.step)?));
                if let Some(b) = &st.momentum_buffer {
                    out.push((
                        format!("{}.momentum_buffer", slot.name),
                        b.tensor(&slot.var)?,
                    ));
                }
            }
        }
        Ok(out)
    }

    fn load_state_tensors(
        &mut self,
        tensors: HashMap<String, Tensor>,
        origin: &Path,
    ) -> Result<()> {
        let vars: Vec<(&str, &Var)> = self
            .slots
            .iter()
            .map(|s| (s.name.as_str(), &s.var))
            .collect();
        let mut file = StateFile::new(tensors, origin, &vars, &["step", "momentum_buffer"])?;
        let mut loaded = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let host = Kernel::for_var(&slot.var, self.config.path).host();
            loaded.push(match file.take_step(&slot.name)? {
                None => {
                    file.expect_absent(&slot.name, &["momentum_buffer"])?;
                    None
                }
                Some(step) => {
                    let momentum_buffer = if self.config.momentum != 0.0 {
                        Some(file.take_buffer(&slot.name, "momentum_buffer", &slot.var, host)?)
                    } else {
                        file.expect_absent(&slot.name, &["momentum_buffer"])?;
                        None
                    };
                    Some(SgdState {
                        step,
                        momentum_buffer,
                    })
                }
            });
        }
        for (slot, st) in self.slots.iter_mut().zip(loaded) {
            slot.state = st;
        }
        Ok(())
    }
}

/// SGD with candle tensor operations, in PyTorch's order; returns new (param, buffer).
fn sgd_tensor_ops(
    p: &Tensor,
    g: &Tensor,
    buf: Option<&Tensor>,
    first: bool,
    grad_scale: f64,
    weight_decay: f64,
    c: SgdConfig,
) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let mut d = if grad_scale != 1.0 {
        (g * grad_scale)?
    } else {
        g.clone()
    };
    if weight_decay != 0.0 {
        d = (d + (p * weight_decay)?)?;
    }
    let buf = match buf {
        None => None,
        Some(_) if first => Some(d.clone()),
        Some(b) => Some(((b * c.momentum)? + &d)?),
    };
    let step = buf.as_ref().unwrap_or(&d);
    let p = (p + (step * -c.lr)?)?;
    Ok((p, buf))
}

/// Either optimiser's configuration, so a run's settings can name one and build it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerConfig {
    /// [`AdamW`] (the language recipe).
    AdamW(AdamWConfig),
    /// [`Sgd`] with momentum (the vision recipe).
    Sgd(SgdConfig),
}

impl OptimizerConfig {
    /// The configured optimiser over `params` (the trainable ones only).
    pub fn build(self, params: NamedVars) -> Box<dyn Optimizer> {
        match self {
            OptimizerConfig::AdamW(c) => Box::new(AdamW::new(params, c)),
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(params, c)),
        }
    }

    /// The base learning rate the schedule scales.
    pub fn base_lr(&self) -> f64 {
        match self {
            OptimizerConfig::AdamW(c) => c.lr,
            OptimizerConfig::Sgd(c) => c.lr,
        }
    }
}
