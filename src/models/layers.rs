//! Differentiable building blocks shared by the text encoder and the CLIP vision tower.
//!
//! candle's fused layer norm and `softmax_last_dim` have no backward pass (DESIGN.md §6): here
//! they always run, and when a gradient is needed a custom op (`Attach`) links their
//! output to their input with the analytic backward. A [`Linear`] whose weight is frozen uses
//! the same custom op with a backward that returns only the input gradient, so BitFit and
//! probing do not pay for weight gradients they throw away.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CudaStorage, DType, Layout, Result, Shape, Tensor, D};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether frozen linears use the frozen-linear custom op ([`Fused::FrozenLinear`], the default)
/// or plain matmuls whose backward also computes the unused weight gradient. Only benchmarks turn it off, to measure what it saves.
static FROZEN_LINEAR_OP: AtomicBool = AtomicBool::new(true);

/// Turns the frozen-linear custom op on (the default) or off, process-wide (for benchmarks).
pub fn set_frozen_linear_op(on: bool) {
    FROZEN_LINEAR_OP.store(on, Ordering::Relaxed);
}

use super::attention::{attention_supported, AttentionOp};
use super::dense::{dense_supported, Dense};
use super::norm::{layer_norm_supported, LayerNormOp};
use super::params::{Init, Param, ParamStore};
use super::pointwise::{dropout_op_supports, BiasAdd, DropoutOp, Smooth, SmoothOp};

/// Whether a forward pass trains (dropout active, seeded) or evaluates (dropout off).
#[derive(Debug)]
pub struct Ctx {
    rng: Option<RefCell<ChaCha8Rng>>,
}

impl Ctx {
    /// Evaluation mode: dropout is the identity.
    pub fn eval() -> Self {
        Ctx { rng: None }
    }

    /// Training mode: dropout masks drawn from a ChaCha8 generator seeded with `seed`.
    pub fn train(seed: u64) -> Self {
        Ctx {
            rng: Some(RefCell::new(ChaCha8Rng::seed_from_u64(seed))),
        }
    }

    /// True in training mode.
    pub fn is_train(&self) -> bool {
        self.rng.is_some()
    }

    /// The dropout of one call with drop probability `p`, its seed drawn from the context's
    /// generator; `None` (and nothing drawn) in evaluation or when `p` is 0.
    pub fn dropout_op(&self, p: f64) -> Option<DropoutOp> {
        let rng = self.rng.as_ref()?;
        (p > 0.0).then(|| DropoutOp {
            seed: rng.borrow_mut().next_u64(),
            p: p as f32,
        })
    }

    /// Inverted dropout with drop probability `p`: in training, zeroes each value with
    /// probability `p` and scales the rest by 1/(1-p); in evaluation, returns `x` unchanged.
    /// Each call draws one seed from the context's generator and the mask follows from that
    /// seed alone, through [`DropoutOp`] (on the CPU for any thread count, and on a CUDA device
    /// for f32 and bf16, with the same mask); other device tensors go through
    /// [`device_dropout`].
    pub fn dropout(&self, x: &Tensor, p: f64) -> Result<Tensor> {
        let Some(op) = self.dropout_op(p) else {
            return Ok(x.clone());
        };
        if dropout_op_supports(x) {
            return x.contiguous()?.apply_op1(op);
        }
        device_dropout(x, p, op.seed)
    }
}

/// Inverted dropout with the mask drawn on `x`'s device (cuRAND on a GPU, seeded with `seed`
/// so that the mask is a function of the seed), as tensor ops: the fallback for device tensors
/// [`DropoutOp`] has no kernel for (f16, f64). Re-seeding creates a cuRAND generator per call,
/// which is why f32 and bf16 take [`DropoutOp`]'s kernel instead. On the CPU (which cannot be
/// seeded this way) the draw comes from candle's thread generator; the tests use that to check
/// the tensor-op path.
pub fn device_dropout(x: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    let dev = x.device();
    if !dev.is_cpu() {
        dev.set_seed(seed)?;
    }
    let u = Tensor::rand(0f32, 1f32, x.shape(), dev)?;
    let mask = (u.ge(p)?.to_dtype(DType::F32)? * (1.0 / (1.0 - p)))?;
    x.mul(&mask.to_dtype(x.dtype())?)
}

