//! A dense layer `y = x·Wᵀ + b` on the CPU as one graph node, over the gemm crate directly.
//!
//! Built from candle ops the layer is a transpose, a matmul and a bias add: three nodes, each of
//! which costs candle's backward a zero-filled gradient buffer and an addition, a matmul output
//! that candle zero-fills before the gemm overwrites it, a separate pass for the bias, and (for a
//! frozen weight) a weight gradient that is computed and thrown away. Here the output buffer is
//! filled with the bias and the gemm accumulates onto it (one write pass instead of a zero fill
//! and a bias pass), and the backward computes only the gradients of the arguments that need one
//! (`dx = dy·W`, `dW = dyᵀ·x`, `db` = the column sums of `dy`, each one gemm into an uninitialised
//! buffer).
//!
//! For contiguous f32 tensors on the CPU ([`dense_supported`]); the layer uses candle's ops
//! elsewhere. The gemm calls are the ones candle's matmul makes (same kernel, same threads), so
//! values agree with the composed ops to rounding.

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor, D};
use gemm::Parallelism;
use rayon::prelude::*;

use super::pointwise::{f32_slice, read_f32, uninit, Shared, SharedMut};

/// The dense-layer op: inputs `x` `[..., in]`, `w` `[out, in]` and `b` `[out]`, all contiguous f32;
/// output [..., out]. Taking `x` of any rank saves the two reshape nodes (each a zero-filled
/// gradient buffer and an addition in the backward) that flattening it around the op would add.
pub struct Dense;

/// Whether [`Dense`] can run on these tensors: f32 on the CPU (contiguity is arranged by the
/// caller).
pub fn dense_supported(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && w.dtype() == DType::F32
}

fn parallelism() -> Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

/// A row-major matrix: its values and its shape.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
}

/// `dst (m×n, row-major) := [bias on every row +] op(a) · op(b)` where `op` transposes when
/// asked; `dst` must hold m·n values and its old contents are never read.
///
/// The bias is written by each thread into the columns it computes just before its gemm
/// accumulates onto them, so the fill runs on every thread and the values are still in cache
/// when the gemm reads them back (a single-threaded fill of the whole output beforehand took
/// 4–5% of a forward pass).
fn gemm_into(dst: &mut [f32], bias: Option<&[f32]>, a: Mat, a_t: bool, b: Mat, b_t: bool) {
    let (m, k) = if a_t {
        (a.cols, a.rows)
    } else {
        (a.rows, a.cols)
    };
    let n = if b_t { b.rows } else { b.cols };
    debug_assert_eq!(if b_t { b.cols } else { b.rows }, k);
    debug_assert_eq!(dst.len(), m * n);
    debug_assert!(bias.is_none_or(|bias| bias.len() == n));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum (no rows in a batch): the product is zero.
        match bias {
            Some(bias) => fill_rows(dst, bias),
            None => dst.fill(0.0),
        }
        return;
    }
    // Element (i, j) of op(M) for a row-major M with `cols` columns: row stride and column
    // stride swap under transposition.
    let strides = |mat: Mat, t: bool| -> (isize, isize) {
        let (rs, cs) = (mat.cols as isize, 1isize);
        if t {
            (cs, rs)
        } else {
            (rs, cs)
        }
    };
    let (a_rs, a_cs) = strides(a, a_t);
    let (b_rs, b_cs) = strides(b, b_t);
    let (dst_ptr, a_ptr, b_ptr) = (
        SharedMut(dst.as_mut_ptr()),
        Shared(a.data.as_ptr()),
        Shared(b.data.as_ptr()),
    );
    // Columns [c0, c0 + width) of the product, with the given parallelism; `fill_bias` writes
    // the bias into them first (the crate-split path fills the rows beforehand instead).
    let block = |c0: usize, width: usize, par: Parallelism, fill_bias: bool| {
        if let (true, Some(bias)) = (fill_bias, bias) {
            for row in 0..m {
                // SAFETY: row `row`, columns [c0, c0 + width) lie inside `dst` (m·n values)
                // and belong to this block alone.
                let cells = unsafe {
                    std::slice::from_raw_parts_mut(dst_ptr.get().add(row * n + c0), width)
                };
                cells.copy_from_slice(&bias[c0..c0 + width]);
            }
        }
        let accumulate = bias.is_some();
        // SAFETY: the shapes and strides above address only elements inside the three slices
        // (checked by the callers' shape checks and the debug assertions); a block writes only
        // its own columns of `dst`.
        unsafe {
            gemm::gemm(
                m,
                width,
                k,
                dst_ptr.get().add(c0),
                1,
                n as isize,
                accumulate,
                a_ptr.get(),
                a_cs,
                a_rs,
                b_ptr.get().offset(c0 as isize * b_cs),
                b_cs,
                b_rs,
                if accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                par,
            )
        }
    };
    match column_blocks(m, n, k, a_t) {
        Some(width) => (0..n.div_ceil(width))
            .into_par_iter()
            .for_each(|i| block(i * width, width.min(n - i * width), Parallelism::None, true)),
        None => {
            if let Some(bias) = bias {
                fill_rows(dst, bias);
            }
            block(0, n, parallelism(), false)
        }
    }
}

