//! Fused, in-place optimiser updates on a CUDA device: the GPU twins of `kernel.rs`.
//!
//! Without them a GPU step runs AdamW as about a dozen candle tensor operations per parameter
//! (a kernel launch and a parameter-sized temporary each: some 2,600 launches per RoBERTa-base
//! step). Here each parameter is one kernel that reads the gradient once and updates the
//! parameter and its moments in place, with the arithmetic of the CPU kernels operation by
//! operation (compiled without fused multiply-add contraction, with IEEE division and square
//! root), so a GPU step gives the CPU kernel's values.
//!
//! The kernels are CUDA C compiled once per process by NVRTC (`crate::nvrtc`, built with the
//! `cuda` feature). In a build without the `cuda` feature the op exists but refuses to run; the
//! optimisers never choose it there.

use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor};

use super::kernel::{AdamWScalars, SgdScalars};

/// The kernels' CUDA C source. Grid-stride loops over `n` contiguous f32 elements; the order of
/// operations is that of `adamw_element` and `sgd_slices` in `kernel.rs`.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) const OPTIM_CU: &str = r#"
extern "C" __global__ void homogen_adamw_f32(
    const unsigned long long n, float* __restrict__ p, const float* __restrict__ g,
    float* __restrict__ m, float* __restrict__ v,
    const float grad_scale, const float decay, const float one_minus_beta1, const float beta2,
    const float one_minus_beta2, const float bias_correction2_sqrt, const float eps,
    const float neg_step_size)
{
    const unsigned long long stride = (unsigned long long)blockDim.x * gridDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        const float gi = g[i] * grad_scale;
        float x = p[i] * decay;
        float mi = m[i];
        mi += one_minus_beta1 * (gi - mi);
        const float vi = v[i] * beta2 + one_minus_beta2 * gi * gi;
        const float denom = sqrtf(vi) / bias_correction2_sqrt + eps;
        x += neg_step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
        p[i] = x;
    }
}

extern "C" __global__ void homogen_sgd_momentum_f32(
    const unsigned long long n, float* __restrict__ p, const float* __restrict__ g,
    float* __restrict__ buf, const int first, const float grad_scale, const float weight_decay,
    const float momentum, const float neg_lr)
{
    const unsigned long long stride = (unsigned long long)blockDim.x * gridDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        float d = g[i] * grad_scale;
        if (weight_decay != 0.0f) d = d + weight_decay * p[i];
        const float b = first ? d : buf[i] * momentum + d;
        buf[i] = b;
        p[i] += neg_lr * b;
    }
}

extern "C" __global__ void homogen_sgd_f32(
    const unsigned long long n, float* __restrict__ p, const float* __restrict__ g,
    const float grad_scale, const float weight_decay, const float neg_lr)
{
    const unsigned long long stride = (unsigned long long)blockDim.x * gridDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        float d = g[i] * grad_scale;
        if (weight_decay != 0.0f) d = d + weight_decay * p[i];
        p[i] += neg_lr * d;
    }
}
"#;

/// One fused update of a contiguous f32 parameter on a CUDA device; its state buffers are device
/// tensors of the parameter's size that the kernel updates in place.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) enum DeviceUpdate<'a> {
    /// AdamW (`homogen_adamw_f32`).
    AdamW {
        /// First moment, contiguous f32 on the parameter's device.
        exp_avg: &'a Tensor,
        /// Second moment, likewise.
        exp_avg_sq: &'a Tensor,
        /// This step's scalars.
        s: AdamWScalars,
    },
    /// SGD (`homogen_sgd_momentum_f32`, or `homogen_sgd_f32` without momentum).
    Sgd {
        /// The momentum buffer, `None` when momentum is 0.
        momentum_buffer: Option<&'a Tensor>,
        /// True on the buffer's first step: the buffer becomes the gradient.
        first: bool,
        /// This step's scalars.
        s: SgdScalars,
    },
}

impl InplaceOp2 for DeviceUpdate<'_> {
    fn name(&self) -> &'static str {
        "homogen-optimiser-update-device"
    }

    fn cpu_fwd(
        &self,
        _: &mut CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<()> {
        candle_core::bail!(
            "{}: the device kernel runs on CUDA tensors only",
            self.name()
        )
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        p: &mut candle_core::CudaStorage,
        lp: &Layout,
        g: &candle_core::CudaStorage,
        lg: &Layout,
    ) -> candle_core::Result<()> {
        match self {
            DeviceUpdate::AdamW {
                exp_avg,
                exp_avg_sq,
                s,
            } => cuda::adamw(exp_avg, exp_avg_sq, s, p, lp, g, lg),
            DeviceUpdate::Sgd {
                momentum_buffer,
                first,
                s,
            } => cuda::sgd(*momentum_buffer, *first, s, p, lp, g, lg),
        }
    }
}

/// The CUDA side: one kernel launch per parameter.
#[cfg(feature = "cuda")]
pub(crate) mod cuda {
    use candle_core::backend::BackendStorage;
    use candle_core::cuda_backend::cudarc::driver::{CudaView, CudaViewMut, PushKernelArg};
    use candle_core::cuda_backend::WrapErr;
    use candle_core::{CudaStorage, Layout, Storage, Tensor};

    use super::super::kernel::{AdamWScalars, SgdScalars};
    use super::OPTIM_CU;
    use crate::nvrtc::{elementwise_config, Module};

    /// The optimiser kernels, compiled on first use.
    pub(crate) static OPTIM: Module = Module::new("homogen_optim", OPTIM_CU);