/// What an [`Attach`] op's backward computes from its output and the output's gradient.
#[derive(Debug, Clone)]
enum Fused {
    /// `y = x · Wᵀ` with `W` frozen: `dx = dy · W` and no weight gradient (candle's matmul
    /// backward always computes `xᵀ · dy` too, which BitFit and probing would throw away).
    FrozenLinear { weight: Tensor },
    /// `y = softmax(scale · x + mask)` over the last dimension, the mask a constant:
    /// `dx = scale · y ⊙ (dy − Σ dy ⊙ y)`.
    Softmax { scale: f64 },
    /// `y = (x − mean) / sqrt(var + eps)` over the last dimension (no affine part):
    /// `dx = rstd · (dy − mean(dy) − y ⊙ mean(dy ⊙ y))`.
    Normalize { eps: f64 },
}

/// Custom op `(x, y) -> y` that links an output `y` computed outside the graph (by one of
/// candle's fused kernels, which have no backward pass, or a matmul with a frozen weight) back
/// to its input `x`, with the backward of [`Fused`]. For softmax and layer norm the forward is
/// candle's single fused kernel on every device instead of 5 or 9 tensor ops, and the backward
/// is one node instead of one per op, each of which costs candle a zeroed gradient buffer and an
/// addition.
struct Attach(Fused);

impl Attach {
    fn pass_through<S: BackendStorage>(s: &S, l: &Layout) -> Result<(S, Shape)> {
        if !l.is_contiguous() || l.start_offset() != 0 {
            candle_core::bail!("an attached output must be contiguous")
        }
        Ok((s.try_clone(l)?, l.shape().clone()))
    }
}

impl candle_core::CustomOp2 for Attach {
    fn name(&self) -> &'static str {
        match self.0 {
            Fused::FrozenLinear { .. } => "frozen-linear",
            Fused::Softmax { .. } => "softmax-attach",
            Fused::Normalize { .. } => "normalize-attach",
        }
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Self::pass_through(s2, l2)
    }

    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        Self::pass_through(s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        _y: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = match &self.0 {
            Fused::FrozenLinear { weight } => grad.matmul(weight)?,
            Fused::Softmax { scale } => {
                let dot = (grad * res)?.sum_keepdim(D::Minus1)?;
                let dx = (grad.broadcast_sub(&dot)? * res)?;
                if *scale == 1.0 {
                    dx
                } else {
                    (dx * *scale)?
                }
            }
            Fused::Normalize { eps } => {
                let eps = *eps;
                let n = x.dim(D::Minus1)? as f64;
                let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / n)?;
                let rstd = (var + eps)?.sqrt()?.recip()?;
                let mean_g = grad.mean_keepdim(D::Minus1)?;
                let mean_gy = (grad * res)?.mean_keepdim(D::Minus1)?;
                grad.broadcast_sub(&mean_g)?
                    .sub(&res.broadcast_mul(&mean_gy)?)?
                    .broadcast_mul(&rstd)?
            }
        };
        Ok((Some(dx), None))
    }
}

/// `y + b` for `y` `[rows, n]` and a bias `b` `[n]`: through [`BiasAdd`] on the CPU when the bias
/// trains; candle's `broadcast_add` otherwise (on a GPU its row sum is a reduction kernel).
fn add_bias(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !b.track_op() || !y.device().is_cpu() {
        return y.broadcast_add(b);
    }
    y.contiguous()?.apply_op2(&b.contiguous()?, BiasAdd)
}

