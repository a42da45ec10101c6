//! Across systems: aggregation of each metric over the systems that share an attribute value
//! (`--by method`: mean, sample sd, n and a 95% t interval) and the paper's Table 1, Pearson R²
//! and Spearman rho with p-values between metrics across systems.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::value::{Measurement, Value};
use super::INDIVIDUAL;
use crate::error::{InputError, Result};

/// The measured rows of one system, with the attributes it can be aggregated by.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemResult {
    /// The system's name.
    pub name: String,
    /// Attribute columns constant on the system (`method`, `seed`...).
    pub attributes: Vec<(String, String)>,
    /// Its metrics.
    pub rows: Vec<Measurement>,
}

impl SystemResult {
    /// The value of (grouping, metric), when measured and defined.
    pub fn value(&self, grouping: &str, metric: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.grouping == grouping && r.metric == metric)
            .and_then(|r| r.value.get())
    }
}

/// Mean and sample variance (n - 1) of `x`: the one computation behind the sd of
/// [`mean_sd_interval`] and Welch's standard error, so the two agree to the bit. The variance
/// is NaN for fewer than two values; callers check the length first.
pub(crate) fn mean_variance(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let variance = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

/// Mean, sample sd (n - 1), n and the 95% t interval of `x`; the sd and the interval are
/// undefined (None) for fewer than two values.
pub fn mean_sd_interval(x: &[f64]) -> (f64, Option<f64>, Option<(f64, f64)>) {
    let (mean, variance) = mean_variance(x);
    if x.len() < 2 {
        return (mean, None, None);
    }
    let n = x.len() as f64;
    let sd = variance.sqrt();
    let interval = StudentsT::new(0.0, 1.0, n - 1.0).ok().map(|t| {
        let half = t.inverse_cdf(0.975) * sd / n.sqrt();
        (mean - half, mean + half)
    });
    (mean, Some(sd), interval)
}

/// The distinct values of attribute `column` over the systems, in order of first appearance,
/// each with its systems. Errors (bad input) when a system has no constant value of `column`.
pub fn partition_by<'a>(
    results: &'a [SystemResult],
    column: &str,
) -> Result<(Vec<String>, Vec<Vec<&'a SystemResult>>)> {
    let mut values: Vec<String> = Vec::new();
    let mut members: Vec<Vec<&SystemResult>> = Vec::new();
    for r in results {
        let Some((_, v)) = r.attributes.iter().find(|(n, _)| n == column) else {
            return Err(InputError::new(format!(
                "--by {column}: system `{}` has no single value of column `{column}` (the column \
                 is missing or varies within the system)",
                r.name
            ))
            .in_column(column)
            .into());
        };
        match values.iter().position(|x| x == v) {
            Some(i) => members[i].push(r),
            None => {
                values.push(v.clone());
                members.push(vec![r]);
            }
        }
    }
    Ok((values, members))
}

/// For each value of attribute `column` (in order of first appearance), one block of rows named
/// `<column>=<value>`: for every metric M of the systems, `mean:M` (with the 95% t interval in
/// `ci`), `sd:M` and `n:M`, over the systems where M is defined.
///
/// Errors (bad input) when a system has no constant value of `column`.
pub fn aggregate_by(
    results: &[SystemResult],
    column: &str,
) -> Result<Vec<(String, Vec<Measurement>)>> {
    let (values, members) = partition_by(results, column)?;
    let mut out = Vec::new();
    for (v, systems) in values.iter().zip(&members) {
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for s in systems {
            for r in &s.rows {
                let key = (r.grouping.as_str(), r.metric.as_str());
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        let mut rows = Vec::new();
        for (grouping, metric) in keys {
            let x: Vec<f64> = systems
                .iter()
                .filter_map(|s| s.value(grouping, metric))
                .collect();
            let n_note = format!("over {} of {} systems", x.len(), systems.len());
            if x.is_empty() {
                let u = Value::Undefined(format!("`{metric}` is undefined in every system"));
                rows.push(Measurement::new(
                    grouping,
                    format!("mean:{metric}"),
                    u.clone(),
                ));
                rows.push(Measurement::new(grouping, format!("sd:{metric}"), u));
            } else {
                let (mean, sd, interval) = mean_sd_interval(&x);
                let mut m =
                    Measurement::new(grouping, format!("mean:{metric}"), Value::Defined(mean))
                        .with_note(&n_note);
                m.ci = interval;
                rows.push(m);
                let sd = sd.map_or_else(
                    || Value::Undefined("a standard deviation needs at least two systems".into()),
                    Value::Defined,
                );
                rows.push(Measurement::new(grouping, format!("sd:{metric}"), sd));
            }
            rows.push(Measurement::new(
                grouping,
                format!("n:{metric}"),
                Value::Defined(x.len() as f64),
            ));
        }
        out.push((format!("{column}={v}"), rows));
    }
    Ok(out)
}

/// Pearson's r and its two-sided p-value (t test with n - 2 degrees of freedom).
pub fn pearson(x: &[f64], y: &[f64]) -> std::result::Result<(f64, f64), String> {
    let n = x.len();
    if n < 3 {
        return Err(format!("a correlation needs at least 3 systems, found {n}"));
    }
    let nf = n as f64;
    let mx = x.iter().sum::<f64>() / nf;
    let my = y.iter().sum::<f64>() / nf;
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        return Err("a metric is constant across systems".into());
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let df = nf - 2.0;
    let p = if r.abs() == 1.0 {
        0.0
    } else {
        let t = r * (df / (1.0 - r * r)).sqrt();
        let dist = StudentsT::new(0.0, 1.0, df).map_err(|e| e.to_string())?;
        2.0 * dist.sf(t.abs())
    };
    Ok((r, p))
}

/// Ranks with ties given their average rank (1-based).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            r[o] = avg;
        }
        i = j + 1;
    }
    r
}

