//! One-pass, multi-threaded CPU kernels for the element-wise steps of training: activations with
//! their derivatives, dropout whose mask is recomputed rather than stored, and the bias add
//! whose backward sums rows with a matrix product.
//!
//! candle runs element-wise ops on one thread and differentiates a GELU through about a dozen
//! tensor ops (each a full pass and a fresh buffer); dropout as `x * mask` also computes a
//! gradient for the mask. Here each step is one pass split over rayon's threads, and the
//! backward of each is one pass too. These are CPU kernels, except dropout, which also has a
//! CUDA kernel (its mask must not depend on the device); for the others the callers in
//! [`super::layers`] use candle's ops on other devices, which run there as device kernels.

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

/// Elements per parallel work item.
const CHUNK: usize = 1 << 14;

/// Element-wise activations that have a fused forward and backward here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smooth {
    /// Exact GELU, `0.5 x (1 + erf(x / √2))`.
    GeluErf,
    /// GELU's tanh approximation, `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    GeluTanh,
    /// CLIP's `x σ(1.702 x)`.
    QuickGelu,
}

/// Floating-point math the kernels run in: f32 for f32 and half-precision storage, f64 for f64.
trait Math: Copy + Send + Sync {
    fn error_function(self) -> Self;
    fn exponential(self) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn value(act: Smooth, x: Self) -> Self;
    fn derivative(act: Smooth, x: Self) -> Self;
}

macro_rules! impl_math {
    ($t:ty, $erf:path, $exp:path, $sqrt_2_over_pi:expr, $frac_1_sqrt_2:expr, $inv_sqrt_2pi:expr) => {
        impl Math for $t {
            #[inline(always)]
            fn error_function(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn exponential(self) -> Self {
                $exp(self)
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn value(act: Smooth, x: Self) -> Self {
                match act {
                    Smooth::GeluErf => 0.5 * x * (1.0 + (x * $frac_1_sqrt_2).error_function()),
                    Smooth::GeluTanh => {
                        let u = $sqrt_2_over_pi * (x + 0.044715 * x * x * x);
                        0.5 * x * (1.0 + u.tanh())
                    }
                    Smooth::QuickGelu => x / (1.0 + (-1.702 * x).exponential()),
                }
            }
            #[inline(always)]
            fn derivative(act: Smooth, x: Self) -> Self {
                match act {
                    Smooth::GeluErf => {
                        0.5 * (1.0 + (x * $frac_1_sqrt_2).error_function())
                            + x * $inv_sqrt_2pi * (-0.5 * x * x).exponential()
                    }
                    Smooth::GeluTanh => {
                        let u = $sqrt_2_over_pi * (x + 0.044715 * x * x * x);
                        let t = u.tanh();
                        let du = $sqrt_2_over_pi * (1.0 + 3.0 * 0.044715 * x * x);
                        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
                    }
                    Smooth::QuickGelu => {
                        let s = 1.0 / (1.0 + (-1.702 * x).exponential());
                        s + 1.702 * x * s * (1.0 - s)
                    }
                }
            }
        }
    };
}

// f32 (and the half types, computed in f32) through the vectorisable exp and erf; f64 through
// libm.
impl_math!(
    f32,
    super::vmath::erf,
    super::vmath::exp,
    0.797_884_6_f32,
    std::f32::consts::FRAC_1_SQRT_2,
    0.398_942_3_f32
);
impl_math!(
    f64,
    candle_core::cpu::erf::erf_f64,
    f64::exp,
    0.797_884_560_802_865_4_f64,
    std::f64::consts::FRAC_1_SQRT_2,
    0.398_942_280_401_432_7_f64
);

/// The contiguous values of a storage, or an error naming the op.
fn contiguous<'a, T>(v: &'a [T], l: &Layout, op: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op} needs a contiguous input"),
    }
}

/// The contiguous f32 values of a CPU storage; `op` and `what` name them in errors.
pub(crate) fn f32_slice<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: {what} must be f32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: {what} must be contiguous"),
    }
}

