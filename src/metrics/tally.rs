//! Sufficient statistics of one weighting of the person types: how many people met and were
//! failed by each deployment, overall and within each group. The point estimate uses the type
//! counts as weights; each bootstrap replicate uses a multinomial draw.

use super::types::PersonTypes;
use super::value::Value;
use crate::failures::{ABSENT, FAILED};

/// Weighted counts over the person types.
#[derive(Debug, Clone)]
pub struct Tally<'a> {
    /// The types the weights refer to.
    pub types: &'a PersonTypes,
    /// Weight (number of people) of each type.
    pub weights: &'a [f64],
    /// Total weight, n.
    pub total: f64,
    /// Per deployment: weight of the people who met it.
    pub met: Vec<f64>,
    /// Per deployment: weight of the people it failed.
    pub failed: Vec<f64>,
    /// Per grouping: weight of group g's people who met deployment i, at `[g * k + i]`.
    pub group_met: Vec<Vec<f64>>,
    /// Per grouping: weight of group g's people failed by deployment i, at `[g * k + i]`.
    pub group_failed: Vec<Vec<f64>>,
}

impl<'a> Tally<'a> {
    /// Sums the weights.
    pub fn new(types: &'a PersonTypes, weights: &'a [f64]) -> Self {
        let k = types.k;
        let mut met = vec![0.0; k];
        let mut failed = vec![0.0; k];
        let mut group_met: Vec<Vec<f64>> = types
            .groupings
            .iter()
            .map(|(_, levels)| vec![0.0; levels.len() * k])
            .collect();
        let mut group_failed = group_met.clone();
        let mut total = 0.0;
        for (t, &w) in weights.iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            total += w;
            for (i, &o) in types.outcome(t).iter().enumerate() {
                if o == ABSENT {
                    continue;
                }
                met[i] += w;
                let f = if o == FAILED { w } else { 0.0 };
                failed[i] += f;
                for g in 0..types.groupings.len() {
                    let cell = types.group(t, g) * k + i;
                    group_met[g][cell] += w;
                    group_failed[g][cell] += f;
                }
            }
        }
        Tally {
            types,
            weights,
            total,
            met,
            failed,
            group_met,
            group_failed,
        }
    }

    /// FAIL(h^i): the failure rate of deployment i over the people who met it.
    pub fn failure_rate(&self, i: usize) -> Value {
        if self.met[i] == 0.0 {
            Value::Undefined(format!(
                "no people met deployment `{}`",
                self.types.deployments[i]
            ))
        } else {
            Value::Defined(self.failed[i] / self.met[i])
        }
    }

    /// The failure rates of all deployments, or the first reason one is undefined.
    pub fn failure_rates(&self) -> Result<Vec<f64>, String> {
        (0..self.types.k)
            .map(|i| match self.failure_rate(i) {
                Value::Defined(x) => Ok(x),
                Value::Undefined(r) => Err(r),
            })
            .collect()
    }
}
