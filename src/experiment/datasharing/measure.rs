//! The measuring step of a trial: one call, [`measure`], from the trial's person × deployment
//! matrix to tidy metric rows (DESIGN.md §4's `grouping,metric,value,note`). Every number comes
//! from [`crate::metrics::measure_system`] (point estimates, the correct treatment of groups
//! missing from a deployment); this module only adapts its rows.

use crate::error::Result;
use crate::failures::SystemMatrix;
use crate::metrics::{self, Options};

/// One measured value of one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// `individual`, or the group column's name.
    pub grouping: String,
    /// `h_individual`, `systemic_failure_observed`, `failure_rate:<deployment>`, `h_avg`, ...
    pub metric: String,
    /// The value; `None` when undefined (the reason is in `note`).
    pub value: Option<f64>,
    /// Why a value is undefined, or which group is the worst.
    pub note: String,
}

/// Every metric of one trial's system (no bootstrap or permutation test per trial: the study's
/// spread is over seeds).
pub fn measure(system: &SystemMatrix) -> Result<Vec<MetricRow>> {
    Ok(metrics::measure_system(system, &Options::default(), 0)
        .into_iter()
        .map(|m| {
            let mut note = m.note;
            if let metrics::Value::Undefined(reason) = &m.value {
                if note.is_empty() {
                    note = reason.clone();
                } else {
                    note = format!("{reason}; {note}");
                }
            }
            MetricRow {
                grouping: m.grouping,
                metric: m.metric,
                value: m.value.get(),
                note,
            }
        })
        .collect())
}