/// A vector of `len` values the caller overwrites completely before reading (an output buffer
/// a gemm or a row loop fills), without the zero fill.
pub(crate) fn uninit<T: WithDType>(len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    // SAFETY: candle's element types are plain numbers without invalid bit patterns, and every
    // caller writes all `len` values before any is read.
    #[allow(clippy::uninit_vec)]
    unsafe {
        v.set_len(len)
    };
    v
}

/// A raw pointer that parallel tasks writing disjoint parts of one buffer share (attention's
/// (sequence, head) tasks, a dense product's column blocks).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);
// SAFETY: every task writes a disjoint set of elements (its users guarantee it).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// A raw pointer to input data that tasks read in parallel.
#[derive(Clone, Copy)]
pub(crate) struct Shared(pub(crate) *const f32);
// SAFETY: read-only while the tasks run.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (see [`SharedMut::get`]).
    pub(crate) fn get(self) -> *const f32 {
        self.0
    }
}

/// Runs `f` on the values of an f32 CPU tensor in row-major order: in place when contiguous,
/// on a copy otherwise (what custom ops' backward passes read their inputs with).
pub(crate) fn read_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(CpuStorage::F32(v)) = &*storage else {
        candle_core::bail!("expected an f32 CPU tensor, got {:?}", t.dtype())
    };
    let start = layout.start_offset();
    f(&v[start..start + layout.shape().elem_count()])
}

/// `f` applied to each value, converted through the math type `M`, over rayon's threads.
fn par_map<T: WithDType, M: Math>(src: &[T], f: impl Fn(M) -> M + Sync) -> Vec<T> {
    let mut out = uninit::<T>(src.len());
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| {
            for (o, &s) in o.iter_mut().zip(s) {
                *o = T::from_f64(f(M::from_f64(s.to_f64())).to_f64());
            }
        });
    out
}

/// `f(a, b)` for each pair of values, over rayon's threads.
fn par_zip<T: WithDType, M: Math>(a: &[T], b: &[T], f: impl Fn(M, M) -> M + Sync) -> Vec<T> {
    let mut out = uninit::<T>(a.len());
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                let v = f(M::from_f64(a.to_f64()), M::from_f64(b.to_f64()));
                *o = T::from_f64(v.to_f64());
            }
        });
    out
}

/// One chunk of an f32 activation (`grad` = None) or of its backward `grad ⊙ act'(x)`, as a
/// `pulp` kernel: `with_simd` is inlined into a function compiled for the CPU's widest SIMD
/// instructions, so each loop below (one per activation, the `match` outside) is vectorised
/// through [`super::vmath`]'s branch-free `exp` and `erf`. Same bits on every instruction set.
struct SmoothF32<'a> {
    act: Smooth,
    x: &'a [f32],
    grad: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl pulp::WithSimd for SmoothF32<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        macro_rules! each {
            ($act:expr) => {
                match self.grad {
                    None => {
                        for (o, &x) in self.out.iter_mut().zip(self.x) {
                            *o = <f32 as Math>::value($act, x);
                        }
                    }
                    Some(g) => {
                        for ((o, &x), &g) in self.out.iter_mut().zip(self.x).zip(g) {
                            *o = g * <f32 as Math>::derivative($act, x);
                        }
                    }
                }
            };
        }
        match self.act {
            Smooth::GeluErf => each!(Smooth::GeluErf),
            Smooth::GeluTanh => each!(Smooth::GeluTanh),
            Smooth::QuickGelu => each!(Smooth::QuickGelu),
        }
    }
}

/// `act(x)` (or `grad ⊙ act'(x)`) over f32 values, in parallel chunks of SIMD code.
fn smooth_f32(act: Smooth, x: &[f32], grad: Option<&[f32]>) -> Vec<f32> {
    let mut out = uninit::<f32>(x.len());
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, out)| {
        let range = i * CHUNK..i * CHUNK + out.len();
        pulp::Arch::new().dispatch(SmoothF32 {
            act,
            x: &x[range.clone()],
            grad: grad.map(|g| &g[range]),
            out,
        })
    });
    out
}

