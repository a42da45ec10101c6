//! Branch-free f32 math for the CPU kernels' inner loops: `exp` and the error function GELU
//! needs, written with plain arithmetic, selects and bit operations (no libm calls, no `floor`)
//! so that a loop over a slice compiles to SIMD code; libm's `expf`/`erff` are scalar calls,
//! which keep every loop that uses them scalar. The kernels run such loops through a `pulp`
//! kernel (`pulp::WithSimd` with an `#[inline(always)]` `with_simd`, dispatched by
//! `pulp::Arch`), which compiles them for AVX-512 or AVX2 when the CPU has them.
//!
//! No fused multiply-add is written and LLVM does not contract `a * b + c` on its own, so every
//! instruction set gives the same bits: results do not depend on the machine's SIMD width.

/// e^x in f32, as Cephes' `expf`: x = n ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two parts
/// so the reduction is exact), e^r by a degree-6 polynomial, 2^n placed in the exponent bits.
/// Within 2 ulp of the exact value for x in [-86.9, 88.72] (tested against f64 `exp`); 0 below
/// that range (where e^x < 1.8e-38: no subnormal results), +inf above it; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LO: f32 = -86.9; // keeps n ≥ -125, so 2^(n-1) below is a normal number
    const HI: f32 = 88.722_83; // ln of the largest f32
    let c = x.clamp(LO, HI);
    // n = round(c / ln 2) by adding 1.5 · 2^23: the sum t is an integer-valued float whose
    // low mantissa bits hold n, so n is also read off its bits below (no float-to-int cast:
    // Rust's saturating `as i32` compiles to one scalar conversion per lane).
    const ROUND: f32 = 12_582_912.0;
    let t = c * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = c - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let er = p * (r * r) + r + 1.0;
    // 2^n as 2^(n-1) · 2 (both exact), so n = 128 at the top of the range fits the exponent;
    // n - 1 + 127 ∈ [1, 254] for n ∈ [-125, 128].
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits());
    let half_two_n = f32::from_bits(n_bits.wrapping_add(126) << 23);
    let y = er * half_two_n * 2.0;
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        y
    }
}

/// erf(x) in f32: its Maclaurin series through x^13 for |x| < 0.5 (truncation below 1e-9,
/// relative error about 1.6e-7, exactly 0 at 0), Abramowitz & Stegun 7.1.26 — the approximation
/// PyTorch's vectorised CPU GELU uses — elsewhere. Absolute error below 5e-7 (tested; the worst
/// is just above 0.5, where A&S's `1 - poly · e^(-x²)` loses bits to cancellation). Both
/// branches are computed and one selected, so a loop over it vectorises.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_7) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let far = (1.0 - poly * exp(-a * a)).copysign(x);
    // 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1)), n = 0..=6, in Horner form over z = x².
    let z = x * x;
    let series = x
        * (std::f32::consts::FRAC_2_SQRT_PI
            + z * (-0.376_126_4
                + z * (0.112_837_92
                    + z * (-0.026_866_17
                        + z * (0.005_223_977_6 + z * (-8.548_327e-4 + z * 1.205_533_3e-4))))));
    if a < 0.5 {
        series
    } else {
        far
    }
}

/// `values` reduced with `op` in 16 lanes (lane j takes the values at j, j + 16, …; the lanes
/// are then combined in order, then the remainder): a fixed order, so the result does not
/// depend on the instruction set, and one the compiler turns into whole-register operations
/// (a running scalar sum waits on every addition).
#[inline(always)]
pub(crate) fn lanes(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = op(*a, v);
        }
    }
    acc.into_iter().chain(rest.iter().copied()).fold(init, op)
}

/// The sum of `term(i)` for i in 0..len in [`lanes`]' fixed order (lane j takes the terms at
/// j, j + 16, …; the lanes are added in order, then the remainder): sixteen independent running
/// sums instead of one that waits on every addition, with a result that does not depend on the
/// instruction set. For terms drawn from several slices at once; [`lanes`] stays separate for a
/// single slice, which it walks in chunks without bounds checks (written through this function
/// it took 1.5× as long on softmax-sized rows).
#[inline(always)]
pub(crate) fn lane_sum_by(len: usize, term: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let full = len / 16 * 16;
    for base in (0..full).step_by(16) {
        for (j, a) in acc.iter_mut().enumerate() {
            *a += term(base + j);
        }
    }
    acc.into_iter()
        .chain((full..len).map(&term))
        .fold(0.0, |s, t| s + t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units in the last place between `got` and the f64 reference rounded to f32.
    fn ulps(got: f32, want: f64) -> u32 {
        let w = want as f32;
        (got.to_bits() as i64 - w.to_bits() as i64).unsigned_abs() as u32
    }

    /// Within 2 ulp of f64 `exp` on a dense sweep of the documented range (including both ends),
    /// exactly 1 at 0, and the documented values outside it.
    #[test]
    fn exp_is_within_two_ulp_and_saturates_as_documented() {
        let mut worst = 0;
        let mut x = -86.9_f32;
        while x < 88.72 {
            worst = worst.max(ulps(exp(x), (x as f64).exp()));
            x += 0.000_37;
        }
        for x in [-86.9_f32, -1e-8, 1e-8, 0.5, -0.5, 88.0, 88.5, 88.722_8] {
            worst = worst.max(ulps(exp(x), (x as f64).exp()));
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-87.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
    }

    /// Absolute error against f64 `erf` (libm) below 5e-7 on [-6, 6] (measured: 4.5e-7, at
    /// x ≈ 0.503), relative error below 2e-7 near 0, odd, 0 at 0 and ±1 far out.
    #[test]
    fn erf_is_within_its_absolute_error_bound() {
        let (mut worst, mut worst_rel_near_0) = (0f64, 0f64);
        let mut x = -6f32;
        while x <= 6.0 {
            let (got, want) = (erf(x) as f64, libm::erf(x as f64));
            worst = worst.max((got - want).abs());
            if x.abs() < 0.5 && x != 0.0 {
                worst_rel_near_0 = worst_rel_near_0.max(((got - want) / want).abs());
            }
            assert_eq!(erf(-x), -erf(x));
            x += 0.000_61;
        }
        assert!(worst < 5e-7, "worst absolute error {worst}");
        assert!(
            worst_rel_near_0 < 2e-7,
            "worst relative error {worst_rel_near_0}"
        );
        assert_eq!(erf(1e-30), 1.128_379_2e-30);
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    /// `exp(x) + erf(x)` over a slice as a pulp kernel, the way the model kernels run them.
    struct Both<'a>(&'a [f32], &'a mut [f32]);

    impl pulp::WithSimd for Both<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            for (o, &x) in self.1.iter_mut().zip(self.0) {
                *o = exp(x) + erf(x);
            }
        }
    }

    /// The loop compiled for the CPU's SIMD instructions gives the bits of the plain one.
    #[test]
    fn simd_loop_gives_the_scalar_bits() {
        let xs: Vec<f32> = (0..10_000)
            .map(|i| (i as f32 - 5_000.0) * 0.003_7)
            .collect();
        let plain: Vec<u32> = xs
            .iter()
            .map(|&x| (std::hint::black_box(exp)(x) + std::hint::black_box(erf)(x)).to_bits())
            .collect();
        let mut simd = vec![0f32; xs.len()];
        pulp::Arch::new().dispatch(Both(&xs, &mut simd));
        let simd: Vec<u32> = simd.iter().map(|v| v.to_bits()).collect();
        assert_eq!(plain, simd);
    }
}
