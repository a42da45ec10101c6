//! The measuring step of a trial: one call, [`measure`], from the trial's person × deployment
//! matrix to tidy metric rows (DESIGN.md §4's `grouping,metric,value,note`). Homogenization
//! itself comes from `crate::metrics`; this module only adapts its output.

use crate::error::Result;
use crate::failures::{SystemMatrix, FAILED, OK};

/// One measured value of one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// `individual`, or the group column's name.
    pub grouping: String,
    /// `h_individual`, `systemic_failure_observed`, `failure_rate:<deployment>`, ...
    pub metric: String,
    /// The value; `None` when undefined (the reason is in `note`).
    pub value: Option<f64>,
    /// Why a value is undefined, or which group is the worst.
    pub note: String,
}

/// Every metric of one trial's system.
pub fn measure(system: &SystemMatrix) -> Result<Vec<MetricRow>> {
    let k = system.n_deployments();
    let mut rows = Vec::new();
    for (i, d) in system.deployments.iter().enumerate() {
        let (mut failed, mut seen) = (0usize, 0usize);
        for p in 0..system.n_people() {
            match system.outcomes[p * k + i] {
                FAILED => {
                    failed += 1;
                    seen += 1;
                }
                OK => seen += 1,
                _ => {}
            }
        }
        rows.push(MetricRow {
            grouping: "individual".to_string(),
            metric: format!("failure_rate:{d}"),
            value: (seen > 0).then(|| failed as f64 / seen as f64),
            note: if seen > 0 {
                String::new()
            } else {
                "no examples".to_string()
            },
        });
    }
    Ok(rows)
}