/// Dispatches a one-input kernel on the storage's dtype; f32 math for every type but f64.
macro_rules! dispatch1 {
    ($s:expr, $l:expr, $name:expr, |$v:ident, $M:ident| $body:expr) => {
        match $s {
            CpuStorage::F32(v) => {
                let $v = contiguous(v, $l, $name)?;
                type $M = f32;
                CpuStorage::F32($body)
            }
            CpuStorage::F64(v) => {
                let $v = contiguous(v, $l, $name)?;
                type $M = f64;
                CpuStorage::F64($body)
            }
            CpuStorage::BF16(v) => {
                let $v = contiguous(v, $l, $name)?;
                type $M = f32;
                CpuStorage::BF16($body)
            }
            CpuStorage::F16(v) => {
                let $v = contiguous(v, $l, $name)?;
                type $M = f32;
                CpuStorage::F16($body)
            }
            _ => candle_core::bail!("{}: unsupported dtype {:?}", $name, $s.dtype()),
        }
    };
}

/// `y = act(x)` in one parallel pass; backward `dx = dy ⊙ act'(x)` in one more (`SmoothGrad`).
pub struct SmoothOp(pub Smooth);

impl CustomOp1 for SmoothOp {
    fn name(&self) -> &'static str {
        "smooth-activation"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let act = self.0;
        let out = match s {
            CpuStorage::F32(v) => {
                CpuStorage::F32(smooth_f32(act, contiguous(v, l, "activation")?, None))
            }
            _ => dispatch1!(s, l, "activation", |v, M| par_map::<_, M>(v, |x| {
                M::value(act, x)
            })),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (x, grad) = (x.contiguous()?, grad.contiguous()?);
        Ok(Some(x.apply_op2_no_bwd(&grad, &SmoothGrad(self.0))?))
    }
}

/// `(x, dy) -> dy ⊙ act'(x)`: the backward of [`SmoothOp`].
struct SmoothGrad(Smooth);

