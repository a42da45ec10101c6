//! Gradient-norm clipping as `torch.nn.utils.clip_grad_norm_` (L2, `error_if_nonfinite=False`).
//!
//! The total norm is the L2 norm over all gradients together; when it exceeds `max_norm` every
//! gradient is multiplied by `max_norm / (total + 1e-6)`. The training loop computes the factor
//! with [`grad_norm`] and [`clip_coefficient`] and hands it to
//! [`Optimizer::step_scaled`](super::Optimizer::step_scaled), which applies it inside the fused
//! update instead of rewriting every gradient; [`clip_grad_norm`] rewrites the gradients, for
//! callers that need them clipped.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Storage, Tensor, Var};

use rayon::prelude::*;

use super::kernel::CHUNK;
use super::tensor_error;
use crate::error::Result;

/// The total L2 norm of the gradients of `params` (those without a gradient are skipped), as
/// `clip_grad_norm_` returns it; accumulated in f64. Contiguous f32 CPU gradients are read in
/// place; the others (a GPU's) are reduced where they live and read back once, by
/// [`device_sum_of_squares`], instead of one device round trip per tensor.
pub fn grad_norm(params: &[(String, Var)], grads: &GradStore) -> Result<f64> {
    let mut sum_sq = 0.0f64;
    let mut elsewhere = Vec::new();
    for (_, var) in params {
        if let Some(g) = grads.get(var.as_tensor()) {
            match host_sum_of_squares(g) {
                Some(s) => sum_sq += s,
                None => elsewhere.push(g),
            }
        }
    }
    if !elsewhere.is_empty() {
        sum_sq += device_sum_of_squares(&elsewhere).map_err(tensor_error)?;
    }
    Ok(sum_sq.sqrt())
}

/// Sum of squares of a contiguous f32 CPU tensor, read in place (chunk sums in parallel, added
/// in chunk order, so the result does not depend on the thread count); `None` for any other
/// tensor.
fn host_sum_of_squares(g: &Tensor) -> Option<f64> {
    let (storage, layout) = g.storage_and_layout();
    if let (Storage::Cpu(CpuStorage::F32(data)), Some((a, b))) =
        (&*storage, layout.contiguous_offsets())
    {
        let partial: Vec<f64> = data[a..b].par_chunks(CHUNK).map(sum_sq_f32).collect();
        return Some(partial.iter().sum());
    }
    None
}

/// Sum of squares over all elements of `tensors` (on one device), in f64 through tensor
/// operations: one partial sum per tensor on the device, then a single read back to the host.
pub fn device_sum_of_squares(tensors: &[&Tensor]) -> candle_core::Result<f64> {
    let partial = tensors
        .iter()
        .map(|g| g.to_dtype(DType::F64)?.sqr()?.sum_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::stack(&partial, 0)?.sum_all()?.to_scalar::<f64>()
}

/// Sum of squares in f64 with eight independent accumulators (vectorisable; a fixed order, so
/// the same input always gives the same bits).
fn sum_sq_f32(x: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += (v as f64) * (v as f64);
        }
    }
    acc.iter().sum::<f64>() + rest
}

/// The factor `clip_grad_norm_` multiplies every gradient by: `min(1, max_norm / (total +
/// 1e-6))`. As in torch, a non-finite total gives a non-finite or zero factor (NaN stays NaN).
pub fn clip_coefficient(total_norm: f64, max_norm: f64) -> f64 {
    let coef = max_norm / (total_norm + 1e-6);
    if coef.is_nan() {
        f64::NAN
    } else {
        coef.min(1.0)
    }
}

/// `torch.nn.utils.clip_grad_norm_(params, max_norm)`: scales the gradients in `grads` when
/// their total norm exceeds `max_norm` and returns the total norm before clipping.
pub fn clip_grad_norm(
    params: &[(String, Var)],
    grads: &mut GradStore,
    max_norm: f64,
) -> Result<f64> {
    let total = grad_norm(params, grads)?;
    let coef = clip_coefficient(total, max_norm);
    if coef != 1.0 {
        for (_, var) in params {
            if let Some(g) = grads.get(var.as_tensor()) {
                let scaled = g.affine(coef, 0.0).map_err(tensor_error)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn clips_a_3_4_gradient_to_unit_norm() {
        // grads [3] and [4]: total norm 5; with max_norm 1 each is scaled by 1/(5+1e-6).
        let a = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let b = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let loss = ((a.as_tensor() * 3.0).unwrap() + (b.as_tensor() * 4.0).unwrap()).unwrap();
        let mut grads = loss.sum_all().unwrap().backward().unwrap();
        let params = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
        let total = clip_grad_norm(&params, &mut grads, 1.0).unwrap();
        assert!((total - 5.0).abs() < 1e-12);
        let ga = grads.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap()[0];
        let gb = grads.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap()[0];
        assert!((ga as f64 - 3.0 / (5.0 + 1e-6)).abs() < 1e-6);
        assert!((gb as f64 - 4.0 / (5.0 + 1e-6)).abs() < 1e-6);
        // Below the threshold nothing changes: factor exactly 1.
        assert_eq!(clip_coefficient(0.5, 1.0), 1.0);
        assert!(clip_coefficient(f64::NAN, 1.0).is_nan());
        assert_eq!(clip_coefficient(f64::INFINITY, 1.0), 0.0);
    }

    /// The device path (all partial sums, one read back) gives the in-place CPU path's norm, on
    /// gradients of several shapes, a strided one among them (which takes the device path).
    #[test]
    fn device_reduction_equals_the_in_place_sum() {
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 1.0, (300, 70), &dev).unwrap();
        let b = Tensor::randn(0f32, 2.0, 5, &dev).unwrap();
        let c = Tensor::randn(0f32, 0.5, (40, 9), &dev)
            .unwrap()
            .t()
            .unwrap();
        let host: f64 = [&a, &b]
            .iter()
            .map(|t| host_sum_of_squares(t).unwrap())
            .sum();
        assert!(
            host_sum_of_squares(&c).is_none(),
            "a strided tensor is not read in place"
        );
        let c_sq: f64 = c
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum();
        let device = device_sum_of_squares(&[&a, &b, &c]).unwrap();
        let expected = host + c_sq;
        assert!(
            (device - expected).abs() <= 1e-12 * expected,
            "{device} vs {expected}"
        );
    }
}
