//! Is a metric higher when the tasks share their training data? The paired difference
//! fixed − disjoint of every metric at every (learner, scale, grouping), with a 95% interval
//! over data seeds, so that the report says "higher" only where the seeds agree.
//!
//! The independent unit is the data seed: it draws the train/test split and the blocks, and
//! every trial of that seed is tested on the same people. Trials are paired by (data seed,
//! model seed), their differences averaged over model seeds within each data seed (for the
//! deterministic learners the model seeds repeat one fit, so counting them as replicates would
//! shrink the interval falsely), and the per-seed differences summarised by their mean and
//! Student's t interval.

use std::collections::BTreeMap;

use super::measure::MetricRow;
use crate::experiment::protocol::{Setting, Trial};
use crate::metrics::across::mean_sd_interval;
use crate::metrics::difference::is_constant;
pub use crate::metrics::Verdict;

/// The fixed − disjoint difference of one metric at one (learner, scale, grouping).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Learner.
    pub learner: String,
    /// Scale.
    pub scale: usize,
    /// `individual` or a group column.
    pub grouping: String,
    /// Metric name.
    pub metric: String,
    /// Mean over data seeds of the per-seed difference; `None` when no data seed has both
    /// settings defined.
    pub difference: Option<f64>,
    /// 95% t interval of that mean; `None` with fewer than two data seeds, or when every data
    /// seed gave the same difference (see `why_no_interval`).
    pub interval: Option<(f64, f64)>,
    /// Data seeds with at least one (model seed) pair where both settings are defined.
    pub n_data_seeds: usize,
    /// Why there is no interval, when there is a difference but no interval: [`ONE_SEED`] or
    /// [`SAME_DIFFERENCE`].
    pub why_no_interval: Option<&'static str>,
    /// The largest magnitude of the metric's values compared: the scale against which a
    /// difference is float noise (the report prints a difference below
    /// [`crate::metrics::value::NOISE`] of it as 0).
    pub magnitude: f64,
}

/// No interval: a single data seed.
pub const ONE_SEED: &str = "one data seed";
/// No interval: every data seed gave the same difference (up to float noise), so the t
/// interval is 0/0, undefined (scipy gives nan), not a point.
pub const SAME_DIFFERENCE: &str = "every data seed gave the same difference";

impl Comparison {
    /// Higher or lower when the 95% interval excludes zero.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.interval)
    }
}

