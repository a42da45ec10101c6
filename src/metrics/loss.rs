//! Loss-based alternatives (paper appendix A.4), when the table has comparable per-example
//! losses `l^i_j`: `loss-H = E_j[prod_i l] / prod_i E_j[l]`,
//! `MinExp = E_j[min_i l] / min_i E_j[l]`, `ExpExp = E_j[min_i l] / mean_i E_j[l]`.
//!
//! They are computed over the people with a finite loss under every deployment (complete
//! cases); the rows' note says how many people were left out. Their bootstrap resamples these
//! people's indices directly (losses are continuous, so there are no types to compress).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::value::{Measurement, Value};
use super::INDIVIDUAL;
use crate::failures::{SystemMatrix, ABSENT};

/// Complete-case losses of one system: `values[j * k + i]` for the people with a loss under
/// every deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Losses {
    /// Number of deployments.
    pub k: usize,
    /// Person-major losses of the complete cases.
    pub values: Vec<f64>,
    /// People left out for lacking a loss under some deployment.
    pub dropped: usize,
}

impl Losses {
    /// The complete-case losses of `s`, or `None` when the table has no `loss` column.
    pub fn of_system(s: &SystemMatrix) -> Option<Losses> {
        let all = s.losses.as_ref()?;
        let k = s.n_deployments();
        let mut values = Vec::new();
        let mut dropped = 0;
        for p in 0..s.n_people() {
            let row = &all[p * k..(p + 1) * k];
            let complete =
                s.person(p).iter().all(|&o| o != ABSENT) && row.iter().all(|l| l.is_finite());
            if complete {
                values.extend_from_slice(row);
            } else {
                dropped += 1;
            }
        }
        Some(Losses { k, values, dropped })
    }

    /// Number of complete-case people.
    pub fn n(&self) -> usize {
        self.values.len() / self.k.max(1)
    }

    /// The three metrics on all complete cases.
    pub fn metrics(&self) -> [Value; 3] {
        let people: Vec<usize> = (0..self.n()).collect();
        self.metrics_of(&people)
    }

    /// The three metrics on a bootstrap resample of the complete cases (n draws with
    /// replacement).
    pub fn resampled_metrics(&self, rng: &mut ChaCha8Rng) -> [Value; 3] {
        let n = self.n();
        let people: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
        self.metrics_of(&people)
    }

    /// Person `j`'s losses.
    fn row(&self, j: usize) -> &[f64] {
        &self.values[j * self.k..(j + 1) * self.k]
    }

    /// The three metrics over `people` (indices into the complete cases, repeats allowed).
    ///
    /// Losses are finite and not negative (the failure table checks), and all three metrics
    /// are unchanged when losses are rescaled: loss-H by a factor per deployment, MinExp and
    /// ExpExp by one common factor. So each is computed on losses divided by a power of two
    /// near their largest value (exact in floating point), and loss-H as
    /// `E_j[prod_i (l^i_j / E[l^i])]`, which equals `E_j[prod_i l] / prod_i E_j[l]` without
    /// forming the raw products: losses of 1e200 would make both overflow (inf / inf), tiny ones
    /// underflow (0 / 0). Undefined only when a mean loss is genuinely 0 (every loss there is
    /// 0), or, for extreme spreads, when the ratio itself does not fit in an f64.
    fn metrics_of(&self, people: &[usize]) -> [Value; 3] {
        if people.is_empty() || self.k == 0 {
            let u = || Value::Undefined("no people with a loss in every deployment".into());
            return [u(), u(), u()];
        }
        let column = |i: usize| people.iter().map(move |&j| self.row(j)[i]);
        let largest: Vec<f64> = (0..self.k).map(|i| column(i).fold(0.0, f64::max)).collect();
        let all_zero = |i: usize| largest[i] == 0.0;

        // loss-H, each deployment's losses scaled by its own power of two.
        let loss_h = if (0..self.k).any(all_zero) {
            Value::Undefined(
                "a deployment's mean loss is 0 (all its losses are 0; loss-H divides by 0)".into(),
            )
        } else {
            let scales: Vec<i32> = largest.iter().map(|&m| -binary_exponent(m)).collect();
            let means: Vec<f64> = (0..self.k)
                .map(|i| mean(column(i).map(|l| scale(l, scales[i]))))
                .collect();
            Value::finite_or(
                self.normalised_product_mean(people, &scales, &means),
                "loss-H is too large to represent as a 64-bit float",
            )
        };

        // MinExp and ExpExp, every loss scaled by one power of two.
        let top = largest.iter().copied().fold(0.0, f64::max);
        let common = if top > 0.0 { -binary_exponent(top) } else { 0 };
        let means: Vec<f64> = (0..self.k)
            .map(|i| mean(column(i).map(|l| scale(l, common))))
            .collect();
        let mean_min = mean(people.iter().map(|&j| {
            let min = self.row(j).iter().copied().fold(f64::INFINITY, f64::min);
            scale(min, common)
        }));
        let min_of_means = means.iter().copied().fold(f64::INFINITY, f64::min);
        let mean_of_means = mean(means.iter().copied());
        // A zero mean of losses that are not all 0 is an underflow, not a zero mean loss.
        let underflow = (0..self.k).any(|i| means[i] == 0.0 && !all_zero(i));
        let spread = "the mean losses differ by more than a 64-bit float spans";
        let min_exp = if underflow {
            Value::Undefined(spread.into())
        } else {
            ratio(
                mean_min,
                min_of_means,
                "the smallest mean loss is 0 (all losses of a deployment are 0; MinExp divides \
                 by 0)",
                "MinExp",
            )
        };
        let exp_exp = ratio(
            mean_min,
            mean_of_means,
            "the mean loss is 0 (all losses are 0; ExpExp divides by 0)",
            "ExpExp",
        );
        [loss_h, min_exp, exp_exp]
    }

