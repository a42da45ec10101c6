//! Aggregating trial measurements over seeds, and writing `measurements.csv`, `results.csv`,
//! `report.md` and `manifest.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::compare::{self, Comparison, Verdict};
use super::measure::MetricRow;
use crate::data::tabular::TabularDataset;
use crate::error::{Error, Result};
use crate::experiment::config::Config;
use crate::experiment::protocol::{Setting, Trial};
use crate::failures::write_atomically;
use crate::metrics::value::denoise;
use crate::report::tidy::number;

/// The headline metric the report compares between settings.
pub const HEADLINE: &str = "h_individual";
/// The expected systemic failure (product of failure rates), shown beside it.
pub const EXPECTED: &str = "systemic_failure_expected";

/// Mean and spread of one metric of one (learner, setting, scale, grouping) over data seeds.
///
/// The independent unit is the data seed (it draws the split and the blocks; every trial of a
/// data seed is tested on the same people), as in the paired comparison ([`compare`]): each
/// data seed's value is the mean over its model seeds, and `mean`, `sd` and `n` are over data
/// seeds. For the deterministic learners the model seeds repeat one fit, so counting the 25
/// trials as 25 samples would overstate n (and give an sd of the 5 distinct values repeated,
/// √(20/24) of theirs).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// Learner.
    pub learner: String,
    /// Setting.
    pub setting: Setting,
    /// Scale.
    pub scale: usize,
    /// `individual` or a group column.
    pub grouping: String,
    /// Metric name.
    pub metric: String,
    /// Mean over data seeds of each data seed's mean over the model seeds where the value is
    /// defined.
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1) of those per-data-seed means; `None` with fewer than
    /// two data seeds.
    pub sd: Option<f64>,
    /// Data seeds with a defined value (the n of `mean` and `sd`).
    pub n: usize,
    /// Trials where the value was undefined.
    pub n_undefined: usize,
    /// Trials (data × model seeds) with a defined value.
    pub n_trials: usize,
    /// Distinct fits among all the trials of this (learner, setting, scale): per data seed, the
    /// number of different measurement sets its model seeds gave, summed. Equal to the number
    /// of data seeds when the model seed changes nothing (a deterministic learner).
    pub distinct_fits: usize,
    /// Of the fits behind this row (every trial of its learner, setting and scale; for
    /// `failure_rate:<task>` the fits of that task, otherwise those of every task), how many
    /// trained on a block holding one class of their task: no model was fitted and they
    /// predict that class for everyone, where scikit-learn refuses to fit. Set by
    /// [`set_single_class_fits`] (0 from [`aggregate`] alone).
    pub single_class_fits: usize,
}

/// Fits and single-class fits of one (learner, setting, scale, task).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SingleClassCount {
    /// Fits (trials) of the task.
    pub fits: usize,
    /// Fits whose training block held only label 0 (`[0]`) or only label 1 (`[1]`).
    pub by_class: [usize; 2],
}

impl SingleClassCount {
    /// Fits whose training block held a single class.
    pub fn single(&self) -> usize {
        self.by_class[0] + self.by_class[1]
    }
}

/// [`SingleClassCount`] per (learner, setting, scale, task).
pub type SingleClassFits = BTreeMap<(String, Setting, usize, String), SingleClassCount>;

/// Fills [`ResultRow::single_class_fits`] from the counts: a `failure_rate:<task>` row gets
/// its task's count, every other row the sum over the tasks.
pub fn set_single_class_fits(results: &mut [ResultRow], counts: &SingleClassFits) {
    for r in results {
        let task = r.metric.strip_prefix("failure_rate:");
        r.single_class_fits = counts
            .iter()
            .filter(|((l, s, sc, t), _)| {
                *l == r.learner && *s == r.setting && *sc == r.scale && task.is_none_or(|x| x == t)
            })
            .map(|(_, c)| c.single())
            .sum();
    }
}

/// Where single-class fits happened, one entry per (learner, setting, scale, task) with any:
/// "logistic, fixed, scale 250: health_insurance 3 of 25 fits (all 0)".
pub fn single_class_places(counts: &SingleClassFits) -> Vec<String> {
    counts
        .iter()
        .filter(|(_, c)| c.single() > 0)
        .map(|((learner, setting, scale, task), c)| {
            let classes = match c.by_class {
                [0, _] => "all 1".to_string(),
                [_, 0] => "all 0".to_string(),
                [zeros, ones] => format!("{zeros} all 0, {ones} all 1"),
            };
            format!(
                "{learner}, {setting}, scale {scale}: {task} {} of {} fits ({classes})",
                c.single(),
                c.fits
            )
        })
        .collect()
}

