//! Is one set of systems more homogenized than another? Differences of means with 95% t
//! intervals, and the verdict a report states: higher or lower only where the interval excludes
//! zero. Pure functions over values already measured; no I/O.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::across::{mean_variance, partition_by, SystemResult};
use super::value::{Measurement, Value, NOISE};
use crate::error::Result;

/// A difference of means, `a − b`, with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// The difference of the means.
    pub estimate: f64,
    /// The 95% interval; `None` when it cannot be computed (see `why_no_interval`).
    pub interval: Option<(f64, f64)>,
    /// Why there is no interval, when there is none: [`ONE_VALUE`] or [`BOTH_CONSTANT`].
    pub why_no_interval: Option<&'static str>,
    /// The larger magnitude of the two means: the scale against which a difference is float
    /// noise (reports print a difference below [`NOISE`] of it as 0).
    pub scale: f64,
}

/// No interval: a side has a single value (one seed), so it has no variance.
pub const ONE_VALUE: &str = "one side has a single value";
/// No interval: both sides are constant, so the standard error is 0 and the t statistic 0/0
/// (scipy's interval is nan); every seed agreed on each side, which says nothing about how
/// another seed would fall.
pub const BOTH_CONSTANT: &str = "both samples are constant";

/// Whether every value of `x` is the same, up to float noise: the spread is at most
/// [`NOISE`] times the scale, the larger of `scale` (the magnitude of the values `x` was
/// computed from, when `x` holds differences of them; 0 otherwise) and the largest |x|. Three
/// seeds computing 2/3 by different sums can differ in the last bit, an sd of 1.6e-16, which
/// is no spread at all.
pub fn is_constant(x: &[f64], scale: f64) -> bool {
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let scale = scale.abs().max(lo.abs()).max(hi.abs());
    x.is_empty() || hi - lo <= NOISE * scale
}

/// What a difference says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval is above zero.
    Higher,
    /// The whole interval is below zero.
    Lower,
    /// The interval contains zero.
    NoClearDifference,
    /// No interval.
    NotTestable,
}

impl Verdict {
    /// Higher or lower when the interval excludes zero.
    pub fn of(interval: Option<(f64, f64)>) -> Verdict {
        match interval {
            Some((lo, _)) if lo > 0.0 => Verdict::Higher,
            Some((_, hi)) if hi < 0.0 => Verdict::Lower,
            Some(_) => Verdict::NoClearDifference,
            None => Verdict::NotTestable,
        }
    }

    /// The words reports and CSV files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Higher => "higher",
            Verdict::Lower => "lower",
            Verdict::NoClearDifference => "no clear difference",
            Verdict::NotTestable => "not testable",
        }
    }
}

impl Difference {
    /// The verdict of the interval.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.interval)
    }
}

/// Welch's difference of means `mean(a) − mean(b)` for two independent samples with unequal
/// variances: the 95% interval uses the Welch–Satterthwaite degrees of freedom (scipy's
/// `ttest_ind(a, b, equal_var=False).confidence_interval()`). `None` when a sample is empty.
/// No interval (verdict "not testable", the reason in `why_no_interval`) when a sample has
/// fewer than two values ([`ONE_VALUE`]), or when both samples are constant up to float noise
/// ([`BOTH_CONSTANT`], see [`is_constant`]): the standard error is 0 and the t interval
/// undefined (scipy gives nan), not the point itself.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Difference> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let ((mean_a, va), (mean_b, vb)) = (mean_variance(a), mean_variance(b));
    let estimate = mean_a - mean_b;
    let scale = mean_a.abs().max(mean_b.abs());
    let without = |why| {
        Some(Difference {
            estimate,
            interval: None,
            why_no_interval: Some(why),
            scale,
        })
    };
    if a.len() < 2 || b.len() < 2 {
        return without(ONE_VALUE);
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (qa, qb) = (va / na, vb / nb);
    let se = (qa + qb).sqrt();
    if se == 0.0 || (is_constant(a, 0.0) && is_constant(b, 0.0)) {
        return without(BOTH_CONSTANT);
    }
    let df = (qa + qb).powi(2) / (qa * qa / (na - 1.0) + qb * qb / (nb - 1.0));
    let interval = StudentsT::new(0.0, 1.0, df).ok().map(|t| {
        let half = t.inverse_cdf(0.975) * se;
        (estimate - half, estimate + half)
    });
    Some(Difference {
        estimate,
        interval,
        why_no_interval: interval.is_none().then_some("the t quantile is undefined"),
        scale,
    })
}

/// `a − b` of one metric between the systems of two values of an attribute (two methods).
#[derive(Debug, Clone, PartialEq)]
pub struct SetDifference {
    /// `individual` or a group column.
    pub grouping: String,
    /// Metric name.
    pub metric: String,
    /// The first value (method).
    pub a: String,
    /// The second value.
    pub b: String,
    /// Systems of `a` where the metric is defined.
    pub n_a: usize,
    /// Systems of `b` where the metric is defined.
    pub n_b: usize,
    /// Welch's difference; `None` when one side has no defined value.
    pub difference: Option<Difference>,
}

impl SetDifference {
    /// Higher or lower where the interval excludes zero.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.difference.and_then(|d| d.interval))
    }
}