    /// `mean_j prod_i (l^i_j 2^scales[i] / means[i])` over `people`, every `means[i]` positive
    /// (the mean of the scaled losses): directly when no product overflows or underflows to 0,
    /// otherwise with every product carried as mantissa × 2^exponent. Infinite when the mean
    /// itself exceeds the float range.
    fn normalised_product_mean(&self, people: &[usize], scales: &[i32], means: &[f64]) -> f64 {
        let factor = |l: f64, i: usize| scale(l, scales[i]) / means[i];
        let n = people.len() as f64;
        let mut sum = 0.0;
        let mut lost = false;
        for &j in people {
            let row = self.row(j);
            let term: f64 = row.iter().enumerate().map(|(i, &l)| factor(l, i)).product();
            // An exact zero is a zero loss; a zero product of non-zero losses underflowed.
            if !term.is_finite() || (term == 0.0 && !row.contains(&0.0)) {
                lost = true;
                break;
            }
            sum += term;
        }
        if !lost && sum.is_finite() {
            return sum / n;
        }
        // People with a zero loss contribute 0; the others' products are carried as a mantissa
        // and a binary exponent (renormalised after every factor, which is exact), so nothing
        // overflows or underflows until the final mean is scaled back.
        let terms: Vec<(f64, i64)> = people
            .iter()
            .map(|&j| self.row(j))
            .filter(|row| !row.contains(&0.0))
            .map(|row| {
                let (mut m, mut e) = (1.0f64, 0i64);
                for (i, &l) in row.iter().enumerate() {
                    m *= factor(l, i);
                    let shift = binary_exponent(m);
                    m = scale(m, -shift);
                    e += i64::from(shift);
                }
                (m, e)
            })
            .collect();
        let Some(top) = terms.iter().map(|&(_, e)| e).max() else {
            return 0.0;
        };
        let sum: f64 = terms
            .iter()
            .map(|&(m, e)| scale(m, (e - top).max(-2000) as i32))
            .sum();
        let back = top.clamp(-5000, 5000) as i32;
        scale(sum / n, back)
    }

    /// The rows `loss_h`, `min_exp`, `exp_exp` (point estimates).
    pub fn rows(&self) -> Vec<Measurement> {
        let note = if self.dropped > 0 {
            format!(
                "over the {} with a loss in every deployment ({} left out)",
                super::value::people(self.n()),
                self.dropped
            )
        } else {
            String::new()
        };
        LOSS_METRICS
            .iter()
            .zip(self.metrics())
            .map(|(name, v)| Measurement::new(INDIVIDUAL, *name, v).with_note(&note))
            .collect()
    }
}

/// Names of the loss-based rows, in order.
pub const LOSS_METRICS: [&str; 3] = ["loss_h", "min_exp", "exp_exp"];

/// The exponent e of a positive finite x, with 2^e <= x < 2^(e + 1) (subnormals included).
fn binary_exponent(x: f64) -> i32 {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: x = mantissa · 2^-1074.
        let mantissa = bits & ((1u64 << 52) - 1);
        63 - mantissa.leading_zeros() as i32 - 1074
    } else {
        biased - 1023
    }
}

/// x · 2^e, in steps that keep every power of two representable (exact unless the result
/// leaves the normal range).
fn scale(mut x: f64, mut e: i32) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e)
}

/// The mean of finite numbers without overflow: the plain sum over n when it is finite, else
/// the sum of each value over n.
fn mean(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    let sum: f64 = values.clone().sum();
    if sum.is_finite() {
        sum / n
    } else {
        values.map(|v| v / n).sum()
    }
}