/// The run-time warning about single-class fits, if there were any.
pub fn single_class_summary(counts: &SingleClassFits) -> Option<String> {
    let single: usize = counts.values().map(SingleClassCount::single).sum();
    if single == 0 {
        return None;
    }
    let fits: usize = counts.values().map(|c| c.fits).sum();
    let places = single_class_places(counts);
    let shown = places
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    let more = match places.len() {
        n if n > 3 => format!("; and {} more", n - 3),
        _ => String::new(),
    };
    Some(format!(
        "{single} of {fits} fits trained on a block holding a single class and predict that class \
         for everyone (scikit-learn would refuse to fit them): {shown}{more}. results.csv counts \
         them per row (`single_class_fits`) and report.md lists them"
    ))
}

/// Per (learner, setting, scale): the number of distinct trial measurements within each data
/// seed, summed over data seeds.
fn distinct_fits(
    measurements: &[(Trial, Vec<MetricRow>)],
) -> BTreeMap<(String, Setting, usize), usize> {
    type Cell<'a> = BTreeMap<u64, Vec<&'a [MetricRow]>>;
    let mut cells: BTreeMap<(String, Setting, usize), Cell<'_>> = BTreeMap::new();
    for (t, rows) in measurements {
        let seeds = cells
            .entry((t.learner.clone(), t.setting, t.scale))
            .or_default();
        let distinct = seeds.entry(t.data_seed).or_default();
        if !distinct.contains(&rows.as_slice()) {
            distinct.push(rows);
        }
    }
    cells
        .into_iter()
        .map(|(k, seeds)| (k, seeds.values().map(Vec::len).sum()))
        .collect()
}