/// A dense layer `y = x Wᵀ + b` with transformers' `weight` `[out, in]` and `bias` `[out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Param,
    bias: Option<Param>,
}

impl Linear {
    /// Registers `{prefix}.weight` (init normal(0, `std`)) and, if `bias`, `{prefix}.bias` (zeros).
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        std: f64,
    ) -> crate::error::Result<Self> {
        let weight = store.register(
            &format!("{prefix}.weight"),
            (out_dim, in_dim),
            Init::Normal(std),
        )?;
        let bias = if bias {
            Some(store.register(&format!("{prefix}.bias"), out_dim, Init::Zeros)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// A layer over existing parameters; a weight of more than two dimensions (a conv kernel
    /// applied to non-overlapping patches) is flattened to [out, rest].
    pub fn from_params(weight: Param, bias: Option<Param>) -> Self {
        Linear { weight, bias }
    }

    /// Applies the layer to the last dimension of `x`, cast to the weight's compute dtype (bf16
    /// under mixed precision, as autocast casts a linear's input): on the CPU in f32 as one
    /// [`Dense`] node, elsewhere as a matmul (with the frozen-weight op when the weight is
    /// frozen) and a bias add.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.tensor()?.flatten_from(1)?;
        let x = &x.to_dtype(w.dtype())?;
        let frozen_op = FROZEN_LINEAR_OP.load(Ordering::Relaxed);
        if frozen_op && dense_supported(x, &w) {
            let b = match &self.bias {
                Some(b) => b.tensor()?.contiguous()?,
                None => Tensor::zeros(w.dim(0)?, w.dtype(), w.device())?,
            };
            return x.contiguous()?.apply_op3(&w, &b, Dense);
        }
        let dims = x.dims().to_vec();
        let in_dim = *dims.last().unwrap_or(&1);
        let rows = x.elem_count() / in_dim.max(1);
        let x2 = x.reshape((rows, in_dim))?;
        let y = if frozen_op && !self.weight.is_trainable() && x2.track_op() {
            let y0 = x2.detach().matmul(&w.t()?)?.contiguous()?;
            x2.apply_op2(&y0, Attach(Fused::FrozenLinear { weight: w }))?
        } else {
            x2.matmul(&w.t()?)?
        };
        let y = match &self.bias {
            Some(b) => add_bias(&y, &b.tensor()?)?,
            None => y,
        };
        let mut out_dims = dims;
        let last = out_dims.len() - 1;
        out_dims[last] = y.dim(1)?;
        y.reshape(out_dims)
    }
}

/// Layer normalisation over the last dimension with `weight` and `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Param,
    bias: Param,
    eps: f64,
}

impl LayerNorm {
    /// Registers `{prefix}.weight` (ones) and `{prefix}.bias` (zeros).
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        dim: usize,
        eps: f64,
    ) -> crate::error::Result<Self> {
        Ok(LayerNorm {
            weight: store.register_full(&format!("{prefix}.weight"), dim, Init::Ones)?,
            bias: store.register_full(&format!("{prefix}.bias"), dim, Init::Zeros)?,
            eps,
        })
    }

    /// Normalises the last dimension; differentiable whenever anything involved needs a gradient.
    /// The output has the parameters' dtype (f32 under mixed precision, whatever the input's,
    /// as autocast runs layer norm). On the CPU in f32 one [`LayerNormOp`] node; elsewhere
    /// candle's fused kernel, with the attached backward when a gradient is needed.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.weight.tensor()?, self.bias.tensor()?);
        let x = &x.to_dtype(w.dtype())?;
        if layer_norm_supported(x, &w) {
            let op = LayerNormOp {
                eps: self.eps as f32,
            };
            return x
                .contiguous()?
                .apply_op3(&w.contiguous()?, &b.contiguous()?, op);
        }
        if !(x.track_op() || w.track_op() || b.track_op()) {
            return candle_nn::ops::layer_norm(&x.contiguous()?, &w, &b, self.eps as f32);
        }
        layer_norm_differentiable(x, &w, &b, self.eps)
    }
}

