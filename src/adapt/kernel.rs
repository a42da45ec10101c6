//! Fused, in-place CPU update kernels for the optimisers.
//!
//! One AdamW or SGD step for one parameter is a single pass over memory: the parameter is
//! updated in its own storage (a candle in-place op, so every clone of the `Var` sees the new
//! values), the moment buffers are plain `Vec<f32>`s owned by the optimiser and updated in the
//! same loop, and gradient clipping enters as a scale factor on the gradient. No tensor
//! temporaries are allocated; candle's tensor-op formulation of the same update allocates more
//! than ten parameter-sized temporaries per step (13-21x slower, BENCHMARKS.md). Large tensors
//! are split into chunks processed in parallel by rayon; the arithmetic per element is the same
//! whatever the split, so results do not depend on the thread count.
//!
//! The arithmetic follows PyTorch's single-tensor implementations operation by operation (in
//! f32, with scalars rounded to f32 as PyTorch's CPU kernels do), so results agree with
//! `torch.optim.AdamW` / `torch.optim.SGD` to a few units in the last place.

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout};
use rayon::prelude::*;

/// Elements per parallel chunk; smaller tensors are updated on the calling thread.
pub(crate) const CHUNK: usize = 1 << 15;

/// The per-step scalars of one AdamW update (PyTorch's `_single_tensor_adamw`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamWScalars {
    /// Multiplies the clipped gradient (1 when clipping is inactive).
    pub grad_scale: f32,
    /// `1 - lr * weight_decay`, the decoupled decay factor.
    pub decay: f32,
    /// `1 - beta1`, the weight of `exp_avg.lerp_(grad, 1 - beta1)`.
    pub one_minus_beta1: f32,
    /// `beta2`.
    pub beta2: f32,
    /// `1 - beta2`.
    pub one_minus_beta2: f32,
    /// `sqrt(1 - beta2^t)`.
    pub bias_correction2_sqrt: f32,
    /// `eps`.
    pub eps: f32,
    /// `-lr / (1 - beta1^t)`.
    pub neg_step_size: f32,
}

/// AdamW on one f32 parameter: updates the parameter in place and the moments alongside.
pub(crate) struct AdamWUpdate<'a> {
    /// First moment (`exp_avg`), one entry per parameter element.
    pub exp_avg: RefCell<&'a mut [f32]>,
    /// Second moment (`exp_avg_sq`).
    pub exp_avg_sq: RefCell<&'a mut [f32]>,
    /// This step's scalars.
    pub s: AdamWScalars,
}

#[inline(always)]
fn adamw_element(s: &AdamWScalars, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    let g = g * s.grad_scale;
    // param.mul_(1 - lr * weight_decay)
    let mut x = *p * s.decay;
    // exp_avg.lerp_(grad, 1 - beta1): self + weight * (end - self)
    *m += s.one_minus_beta1 * (g - *m);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    *v = *v * s.beta2 + s.one_minus_beta2 * g * g;
    // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    let denom = v.sqrt() / s.bias_correction2_sqrt + s.eps;
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    x += s.neg_step_size * *m / denom;
    *p = x;
}

fn adamw_slices(s: &AdamWScalars, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        adamw_element(s, p, g, m, v);
    }
}

impl InplaceOp2 for AdamWUpdate<'_> {
    fn name(&self) -> &'static str {
        "homogen-adamw-update"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (p, g) = f32_slices(s1, l1, s2, l2, self.name())?;
        let mut m = self.exp_avg.borrow_mut();
        let mut v = self.exp_avg_sq.borrow_mut();
        check_len(p.len(), m.len(), self.name())?;
        check_len(p.len(), v.len(), self.name())?;
        let s = &self.s;
        if p.len() <= CHUNK {
            adamw_slices(s, p, g, &mut m, &mut v);
        } else {
            p.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((p, g), m), v)| adamw_slices(s, p, g, m, v));
        }
        Ok(())
    }
}

/// The per-step scalars of one SGD update (PyTorch's `_single_tensor_sgd`, dampening 0,
/// no Nesterov).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SgdScalars {
    /// Multiplies the clipped gradient (1 when clipping is inactive).
    pub grad_scale: f32,
    /// Weight decay added to the gradient: `grad.add(param, alpha=weight_decay)`.
    pub weight_decay: f32,
    /// Momentum factor.
    pub momentum: f32,
    /// `-lr`.
    pub neg_lr: f32,
}

/// SGD on one f32 parameter; with momentum the buffer is updated alongside.
pub(crate) struct SgdUpdate<'a> {
    /// The momentum buffer, or `None` when momentum is 0 (PyTorch keeps none then).
    pub momentum_buffer: Option<RefCell<&'a mut [f32]>>,
    /// True on the buffer's first step: the buffer becomes a copy of the gradient.
    pub first: bool,
    /// This step's scalars.
    pub s: SgdScalars,
}

fn sgd_slices(s: &SgdScalars, p: &mut [f32], g: &[f32], buf: Option<&mut [f32]>, first: bool) {
    let grad = |p: f32, g: f32| {
        let g = g * s.grad_scale;
        if s.weight_decay != 0.0 {
            g + s.weight_decay * p
        } else {
            g
        }
    };
    match buf {
        None => {
            for (p, &g) in p.iter_mut().zip(g) {
                *p += s.neg_lr * grad(*p, g);
            }
        }
        Some(buf) => {
            for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                let d = grad(*p, g);
                // first step: buf = grad.clone(); later: buf.mul_(momentum).add_(grad)
                *b = if first { d } else { *b * s.momentum + d };
                // param.add_(buf, alpha=-lr)
                *p += s.neg_lr * *b;
            }
        }
    }
}

impl InplaceOp2 for SgdUpdate<'_> {
    fn name(&self) -> &'static str {
        "homogen-sgd-update"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (p, g) = f32_slices(s1, l1, s2, l2, self.name())?;
        let s = &self.s;
        let first = self.first;
        let mut guard = self.momentum_buffer.as_ref().map(|b| b.borrow_mut());
        if let Some(buf) = guard.as_deref() {
            check_len(p.len(), buf.len(), self.name())?;
        }
        match guard.as_deref_mut() {
            Some(buf) if p.len() > CHUNK => p
                .par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(buf.par_chunks_mut(CHUNK))
                .for_each(|((p, g), b)| sgd_slices(s, p, g, Some(b), first)),
            None if p.len() > CHUNK => p
                .par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .for_each(|(p, g)| sgd_slices(s, p, g, None, first)),
            buf => sgd_slices(s, p, g, buf.map(|b| &mut **b), first),
        }
        Ok(())
    }
}

/// The contiguous f32 element ranges of a parameter and its gradient, of equal length.
fn f32_slices<'a>(
    s1: &'a mut CpuStorage,
    l1: &Layout,
    s2: &'a CpuStorage,
    l2: &Layout,
    op: &str,
) -> candle_core::Result<(&'a mut [f32], &'a [f32])> {
    let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
    else {
        candle_core::bail!("{op}: parameter and gradient must be contiguous");
    };
    let (CpuStorage::F32(p), CpuStorage::F32(g)) = (s1, s2) else {
        candle_core::bail!("{op}: parameter and gradient must be f32");
    };
    check_len(p1 - p0, g1 - g0, op)?;
    Ok((&mut p[p0..p1], &g[g0..g1]))
}

fn check_len(expected: usize, found: usize, op: &str) -> candle_core::Result<()> {
    if expected != found {
        candle_core::bail!("{op}: {found} elements where the parameter has {expected}");
    }
    Ok(())
}
