//! The bootstrap over people, done on type counts: a resample of n people with replacement has
//! type counts Multinomial(n, counts / n), drawn here as a chain of binomials. This is exactly
//! the distribution of the type counts of a row resample, at O(types) cost per replicate.
//!
//! Intervals are percentile 95% intervals: the 2.5th and 97.5th percentiles of the replicates
//! where the metric is defined, with linear interpolation between order statistics (numpy's
//! default `linear` method, Hyndman & Fan type 7).

use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};

use super::value::{Measurement, Value};

/// A multinomial draw of `n` items over categories with the given counts as probabilities
/// (count / total), as f64 weights.
pub fn multinomial(n: u64, counts: &[u64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut out = vec![0.0; counts.len()];
    let mut left_n = n;
    let mut left_mass: u64 = counts.iter().sum();
    for (t, &c) in counts.iter().enumerate() {
        if left_n == 0 || left_mass == 0 {
            break;
        }
        let x = if c >= left_mass {
            left_n
        } else {
            let p = c as f64 / left_mass as f64;
            // 0 < p < 1 here, so the binomial is well formed.
            Binomial::new(left_n, p).map_or(0, |b| b.sample(rng))
        };
        out[t] = x as f64;
        left_n -= x;
        left_mass -= c;
    }
    out
}

/// The q-quantile (0 ≤ q ≤ 1) of sorted values, linear interpolation (type 7).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The bootstrap replicates of every row, kept as the defined values only (8 bytes each):
/// replicate after replicate, row m's value goes to `values[m]` when the metric is defined
/// there. Keeping whole rows (with each undefined value's reason) cost ~3.7 KB per replicate.
#[derive(Debug, Clone)]
pub struct Replicates {
    /// Replicates pushed so far.
    count: usize,
    /// Row m's defined values, in replicate order.
    values: Vec<Vec<f64>>,
}

impl Replicates {
    /// Room for `capacity` replicates of `rows` rows.
    pub fn new(rows: usize, capacity: usize) -> Self {
        Replicates {
            count: 0,
            values: (0..rows).map(|_| Vec::with_capacity(capacity)).collect(),
        }
    }

    /// Adds one replicate: its value of each row, in row order (rows beyond the values given
    /// count as undefined).
    pub fn push(&mut self, replicate: impl IntoIterator<Item = Value>) {
        for (m, v) in replicate.into_iter().enumerate() {
            if let (Some(column), Some(x)) = (self.values.get_mut(m), v.get()) {
                column.push(x);
            }
        }
        self.count += 1;
    }
}

/// Sets each row's percentile 95% interval from its replicate values, noting replicates where
/// the metric was undefined.
pub fn attach_intervals(rows: &mut [Measurement], replicates: Replicates) {
    let b = replicates.count;
    if b == 0 {
        return;
    }
    for (row, mut values) in rows.iter_mut().zip(replicates.values) {
        if values.is_empty() {
            row.add_note(&format!(
                "no interval: undefined in all {b} bootstrap replicates"
            ));
            continue;
        }
        values.sort_by(f64::total_cmp);
        row.ci = Some((percentile(&values, 0.025), percentile(&values, 0.975)));
        if values.len() < b {
            row.add_note(&format!(
                "interval from the {} of {b} bootstrap replicates where defined",
                values.len()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn percentile_is_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], 2.5) = 1 + 0.075 * (2 - 1) = 1.075 (h = 3 * 0.025).
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((percentile(&v, 0.025) - 1.075).abs() < 1e-15);
        // 97.5: h = 2.925 -> 3 + 0.925 * 1 = 3.925.
        assert!((percentile(&v, 0.975) - 3.925).abs() < 1e-15);
    }

    #[test]
    fn multinomial_keeps_n_and_follows_the_probabilities() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let counts = [10u64, 0, 30, 60];
        let mut mean = [0.0; 4];
        for _ in 0..2000 {
            let w = multinomial(100, &counts, &mut rng);
            assert_eq!(w.iter().sum::<f64>(), 100.0);
            assert_eq!(w[1], 0.0);
            for (m, x) in mean.iter_mut().zip(&w) {
                *m += x / 2000.0;
            }
        }
        // Expected counts 10, 0, 30, 60; sd of the mean of 2000 draws < 0.12.
        for (m, want) in mean.iter().zip([10.0, 0.0, 30.0, 60.0]) {
            assert!((m - want).abs() < 0.5, "{mean:?}");
        }
    }
}
