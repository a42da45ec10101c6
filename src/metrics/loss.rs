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
        let mut sums = LossSums::new(self.k);
        for j in 0..self.n() {
            sums.add(&self.values[j * self.k..(j + 1) * self.k]);
        }
        sums.metrics()
    }

    /// The three metrics on a bootstrap resample of the complete cases (n draws with
    /// replacement).
    pub fn resampled_metrics(&self, rng: &mut ChaCha8Rng) -> [Value; 3] {
        let n = self.n();
        let mut sums = LossSums::new(self.k);
        for _ in 0..n {
            let j = rng.gen_range(0..n);
            sums.add(&self.values[j * self.k..(j + 1) * self.k]);
        }
        sums.metrics()
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

/// Running sums over people: of prod_i l, of min_i l, and of each deployment's l.
struct LossSums {
    n: f64,
    prod: f64,
    min: f64,
    per_deployment: Vec<f64>,
}

impl LossSums {
    fn new(k: usize) -> Self {
        LossSums {
            n: 0.0,
            prod: 0.0,
            min: 0.0,
            per_deployment: vec![0.0; k],
        }
    }

    fn add(&mut self, row: &[f64]) {
        self.n += 1.0;
        self.prod += row.iter().product::<f64>();
        self.min += row.iter().copied().fold(f64::INFINITY, f64::min);
        for (s, l) in self.per_deployment.iter_mut().zip(row) {
            *s += l;
        }
    }

    fn metrics(&self) -> [Value; 3] {
        if self.n == 0.0 {
            let u = || Value::Undefined("no people with a loss in every deployment".into());
            return [u(), u(), u()];
        }
        let means: Vec<f64> = self.per_deployment.iter().map(|s| s / self.n).collect();
        let prod_of_means: f64 = means.iter().product();
        let min_of_means = means.iter().copied().fold(f64::INFINITY, f64::min);
        let mean_of_means = means.iter().sum::<f64>() / means.len() as f64;
        let loss_h = Value::ratio(
            &Value::Defined(self.prod / self.n),
            &Value::Defined(prod_of_means),
            "a deployment's mean loss is 0 (loss-H divides by 0)",
        );
        let min_exp = Value::ratio(
            &Value::Defined(self.min / self.n),
            &Value::Defined(min_of_means),
            "the smallest mean loss is 0 (MinExp divides by 0)",
        );
        let exp_exp = Value::ratio(
            &Value::Defined(self.min / self.n),
            &Value::Defined(mean_of_means),
            "the mean loss is 0 (ExpExp divides by 0)",
        );
        [loss_h, min_exp, exp_exp]
    }
}
