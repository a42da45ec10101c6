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
use crate::report::tidy::number;

/// The headline metric the report compares between settings.
pub const HEADLINE: &str = "h_individual";
/// The expected systemic failure (product of failure rates), shown beside it.
pub const EXPECTED: &str = "systemic_failure_expected";

/// Mean and spread of one metric over the seeds of one (learner, setting, scale, grouping).
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
    /// Mean over the trials where the value is defined.
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1) over those trials; `None` with fewer than two.
    pub sd: Option<f64>,
    /// Trials with a defined value.
    pub n: usize,
    /// Trials where the value was undefined.
    pub n_undefined: usize,
}

/// Groups measurements by (learner, setting, scale, grouping, metric) and summarises each.
pub fn aggregate(measurements: &[(Trial, Vec<MetricRow>)]) -> Vec<ResultRow> {
    type Key = (String, Setting, usize, String, String);
    let mut groups: BTreeMap<Key, (Vec<f64>, usize)> = BTreeMap::new();
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
                .or_default();
            match r.value {
                Some(v) if v.is_finite() => e.0.push(v),
                _ => e.1 += 1,
            }
        }
    }
    groups
        .into_iter()
        .map(
            |((learner, setting, scale, grouping, metric), (values, undefined))| {
                let n = values.len();
                let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
                let sd = mean.filter(|_| n > 1).map(|m| {
                    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
                });
                ResultRow {
                    learner,
                    setting,
                    scale,
                    grouping,
                    metric,
                    mean,
                    sd,
                    n,
                    n_undefined: undefined,
                }
            },
        )
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

fn mean_sd(r: Option<&ResultRow>) -> String {
    match r {
        Some(ResultRow {
            mean: Some(m),
            sd,
            n,
            n_undefined,
            ..
        }) => {
            let mut s = match sd {
                Some(sd) => format!("{m:.3} ± {sd:.3}"),
                None => format!("{m:.3}"),
            };
            if *n_undefined > 0 {
                s.push_str(&format!(
                    " ({n_undefined} of {} undefined)",
                    n + n_undefined
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
            ..
        }) => {
            let verdict = c.map_or(Verdict::NotTestable, Comparison::verdict).as_str();
            match interval {
                Some((lo, hi)) => format!("{d:+.3} [{lo:+.3}, {hi:+.3}] {verdict}"),
                None => format!("{d:+.3} ({verdict}: one data seed)"),
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

/// [`verdict_counts`] in words: "higher at 1, no clear difference at 10 of 11 scales".
pub fn verdict_summary(comparisons: &[Comparison], learner: &str, scales: &[usize]) -> String {
    let counts = verdict_counts(comparisons, learner, scales);
    let verdicts = [
        Verdict::Higher,
        Verdict::Lower,
        Verdict::NoClearDifference,
        Verdict::NotTestable,
    ];
    let parts: Vec<String> = verdicts
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{} at {n}", v.as_str()))
        .collect();
    format!("{} of {} scales", parts.join(", "), scales.len())
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
}

/// Metrics of a grouping that the results hold, in a fixed reading order.
fn present_metrics(results: &[ResultRow], grouping: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in results.iter().filter(|r| r.grouping == grouping) {
        if !names.contains(&r.metric) {
            names.push(r.metric.clone());
        }
    }
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
    let deterministic: Vec<&str> = p
        .learners
        .iter()
        .map(String::as_str)
        .filter(|l| ["logistic", "svm", "gbm"].contains(l))
        .collect();
    if !deterministic.is_empty() && p.model_seeds.len() > 1 {
        let _ = writeln!(
            w,
            "- {} are deterministic given their training data (as in scikit-learn, with no \
             subsampling): their model seeds repeat the same fit, so their spread comes from the \
             data seeds; sd is over all data × model seed trials.",
            deterministic.join(", ")
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
        let _ = writeln!(w, "Failure rates (mean ± sd over seeds):\n");
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