/// Writes `row` into every row of `dst` (row-major, `row.len()` columns), in parallel tasks
/// of 64 rows.
fn fill_rows(dst: &mut [f32], row: &[f32]) {
    dst.par_chunks_mut(row.len() * 64).for_each(|rows| {
        rows.chunks_exact_mut(row.len())
            .for_each(|r| r.copy_from_slice(row))
    });
}

/// Column blocks are multiples of this many columns (a whole number of the AVX-512 kernel's
/// 16-wide and 6-wide tiles).
const COLUMN_ALIGN: usize = 48;

/// The width of the column blocks that a product of `m × k` (transposed storage when `a_t`)
/// by `k × n` splits into, one single-threaded gemm per thread, or `None` to let the gemm
/// crate share the whole product among the threads. The gemm crate's own split is the slower
/// one when the product is no wider than deep (n ≤ k: the dense layers' forward into 768 wide
/// outputs and their input gradients from 3072 wide ones, 3–11% slower on 2 threads in
/// isolation, `examples/bench_gemm_split.rs`), but not for weight gradients (`a_t`: up to 6%
/// faster). Each element is still summed over k in the same blocks (the gemm crate's k
/// blocking depends on k alone), so the result has the same bits either way.
fn column_blocks(m: usize, n: usize, k: usize, a_t: bool) -> Option<usize> {
    let threads = rayon::current_num_threads();
    if threads < 2 || a_t || m < 64 || n > k || n < 2 * COLUMN_ALIGN {
        return None;
    }
    Some(n.div_ceil(threads).div_ceil(COLUMN_ALIGN) * COLUMN_ALIGN)
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dense"
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
        let dims = lx.shape().dims();
        let inner = *dims.last().unwrap_or(&0);
        let rows = lx.shape().elem_count() / inner.max(1);
        let (out, w_in) = lw.shape().dims2()?;
        let bias_len = lb.shape().elem_count();
        if w_in != inner || bias_len != out {
            candle_core::bail!(
                "dense: x {:?}, w {:?}, b {:?} do not fit together",
                lx.shape(),
                lw.shape(),
                lb.shape()
            )
        }
        let (x, w, b) = (
            f32_slice(sx, lx, "dense", "x")?,
            f32_slice(sw, lw, "dense", "the weight")?,
            f32_slice(sb, lb, "dense", "the bias")?,
        );
        let mut y = uninit(rows * out);
        let xm = Mat {
            data: x,
            rows,
            cols: inner,
        };
        let wm = Mat {
            data: w,
            rows: out,
            cols: inner,
        };
        gemm_into(&mut y, Some(b), xm, false, wm, true);
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = out;
        }
        Ok((CpuStorage::F32(y), Shape::from(out_dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let inner = x.dim(D::Minus1)?;
        let rows = x.elem_count() / inner.max(1);
        let out = w.dim(0)?;
        let cpu = Device::Cpu;
        read_f32(grad, |g| {
            let gm = Mat {
                data: g,
                rows,
                cols: out,
            };
            let dx = if x.track_op() {
                read_f32(w, |w| {
                    let mut dx = uninit(rows * inner);
                    let wm = Mat {
                        data: w,
                        rows: out,
                        cols: inner,
                    };
                    gemm_into(&mut dx, None, gm, false, wm, false);
                    Tensor::from_vec(dx, x.shape(), &cpu)
                })
                .map(Some)?
            } else {
                None
            };
            let dw = if w.track_op() {
                read_f32(x, |xv| {
                    let mut dw = uninit(out * inner);
                    let xm = Mat {
                        data: xv,
                        rows,
                        cols: inner,
                    };
                    gemm_into(&mut dw, None, gm, true, xm, false);
                    Tensor::from_vec(dw, (out, inner), &cpu)?.reshape(w.shape())
                })
                .map(Some)?
            } else {
                None
            };
            let db = if b.track_op() {
                // Column sums as ones[1, rows] · dy, as the bias add's backward computes them.
                let ones = vec![1f32; rows];
                let mut db = uninit(out);
                let om = Mat {
                    data: &ones,
                    rows: 1,
                    cols: rows,
                };
                gemm_into(&mut db, None, om, false, gm, false);
                Some(Tensor::from_vec(db, out, &cpu)?)
            } else {
                None
            };
            Ok((dx, dw, db))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{assert_same_grads, max_diff};
    use candle_core::Var;

    /// Products split into column blocks (2 or 3 threads, n ≤ k) or by the gemm crate (n > k)
    /// have the bits of the unsplit product (1 thread) and equal an f64 reference to rounding,
    /// for a plain, a transposed and a biased product; the destination's old contents (NaN
    /// here) are never read.
    #[test]
    fn split_products_give_the_bits_of_one_product() {
        for (m, k, n) in [(70, 200, 150), (70, 60, 150)] {
            assert!(column_blocks(m, n, k, true).is_none());
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|j| j as f32 / 7.0 - 3.0).collect();
            let am = Mat {
                data: &a,
                rows: m,
                cols: k,
            };
            // b as k × n, and the same values as n × k to be read transposed.
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let (bm, btm) = (
                Mat {
                    data: &b,
                    rows: k,
                    cols: n,
                },
                Mat {
                    data: &bt,
                    rows: n,
                    cols: k,
                },
            );
            let run = |threads: usize| {
                crate::models::test_util::with_threads(threads, || {
                    let blocks = column_blocks(m, n, k, false).is_some();
                    assert_eq!(blocks, threads > 1 && n <= k);
                    let mut plain = vec![f32::NAN; m * n];
                    gemm_into(&mut plain, None, am, false, bm, false);
                    let mut transposed = vec![f32::NAN; m * n];
                    gemm_into(&mut transposed, None, am, false, btm, true);
                    let mut biased = vec![f32::NAN; m * n];
                    gemm_into(&mut biased, Some(&bias), am, false, bm, false);
                    (plain, transposed, biased)
                })
            };
            let one = run(1);
            assert_eq!(one, run(2));
            assert_eq!(one, run(3));
            for i in 0..m {
                for j in 0..n {
                    let exact: f64 = (0..k)
                        .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                        .sum();
                    let idx = i * n + j;
                    assert!((one.0[idx] as f64 - exact).abs() < 1e-3, "({i}, {j})");
                    assert_eq!(one.0[idx], one.1[idx]);
                    let with_bias = exact + bias[j] as f64;
                    assert!((one.2[idx] as f64 - with_bias).abs() < 1e-3, "({i}, {j})");
                }
            }
        }
    }

    /// Values and gradients (x, W, b) equal those of candle's transpose + matmul + broadcast
    /// add for a random upstream gradient; a detached (frozen) weight gets no gradient while x
    /// and b still do.
    #[test]
    fn dense_equals_matmul_plus_bias_in_values_and_gradients() {
        let dev = Device::Cpu;
        let (rows, inner, out) = (37, 23, 19);
        let x = Var::randn(0f32, 1.0, (rows, inner), &dev).unwrap();
        let w = Var::randn(0f32, 0.5, (out, inner), &dev).unwrap();
        let b = Var::randn(0f32, 0.5, out, &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (rows, out), &dev).unwrap();
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        let ours = xt.apply_op3(wt, bt, Dense).unwrap();
        let plain = xt
            .matmul(&wt.t().unwrap())
            .unwrap()
            .broadcast_add(bt)
            .unwrap();
        assert!(max_diff(&ours, &plain) < 1e-5);
        let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let (g_ours, g_plain) = (grads(&ours), grads(&plain));
        assert_same_grads(
            &g_ours,
            &g_plain,
            &[("x", xt), ("w", wt), ("b", bt)],
            1e-4,
            0.1,
        );
        // Frozen weight: no gradient for it, the same dx and db.
        let frozen = xt.apply_op3(&wt.detach(), bt, Dense).unwrap();
        let g_frozen = grads(&frozen);
        assert!(g_frozen.get(wt).is_none());
        assert!(max_diff(g_frozen.get(xt).unwrap(), g_plain.get(xt).unwrap()) < 1e-4);
        assert!(max_diff(g_frozen.get(bt).unwrap(), g_plain.get(bt).unwrap()) < 1e-4);
    }

    /// A 3-d input: the output keeps the leading dimensions, and values and gradients equal
    /// those of the flattened 2-d computation.
    #[test]
    fn dense_keeps_leading_dimensions() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (3, 5, 7), &dev).unwrap();
        let w = Var::randn(0f32, 0.5, (4, 7), &dev).unwrap();
        let b = Var::randn(0f32, 0.5, 4, &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (3, 5, 4), &dev).unwrap();
        let y = x
            .as_tensor()
            .apply_op3(w.as_tensor(), b.as_tensor(), Dense)
            .unwrap();
        assert_eq!(y.dims(), &[3, 5, 4]);
        let flat = x
            .as_tensor()
            .reshape((15, 7))
            .unwrap()
            .apply_op3(w.as_tensor(), b.as_tensor(), Dense)
            .unwrap()
            .reshape((3, 5, 4))
            .unwrap();
        assert_eq!(max_diff(&y, &flat), 0.0);
        let g3 = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (&flat * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [x.as_tensor(), w.as_tensor(), b.as_tensor()] {
            assert_eq!(g3.get(v).unwrap().dims(), v.dims());
            assert_eq!(max_diff(g3.get(v).unwrap(), g2.get(v).unwrap()), 0.0);
        }
    }

    /// An empty batch: an empty output, and zero (not uninitialised) weight and bias gradients.
    #[test]
    fn dense_on_an_empty_batch_gives_zero_parameter_gradients() {
        let dev = Device::Cpu;
        let x = Var::zeros((0, 3), DType::F32, &dev).unwrap();
        let w = Var::ones((2, 3), DType::F32, &dev).unwrap();
        let b = Var::ones(2, DType::F32, &dev).unwrap();
        let y = x
            .as_tensor()
            .apply_op3(w.as_tensor(), b.as_tensor(), Dense)
            .unwrap();
        assert_eq!(y.dims(), &[0, 2]);
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(
            g.get(w.as_tensor()).unwrap().to_vec2::<f32>().unwrap(),
            vec![vec![0f32; 3]; 2]
        );
        assert_eq!(
            g.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap(),
            vec![0f32; 2]
        );
    }

    /// Nothing tracked (evaluation): the op records no graph and the output is x·Wᵀ + b.
    #[test]
    fn dense_without_gradients_is_a_plain_affine_map() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[1f32, 2.0], [3.0, -1.0], [0.5, 0.0]], &dev).unwrap();
        let w = Tensor::new(&[[1f32, 0.0], [2.0, 1.0]], &dev).unwrap();
        let b = Tensor::new(&[0.25f32, -1.0], &dev).unwrap();
        let y = x.apply_op3(&w, &b, Dense).unwrap();
        assert!(!y.track_op());
        // Rows: [1+0.25, 2+2-1], [3+0.25, 6-1-1], [0.5+0.25, 1-1].
        assert_eq!(
            y.to_vec2::<f32>().unwrap(),
            vec![vec![1.25, 3.0], vec![3.25, 4.0], vec![0.75, 0.0]]
        );
    }
}
