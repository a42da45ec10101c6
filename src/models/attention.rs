//! Multi-head scaled dot-product attention on the CPU (f32) as one graph node.
//!
//! Built from candle ops, attention is some seventeen nodes per layer: the head split (reshape,
//! transpose and a contiguous copy for each of q, k and v), the scores matmul, the softmax, the
//! dropout, the second matmul and the head merge (another copy), each costing candle's backward a
//! zero-filled gradient buffer and an addition. Here the heads are read and written in place
//! through the gemm crate's strides (no copies), one task per (sequence, head) runs on rayon's
//! threads, and the backward is written out: with `P = softmax(scale · QKᵀ + mask)`, `P' = P`
//! after dropout and `O = P'V`,
//! `dV = P'ᵀ dO`, `dP = dropout(dO Vᵀ)`, `dS = scale · P ⊙ (dP − rowsum(dP ⊙ P))`,
//! `dQ = dS K`, `dK = dSᵀ Q`.
//! The dropout mask is [`super::pointwise::DropoutOp`]'s for the probabilities tensor
//! `[batch, heads, seq, seq]` with the same seed, so this op gives what the composed path gives.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::pointwise::{f32_slice, read_f32, uninit, DropoutOp, Shared, SharedMut};
use super::vmath;

/// Attention of queries `q` [batch, queries, hidden] over keys `k` and values `v` [batch, seq,
/// hidden] (contiguous f32), `heads` heads of width hidden / heads; output [batch, queries,
/// hidden] with the heads merged. The queries are usually the whole sequence; a last layer
/// whose only read output is the first token's passes that token's query alone.
pub struct AttentionOp {
    /// Number of heads.
    pub heads: usize,
    /// Multiplies the scores (1/√head width).
    pub scale: f32,
    /// Additive key mask, `batch × seq` values (0 keep, very negative drop), or none.
    pub mask: Option<Vec<f32>>,
    /// Dropout on the probabilities, when training.
    pub dropout: Option<DropoutOp>,
    /// The probabilities before dropout, `[batch, heads, queries, seq]`, kept by the forward pass
    /// for the backward.
    probs: OnceLock<Vec<f32>>,
}

/// Whether [`AttentionOp`] can run on `q`: f32 on the CPU.
pub fn attention_supported(q: &Tensor) -> bool {
    q.device().is_cpu() && q.dtype() == DType::F32
}

/// Sizes of one call: batch, queries, keys (sequence), hidden width, heads and head width.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    sq: usize,
    s: usize,
    hidden: usize,
    heads: usize,
    d: usize,
}