/// Differentiable layer norm: candle's fused normalisation kernel with the backward of
/// `Fused::Normalize` attached, then the affine part as tensor ops (so `w` and `b` get their
/// gradients from candle). Normalised in f32 for half-precision inputs.
pub fn layer_norm_differentiable(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?.contiguous()?;
    let h = xf.dim(D::Minus1)?;
    let ones = Tensor::ones(h, DType::F32, xf.device())?;
    let zeros = Tensor::zeros(h, DType::F32, xf.device())?;
    let normed = candle_nn::ops::layer_norm(&xf.detach(), &ones, &zeros, eps as f32)?;
    let normed = xf.apply_op2(&normed, Attach(Fused::Normalize { eps }))?;
    normed.to_dtype(dtype)?.broadcast_mul(w)?.broadcast_add(b)
}

/// Layer norm from elementary tensor ops, differentiated op by op by candle: the reference the
/// fused version is tested against.
pub fn layer_norm_composite(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let mean = xf.mean_keepdim(D::Minus1)?;
    let centred = xf.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.to_dtype(dtype)?.broadcast_mul(w)?.broadcast_add(b)
}

/// A lookup table `weight` [n, dim].
#[derive(Debug, Clone)]
pub struct Embedding {
    weight: Param,
}

impl Embedding {
    /// Registers `{prefix}.weight` with the given initialiser.
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        n: usize,
        dim: usize,
        init: Init,
    ) -> crate::error::Result<Self> {
        Ok(Embedding {
            weight: store.register_full(&format!("{prefix}.weight"), (n, dim), init)?,
        })
    }

    /// Rows of the table for integer ids of any shape; output shape = ids' shape + `[dim]`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let w = self.weight.tensor()?;
        let mut dims = ids.dims().to_vec();
        dims.push(w.dim(1)?);
        w.index_select(&ids.flatten_all()?, 0)?.reshape(dims)
    }
}

/// Activation functions named as in transformers' configs (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: exact GELU with erf.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh` / `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `quick_gelu`: x·σ(1.702x), CLIP's.
    QuickGelu,
    /// `relu`.
    Relu,
}

impl Activation {
    /// Parses a transformers `hidden_act` value.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "quick_gelu" => Some(Activation::QuickGelu),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    /// Applies the activation. On the CPU the smooth ones run as one parallel pass with a
    /// one-pass backward ([`SmoothOp`]); elsewhere as candle's ops (all differentiable).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let smooth = match self {
            Activation::Gelu => Smooth::GeluErf,
            Activation::GeluTanh => Smooth::GeluTanh,
            Activation::QuickGelu => Smooth::QuickGelu,
            Activation::Relu => return x.relu(),
        };
        if x.device().is_cpu() {
            return x.contiguous()?.apply_op1(SmoothOp(smooth));
        }
        match smooth {
            Smooth::GeluErf => x.gelu_erf(),
            Smooth::GeluTanh => x.gelu(),
            Smooth::QuickGelu => x.mul(&candle_nn::ops::sigmoid(&(x * 1.702)?)?),
        }
    }
}

/// Softmax over the last dimension: candle's fused kernel, with the backward of
/// `Fused::Softmax` attached when a gradient is needed.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    scaled_masked_softmax(x, 1.0, None)
}

/// `softmax(scale · x + mask)` over the last dimension, `mask` (a constant, broadcast to `x`)
/// optional. The scaling and the mask are applied outside the graph, so the backward is one
/// node (`Fused::Softmax`) and no gradient is computed for the mask.
pub fn scaled_masked_softmax(x: &Tensor, scale: f64, mask: Option<&Tensor>) -> Result<Tensor> {
    let x = x.contiguous()?;
    let mut z = x.detach();
    if scale != 1.0 {
        z = (z * scale)?;
    }
    if let Some(m) = mask {
        z = z.broadcast_add(&m.detach())?;
    }
    let y = candle_nn::ops::softmax_last_dim(&z.contiguous()?)?;
    if x.track_op() {
        x.apply_op2(&y, Attach(Fused::Softmax { scale }))
    } else {
        Ok(y)
    }
}