/// Compares fixed with disjoint for every metric measured in both, in (learner, scale,
/// grouping, metric) order.
pub fn compare(measurements: &[(Trial, Vec<MetricRow>)]) -> Vec<Comparison> {
    type Key = (String, usize, String, String);
    // key -> data seed -> model seed -> [fixed, disjoint]
    type Pairs = BTreeMap<u64, BTreeMap<u64, [Option<f64>; 2]>>;
    let mut pairs: BTreeMap<Key, Pairs> = BTreeMap::new();
    for (t, rows) in measurements {
        let side = match t.setting {
            Setting::Fixed => 0,
            Setting::Disjoint => 1,
        };
        for r in rows {
            let key = (
                t.learner.clone(),
                t.scale,
                r.grouping.clone(),
                r.metric.clone(),
            );
            let cell = pairs
                .entry(key)
                .or_default()
                .entry(t.data_seed)
                .or_default()
                .entry(t.model_seed)
                .or_default();
            cell[side] = r.value.filter(|v| v.is_finite());
        }
    }
    pairs
        .into_iter()
        .map(|((learner, scale, grouping, metric), seeds)| {
            let per_seed: Vec<f64> = seeds
                .values()
                .filter_map(|models| {
                    let d: Vec<f64> = models
                        .values()
                        .filter_map(|[f, d]| Some((*f)? - (*d)?))
                        .collect();
                    (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
                })
                .collect();
            let magnitude = seeds
                .values()
                .flat_map(|models| models.values())
                .flat_map(|pair| pair.iter().flatten())
                .fold(0.0, |m: f64, v| m.max(v.abs()));
            let (difference, interval, why_no_interval) = match per_seed.len() {
                0 => (None, None, None),
                1 => (Some(per_seed[0]), None, Some(ONE_SEED)),
                _ => {
                    let (mean, _, interval) = mean_sd_interval(&per_seed);
                    match is_constant(&per_seed, magnitude) {
                        true => (Some(mean), None, Some(SAME_DIFFERENCE)),
                        false => (Some(mean), interval, None),
                    }
                }
            };
            Comparison {
                learner,
                scale,
                grouping,
                metric,
                difference,
                interval,
                n_data_seeds: per_seed.len(),
                why_no_interval,
                magnitude,
            }
        })
        .collect()
}

/// The comparison of a (learner, scale, grouping, metric), if measured.
pub fn find<'a>(
    comparisons: &'a [Comparison],
    learner: &str,
    scale: usize,
    grouping: &str,
    metric: &str,
) -> Option<&'a Comparison> {
    comparisons.iter().find(|c| {
        c.learner == learner && c.scale == scale && c.grouping == grouping && c.metric == metric
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(setting: Setting, data_seed: u64, model_seed: u64) -> Trial {
        Trial {
            learner: "mlp".into(),
            setting,
            scale: 4,
            data_seed,
            model_seed,
        }
    }

    fn h(value: Option<f64>) -> Vec<MetricRow> {
        vec![MetricRow {
            grouping: "individual".into(),
            metric: "h_individual".into(),
            value,
            note: String::new(),
        }]
    }

    #[test]
    fn paired_differences_are_averaged_per_data_seed_then_intervalled() {
        use Setting::{Disjoint, Fixed};
        // Data seed 0: model seeds give differences 0.2 and 0.4 -> 0.3. Data seed 1: 0.1 and
        // (disjoint undefined) -> 0.1. Data seed 2: 0.5 and 0.3 -> 0.4.
        let m = vec![
            (trial(Fixed, 0, 0), h(Some(1.2))),
            (trial(Disjoint, 0, 0), h(Some(1.0))),
            (trial(Fixed, 0, 1), h(Some(1.5))),
            (trial(Disjoint, 0, 1), h(Some(1.1))),
            (trial(Fixed, 1, 0), h(Some(1.1))),
            (trial(Disjoint, 1, 0), h(Some(1.0))),
            (trial(Fixed, 1, 1), h(Some(2.0))),
            (trial(Disjoint, 1, 1), h(None)),
            (trial(Fixed, 2, 0), h(Some(1.5))),
            (trial(Disjoint, 2, 0), h(Some(1.0))),
            (trial(Fixed, 2, 1), h(Some(1.3))),
            (trial(Disjoint, 2, 1), h(Some(1.0))),
        ];
        let c = compare(&m);
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert_eq!(c.n_data_seeds, 3);
        // Per-seed 0.3, 0.1, 0.4: mean 0.8/3; sd = sqrt(((1/30)^2 + (-5/30)^2 + (4/30)^2) / 2)
        // = sqrt(42/1800); t(0.975, df 2) = 4.302652729911275.
        let mean = 0.8 / 3.0;
        let half = 4.302652729911275 * (42.0f64 / 1800.0).sqrt() / 3f64.sqrt();
        assert!((c.difference.unwrap() - mean).abs() < 1e-12);
        let (lo, hi) = c.interval.unwrap();
        assert!((lo - (mean - half)).abs() < 1e-9, "{lo}");
        assert!((hi - (mean + half)).abs() < 1e-9, "{hi}");
        // 0.267 ± 0.379: the interval contains zero.
        assert_eq!(c.verdict(), Verdict::NoClearDifference);
    }

    #[test]
    fn one_data_seed_gives_a_difference_but_no_interval() {
        let m = vec![
            (trial(Setting::Fixed, 0, 0), h(Some(1.2))),
            (trial(Setting::Disjoint, 0, 0), h(Some(1.0))),
        ];
        let c = &compare(&m)[0];
        assert_eq!(c.n_data_seeds, 1);
        assert!((c.difference.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(c.verdict(), Verdict::NotTestable);
        assert_eq!(c.why_no_interval, Some(ONE_SEED));
    }

    #[test]
    fn the_same_difference_at_every_data_seed_has_no_interval() {
        // Differences 0.2, 0.2, 0.2 (a deterministic learner, the same shift at every seed):
        // sd 0, so the t interval is 0/0 — not the zero-width [0.2, 0.2] called "higher".
        let m: Vec<_> = (0..3)
            .flat_map(|d| {
                [
                    (trial(Setting::Fixed, d, 0), h(Some(1.2 + d as f64))),
                    (trial(Setting::Disjoint, d, 0), h(Some(1.0 + d as f64))),
                ]
            })
            .collect();
        let c = &compare(&m)[0];
        assert_eq!(c.n_data_seeds, 3);
        assert!((c.difference.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(c.interval, None);
        assert_eq!(c.verdict(), Verdict::NotTestable);
        assert_eq!(c.why_no_interval, Some(SAME_DIFFERENCE));
        assert_eq!(c.magnitude, 3.2);
    }
}