    /// The contiguous element range of a layout, or an error naming what it belongs to.
    fn range(l: &Layout, what: &str) -> candle_core::Result<(usize, usize)> {
        l.contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg(format!("{what} must be contiguous")))
    }

    /// Runs `f` with the f32 range of a state tensor (a moment or momentum buffer), which must be
    /// contiguous, f32, on CUDA and hold `n` elements. The kernel writes through it: candle
    /// gives no mutable access to another tensor's storage, and the optimiser owns these
    /// buffers alone.
    fn with_state<R>(
        t: &Tensor,
        n: usize,
        f: impl FnOnce(CudaView<'_, f32>) -> candle_core::Result<R>,
    ) -> candle_core::Result<R> {
        let (storage, layout) = t.storage_and_layout();
        let (a, b) = range(layout, "an optimiser state buffer")?;
        if b - a != n {
            candle_core::bail!(
                "optimiser state has {} elements where the parameter has {n}",
                b - a
            )
        }
        let Storage::Cuda(cs) = &*storage else {
            candle_core::bail!("optimiser state is not on the CUDA device")
        };
        f(cs.as_cuda_slice::<f32>()?.slice(a..b))
    }

    /// The parameter's and gradient's f32 ranges, of equal length.
    fn param_and_grad<'a>(
        p: &'a mut CudaStorage,
        lp: &Layout,
        g: &'a CudaStorage,
        lg: &Layout,
    ) -> candle_core::Result<(CudaViewMut<'a, f32>, CudaView<'a, f32>, usize)> {
        let (p0, p1) = range(lp, "the parameter")?;
        let (g0, g1) = range(lg, "the gradient")?;
        if p1 - p0 != g1 - g0 {
            candle_core::bail!(
                "gradient has {} elements where the parameter has {}",
                g1 - g0,
                p1 - p0
            )
        }
        let g = g.as_cuda_slice::<f32>()?.slice(g0..g1);
        let p = p.as_cuda_slice_mut::<f32>()?.slice_mut(p0..p1);
        Ok((p, g, p1 - p0))
    }

    pub(super) fn adamw(
        exp_avg: &Tensor,
        exp_avg_sq: &Tensor,
        s: &AdamWScalars,
        p: &mut CudaStorage,
        lp: &Layout,
        g: &CudaStorage,
        lg: &Layout,
    ) -> candle_core::Result<()> {
        let dev = p.device().clone();
        let func = OPTIM.function(&dev, "homogen_adamw_f32")?;
        let (mut p, g, n) = param_and_grad(p, lp, g, lg)?;
        let n64 = n as u64;
        with_state(exp_avg, n, |m| {
            with_state(exp_avg_sq, n, |v| {
                let stream = dev.cuda_stream();
                let mut b = stream.launch_builder(&func);
                b.arg(&n64).arg(&mut p).arg(&g).arg(&m).arg(&v);
                b.arg(&s.grad_scale).arg(&s.decay).arg(&s.one_minus_beta1);
                b.arg(&s.beta2).arg(&s.one_minus_beta2);
                b.arg(&s.bias_correction2_sqrt)
                    .arg(&s.eps)
                    .arg(&s.neg_step_size);
                // SAFETY: the arguments match the kernel's signature; every range holds n f32
                // elements (checked above).
                unsafe { b.launch(elementwise_config(n)) }.w()?;
                Ok(())
            })
        })
    }

    pub(super) fn sgd(
        momentum_buffer: Option<&Tensor>,
        first: bool,
        s: &SgdScalars,
        p: &mut CudaStorage,
        lp: &Layout,
        g: &CudaStorage,
        lg: &Layout,
    ) -> candle_core::Result<()> {
        let dev = p.device().clone();
        let (mut p, g, n) = param_and_grad(p, lp, g, lg)?;
        let n64 = n as u64;
        let stream = dev.cuda_stream();
        let Some(buf) = momentum_buffer else {
            let func = OPTIM.function(&dev, "homogen_sgd_f32")?;
            let mut b = stream.launch_builder(&func);
            b.arg(&n64).arg(&mut p).arg(&g);
            b.arg(&s.grad_scale).arg(&s.weight_decay).arg(&s.neg_lr);
            // SAFETY: as in `adamw`.
            unsafe { b.launch(elementwise_config(n)) }.w()?;
            return Ok(());
        };
        let func = OPTIM.function(&dev, "homogen_sgd_momentum_f32")?;
        let first = i32::from(first);
        with_state(buf, n, |buf| {
            let mut b = stream.launch_builder(&func);
            b.arg(&n64).arg(&mut p).arg(&g).arg(&buf).arg(&first);
            b.arg(&s.grad_scale).arg(&s.weight_decay);
            b.arg(&s.momentum).arg(&s.neg_lr);
            // SAFETY: as in `adamw`.
            unsafe { b.launch(elementwise_config(n)) }.w()?;
            Ok(())
        })
    }
}

#[cfg(all(test, feature = "cuda"))]
mod tests {
    /// NVRTC compiles the kernels (no GPU needed: NVRTC is a compiler library) and the PTX
    /// names every kernel the launchers load.
    #[test]
    fn kernels_compile_to_ptx() {
        let ptx = super::cuda::OPTIM.ptx().unwrap();
        for name in [
            "homogen_adamw_f32",
            "homogen_sgd_momentum_f32",
            "homogen_sgd_f32",
        ] {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{name} missing from the PTX"
            );
        }
        // No contraction into fused multiply-adds: the arithmetic stays the CPU kernels'.
        assert!(
            !ptx.contains("fma.rn.f32"),
            "the PTX contracts multiply-adds"
        );
    }
}