/// Scaled dot-product multi-head attention. `q`: [batch, queries, hidden] (the whole sequence, or
/// fewer positions when only their outputs are read); `k`, `v`: [batch, seq, hidden]; `mask`: an
/// additive mask broadcastable to [batch, heads, queries, seq] (0 keep, large negative drop).
/// Returns [batch, queries, hidden] before the output projection.
/// On the CPU in f32 with a key mask ([batch, 1, 1, seq]) or none, one [`AttentionOp`] node;
/// otherwise [`attention_composed`].
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    heads: usize,
    ctx: &Ctx,
    dropout: f64,
) -> Result<Tensor> {
    let (b, _, hidden) = q.dims3()?;
    let s = k.dim(1)?;
    let key_mask = mask.is_none_or(|m| m.elem_count() == b * s);
    if !attention_supported(q) || !key_mask {
        return attention_composed(q, k, v, mask, heads, ctx, dropout);
    }
    let d = hidden / heads.max(1);
    let mask = match mask {
        Some(m) => Some(m.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?),
        None => None,
    };
    let op = AttentionOp::new(
        heads,
        (1.0 / (d as f64).sqrt()) as f32,
        mask,
        ctx.dropout_op(dropout),
    );
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

/// [`attention`] from candle ops (any device and dtype): heads split by copies, the scores
/// matmul, the scaled and masked softmax node, dropout, the second matmul and the head merge.
/// `mask` is broadcastable to [batch, heads, queries, seq].
pub fn attention_composed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    heads: usize,
    ctx: &Ctx,
    dropout: f64,
) -> Result<Tensor> {
    let (b, sq, hidden) = q.dims3()?;
    let d = hidden / heads;
    let split = |t: &Tensor| -> Result<Tensor> {
        let len = t.dim(1)?;
        t.reshape((b, len, heads, d))?.transpose(1, 2)?.contiguous()
    };
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    // Scores, mask and softmax in f32 under half-precision compute (as autocast does); the
    // 1/√d scaling and the mask are folded into the softmax node.
    let dtype = q.dtype();
    let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
    let mask = mask.map(|m| m.to_dtype(DType::F32)).transpose()?;
    let probs = scaled_masked_softmax(&scores, 1.0 / (d as f64).sqrt(), mask.as_ref())?;
    let probs = probs.to_dtype(dtype)?;
    let probs = ctx.dropout(&probs, dropout)?;
    probs.matmul(&v)?.transpose(1, 2)?.reshape((b, sq, hidden))
}

/// `a + b` in the wider of their dtypes, as PyTorch promotes: a bf16 layer output added to the
/// f32 residual stream under mixed precision gives f32.
pub fn add_promoted(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    match (a.dtype(), b.dtype()) {
        (x, y) if x == y => a + b,
        (x, y) if x.size_in_bytes() < y.size_in_bytes() => a.to_dtype(y)? + b,
        (x, _) => a + b.to_dtype(x)?,
    }
}