impl CustomOp2 for SmoothGrad {
    fn name(&self) -> &'static str {
        "smooth-activation-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let act = self.0;
        macro_rules! grad {
            ($x:expr, $g:expr, $M:ty) => {{
                let x = contiguous($x, l1, "activation backward")?;
                let g = contiguous($g, l2, "activation backward")?;
                par_zip::<_, $M>(x, g, |x, g| g * <$M as Math>::derivative(act, x))
            }};
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(smooth_f32(
                act,
                contiguous(x, l1, "activation backward")?,
                Some(contiguous(g, l2, "activation backward")?),
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(grad!(x, g, f64)),
            (CpuStorage::BF16(x), CpuStorage::BF16(g)) => CpuStorage::BF16(grad!(x, g, f32)),
            (CpuStorage::F16(x), CpuStorage::F16(g)) => CpuStorage::F16(grad!(x, g, f32)),
            _ => candle_core::bail!("activation backward: unsupported or mismatched dtypes"),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// Custom op `(y, b) -> y + b` for a bias `b` `[n]` broadcast over the rows of `y` `[rows, n]`, in
/// one parallel pass; backward passes the gradient through to `y` and sums its rows for `b`
/// with a matrix product (ones [1, rows] · grad), where candle's own `broadcast_add` backward
/// reduces over rows with a single-threaded strided sum. What BitFit trains.
pub struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn add<T: WithDType>(y: &[T], l1: &Layout, b: &[T], l2: &Layout) -> Result<Vec<T>> {
            let (y, b) = (
                contiguous(y, l1, "bias-add")?,
                contiguous(b, l2, "bias-add")?,
            );
            if b.is_empty() || y.len() % b.len() != 0 {
                candle_core::bail!(
                    "bias-add: {} values do not split into rows of {}",
                    y.len(),
                    b.len()
                )
            }
            let mut out = vec![T::zero(); y.len()];
            let rows_per_item = (CHUNK / b.len()).max(1) * b.len();
            out.par_chunks_mut(rows_per_item)
                .zip(y.par_chunks(rows_per_item))
                .for_each(|(o, y)| {
                    for (o, y) in o.chunks_exact_mut(b.len()).zip(y.chunks_exact(b.len())) {
                        for ((o, &v), &c) in o.iter_mut().zip(y).zip(b) {
                            *o = v + c;
                        }
                    }
                });
            Ok(out)
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(y), CpuStorage::F32(b)) => CpuStorage::F32(add(y, l1, b, l2)?),
            (CpuStorage::F64(y), CpuStorage::F64(b)) => CpuStorage::F64(add(y, l1, b, l2)?),
            (CpuStorage::BF16(y), CpuStorage::BF16(b)) => CpuStorage::BF16(add(y, l1, b, l2)?),
            (CpuStorage::F16(y), CpuStorage::F16(b)) => CpuStorage::F16(add(y, l1, b, l2)?),
            _ => candle_core::bail!("bias-add: unsupported or mismatched dtypes"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, n) = grad.dims2()?;
        // Summed in f32 under half-precision compute, returned in the bias's dtype.
        let g32 = grad.to_dtype(DType::F32)?.contiguous()?;
        let ones = Tensor::ones((1, rows), DType::F32, grad.device())?;
        let db = ones.matmul(&g32)?.reshape(n)?.to_dtype(grad.dtype())?;
        Ok((Some(grad.clone()), Some(db)))
    }
}

/// SplitMix64's output number `i + 1` from the state `seed` (Steele, Lea & Flood 2014; the
/// generator `rand_xoshiro::SplitMix64` steps through): random access into one stream, so the
/// draw for element `i` follows from `i` alone, on any thread and any device.
#[inline(always)]
pub fn splitmix64_at(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Inverted dropout with a mask drawn from `seed`: zeroes each value with probability `p` and
/// scales the rest by 1/(1−p), in one parallel pass. Element `i` is dropped when the top 24 bits
/// of [`splitmix64_at`]`(seed, i)`, a uniform u·2²⁴, are below ⌈p·2²⁴⌉ (integers: the same
/// decision on every device). The mask is never stored: the backward applies the same op (same
/// seed, same mask) to the gradient. Kept values are multiplied by the f32 scale in f32 (f64
/// for f64 tensors) and rounded to the tensor's dtype once; the CUDA kernel does the same, so
/// a GPU drops the same elements and gives the same values as the CPU.
#[derive(Debug, Clone, Copy)]
pub struct DropoutOp {
    /// Seeds the mask.
    pub seed: u64,
    /// Drop probability in [0, 1).
    pub p: f32,
}

impl DropoutOp {
    /// The scale of kept values, 1/(1−p) in f32.
    pub(crate) fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    /// ⌈p·2²⁴⌉: an element is dropped when its 24-bit draw is below it.
    pub(crate) fn threshold(&self) -> u64 {
        (self.p as f64 * (1u64 << 24) as f64).ceil() as u64
    }

    /// Whether element `i` is kept.
    #[inline(always)]
    pub(crate) fn keeps(&self, threshold: u64, i: u64) -> bool {
        splitmix64_at(self.seed, i) >> 40 >= threshold
    }

    /// The mask as a vector of scales (0 or 1/(1−p)) for `n` values: what the op multiplies
    /// `n` values by (the tests compare the op with it).
    #[cfg(test)]
    fn mask(&self, n: usize) -> Vec<f32> {
        let threshold = self.threshold();
        (0..n as u64)
            .map(|i| {
                if self.keeps(threshold, i) {
                    self.scale()
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn apply<T: WithDType>(&self, src: &[T]) -> Vec<T> {
        let (scale, threshold) = (self.scale(), self.threshold());
        let wide = T::DTYPE == DType::F64;
        let mut out = vec![T::zero(); src.len()];
        out.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, (o, s))| {
                let first = (c * CHUNK) as u64;
                for (j, (o, &v)) in o.iter_mut().zip(s).enumerate() {
                    if self.keeps(threshold, first + j as u64) {
                        *o = if wide {
                            T::from_f64(v.to_f64() * scale as f64)
                        } else {
                            T::from_f64((v.to_f64() as f32 * scale) as f64)
                        };
                    }
                }
            });
        out
    }
}

impl CustomOp1 for DropoutOp {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(self.apply(contiguous(v, l, "dropout")?)),
            CpuStorage::F64(v) => CpuStorage::F64(self.apply(contiguous(v, l, "dropout")?)),
            CpuStorage::BF16(v) => CpuStorage::BF16(self.apply(contiguous(v, l, "dropout")?)),
            CpuStorage::F16(v) => CpuStorage::F16(self.apply(contiguous(v, l, "dropout")?)),
            _ => candle_core::bail!("dropout: unsupported dtype {:?}", s.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let out = cuda::dropout(self.seed, self.threshold(), self.scale(), s, l)?;
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(self)?))
    }
}

/// Whether [`DropoutOp`] runs on `x` where it lives: any float tensor on the CPU; f32 and bf16
/// on a CUDA device in a `cuda` build.
pub fn dropout_op_supports(x: &Tensor) -> bool {
    if x.device().is_cpu() {
        return x.dtype().is_float();
    }
    cfg!(feature = "cuda") && x.device().is_cuda() && matches!(x.dtype(), DType::F32 | DType::BF16)
}

/// The dropout kernel: [`splitmix64_at`] and the f32 multiply of [`DropoutOp`], on f32 or bf16
/// (stored as 16-bit patterns; converted with round-to-nearest-even as the `half` crate does).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
const DROPOUT_CU: &str = r#"
__device__ __forceinline__ unsigned long long splitmix64_at(unsigned long long seed,
                                                            unsigned long long i) {
    unsigned long long z = seed + (i + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

__device__ __forceinline__ float bf16_to_f32(unsigned short b) {
    return __uint_as_float(((unsigned int)b) << 16);
}

__device__ __forceinline__ unsigned short f32_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (unsigned short)((u >> 16) | 0x0040u);
    if ((u & 0x8000u) != 0u && (u & 0x17FFFu) != 0u) return (unsigned short)((u >> 16) + 1u);
    return (unsigned short)(u >> 16);
}

extern "C" __global__ void homogen_dropout_f32(
    const unsigned long long n, const float* __restrict__ x, float* __restrict__ y,
    const unsigned long long seed, const unsigned long long threshold, const float scale)
{
    const unsigned long long stride = (unsigned long long)blockDim.x * gridDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        y[i] = (splitmix64_at(seed, i) >> 40) >= threshold ? x[i] * scale : 0.0f;
    }
}

extern "C" __global__ void homogen_dropout_bf16(
    const unsigned long long n, const unsigned short* __restrict__ x,
    unsigned short* __restrict__ y, const unsigned long long seed,
    const unsigned long long threshold, const float scale)
{
    const unsigned long long stride = (unsigned long long)blockDim.x * gridDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        y[i] = (splitmix64_at(seed, i) >> 40) >= threshold
            ? f32_to_bf16(bf16_to_f32(x[i]) * scale) : (unsigned short)0;
    }
}
"#;

/// The CUDA side of [`DropoutOp`].
#[cfg(feature = "cuda")]
pub(crate) mod cuda {
    use candle_core::backend::BackendStorage;
    use candle_core::cuda_backend::cudarc::driver::{CudaSlice, DeviceRepr, PushKernelArg};
    use candle_core::cuda_backend::{CudaDType, WrapErr};
    use candle_core::{CudaStorage, Layout, Result};

    use super::DROPOUT_CU;
    use crate::nvrtc::{elementwise_config, Module};

    /// The dropout kernels, compiled on first use.
    pub(crate) static DROPOUT: Module = Module::new("homogen_dropout", DROPOUT_CU);

    fn run<T: CudaDType + DeviceRepr>(
        kernel: &str,
        seed: u64,
        threshold: u64,
        scale: f32,
        s: &CudaStorage,
        l: &Layout,
    ) -> Result<CudaStorage> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("dropout: the input must be contiguous")
        };
        let dev = s.device().clone();
        let n = b - a;
        let x = s.as_cuda_slice::<T>()?.slice(a..b);
        // SAFETY: every element is written by the kernel below.
        let y: CudaSlice<T> = unsafe { dev.alloc::<T>(n)? };
        let n64 = n as u64;
        let func = DROPOUT.function(&dev, kernel)?;
        let stream = dev.cuda_stream();
        let mut builder = stream.launch_builder(&func);
        builder
            .arg(&n64)
            .arg(&x)
            .arg(&y)
            .arg(&seed)
            .arg(&threshold)
            .arg(&scale);
        // SAFETY: the arguments match the kernel's signature; x and y hold n elements.
        unsafe { builder.launch(elementwise_config(n)) }.w()?;
        drop(builder);
        Ok(CudaStorage::wrap_cuda_slice(y, dev))
    }