/// `num / den`, undefined with `zero` when `den` is 0, or saying the ratio is too large when it
/// overflows (a tiny but non-zero denominator is not a zero one).
fn ratio(num: f64, den: f64, zero: &str, name: &str) -> Value {
    if den == 0.0 {
        Value::Undefined(zero.into())
    } else {
        Value::finite_or(
            num / den,
            format!("{name} is too large to represent as a 64-bit float"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses(k: usize, values: Vec<f64>) -> Losses {
        Losses {
            k,
            values,
            dropped: 0,
        }
    }

    fn defined(v: &Value) -> f64 {
        v.get().unwrap_or_else(|| panic!("{v:?}"))
    }

    #[test]
    fn rescaling_a_deployment_leaves_loss_h_alone() {
        // By hand on (1, 2), (3, 4): E[prod] = 7, means 2 and 3, loss-H = 7/6; MinExp = 1,
        // ExpExp = 0.8. Multiplying every loss by 1e250 (MinExp, ExpExp: one common factor) or
        // by 1e-250 changes nothing, though the raw products overflow or underflow.
        // 2^-1070 (subnormal) written so that no step overflows: `2f64.powi(-1070)` is
        // 1 / 2^1070 = 1 / inf = 0 in a debug build (compiler-rt's powi), exact in release.
        let subnormal = f64::MIN_POSITIVE * 2f64.powi(-48);
        assert!(subnormal > 0.0);
        for factor in [1.0, 1e250, 1e-250, subnormal] {
            let l = losses(2, [1.0, 2.0, 3.0, 4.0].map(|v| v * factor).to_vec());
            let [h, min_exp, exp_exp] = l.metrics();
            assert!((defined(&h) - 7.0 / 6.0).abs() < 1e-12, "{factor}: {h:?}");
            assert!((defined(&min_exp) - 1.0).abs() < 1e-12, "{factor}");
            assert!((defined(&exp_exp) - 0.8).abs() < 1e-12, "{factor}");
        }
        // A factor per deployment: loss-H is unchanged.
        let l = losses(2, vec![1e300, 2e-300, 3e300, 4e-300]);
        assert!((defined(&l.metrics()[0]) - 7.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn products_that_leave_the_float_range_are_carried_with_their_exponents() {
        // 400 deployments, two people with losses 1 and 1e-10 everywhere: each mean is
        // (1 + 1e-10)/2, person 1's factor 2/(1 + 1e-10), person 2's a 1e-10 of that, whose
        // product underflows to 0. Exactly: loss-H = (2/(1 + 1e-10))^400 (1 + 1e-4000) / 2.
        let k = 400;
        let mut values = vec![1.0; k];
        values.extend(vec![1e-10; k]);
        let l = losses(k, values);
        let want = 2f64.powi(399) * (1.0 + 1e-10f64).powi(-400);
        let got = defined(&l.metrics()[0]);
        assert!((got / want - 1.0).abs() < 1e-12, "{got} vs {want}");
        // 1100 deployments: the true value 2^1099 exceeds f64, and the reason says so.
        let k = 1100;
        let mut values = vec![1.0; k];
        values.extend(vec![1e-10; k]);
        match &losses(k, values).metrics()[0] {
            Value::Undefined(why) => assert!(why.contains("too large"), "{why}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn only_a_genuinely_zero_mean_is_called_zero() {
        // Deployment b's losses are all 0: loss-H and MinExp divide by 0.
        let [h, min_exp, exp_exp] = losses(2, vec![1.0, 0.0, 3.0, 0.0]).metrics();
        assert!(matches!(h, Value::Undefined(ref w) if w.contains("mean loss is 0")));
        assert!(matches!(min_exp, Value::Undefined(ref w) if w.contains("mean loss is 0")));
        assert_eq!(defined(&exp_exp), 0.0);
        // The smallest positive float among ten people: its mean (5e-324 / 10) is below the
        // float range, not 0. loss-H is scale-free: by hand E[prod] = (1 · 10)/10 ÷ (1 · 1) = 1
        // with person 1 carrying every loss of b, and the others' products 0.
        let mut values = vec![5e-324, 1.0];
        for _ in 1..10 {
            values.extend([0.0, 1.0]);
        }
        let [h, min_exp, _] = losses(2, values).metrics();
        assert!((defined(&h) - 1.0).abs() < 1e-12, "{h:?}");
        match min_exp {
            Value::Undefined(why) => assert!(!why.contains("is 0"), "{why}"),
            v => panic!("{v:?}"),
        }
    }
}