/// A strided f32 matrix: `rows × cols`, element (r, c) at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl View {
    fn t(self) -> View {
        View {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `dst (m×n, strides dst_rs/1) := a (m×k) · b (k×n)`, single-threaded (the caller runs many in
/// parallel).
///
/// # Safety
/// The views must address only valid elements for the given sizes, and `dst` must be writable
/// and not overlap the inputs.
unsafe fn gemm_to(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: isize, a: View, b: View) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for r in 0..m {
            std::slice::from_raw_parts_mut(dst.offset(r as isize * dst_rs), n).fill(0.0);
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs,
        false,
        a.ptr,
        a.cs,
        a.rs,
        b.ptr,
        b.cs,
        b.rs,
        0.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    )
}

impl AttentionOp {
    /// An op for `heads` heads with score scale `scale`, key mask and dropout as given.
    pub fn new(
        heads: usize,
        scale: f32,
        mask: Option<Vec<f32>>,
        dropout: Option<DropoutOp>,
    ) -> Self {
        AttentionOp {
            heads,
            scale,
            mask,
            dropout,
            probs: OnceLock::new(),
        }
    }

    fn dims(&self, q: &Shape, k: &Shape, v: &Shape) -> Result<Dims> {
        let (b, sq, hidden) = q.dims3()?;
        let (bk, s, hk) = k.dims3()?;
        if (bk, hk) != (b, hidden) || v != k {
            candle_core::bail!(
                "attention: queries {q:?}, keys {k:?} and values {v:?} do not fit together"
            )
        }
        if self.heads == 0 || hidden % self.heads != 0 {
            candle_core::bail!(
                "attention: hidden size {hidden} does not split into {} heads",
                self.heads
            )
        }
        if let Some(m) = &self.mask {
            if m.len() != b * s {
                candle_core::bail!(
                    "attention: mask of {} values for {b} sequences of {s}",
                    m.len()
                )
            }
        }
        Ok(Dims {
            b,
            sq,
            s,
            hidden,
            heads: self.heads,
            d: hidden / self.heads,
        })
    }

    /// Which of `n` values from flat index `first` of [batch, heads, queries, seq] dropout
    /// keeps; `None` without dropout.
    fn kept(&self, n: usize, first: u64) -> Option<Vec<bool>> {
        let op = self.dropout.as_ref()?;
        let threshold = op.threshold();
        Some(
            (0..n)
                .map(|j| op.keeps(threshold, first + j as u64))
                .collect(),
        )
    }

    /// `values` := `values` through the dropout mask `kept`: × 1/(1−p) where kept, else 0.
    fn mask_in_place(&self, values: &mut [f32], kept: &[bool]) {
        let scale = self.dropout.as_ref().map_or(1.0, DropoutOp::scale);
        for (x, &keep) in values.iter_mut().zip(kept) {
            *x = if keep { *x * scale } else { 0.0 };
        }
    }

    /// One (sequence, head) block of probabilities `p` after dropout (`P'`), with the block's
    /// mask (drawn from flat index `first` of [batch, heads, queries, seq]); `None` without
    /// dropout (`P' = P`).
    fn dropped(&self, p: &[f32], first: u64) -> Option<(Vec<f32>, Vec<bool>)> {
        let kept = self.kept(p.len(), first)?;
        let mut pd = p.to_vec();
        self.mask_in_place(&mut pd, &kept);
        Some((pd, kept))
    }
}

/// The view of head `h` of sequence `i` in a [batch, `len`, hidden] buffer: `len` × d.
fn head_view(base: *const f32, dims: Dims, len: usize, i: usize, h: usize) -> View {
    // SAFETY (for users): offsets stay inside the buffer for i < b, h < heads.
    View {
        ptr: base.wrapping_add(i * len * dims.hidden + h * dims.d),
        rs: dims.hidden as isize,
        cs: 1,
    }
}

impl CustomOp3 for AttentionOp {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = self.dims(lq.shape(), lk.shape(), lv.shape())?;
        let (q, k, v) = (
            f32_slice(sq, lq, "attention", "q")?,
            f32_slice(sk, lk, "attention", "k")?,
            f32_slice(sv, lv, "attention", "v")?,
        );
        let Dims {
            b,
            sq,
            s,
            hidden,
            heads,
            d,
        } = dims;
        let mut probs = uninit(b * heads * sq * s);
        let mut out = uninit(b * sq * hidden);
        let out_ptr = SharedMut(out.as_mut_ptr());
        let (qp, kp, vp) = (Shared(q.as_ptr()), Shared(k.as_ptr()), Shared(v.as_ptr()));
        probs
            .par_chunks_mut((sq * s).max(1))
            .enumerate()
            .for_each(|(task, p)| {
                let (i, h) = (task / heads, task % heads);
                let (qh, kh, vh) = (
                    head_view(qp.get(), dims, sq, i, h),
                    head_view(kp.get(), dims, s, i, h),
                    head_view(vp.get(), dims, s, i, h),
                );
                // S = Q Kᵀ, then softmax(scale · S + mask) row by row, in place.
                // SAFETY: p holds sq×s values; the head views stay inside q and k.
                unsafe { gemm_to(sq, s, d, p.as_mut_ptr(), s as isize, qh, kh.t()) };
                let mask = self.mask.as_ref().map(|m| &m[i * s..(i + 1) * s]);
                softmax_rows(p, s, self.scale, mask);
                // O = P' V, P' = P after dropout (a copy only when dropout is on).
                let first = (task * sq * s) as u64;
                let dropped = self.dropped(p, first);
                let pd = dropped.as_ref().map_or(&p[..], |(pd, _)| pd);
                let pv = View {
                    ptr: pd.as_ptr(),
                    rs: s as isize,
                    cs: 1,
                };
                let dst = out_ptr.get().wrapping_add(i * sq * hidden + h * d);
                // SAFETY: this task alone writes head h of sequence i of `out`.
                unsafe { gemm_to(sq, d, s, dst, hidden as isize, pv, vh) };
            });
        let _ = self.probs.set(probs);
        Ok((CpuStorage::F32(out), lq.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = self.dims(q.shape(), k.shape(), v.shape())?;
        let Dims {
            b,
            sq,
            s,
            hidden,
            heads,
            d,
        } = dims;
        let Some(probs) = self.probs.get() else {
            candle_core::bail!("attention: backward before forward")
        };
        let (nq, n) = (b * sq * hidden, b * s * hidden);
        let (mut dq, mut dk, mut dv) = (uninit(nq), uninit(n), uninit(n));
        let (dqp, dkp, dvp) = (
            SharedMut(dq.as_mut_ptr()),
            SharedMut(dk.as_mut_ptr()),
            SharedMut(dv.as_mut_ptr()),
        );
        read_f32(q, |qv| {
            read_f32(k, |kv| {
                read_f32(v, |vv| {
                    read_f32(grad, |g| {
                        let (qp, kp, vp, gp) = (
                            Shared(qv.as_ptr()),
                            Shared(kv.as_ptr()),
                            Shared(vv.as_ptr()),
                            Shared(g.as_ptr()),
                        );
                        (0..b * heads).into_par_iter().for_each(|task| {
                            let (i, h) = (task / heads, task % heads);
                            let p = &probs[task * sq * s..(task + 1) * sq * s];
                            let (qh, kh, vh, gh) = (
                                head_view(qp.get(), dims, sq, i, h),
                                head_view(kp.get(), dims, s, i, h),
                                head_view(vp.get(), dims, s, i, h),
                                head_view(gp.get(), dims, sq, i, h),
                            );
                            let first = (task * sq * s) as u64;
                            // The block's dropout mask, drawn once for P' and for dP.
                            let dropped = self.dropped(p, first);
                            let pd = dropped.as_ref().map_or(p, |(pd, _)| pd);
                            let pdv = View {
                                ptr: pd.as_ptr(),
                                rs: s as isize,
                                cs: 1,
                            };
                            let q_offset = i * sq * hidden + h * d;
                            let offset = i * s * hidden + h * d;
                            // SAFETY (all gemms): views stay inside their buffers; this task
                            // alone writes head h of sequence i of dq, dk and dv.
                            // dV = P'ᵀ dO
                            unsafe {
                                gemm_to(
                                    s,
                                    d,
                                    sq,
                                    dvp.get().wrapping_add(offset),
                                    hidden as isize,
                                    pdv.t(),
                                    gh,
                                )
                            };
                            // dP' = dO Vᵀ, then through dropout and the softmax: dS.
                            let mut ds = uninit(sq * s);
                            unsafe { gemm_to(sq, s, d, ds.as_mut_ptr(), s as isize, gh, vh.t()) };
                            // dP = dP' through the dropout mask (kept: × 1/(1−p), else 0).
                            if let Some((_, kept)) = &dropped {
                                self.mask_in_place(&mut ds, kept);
                            }
                            for (dr, pr) in
                                ds.chunks_exact_mut(s.max(1)).zip(p.chunks_exact(s.max(1)))
                            {
                                let dot: f32 = dr.iter().zip(pr).map(|(&x, &pi)| x * pi).sum();
                                for (x, &pi) in dr.iter_mut().zip(pr) {
                                    *x = self.scale * (pi * (*x - dot));
                                }
                            }
                            let dsv = View {
                                ptr: ds.as_ptr(),
                                rs: s as isize,
                                cs: 1,
                            };
                            // dQ = dS K, dK = dSᵀ Q
                            unsafe {
                                gemm_to(
                                    sq,
                                    d,
                                    s,
                                    dqp.get().wrapping_add(q_offset),
                                    hidden as isize,
                                    dsv,
                                    kh,
                                )
                            };
                            unsafe {
                                gemm_to(
                                    s,
                                    d,
                                    sq,
                                    dkp.get().wrapping_add(offset),
                                    hidden as isize,
                                    dsv.t(),
                                    qh,
                                )
                            };
                        });
                        Ok(())
                    })
                })
            })
        })?;
        let cpu = Device::Cpu;
        let grad_of = |t: &Tensor, g: Vec<f32>| -> Result<Option<Tensor>> {
            if t.track_op() {
                Ok(Some(Tensor::from_vec(g, t.shape(), &cpu)?))
            } else {
                Ok(None)
            }
        };
        Ok((grad_of(q, dq)?, grad_of(k, dk)?, grad_of(v, dv)?))
    }
}

/// Each row (of `len` values) of `rows` := softmax(scale · row + mask), as candle's softmax:
/// subtract the maximum, exponentiate (the vectorisable [`vmath::exp`]), divide by the sum;
/// compiled for the CPU's SIMD instructions ([`SoftmaxRows`]), chosen once per block of rows.
fn softmax_rows(rows: &mut [f32], len: usize, scale: f32, mask: Option<&[f32]>) {
    pulp::Arch::new().dispatch(SoftmaxRows {
        rows,
        len,
        scale,
        mask,
    })
}

/// [`softmax_rows`]'s work as a `pulp` kernel (see [`vmath`]).
struct SoftmaxRows<'a> {
    rows: &'a mut [f32],
    len: usize,
    scale: f32,
    mask: Option<&'a [f32]>,
}

impl pulp::WithSimd for SoftmaxRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let SoftmaxRows {
            rows,
            len,
            scale,
            mask,
        } = self;
        for row in rows.chunks_exact_mut(len.max(1)) {
            softmax_row(row, scale, mask);
        }
    }
}