    /// Applies the dropout kernel for `s`'s dtype (f32 or bf16).
    pub(super) fn dropout(
        seed: u64,
        threshold: u64,
        scale: f32,
        s: &CudaStorage,
        l: &Layout,
    ) -> Result<CudaStorage> {
        match s.dtype() {
            candle_core::DType::F32 => {
                run::<f32>("homogen_dropout_f32", seed, threshold, scale, s, l)
            }
            candle_core::DType::BF16 => {
                run::<half::bf16>("homogen_dropout_bf16", seed, threshold, scale, s, l)
            }
            other => candle_core::bail!("dropout: no CUDA kernel for {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn values(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// Forward values equal candle's own ops; derivatives equal central finite differences of
    /// the f64 function (h = 1e-5, error ~1e-10), on points spread over [-6, 6] and across
    /// more than one parallel chunk.
    #[test]
    fn smooth_activations_match_candle_and_finite_differences() {
        let n = CHUNK + 1000;
        let xs: Vec<f64> = (0..n).map(|i| -6.0 + 12.0 * i as f64 / n as f64).collect();
        for act in [Smooth::GeluErf, Smooth::GeluTanh, Smooth::QuickGelu] {
            let x32 = Tensor::new(
                xs.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                &Device::Cpu,
            )
            .unwrap();
            let ours = x32.apply_op1(SmoothOp(act)).unwrap();
            let candle = match act {
                Smooth::GeluErf => x32.gelu_erf().unwrap(),
                Smooth::GeluTanh => x32.gelu().unwrap(),
                Smooth::QuickGelu => {
                    (&x32 * candle_nn::ops::sigmoid(&(&x32 * 1.702).unwrap()).unwrap()).unwrap()
                }
            };
            let d = max_abs_diff(&values(&ours), &values(&candle));
            assert!(d < 2e-6, "{act:?} forward differs from candle's by {d}");

            let x = Var::new(xs.clone(), &Device::Cpu).unwrap();
            let upstream: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 / 7.0).collect();
            let r = Tensor::new(upstream.clone(), &Device::Cpu).unwrap();
            let y = x.as_tensor().apply_op1(SmoothOp(act)).unwrap();
            let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let got = values(grads.get(x.as_tensor()).unwrap());
            let h = 1e-5;
            let expected: Vec<f64> = xs
                .iter()
                .zip(&upstream)
                .map(|(&v, &g)| g * (f64::value(act, v + h) - f64::value(act, v - h)) / (2.0 * h))
                .collect();
            let d = max_abs_diff(&got, &expected);
            assert!(d < 1e-8, "{act:?} derivative off by {d}");
        }
    }

    /// Rows split over work items (more values than one chunk, rows not a divisor of it) give
    /// exactly candle's `broadcast_add`.
    #[test]
    fn bias_add_equals_broadcast_add_across_chunks() {
        let y = Tensor::randn(0f32, 1.0, (700, 97), &Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 1.0, 97, &Device::Cpu).unwrap();
        let ours = y.apply_op2_no_bwd(&b, &BiasAdd).unwrap();
        let plain = y.broadcast_add(&b).unwrap();
        assert_eq!(values(&ours), values(&plain));
        let err = y.apply_op2_no_bwd(&b.narrow(0, 0, 96).unwrap(), &BiasAdd);
        assert!(
            err.is_err(),
            "a bias that does not divide the row is refused"
        );
    }

    /// Half precision runs through the f32 math and rounds once.
    #[test]
    fn smooth_activation_in_bf16_rounds_the_f32_result() {
        let x = Tensor::new(&[-1.5f32, -0.25, 0.0, 0.5, 2.0], &Device::Cpu).unwrap();
        let f32_out = values(&x.apply_op1(SmoothOp(Smooth::GeluErf)).unwrap());
        let bf16 = x.to_dtype(DType::BF16).unwrap();
        let bf16_out = values(&bf16.apply_op1(SmoothOp(Smooth::GeluErf)).unwrap());
        for (a, b) in f32_out.iter().zip(&bf16_out) {
            assert!((a - b).abs() <= a.abs() / 128.0 + 1e-6, "{a} vs {b}");
        }
    }

    /// NVRTC compiles the dropout kernels (no GPU needed) and the PTX has both entry points.
    #[cfg(feature = "cuda")]
    #[test]
    fn dropout_kernels_compile_to_ptx() {
        let ptx = super::cuda::DROPOUT.ptx().unwrap();
        for name in ["homogen_dropout_f32", "homogen_dropout_bf16"] {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{name} missing from the PTX"
            );
        }
    }

    /// The draws are SplitMix64's stream: `splitmix64_at(seed, i)` is output `i + 1` of
    /// `rand_xoshiro::SplitMix64` seeded with `seed` (an independent implementation).
    #[test]
    fn splitmix64_at_is_random_access_into_the_reference_stream() {
        use rand_xoshiro::rand_core::{RngCore, SeedableRng};
        for seed in [0u64, 9, 0xDEAD_BEEF_0123_4567, u64::MAX] {
            let mut reference = rand_xoshiro::SplitMix64::seed_from_u64(seed);
            for i in 0..1000u64 {
                assert_eq!(
                    splitmix64_at(seed, i),
                    reference.next_u64(),
                    "seed {seed}, i {i}"
                );
            }
        }
    }

    /// The mask depends on the seed only (not on the thread count), drops about p of the
    /// values, scales the rest by 1/(1-p), equals [`DropoutOp::mask`], and the gradient
    /// passes through the same mask.
    #[test]
    fn dropout_is_seeded_thread_independent_and_backpropagates_its_mask() {
        let n = 3 * CHUNK + 17;
        let x = Var::new(vec![2f32; n], &Device::Cpu).unwrap();
        let op = || DropoutOp { seed: 9, p: 0.1 };
        let run = |threads: usize| {
            crate::models::test_util::with_threads(threads, || {
                values(&x.as_tensor().apply_op1(op()).unwrap())
            })
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(one, three);
        let mask = op().mask(n);
        for (y, m) in one.iter().zip(&mask) {
            assert_eq!(*y, 2.0 * *m as f64);
        }
        // Element i is dropped exactly when the top 24 bits of its draw are below ⌈0.1·2²⁴⌉.
        let threshold = (0.1f32 as f64 * 16_777_216.0).ceil() as u64;
        for (i, m) in mask.iter().enumerate() {
            assert_eq!(
                *m == 0.0,
                splitmix64_at(9, i as u64) >> 40 < threshold,
                "element {i}"
            );
        }
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64;
        // Binomial(n, 0.1): sd ≈ 0.3 √n ≈ 67; allow 5 sd.
        let expected = 0.1 * n as f64;
        assert!(
            (dropped - expected).abs() < 5.0 * (0.09 * n as f64).sqrt(),
            "{dropped}"
        );
        assert!(mask
            .iter()
            .all(|&m| m == 0.0 || (m - 1.0 / 0.9).abs() < 1e-7));
        let other = DropoutOp { seed: 10, p: 0.1 }.mask(n);
        assert_ne!(mask, other);

        let r = Tensor::new((0..n).map(|i| i as f32).collect::<Vec<_>>(), &Device::Cpu).unwrap();
        let y = x.as_tensor().apply_op1(op()).unwrap();
        let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let got = values(grads.get(x.as_tensor()).unwrap());
        for (i, (g, m)) in got.iter().zip(&mask).enumerate() {
            assert_eq!(*g, (i as f32 * m) as f64);
        }
    }
}