/// Additive attention mask [batch, 1, 1, seq] from a 0/1 mask [batch, seq]: 0 where attended,
/// the dtype's most negative finite value (as transformers uses) where padded.
pub fn additive_mask(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, s) = mask.dims2()?;
    let m = mask.to_dtype(DType::F32)?;
    let min = match dtype {
        DType::BF16 => -3.38e38,
        DType::F16 => -65504.0,
        _ => f32::MIN as f64,
    };
    ((m.ones_like()? - m)? * min)?
        .to_dtype(dtype)?
        .reshape((b, 1, 1, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::max_diff;
    use candle_core::Device;

    #[test]
    fn dropout_is_seeded_scaled_and_off_in_eval() {
        let x = Tensor::ones((100, 100), DType::F32, &Device::Cpu).unwrap();
        let a = Ctx::train(1)
            .dropout(&x, 0.25)
            .unwrap()
            .flatten_all()
            .unwrap();
        let b = Ctx::train(1)
            .dropout(&x, 0.25)
            .unwrap()
            .flatten_all()
            .unwrap();
        let a = a.to_vec1::<f32>().unwrap();
        assert_eq!(a, b.to_vec1::<f32>().unwrap());
        let zeros = a.iter().filter(|&&v| v == 0.0).count();
        // Binomial(10000, 0.25): mean 2500, sd 43; 2300..2700 is beyond 4.5 sd.
        assert!((2300..2700).contains(&zeros), "{zeros} zeros");
        // Kept values are scaled by 1 / (1 - 0.25).
        assert!(a.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        let e = Ctx::eval().dropout(&x, 0.25).unwrap();
        assert_eq!(e.sum_all().unwrap().to_scalar::<f32>().unwrap(), 10000.0);
    }

    /// The GPU's tensor-op dropout, run on the CPU: drops about p, scales the rest by
    /// 1/(1-p), and the gradient passes through the same mask.
    #[test]
    fn device_dropout_drops_p_scales_the_rest_and_backpropagates_its_mask() {
        let x = candle_core::Var::ones((100, 100), DType::F32, &Device::Cpu).unwrap();
        let y = device_dropout(x.as_tensor(), 0.25, 7).unwrap();
        let vals = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let zeros = vals.iter().filter(|&&v| v == 0.0).count();
        assert!((2300..2700).contains(&zeros), "{zeros} zeros");
        assert!(vals
            .iter()
            .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        let grads = y.sum_all().unwrap().backward().unwrap();
        let g = grads.get(x.as_tensor()).unwrap();
        let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(g, vals, "d(sum y)/dx is the mask, which equals y for x = 1");
    }

    #[test]
    fn differentiable_layer_norm_equals_fused_kernel() {
        let x = Tensor::randn(0f32, 3.0, (4, 7, 16), &Device::Cpu).unwrap();
        let w = Tensor::randn(1f32, 0.5, 16, &Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 0.5, 16, &Device::Cpu).unwrap();
        let fused = candle_nn::ops::layer_norm(&x, &w, &b, 1e-5).unwrap();
        let ours = layer_norm_differentiable(&x, &w, &b, 1e-5).unwrap();
        assert!(max_diff(&ours, &fused) < 1e-5);
        let composite = layer_norm_composite(&x, &w, &b, 1e-5).unwrap();
        assert!(max_diff(&composite, &fused) < 1e-5);
    }

    /// The attached backward passes give the gradients candle derives op by op from the
    /// textbook formulas, for a random upstream gradient.
    #[test]
    fn attached_backwards_equal_op_by_op_gradients() {
        let dev = Device::Cpu;
        let x = candle_core::Var::randn(0f32, 2.0, (3, 5, 24), &dev).unwrap();
        let w = candle_core::Var::randn(1f32, 0.5, 24, &dev).unwrap();
        let b = candle_core::Var::randn(0f32, 0.5, 24, &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (3, 5, 24), &dev).unwrap();
        let grads = |y: Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        let fused = grads(layer_norm_differentiable(xt, wt, bt, 1e-5).unwrap());
        let composite = grads(layer_norm_composite(xt, wt, bt, 1e-5).unwrap());
        for (name, v) in [("x", xt), ("w", wt), ("b", bt)] {
            let d = max_diff(fused.get(v).unwrap(), composite.get(v).unwrap());
            assert!(d < 1e-5, "layer norm d{name}: {d}");
        }
        // Bias add: the custom op's gradients equal broadcast_add's.
        let y = candle_core::Var::randn(0f32, 1.0, (15, 24), &dev).unwrap();
        let r2 = r.reshape((15, 24)).unwrap();
        let bias_grads = |out: Tensor| (out * &r2).unwrap().sum_all().unwrap().backward().unwrap();
        let sum = add_bias(y.as_tensor(), bt).unwrap();
        assert_eq!(
            max_diff(&sum, &y.as_tensor().broadcast_add(bt).unwrap()),
            0.0
        );
        let fused = bias_grads(sum);
        let plain = bias_grads(y.as_tensor().broadcast_add(bt).unwrap());
        for (name, v) in [("y", y.as_tensor()), ("b", bt)] {
            let d = max_diff(fused.get(v).unwrap(), plain.get(v).unwrap());
            assert!(d < 1e-5, "bias add d{name}: {d}");
        }
        let fused = grads(softmax_last(xt).unwrap());
        let composite = grads(candle_nn::ops::softmax(xt, D::Minus1).unwrap());
        let d = max_diff(fused.get(xt).unwrap(), composite.get(xt).unwrap());
        assert!(d < 1e-6, "softmax dx: {d}");
        // A non-trivial gradient (not all zeros) was compared.
        let norm = fused.get(xt).unwrap().abs().unwrap().max_all().unwrap();
        assert!(norm.to_scalar::<f32>().unwrap() > 1e-3);
        // Scaled and masked (two of five positions masked out per sequence): the same values
        // and input gradient as scaling, adding the mask and a softmax op by op.
        let keep = Tensor::new(
            &[[1u32, 1, 0, 1, 0], [1, 0, 1, 1, 0], [0, 1, 1, 1, 0]],
            &dev,
        )
        .unwrap();
        let mask = additive_mask(&keep, DType::F32)
            .unwrap()
            .reshape((3, 1, 5))
            .unwrap();
        let x5 = candle_core::Var::randn(0f32, 2.0, (3, 24, 5), &dev).unwrap();
        let r5 = Tensor::randn(0f32, 1.0, (3, 24, 5), &dev).unwrap();
        let grads5 = |y: Tensor| (y * &r5).unwrap().sum_all().unwrap().backward().unwrap();
        let ours = scaled_masked_softmax(x5.as_tensor(), 0.125, Some(&mask)).unwrap();
        let plain = candle_nn::ops::softmax(
            &(x5.as_tensor() * 0.125)
                .unwrap()
                .broadcast_add(&mask)
                .unwrap(),
            D::Minus1,
        )
        .unwrap();
        assert!(max_diff(&ours, &plain) < 1e-6);
        let dropped = (1.0 - keep.to_dtype(DType::F32).unwrap()).unwrap();
        let masked_sum = ours
            .broadcast_mul(&dropped.reshape((3, 1, 5)).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(masked_sum, 0.0, "masked positions get probability 0");
        let (g_ours, g_plain) = (grads5(ours), grads5(plain));
        let d = max_diff(
            g_ours.get(x5.as_tensor()).unwrap(),
            g_plain.get(x5.as_tensor()).unwrap(),
        );
        assert!(d < 1e-6, "scaled masked softmax dx: {d}");
    }

    #[test]
    fn quick_gelu_is_x_times_sigmoid_1702x() {
        let x = Tensor::new(&[-2f32, 0.0, 1.0], &Device::Cpu).unwrap();
        let y = Activation::QuickGelu
            .forward(&x)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // 1 * 1/(1+e^-1.702) = 0.845795; -2/(1+e^3.404) = -0.0647...
        assert!((y[2] - 0.845_795).abs() < 1e-5, "{}", y[2]);
        assert!((y[0] + 2.0 / (1.0 + 3.404f32.exp())).abs() < 1e-6);
        assert_eq!(y[1], 0.0);
    }
}