/// For every pair of `levels` of attribute `column` (in that order: `a` before `b`) and every
/// (grouping, metric) the systems report, in order of first appearance: Welch's difference of
/// the metric's mean over the systems of `a` and of `b`. Systems without the attribute, or with
/// another value, take no part.
pub fn pairwise(results: &[SystemResult], column: &str, levels: &[String]) -> Vec<SetDifference> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in results.iter().flat_map(|s| &s.rows) {
        let key = (r.grouping.as_str(), r.metric.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let values = |level: &str, grouping: &str, metric: &str| -> Vec<f64> {
        results
            .iter()
            .filter(|s| s.attributes.iter().any(|(k, v)| k == column && v == level))
            .filter_map(|s| s.value(grouping, metric))
            .collect()
    };
    let mut out = Vec::new();
    for (grouping, metric) in keys {
        for (i, a) in levels.iter().enumerate() {
            for b in &levels[i + 1..] {
                let (va, vb) = (values(a, grouping, metric), values(b, grouping, metric));
                out.push(SetDifference {
                    grouping: grouping.to_string(),
                    metric: metric.to_string(),
                    a: a.clone(),
                    b: b.clone(),
                    n_a: va.len(),
                    n_b: vb.len(),
                    difference: welch(&va, &vb),
                });
            }
        }
    }
    out
}

/// `measure --by COL --compare`: for every pair of COL's values (in order of first
/// appearance), one block named `COL=a − COL=b` with a row `difference:<metric>` per metric:
/// Welch's difference of the means over the systems, its 95% interval in `ci`, and the verdict
/// and sample sizes in `note`. Errors as [`super::aggregate_by`] does.
pub fn compare_by(
    results: &[SystemResult],
    column: &str,
) -> Result<Vec<(String, Vec<Measurement>)>> {
    let (levels, _) = partition_by(results, column)?;
    let mut blocks: Vec<(String, Vec<Measurement>)> = Vec::new();
    for d in pairwise(results, column, &levels) {
        let name = format!("{column}={} − {column}={}", d.a, d.b);
        let metric = format!("difference:{}", d.metric);
        let measurement = match d.difference {
            Some(x) => {
                let verdict = match x.why_no_interval {
                    Some(why) => format!("{}: {why}", d.verdict().as_str()),
                    None => d.verdict().as_str().to_string(),
                };
                let mut m =
                    Measurement::new(&d.grouping, metric, Value::Defined(x.estimate)).with_note(
                        &format!("{verdict}; Welch over {} and {} systems", d.n_a, d.n_b),
                    );
                m.ci = x.interval;
                m
            }
            None => Measurement::new(
                &d.grouping,
                metric,
                Value::Undefined(format!(
                    "`{}` is undefined in every system of one side",
                    d.metric
                )),
            ),
        };
        match blocks.iter_mut().find(|(n, _)| *n == name) {
            Some((_, rows)) => rows.push(measurement),
            None => blocks.push((name, vec![measurement])),
        }
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy 1.x: r = stats.ttest_ind(a, b, equal_var=False); r.confidence_interval(0.95).
        // a = [1, 2, 3], b = [4, 6]: by hand, var a = 1, var b = 2, se² = 1/3 + 1 = 4/3,
        // df = (4/3)² / ((1/3)²/2 + 1²/1) = 32/19.
        let d = welch(&[1.0, 2.0, 3.0], &[4.0, 6.0]).unwrap();
        assert!(close(d.estimate, -3.0));
        let (lo, hi) = d.interval.unwrap();
        assert!(close(lo, -8.976997448258373), "{lo}");
        assert!(close(hi, 2.9769974482583734), "{hi}");
        assert_eq!(d.verdict(), Verdict::NoClearDifference);
        // df 4.7398307775124575 in scipy.
        let d = welch(&[0.9, 1.3, 1.1, 1.6, 1.2], &[1.0, 0.95, 1.05, 0.9, 1.1]).unwrap();
        assert!(close(d.estimate, 0.22));
        let (lo, hi) = d.interval.unwrap();
        assert!(close(lo, -0.09634358607760052), "{lo}");
        assert!(close(hi, 0.5363435860776009), "{hi}");
    }

    #[test]
    fn small_and_constant_samples() {
        assert_eq!(welch(&[], &[1.0]), None);
        let d = welch(&[2.0], &[1.0, 1.5]).unwrap();
        assert!(close(d.estimate, 0.75));
        assert_eq!(d.interval, None);
        assert_eq!(d.verdict(), Verdict::NotTestable);
        assert_eq!(d.why_no_interval, Some(ONE_VALUE));
        // Both constant: se = 0, Welch's t is 0/0 (scipy: ttest_ind([2, 2], [1, 1, 1],
        // equal_var=False) gives nan and a nan interval). No interval, not "higher".
        let d = welch(&[2.0, 2.0], &[1.0, 1.0, 1.0]).unwrap();
        assert!(close(d.estimate, 1.0));
        assert_eq!(d.interval, None);
        assert_eq!(d.why_no_interval, Some(BOTH_CONSTANT));
        assert_eq!(d.verdict(), Verdict::NotTestable);
        let d = welch(&[1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!(d.verdict(), Verdict::NotTestable);
        // Constant up to float noise: 2/3 summed three ways (sd 1.6e-16) is still constant.
        let two_thirds = [0.6666666666666666, 0.6666666666666669, 0.6666666666666666];
        let d = welch(&two_thirds, &[0.4, 0.4, 0.4]).unwrap();
        assert_eq!(d.interval, None);
        assert_eq!(d.why_no_interval, Some(BOTH_CONSTANT));
        // One constant side is fine: the other side's variance gives the interval.
        let d = welch(&[2.0, 2.0], &[1.0, 1.5]).unwrap();
        assert!(d.interval.is_some());
        assert_eq!(d.why_no_interval, None);
    }

    #[test]
    fn verdicts_follow_the_interval() {
        assert_eq!(Verdict::of(Some((0.01, 0.3))), Verdict::Higher);
        assert_eq!(Verdict::of(Some((-0.3, -0.01))), Verdict::Lower);
        assert_eq!(Verdict::of(Some((-0.1, 0.1))), Verdict::NoClearDifference);
        assert_eq!(Verdict::of(None), Verdict::NotTestable);
    }
}
