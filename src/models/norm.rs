//! Layer normalisation with its affine part on the CPU as one graph node, forward and backward
//! each one parallel pass over the rows.
//!
//! The general path ([`super::layers::layer_norm_differentiable`]) is a fused normalisation with
//! an attached backward, then a broadcast multiply by the weight and a broadcast add of the bias:
//! five graph nodes, each a zero-filled gradient buffer and an addition in candle's backward, and
//! full-size temporaries for the weight's and bias's gradients before they are summed. Here the
//! backward recomputes each row's mean and inverse deviation from the input and writes `dx`
//! directly; the weight and bias gradients are summed per block of rows and the blocks' sums
//! added in block order, so the result does not depend on the thread count.
//!
//! For f32 tensors on the CPU ([`layer_norm_supported`]); the layer uses the general path
//! elsewhere.

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::pointwise::{f32_slice, read_f32, uninit};
use super::vmath;

/// Rows per parallel block (and per partial sum of the weight and bias gradients).
const BLOCK_ROWS: usize = 32;

/// `y = (x − mean) / sqrt(var + eps) · w + b` over the last dimension; inputs `x` [..., h],
/// `w` `[h]`, `b` `[h]`, contiguous f32. The variance is the biased one, as PyTorch's.
pub struct LayerNormOp {
    /// Added to the variance.
    pub eps: f32,
}

/// Whether [`LayerNormOp`] can run on `x`: f32 on the CPU.
pub fn layer_norm_supported(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && w.dtype() == DType::F32
}