/// One row of [`softmax_rows`], inlined into its kernel.
#[inline(always)]
fn softmax_row(row: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    match mask {
        Some(m) => {
            for (x, &mi) in row.iter_mut().zip(m) {
                *x = *x * scale + mi;
            }
        }
        None => {
            for x in row.iter_mut() {
                *x *= scale;
            }
        }
    }
    let max = vmath::lanes(row, f32::NEG_INFINITY, f32::max);
    for x in row.iter_mut() {
        *x = vmath::exp(*x - max);
    }
    let sum = vmath::lanes(row, 0.0, |a, b| a + b);
    for x in row.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::layers::{additive_mask, attention, attention_composed, Ctx};
    use crate::models::test_util::{assert_same_grads, max_diff};
    use candle_core::Var;

    /// The fused op gives the composed path's output and q/k/v gradients, with a padding mask,
    /// in evaluation and in training with dropout (the same seed draws the same mask), for a
    /// random upstream gradient; for queries over the whole sequence and for the first one or
    /// two positions only (a last layer whose other outputs nobody reads).
    #[test]
    fn fused_attention_equals_the_composed_ops_with_mask_and_dropout() {
        let dev = Device::Cpu;
        let (b, s, heads, d) = (3, 7, 4, 5);
        let shape = (b, s, heads * d);
        let k = Var::randn(0f32, 1.0, shape, &dev).unwrap();
        let v = Var::randn(0f32, 1.0, shape, &dev).unwrap();
        let keep = Tensor::new(
            &[
                [1u32, 1, 1, 1, 1, 1, 1],
                [1, 1, 1, 1, 0, 0, 0],
                [1, 1, 0, 0, 0, 0, 0],
            ],
            &dev,
        )
        .unwrap();
        let mask = additive_mask(&keep, DType::F32).unwrap();
        let (kt, vt) = (k.as_tensor(), v.as_tensor());
        for queries in [s, 2, 1] {
            let q = Var::randn(0f32, 1.0, (b, queries, heads * d), &dev).unwrap();
            let r = Tensor::randn(0f32, 1.0, (b, queries, heads * d), &dev).unwrap();
            let qt = q.as_tensor();
            for train in [false, true] {
                let ctx = || if train { Ctx::train(11) } else { Ctx::eval() };
                let fused = attention(qt, kt, vt, Some(&mask), heads, &ctx(), 0.3).unwrap();
                let composed =
                    attention_composed(qt, kt, vt, Some(&mask), heads, &ctx(), 0.3).unwrap();
                assert_eq!(fused.dims(), &[b, queries, heads * d]);
                let what = format!("{queries} queries, train {train}");
                assert!(max_diff(&fused, &composed) < 1e-5, "{what}: values");
                let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let (gf, gc) = (grads(&fused), grads(&composed));
                assert_same_grads(&gf, &gc, &[("q", qt), ("k", kt), ("v", vt)], 1e-5, 1e-2);
            }
            // Dropout is on in training: the output differs from evaluation's.
            let eval = attention(qt, kt, vt, Some(&mask), heads, &Ctx::eval(), 0.3).unwrap();
            let train = attention(qt, kt, vt, Some(&mask), heads, &Ctx::train(11), 0.3).unwrap();
            assert!(max_diff(&eval, &train) > 1e-2);
        }
    }

    /// Fewer queries give exactly those positions' rows of the whole sequence's attention (in
    /// evaluation: what a first-token-only last layer relies on).
    #[test]
    fn first_query_alone_gives_the_first_row_of_full_attention() {
        let dev = Device::Cpu;
        let shape = (2, 9, 12);
        let q = Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
        let keep = Tensor::new(&[[1u32; 9], [1, 1, 1, 1, 1, 0, 0, 0, 0]], &dev).unwrap();
        let mask = additive_mask(&keep, DType::F32).unwrap();
        let full = attention(&q, &k, &v, Some(&mask), 3, &Ctx::eval(), 0.1).unwrap();
        let first = attention(
            &q.narrow(1, 0, 1).unwrap(),
            &k,
            &v,
            Some(&mask),
            3,
            &Ctx::eval(),
            0.1,
        )
        .unwrap();
        assert!(max_diff(&first, &full.narrow(1, 0, 1).unwrap()) < 1e-6);
    }

    /// Without a mask (CLIP) and with one thread or three: the same bits.
    #[test]
    fn fused_attention_does_not_depend_on_the_thread_count() {
        let dev = Device::Cpu;
        let shape = (2, 9, 12);
        let q = Var::randn(0f32, 1.0, shape, &dev).unwrap();
        let k = Var::randn(0f32, 1.0, shape, &dev).unwrap();
        let v = Var::randn(0f32, 1.0, shape, &dev).unwrap();
        let run = |threads: usize| {
            crate::models::test_util::with_threads(threads, || {
                let y = attention(
                    q.as_tensor(),
                    k.as_tensor(),
                    v.as_tensor(),
                    None,
                    3,
                    &Ctx::train(5),
                    0.1,
                )
                .unwrap();
                let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                (
                    flat(&y),
                    flat(g.get(q.as_tensor()).unwrap()),
                    flat(g.get(v.as_tensor()).unwrap()),
                )
            })
        };
        assert_eq!(run(1), run(3));
    }
}