/// Groups measurements by (learner, setting, scale, grouping, metric) and summarises each over
/// data seeds (each data seed's value being the mean over its model seeds).
pub fn aggregate(measurements: &[(Trial, Vec<MetricRow>)]) -> Vec<ResultRow> {
    type Key = (String, Setting, usize, String, String);
    // key -> data seed -> (defined values over model seeds, undefined count)
    let mut groups: BTreeMap<Key, BTreeMap<u64, (Vec<f64>, usize)>> = BTreeMap::new();
    for (t, rows) in measurements {
        for r in rows {
            let e = groups
                .entry((
                    t.learner.clone(),
                    t.setting,
                    t.scale,
                    r.grouping.clone(),
                    r.metric.clone(),
                ))
                .or_default()
                .entry(t.data_seed)
                .or_default();
            match r.value {
                Some(v) if v.is_finite() => e.0.push(v),
                _ => e.1 += 1,
            }
        }
    }
    let fits = distinct_fits(measurements);
    groups
        .into_iter()
        .map(|((learner, setting, scale, grouping, metric), seeds)| {
            let per_seed: Vec<f64> = seeds
                .values()
                .filter(|(v, _)| !v.is_empty())
                .map(|(v, _)| v.iter().sum::<f64>() / v.len() as f64)
                .collect();
            let n = per_seed.len();
            let mean = (n > 0).then(|| per_seed.iter().sum::<f64>() / n as f64);
            let sd = mean.filter(|_| n > 1).map(|m| {
                (per_seed.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
            });
            let distinct_fits = fits
                .get(&(learner.clone(), setting, scale))
                .copied()
                .unwrap_or(0);
            ResultRow {
                n_trials: seeds.values().map(|(v, _)| v.len()).sum(),
                n_undefined: seeds.values().map(|(_, u)| u).sum(),
                learner,
                setting,
                scale,
                grouping,
                metric,
                mean,
                sd,
                n,
                distinct_fits,
                single_class_fits: 0,
            }
        })
        .collect()
}

/// Writes a CSV file atomically: the header, then one record per row.
fn write_csv(path: &Path, header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<()> {
    write_atomically(path, |w| {
        let mut out = csv::Writer::from_writer(w);
        let fail = |e: csv::Error| Error::Runtime(format!("writing {}: {e}", path.display()));
        out.write_record(header).map_err(fail)?;
        for row in rows {
            out.write_record(&row).map_err(fail)?;
        }
        out.flush()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

/// Writes one row per trial, grouping and metric.
pub fn write_measurements(
    path: &Path,
    dataset: &str,
    measurements: &[(Trial, Vec<MetricRow>)],
) -> Result<()> {
    let header = [
        "system",
        "dataset",
        "learner",
        "setting",
        "scale",
        "data_seed",
        "model_seed",
        "grouping",
        "metric",
        "value",
        "note",
    ];
    let rows = measurements.iter().flat_map(|(t, rows)| {
        rows.iter().map(move |r| {
            vec![
                t.system_name(dataset),
                dataset.to_string(),
                t.learner.clone(),
                t.setting.as_str().to_string(),
                t.scale.to_string(),
                t.data_seed.to_string(),
                t.model_seed.to_string(),
                r.grouping.clone(),
                r.metric.clone(),
                number(r.value),
                r.note.clone(),
            ]
        })
    });
    write_csv(path, &header, rows)
}

/// Writes the aggregated results.
pub fn write_results(path: &Path, dataset: &str, results: &[ResultRow]) -> Result<()> {
    let header = [
        "dataset",
        "learner",
        "setting",
        "scale",
        "grouping",
        "metric",
        "mean",
        "sd",
        "n",
        "n_undefined",
        "n_trials",
        "distinct_fits",
        "single_class_fits",
    ];
    let rows = results.iter().map(|r| {
        vec![
            dataset.to_string(),
            r.learner.clone(),
            r.setting.as_str().to_string(),
            r.scale.to_string(),
            r.grouping.clone(),
            r.metric.clone(),
            number(r.mean),
            number(r.sd),
            r.n.to_string(),
            r.n_undefined.to_string(),
            r.n_trials.to_string(),
            r.distinct_fits.to_string(),
            r.single_class_fits.to_string(),
        ]
    });
    write_csv(path, &header, rows)
}

/// The result row for a (learner, setting, scale, grouping, metric), if measured.
pub fn find<'a>(
    results: &'a [ResultRow],
    learner: &str,
    setting: Setting,
    scale: usize,
    grouping: &str,
    metric: &str,
) -> Option<&'a ResultRow> {
    results.iter().find(|r| {
        r.learner == learner
            && r.setting == setting
            && r.scale == scale
            && r.grouping == grouping
            && r.metric == metric
    })
}

/// Three decimals, or three significant digits for a value below 0.01 (an unfairness of 0.0007
/// is not "0.001").
fn three(x: f64) -> String {
    match x != 0.0 && x.abs() < 0.01 {
        true => crate::report::tidy::short(x),
        false => format!("{x:.3}"),
    }
}

fn mean_sd(r: Option<&ResultRow>) -> String {
    match r {
        Some(ResultRow {
            mean: Some(m),
            sd,
            n_trials,
            n_undefined,
            ..
        }) => {
            let mut s = match sd {
                Some(sd) => format!("{} ± {}", three(*m), three(denoise(*sd, *m))),
                None => three(*m),
            };
            if *n_undefined > 0 {
                s.push_str(&format!(
                    " ({n_undefined} of {} trials undefined)",
                    n_trials + n_undefined
                ));
            }
            s
        }
        Some(r) => format!("undefined in all {} trials", r.n_undefined),
        None => "—".to_string(),
    }
}

/// The headline comparison of a (learner, scale) as a report cell: the mean paired difference
/// fixed − disjoint, its 95% interval over data seeds, and the verdict.
pub fn difference_cell(c: Option<&Comparison>) -> String {
    match c {
        Some(Comparison {
            difference: Some(d),
            interval,
            why_no_interval,
            magnitude,
            ..
        }) => {
            let verdict = c.map_or(Verdict::NotTestable, Comparison::verdict).as_str();
            // Float noise (below 1e-12 of the metric's values) reads as 0, not as "-0.000".
            let clean = |v: f64| denoise(v, *magnitude);
            let d = clean(*d);
            match interval {
                Some((lo, hi)) => {
                    format!("{d:+.3} [{:+.3}, {:+.3}] {verdict}", clean(*lo), clean(*hi))
                }
                None => format!(
                    "{d:+.3} ({verdict}: {})",
                    why_no_interval.unwrap_or(compare::ONE_SEED)
                ),
            }
        }
        _ => "n/a".to_string(),
    }
}

/// How many of `scales` give each verdict on the headline metric for `learner`, in the order
/// higher, lower, no clear difference, not testable.
pub fn verdict_counts(comparisons: &[Comparison], learner: &str, scales: &[usize]) -> [usize; 4] {
    let mut counts = [0; 4];
    for &scale in scales {
        let verdict = compare::find(comparisons, learner, scale, "individual", HEADLINE)
            .map_or(Verdict::NotTestable, Comparison::verdict);
        let slot = match verdict {
            Verdict::Higher => 0,
            Verdict::Lower => 1,
            Verdict::NoClearDifference => 2,
            Verdict::NotTestable => 3,
        };
        counts[slot] += 1;
    }
    counts
}

/// [`verdict_counts`] in words, naming the scales where the difference is higher or lower:
/// "lower at 1 scale (4), no clear difference at 10 of 11 scales".
pub fn verdict_summary(comparisons: &[Comparison], learner: &str, scales: &[usize]) -> String {
    let counts = verdict_counts(comparisons, learner, scales);
    let verdicts = [
        Verdict::Higher,
        Verdict::Lower,
        Verdict::NoClearDifference,
        Verdict::NotTestable,
    ];
    let which = |verdict: Verdict| -> String {
        scales
            .iter()
            .filter(|&&scale| {
                compare::find(comparisons, learner, scale, "individual", HEADLINE)
                    .map_or(Verdict::NotTestable, Comparison::verdict)
                    == verdict
            })
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let present: Vec<(Verdict, usize)> = verdicts
        .into_iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .collect();
    let last = present.len().saturating_sub(1);
    let parts: Vec<String> = present
        .iter()
        .enumerate()
        .map(|(i, &(v, n))| {
            let named = matches!(v, Verdict::Higher | Verdict::Lower);
            let plural = if n == 1 { "scale" } else { "scales" };
            match (i == last, named) {
                (false, true) => format!("{} at {n} {plural} ({})", v.as_str(), which(v)),
                (false, false) => format!("{} at {n} {plural}", v.as_str()),
                (true, true) => format!(
                    "{} at {n} ({}) of {} scales",
                    v.as_str(),
                    which(v),
                    scales.len()
                ),
                (true, false) => format!("{} at {n} of {} scales", v.as_str(), scales.len()),
            }
        })
        .collect();
    parts.join(", ")
}

/// Writes `comparison.csv`: every metric's paired difference fixed − disjoint per (learner,
/// scale, grouping), with its 95% t interval over data seeds and the verdict.
pub fn write_comparisons(path: &Path, dataset: &str, comparisons: &[Comparison]) -> Result<()> {
    let header = [
        "dataset",
        "learner",
        "scale",
        "grouping",
        "metric",
        "difference",
        "ci_lo",
        "ci_hi",
        "n_data_seeds",
        "verdict",
    ];
    let rows = comparisons.iter().map(|c| {
        vec![
            dataset.to_string(),
            c.learner.clone(),
            c.scale.to_string(),
            c.grouping.clone(),
            c.metric.clone(),
            number(c.difference),
            number(c.interval.map(|i| i.0)),
            number(c.interval.map(|i| i.1)),
            c.n_data_seeds.to_string(),
            c.verdict().as_str().to_string(),
        ]
    });
    write_csv(path, &header, rows)
}

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The run's config.
    pub config: &'a Config,
    /// The dataset.
    pub dataset: &'a TabularDataset,
    /// Training people per data seed.
    pub n_train: usize,
    /// Test people per data seed.
    pub n_test: usize,
    /// Trials run.
    pub n_trials: usize,
    /// Wall time of the trials.
    pub seconds: f64,
    /// Aggregated results.
    pub results: &'a [ResultRow],
    /// Paired fixed − disjoint differences.
    pub comparisons: &'a [Comparison],
    /// Figure files (relative to the run folder).
    pub figures: &'a [PathBuf],
    /// Fits whose training block held a single class.
    pub single_class: &'a SingleClassFits,
}

/// Whether, in every (setting, scale) of `learner`, the trials hold one distinct fit per data
/// seed (`data_seeds` of them): the model seeds changed nothing.
fn model_seeds_repeat_one_fit(results: &[ResultRow], learner: &str, data_seeds: usize) -> bool {
    let mut rows = results.iter().filter(|r| r.learner == learner).peekable();
    rows.peek().is_some() && rows.all(|r| r.distinct_fits <= data_seeds)
}

/// Metrics of a grouping that the results hold: the headline ones (h_avg, h_unif, h_worst,
/// unfairness) first, then the rest in the order the results hold them.
fn present_metrics(results: &[ResultRow], grouping: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in results.iter().filter(|r| r.grouping == grouping) {
        if !names.contains(&r.metric) {
            names.push(r.metric.clone());
        }
    }
    // The headline group metrics first, then the per-group terms.
    let headline = ["h_avg", "h_unif", "h_worst", "unfairness"];
    names.sort_by_key(|m| {
        headline
            .iter()
            .position(|h| h == m)
            .unwrap_or(headline.len())
    });
    names
}

/// Writes `report.md`.
pub fn write_report(path: &Path, input: &ReportInput<'_>) -> Result<()> {
    let p = &input.config.protocol;
    let ds = input.dataset;
    let mut md = String::new();
    let w = &mut md;
    use std::fmt::Write as _;
    let _ = writeln!(w, "# Data-sharing study: {}\n", ds.name);
    let _ = writeln!(
        w,
        "Does training on the same data homogenize outcomes? For each scale s the {} training \
         people of a data seed are cut into s blocks; under `fixed` every task trains on the same \
         block, under `disjoint` each task on a different one. Tasks: {}. {} test people per data \
         seed, shared by all tasks and settings.\n",
        input.n_train,
        ds.tasks
            .iter()
            .map(|t| format!("`{}`", t.name))
            .collect::<Vec<_>>()
            .join(", "),
        input.n_test
    );
    let _ = writeln!(
        w,
        "Learners: {}. Scales: {:?}. Data seeds {:?} × model seeds {:?}: {} trials in {:.1} s.\n",
        p.learners.join(", "),
        p.scales,
        p.data_seeds,
        p.model_seeds,
        input.n_trials,
        input.seconds
    );
    for note in &ds.notes {
        let _ = writeln!(w, "- {note}");
    }
    let _ = writeln!(
        w,
        "- Every value below is a mean over the {} data seeds (the independent unit: each draws \
         the split and the blocks, and its trials are tested on the same people) of that data \
         seed's mean over its {} model seeds; ± is the sample sd over data seeds, and `n` in \
         `results.csv` counts data seeds (`n_trials` the trials, `distinct_fits` the \
         different results among them).",
        p.data_seeds.len(),
        p.model_seeds.len()
    );
    if p.model_seeds.len() > 1 {
        let (repeated, varied): (Vec<&str>, Vec<&str>) = p
            .learners
            .iter()
            .map(String::as_str)
            .partition(|l| model_seeds_repeat_one_fit(input.results, l, p.data_seeds.len()));
        let mut parts = Vec::new();
        if !repeated.is_empty() {
            parts.push(format!(
                "{} gave the same measurements for every model seed of a data seed \
                 (deterministic given the training data, as in scikit-learn with no \
                 subsampling), so their {} trials per (setting, scale) are {} distinct fits, one \
                 per data seed",
                repeated.join(", "),
                p.data_seeds.len() * p.model_seeds.len(),
                p.data_seeds.len()
            ));
        }
        if !varied.is_empty() {
            parts.push(format!(
                "for {} the model seed changes the fit, and that spread is averaged within each \
                 data seed before the sd over data seeds",
                varied.join(", ")
            ));
        }
        let _ = writeln!(w, "- Model seeds: {}.", parts.join("; "));
    }
    let places = single_class_places(input.single_class);
    let fits: usize = input.single_class.values().map(|c| c.fits).sum();
    if places.is_empty() {
        let _ = writeln!(
            w,
            "- Single-class training blocks: none; every one of the {fits} fits trained on both \
             classes of its task."
        );
    } else {
        let single: usize = input
            .single_class
            .values()
            .map(SingleClassCount::single)
            .sum();
        let _ = writeln!(
            w,
            "- **Single-class training blocks**: {single} of the {fits} fits trained on a block \
             holding one class of its task, so no model was fitted and each predicts that class \
             for everyone (scikit-learn refuses to fit such a block); `single_class_fits` in \
             `results.csv` counts them per row. Where: {}.",
            places.join("; ")
        );
    }
    let _ = writeln!(w);
    let has_headline = input.results.iter().any(|r| r.metric == HEADLINE);
    if !has_headline {
        let _ = writeln!(
            w,
            "**Homogenization was not measured in this build**: the measuring step produced no \
             `{HEADLINE}`; the failure tables under `failures/` hold every prediction, and \
             `homogen measure failures/*.parquet --group {}` measures them.\n",
            p.groupings.join(" --group ")
        );
    }
    if has_headline {
        let _ = writeln!(
            w,
            "Is `{HEADLINE}` higher when the tasks share their training data? Each trial under \
             `fixed` is paired with the `disjoint` trial of the same data and model seed; the \
             differences are averaged over model seeds within each data seed (the seed that \
             draws the split and the blocks), and a difference counts as higher or lower only \
             when its 95% t interval over the {} data seeds excludes zero:\n",
            p.data_seeds.len()
        );
        for learner in &p.learners {
            let _ = writeln!(
                w,
                "- {learner}: {}",
                verdict_summary(input.comparisons, learner, &p.scales)
            );
        }
        let _ = writeln!(
            w,
            "\nWith {} scales per learner, about one 95% interval in twenty excludes zero by \
             chance alone. `comparison.csv` has the same paired difference for every metric and \
             grouping.\n",
            p.scales.len()
        );
    }
    for learner in &p.learners {
        let _ = writeln!(w, "## {learner}\n");
        let _ = writeln!(
            w,
            "| scale | train size | {HEADLINE} fixed | {HEADLINE} disjoint | fixed − disjoint \
             [95% CI] | expected systemic failure fixed | expected disjoint |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for &scale in &p.scales {
            let f = find(
                input.results,
                learner,
                Setting::Fixed,
                scale,
                "individual",
                HEADLINE,
            );
            let d = find(
                input.results,
                learner,
                Setting::Disjoint,
                scale,
                "individual",
                HEADLINE,
            );
            let ef = find(
                input.results,
                learner,
                Setting::Fixed,
                scale,
                "individual",
                EXPECTED,
            );
            let ed = find(
                input.results,
                learner,
                Setting::Disjoint,
                scale,
                "individual",
                EXPECTED,
            );
            let _ = writeln!(
                w,
                "| {scale} | {} | {} | {} | {} | {} | {} |",
                input.n_train / scale,
                mean_sd(f),
                mean_sd(d),
                difference_cell(compare::find(
                    input.comparisons,
                    learner,
                    scale,
                    "individual",
                    HEADLINE
                )),
                mean_sd(ef),
                mean_sd(ed)
            );
        }
        let _ = writeln!(w);
        let _ = writeln!(w, "Failure rates (mean ± sd over data seeds):\n");
        let _ = writeln!(
            w,
            "| scale | setting | {} |",
            ds.tasks
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(w, "|---|---|{}", "---|".repeat(ds.tasks.len()));
        for &scale in &p.scales {
            for setting in Setting::ALL {
                let cells: Vec<String> = ds
                    .tasks
                    .iter()
                    .map(|t| {
                        mean_sd(find(
                            input.results,
                            learner,
                            setting,
                            scale,
                            "individual",
                            &format!("failure_rate:{}", t.name),
                        ))
                    })
                    .collect();
                let _ = writeln!(w, "| {scale} | {setting} | {} |", cells.join(" | "));
            }
        }
        let _ = writeln!(w);
        for g in &p.groupings {
            let metrics = present_metrics(input.results, g);
            if metrics.is_empty() {
                continue;
            }
            let _ = writeln!(w, "Group level, grouping `{g}` (fixed / disjoint):\n");
            let _ = writeln!(w, "| scale | {} |", metrics.join(" | "));
            let _ = writeln!(w, "|---|{}", "---|".repeat(metrics.len()));
            for &scale in &p.scales {
                let cells: Vec<String> = metrics
                    .iter()
                    .map(|m| {
                        format!(
                            "{} / {}",
                            mean_sd(find(input.results, learner, Setting::Fixed, scale, g, m)),
                            mean_sd(find(input.results, learner, Setting::Disjoint, scale, g, m))
                        )
                    })
                    .collect();
                let _ = writeln!(w, "| {scale} | {} |", cells.join(" | "));
            }
            let _ = writeln!(w);
        }
    }
    if !input.figures.is_empty() {
        let _ = writeln!(w, "## Figures\n");
        for f in input.figures {
            if f.extension().is_some_and(|e| e == "svg") {
                let _ = writeln!(w, "![{}]({})\n", f.display(), f.display());
            }
        }
    }
    let _ = writeln!(
        w,
        "Files: `failures/<learner>.parquet` (every prediction), `measurements.csv` (per trial), \
         `results.csv` (per learner, setting, scale, grouping, metric), `manifest.json`."
    );
    write_atomically(path, |f| {
        f.write_all(md.as_bytes())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

/// Writes `manifest.json`: config, its hash, seeds, dataset fingerprint, program version.
pub fn write_manifest(
    path: &Path,
    config: &Config,
    config_text: &str,
    dataset_sha256: &str,
    trials: &[Trial],
) -> Result<()> {
    let manifest = serde_json::json!({
        "program": "homogen",
        "version": env!("CARGO_PKG_VERSION"),
        "experiment": "datasharing",
        "config": config,
        "config_sha256": hex::encode(Sha256::digest(config_text.as_bytes())),
        "dataset_sha256": dataset_sha256,
        "data_seeds": config.protocol.data_seeds,
        "model_seeds": config.protocol.model_seeds,
        "n_trials": trials.len(),
    });
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| Error::Runtime(format!("manifest: {e}")))?;
    write_atomically(path, |f| {
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_keep_three_significant_digits() {
        assert_eq!(three(0.96845), "0.968");
        assert_eq!(three(0.000_734_2), "0.000734");
        assert_eq!(three(0.0), "0.000");
        assert_eq!(three(-0.0123), "-0.012");
    }

    fn trial(learner: &str, data_seed: u64, model_seed: u64) -> Trial {
        Trial {
            learner: learner.into(),
            setting: Setting::Fixed,
            scale: 4,
            data_seed,
            model_seed,
        }
    }

    fn h(value: f64) -> Vec<MetricRow> {
        vec![MetricRow {
            grouping: "individual".into(),
            metric: HEADLINE.into(),
            value: Some(value),
            note: String::new(),
        }]
    }

    #[test]
    fn deterministic_trials_count_once_per_data_seed() {
        // A deterministic learner: data seeds 0..5 give H = 1, 2, 3, 4, 5 whatever the model
        // seed. By hand over the 5 data seeds: mean 3, sd sqrt(10/4) = 1.5811..., n 5. The sd
        // over the 25 trials would be sqrt(50/24) = 1.4434..., sqrt(20/24) of it, with n 25.
        let m: Vec<_> = (0..5u64)
            .flat_map(|d| (0..5u64).map(move |s| (trial("logistic", d, s), h(d as f64 + 1.0))))
            .collect();
        let r = &aggregate(&m)[0];
        assert_eq!(r.n, 5);
        assert_eq!(r.n_trials, 25);
        assert_eq!(r.n_undefined, 0);
        assert_eq!(r.distinct_fits, 5);
        assert!((r.mean.unwrap() - 3.0).abs() < 1e-12);
        assert!((r.sd.unwrap() - 2.5f64.sqrt()).abs() < 1e-12, "{:?}", r.sd);
        assert!(model_seeds_repeat_one_fit(&aggregate(&m), "logistic", 5));
    }

    #[test]
    fn model_seeds_are_averaged_within_a_data_seed_first() {
        // A stochastic learner: data seed 0 gives 1 and 3 (mean 2), data seed 1 gives 4, 6 and
        // an undefined trial (mean 5). Over data seeds: mean 3.5, sd sqrt(4.5), n 2.
        let mut m = vec![
            (trial("mlp", 0, 0), h(1.0)),
            (trial("mlp", 0, 1), h(3.0)),
            (trial("mlp", 1, 0), h(4.0)),
            (trial("mlp", 1, 1), h(6.0)),
        ];
        let mut undefined = h(0.0);
        undefined[0].value = None;
        m.push((trial("mlp", 1, 2), undefined));
        let results = aggregate(&m);
        let r = &results[0];
        assert_eq!(
            (r.n, r.n_trials, r.n_undefined, r.distinct_fits),
            (2, 4, 1, 5)
        );
        assert!((r.mean.unwrap() - 3.5).abs() < 1e-12);
        assert!((r.sd.unwrap() - 4.5f64.sqrt()).abs() < 1e-12);
        assert!(!model_seeds_repeat_one_fit(&results, "mlp", 2));
        assert_eq!(mean_sd(Some(r)), "3.500 ± 2.121 (1 of 5 trials undefined)");
    }

    fn comparison(scale: usize, interval: Option<(f64, f64)>) -> Comparison {
        Comparison {
            learner: "logistic".into(),
            scale,
            grouping: "individual".into(),
            metric: HEADLINE.into(),
            difference: Some(interval.map_or(0.1, |(lo, hi)| (lo + hi) / 2.0)),
            interval,
            n_data_seeds: 5,
            why_no_interval: interval.is_none().then_some(compare::SAME_DIFFERENCE),
            magnitude: 1.0,
        }
    }

    #[test]
    fn the_summary_names_the_scales_of_a_verdict() {
        let scales = [20, 10, 4, 2];
        let cs = vec![
            comparison(20, Some((-0.1, 0.2))),
            comparison(10, Some((-0.1, 0.2))),
            comparison(4, Some((-0.2, -0.05))),
            comparison(2, Some((-0.1, 0.2))),
        ];
        assert_eq!(
            verdict_summary(&cs, "logistic", &scales),
            "lower at 1 scale (4), no clear difference at 3 of 4 scales"
        );
        let cs = vec![
            comparison(20, Some((0.1, 0.2))),
            comparison(10, Some((0.1, 0.3))),
            comparison(4, Some((-0.1, 0.2))),
            comparison(2, None),
        ];
        assert_eq!(
            verdict_summary(&cs, "logistic", &scales),
            "higher at 2 scales (20, 10), no clear difference at 1 scale, not testable at 1 of \
             4 scales"
        );
        // Constant per-seed differences: no interval, and the cell says why.
        assert_eq!(
            difference_cell(Some(&cs[3])),
            "+0.100 (not testable: every data seed gave the same difference)"
        );
        // Float noise reads as 0, not "-0.000".
        let mut c = comparison(4, Some((-0.2, 0.2)));
        c.difference = Some(-1e-17);
        assert_eq!(
            difference_cell(Some(&c)),
            "+0.000 [-0.200, +0.200] no clear difference"
        );
    }

    #[test]
    fn single_class_fits_are_counted_per_task_and_summed_over_tasks() {
        let mut counts = SingleClassFits::new();
        let key = |task: &str| ("logistic".to_string(), Setting::Fixed, 4, task.to_string());
        counts.insert(
            key("a"),
            SingleClassCount {
                fits: 5,
                by_class: [1, 2],
            },
        );
        counts.insert(
            key("b"),
            SingleClassCount {
                fits: 5,
                by_class: [0, 0],
            },
        );
        counts.insert(
            key("c"),
            SingleClassCount {
                fits: 5,
                by_class: [4, 0],
            },
        );
        let row = |metric: &str| {
            let mut r = aggregate(&[(trial("logistic", 0, 0), h(1.0))]).remove(0);
            r.metric = metric.to_string();
            r
        };
        let mut rows = vec![row(HEADLINE), row("failure_rate:a"), row("failure_rate:b")];
        let mut other = row(HEADLINE);
        other.scale = 2;
        rows.push(other);
        set_single_class_fits(&mut rows, &counts);
        let got: Vec<usize> = rows.iter().map(|r| r.single_class_fits).collect();
        // 3 + 0 + 4 over the tasks; a's 3; b's 0; nothing at scale 2.
        assert_eq!(got, vec![7, 3, 0, 0]);
        assert_eq!(
            single_class_places(&counts),
            vec![
                "logistic, fixed, scale 4: a 3 of 5 fits (1 all 0, 2 all 1)",
                "logistic, fixed, scale 4: c 4 of 5 fits (all 0)"
            ]
        );
        let warning = single_class_summary(&counts).unwrap();
        assert!(warning.starts_with("7 of 15 fits trained on a block holding a single class"));
        assert_eq!(single_class_summary(&SingleClassFits::new()), None);
    }
}