/// Mean and 1/sqrt(var + eps) of one row, two passes (centred variance), each summed in 16
/// lanes ([`vmath::lane_sum_by`]; a single running sum waits on every addition).
#[inline]
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = vmath::lanes(row, 0.0, |a, b| a + b) / n;
    let var = vmath::lane_sum_by(row.len(), |i| (row[i] - mean) * (row[i] - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (
            f32_slice(sx, lx, "layer norm", "x")?,
            f32_slice(sw, lw, "layer norm", "the weight")?,
            f32_slice(sb, lb, "layer norm", "the bias")?,
        );
        let h = w.len();
        if h == 0 || b.len() != h || lx.shape().dims().last() != Some(&h) {
            candle_core::bail!(
                "layer norm: x {:?}, weight {:?}, bias {:?} do not fit together",
                lx.shape(),
                lw.shape(),
                lb.shape()
            )
        }
        let eps = self.eps;
        let mut y = uninit(x.len());
        y.par_chunks_mut(BLOCK_ROWS * h)
            .zip(x.par_chunks(BLOCK_ROWS * h))
            .for_each(|(yb, xb)| {
                for (yr, xr) in yb.chunks_exact_mut(h).zip(xb.chunks_exact(h)) {
                    let (mean, rstd) = moments(xr, eps);
                    for (((o, &v), &wi), &bi) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                        *o = (v - mean) * rstd * wi + bi;
                    }
                }
            });
        Ok((CpuStorage::F32(y), lx.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = x.dim(D::Minus1)?;
        let need = Need {
            dx: x.track_op(),
            dw: w.track_op(),
            db: b.track_op(),
        };
        let eps = self.eps;
        let cpu = Device::Cpu;
        read_f32(x, |xv| {
            read_f32(w, |wv| {
                read_f32(grad, |g| {
                    let block = BLOCK_ROWS * h;
                    let mut dx = uninit(if need.dx { xv.len() } else { 0 });
                    let partial: Vec<BlockSums> = if need.dx {
                        dx.par_chunks_mut(block)
                            .zip(xv.par_chunks(block).zip(g.par_chunks(block)))
                            .map(|(dxb, (xb, gb))| block_backward(xb, gb, wv, eps, need, Some(dxb)))
                            .collect()
                    } else {
                        xv.par_chunks(block)
                            .zip(g.par_chunks(block))
                            .map(|(xb, gb)| block_backward(xb, gb, wv, eps, need, None))
                            .collect()
                    };
                    // Block sums added in block order: the same bits for any thread count.
                    let total = |pick: fn(&BlockSums) -> &Vec<f32>| {
                        let mut t = vec![0f32; h];
                        for p in &partial {
                            for (t, &v) in t.iter_mut().zip(pick(p)) {
                                *t += v;
                            }
                        }
                        Tensor::from_vec(t, h, &cpu)
                    };
                    let dx = if need.dx {
                        Some(Tensor::from_vec(dx, x.shape(), &cpu)?)
                    } else {
                        None
                    };
                    let dw = if need.dw {
                        Some(total(|p| &p.0)?)
                    } else {
                        None
                    };
                    let db = if need.db {
                        Some(total(|p| &p.1)?)
                    } else {
                        None
                    };
                    Ok((dx, dw, db))
                })
            })
        })
    }
}

/// One block's `(Σ g ⊙ x̂, Σ g)`: its share of the weight and bias gradients.
type BlockSums = (Vec<f32>, Vec<f32>);

/// Which gradients a backward pass computes.
#[derive(Clone, Copy)]
struct Need {
    dx: bool,
    dw: bool,
    db: bool,
}

/// The backward over one block of rows (`xb`, `gb`: whole rows of width `w.len()`): writes
/// `dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂))` with `ĝ = g ⊙ w` into `dxb` when given, and
/// returns the block's `Σ g ⊙ x̂` and `Σ g` (empty when not needed).
fn block_backward(
    xb: &[f32],
    gb: &[f32],
    w: &[f32],
    eps: f32,
    need: Need,
    mut dxb: Option<&mut [f32]>,
) -> BlockSums {
    let h = w.len();
    let mut dw = vec![0f32; if need.dw { h } else { 0 }];
    let mut db = vec![0f32; if need.db { h } else { 0 }];
    for (r, (xr, gr)) in xb.chunks_exact(h).zip(gb.chunks_exact(h)).enumerate() {
        let (mean, rstd) = moments(xr, eps);
        if need.dw {
            for ((a, &v), &gi) in dw.iter_mut().zip(xr).zip(gr) {
                *a += gi * ((v - mean) * rstd);
            }
        }
        if need.db {
            for (a, &gi) in db.iter_mut().zip(gr) {
                *a += gi;
            }
        }
        if let Some(dxb) = dxb.as_deref_mut() {
            let s1 = vmath::lane_sum_by(h, |i| gr[i] * w[i]);
            let s2 = vmath::lane_sum_by(h, |i| gr[i] * w[i] * ((xr[i] - mean) * rstd));
            let (m1, m2) = (s1 / h as f32, s2 / h as f32);
            let out = &mut dxb[r * h..(r + 1) * h];
            for (((o, &v), &gi), &wi) in out.iter_mut().zip(xr).zip(gr).zip(w) {
                *o = rstd * (gi * wi - m1 - (v - mean) * rstd * m2);
            }
        }
    }
    (dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::layers::layer_norm_composite;
    use crate::models::test_util::{assert_same_grads, max_diff};
    use candle_core::Var;

    /// Values equal candle's fused kernel and the op-by-op formula; the gradients of x, w and
    /// b equal those candle derives op by op, for a random upstream gradient; a detached
    /// (frozen) weight gets none.
    #[test]
    fn layer_norm_op_equals_the_composite_in_values_and_gradients() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 2.0, (3, 41, 24), &dev).unwrap();
        let w = Var::randn(1f32, 0.5, 24, &dev).unwrap();
        let b = Var::randn(0f32, 0.5, 24, &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (3, 41, 24), &dev).unwrap();
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        let op = || LayerNormOp { eps: 1e-5 };
        let ours = xt.apply_op3(wt, bt, op()).unwrap();
        let fused = candle_nn::ops::layer_norm(xt, wt, bt, 1e-5).unwrap();
        let composite = layer_norm_composite(xt, wt, bt, 1e-5).unwrap();
        assert!(max_diff(&ours, &fused) < 1e-5);
        assert!(max_diff(&ours, &composite) < 1e-5);
        let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let (g_ours, g_comp) = (grads(&ours), grads(&composite));
        assert_same_grads(
            &g_ours,
            &g_comp,
            &[("x", xt), ("w", wt), ("b", bt)],
            1e-4,
            0.1,
        );
        let frozen = xt.apply_op3(&wt.detach(), bt, op()).unwrap();
        let g_frozen = grads(&frozen);
        assert!(g_frozen.get(wt).is_none());
        assert_eq!(
            max_diff(g_frozen.get(xt).unwrap(), g_ours.get(xt).unwrap()),
            0.0
        );
        assert_eq!(
            max_diff(g_frozen.get(bt).unwrap(), g_ours.get(bt).unwrap()),
            0.0
        );
    }

    /// The weight and bias gradients are summed per block of rows in block order: the same
    /// bits with one thread or three.
    #[test]
    fn layer_norm_gradients_do_not_depend_on_the_thread_count() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (7 * BLOCK_ROWS + 5, 16), &dev).unwrap();
        let w = Var::randn(1f32, 0.5, 16, &dev).unwrap();
        let b = Var::randn(0f32, 0.5, 16, &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (7 * BLOCK_ROWS + 5, 16), &dev).unwrap();
        let run = |threads: usize| {
            crate::models::test_util::with_threads(threads, || {
                let y = x
                    .as_tensor()
                    .apply_op3(w.as_tensor(), b.as_tensor(), LayerNormOp { eps: 1e-5 })
                    .unwrap();
                let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                [x.as_tensor(), w.as_tensor(), b.as_tensor()].map(|v| {
                    g.get(v)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                })
            })
        };
        assert_eq!(run(1), run(3));
    }
}