/// The metrics compared across systems: the person-level headline metrics and, per grouping,
/// the group-level ones.
const PERSON_METRICS: [&str; 2] = ["h_individual", "systemic_failure_observed"];
const GROUP_METRICS: [&str; 4] = ["h_avg", "h_unif", "h_worst", "unfairness"];

/// Pearson R² (`pearson_r2:<a>|<b>`, note: the signed r) and Spearman rho
/// (`spearman_rho:<a>|<b>`) with p-values between each pair of headline metrics across
/// systems, over the systems where both are defined. Person-level pairs are in grouping
/// `individual`; pairs involving a grouping's metrics are in that grouping.
pub fn correlations(results: &[SystemResult]) -> Vec<Measurement> {
    let mut groupings: Vec<&str> = Vec::new();
    for s in results {
        for r in &s.rows {
            if r.grouping != INDIVIDUAL && !groupings.contains(&r.grouping.as_str()) {
                groupings.push(&r.grouping);
            }
        }
    }
    let person: Vec<(&str, &str)> = PERSON_METRICS.iter().map(|m| (INDIVIDUAL, *m)).collect();
    let mut blocks: Vec<(&str, Vec<(&str, &str)>)> = vec![(INDIVIDUAL, person.clone())];
    for g in &groupings {
        let mut metrics = person.clone();
        metrics.extend(GROUP_METRICS.iter().map(|m| (*g, *m)));
        blocks.push((g, metrics));
    }
    let mut rows = Vec::new();
    for (grouping, metrics) in blocks {
        for (a, &(ga, ma)) in metrics.iter().enumerate() {
            for &(gb, mb) in &metrics[a + 1..] {
                if grouping != INDIVIDUAL && ga == INDIVIDUAL && gb == INDIVIDUAL {
                    continue; // already in the `individual` block
                }
                let (x, y): (Vec<f64>, Vec<f64>) = results
                    .iter()
                    .filter_map(|s| Some((s.value(ga, ma)?, s.value(gb, mb)?)))
                    .unzip();
                let pair = format!("{ma}|{mb}");
                let note = format!("over {} systems", x.len());
                let mut pr = match pearson(&x, &y) {
                    Ok((r, p)) => {
                        let mut m = Measurement::new(
                            grouping,
                            format!("pearson_r2:{pair}"),
                            Value::Defined(r * r),
                        )
                        .with_note(&format!("r = {r}"));
                        m.p_value = Some(p);
                        m
                    }
                    Err(reason) => Measurement::new(
                        grouping,
                        format!("pearson_r2:{pair}"),
                        Value::Undefined(reason),
                    ),
                };
                pr.add_note(&note);
                let mut sr = match pearson(&ranks(&x), &ranks(&y)) {
                    Ok((rho, p)) => {
                        let mut m = Measurement::new(
                            grouping,
                            format!("spearman_rho:{pair}"),
                            Value::Defined(rho),
                        );
                        m.p_value = Some(p);
                        m
                    }
                    Err(reason) => Measurement::new(
                        grouping,
                        format!("spearman_rho:{pair}"),
                        Value::Undefined(reason),
                    ),
                };
                sr.add_note(&note);
                rows.push(pr);
                rows.push(sr);
            }
        }
    }
    rows
}
