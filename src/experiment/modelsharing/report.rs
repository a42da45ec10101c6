//! The run's written outputs: `results.csv` (DESIGN.md §4's tidy columns with `method` first:
//! per-system rows, then per-method aggregates over seeds, then inter-metric correlations) and
//! `report.md` (a table per grouping, per-task accuracy against the majority-class baseline,
//! failed cells by name, the figures).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::compare::{self, MethodDifference};
use crate::error::{Error, Result};
use crate::failures::write_atomically;
use crate::metrics::difference::{BOTH_CONSTANT, ONE_VALUE};
use crate::metrics::individual::NOBODY_MET_SEVERAL;
use crate::metrics::value::denoise;
use crate::metrics::Verdict;
use crate::metrics::{Measurement, SystemResult, Value, INDIVIDUAL};
use crate::report::tidy::{number, short, TidyRow, HEADER};

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The run folder's name, for the header.
    pub run: &'a str,
    /// The model: a Hub id, or a folder (shown relative to the working directory when inside it).
    pub model: &'a str,
    /// Method labels, in config order.
    pub methods: &'a [String],
    /// The groupings measured besides the individual level.
    pub groupings: &'a [String],
    /// Every system's measurements.
    pub systems: &'a [SystemResult],
    /// Per-method aggregates (`method=<label>`, rows).
    pub per_method: &'a [(String, Vec<Measurement>)],
    /// Differences between methods, every pair in config order.
    pub differences: &'a [MethodDifference],
    /// Correlations between metrics across systems.
    pub correlations: &'a [Measurement],
    /// Majority-class accuracy per task.
    pub baselines: &'a [(String, Option<f64>)],
    /// Failed cells: (method, seed, task, error).
    pub failed: &'a [(String, u64, String, String)],
    /// Cells with a manifest or checkpoint that cannot be read: (method, seed, task, what).
    pub damaged: &'a [(String, u64, String, String)],
    /// Systems left out because some of their cells did not finish.
    pub incomplete: &'a [String],
    /// Figures, relative to the run folder.
    pub figures: &'a [PathBuf],
}

fn method_of(system: &SystemResult) -> &str {
    system
        .attributes
        .iter()
        .find(|(k, _)| k == "method")
        .map_or("", |(_, v)| v.as_str())
}

/// The rows of `results.csv`: (method, tidy row).
pub fn result_rows(input: &ReportInput<'_>) -> Vec<(String, TidyRow)> {
    let mut rows = Vec::new();
    for s in input.systems {
        for m in &s.rows {
            rows.push((
                method_of(s).to_string(),
                TidyRow::from_measurement(&s.name, m),
            ));
        }
    }
    for (name, ms) in input.per_method {
        let method = name.strip_prefix("method=").unwrap_or(name);
        for m in ms {
            rows.push((method.to_string(), TidyRow::from_measurement(name, m)));
        }
    }
    for m in input.correlations {
        rows.push((
            "all".to_string(),
            TidyRow::from_measurement("across_systems", m),
        ));
    }
    rows
}

/// Writes `results.csv` (header `method,` + DESIGN.md §4's columns).
pub fn write_results(path: &Path, rows: &[(String, TidyRow)]) -> Result<()> {
    write_atomically(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        let err = |e: csv::Error| Error::Runtime(format!("writing {}: {e}", path.display()));
        let mut header = vec!["method"];
        header.extend(HEADER);
        c.write_record(&header).map_err(err)?;
        for (method, r) in rows {
            c.write_record([
                method.as_str(),
                &r.system,
                &r.grouping,
                &r.metric,
                &number(r.value),
                &number(r.ci_lo),
                &number(r.ci_hi),
                &number(r.p_value),
                &r.note,
            ])
            .map_err(err)?;
        }
        c.flush()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

/// Mean and sd of `metric` in `grouping` for a method, from the aggregates.
pub fn mean_sd(
    per_method: &[(String, Vec<Measurement>)],
    method: &str,
    grouping: &str,
    metric: &str,
) -> (Option<f64>, Option<f64>) {
    let key = format!("method={method}");
    let Some((_, rows)) = per_method.iter().find(|(k, _)| *k == key) else {
        return (None, None);
    };
    let get = |m: String| {
        rows.iter()
            .find(|r| r.grouping == grouping && r.metric == m)
            .and_then(|r| r.value.get())
    };
    (get(format!("mean:{metric}")), get(format!("sd:{metric}")))
}

/// A line for each of `metrics` (in `grouping`) that is undefined in every system, with the
/// first system's reason: the table alone would only say "undefined".
fn undefined_everywhere(s: &mut String, input: &ReportInput<'_>, grouping: &str, metrics: &[&str]) {
    for metric in metrics {
        let reasons: Vec<Option<&str>> = input
            .systems
            .iter()
            .map(|sys| {
                sys.rows
                    .iter()
                    .find(|r| r.grouping == grouping && r.metric == *metric)
                    .and_then(|r| match &r.value {
                        Value::Undefined(reason) => Some(reason.as_str()),
                        Value::Defined(_) => None,
                    })
            })
            .collect();
        if let Some(Some(reason)) = reasons
            .first()
            .filter(|_| reasons.iter().all(Option::is_some))
        {
            let _ = writeln!(s, "\n`{metric}` is undefined in every system: {reason}.");
        }
    }
}

/// Whether no system has a person who met two or more deployments (each task has its own
/// people, as in the language runs): H_individual is undefined everywhere for that reason.
fn nobody_met_several(input: &ReportInput<'_>) -> bool {
    !input.systems.is_empty()
        && input.systems.iter().all(|sys| {
            sys.rows.iter().any(|r| {
            r.grouping == INDIVIDUAL
                && r.metric == "h_individual"
                && matches!(&r.value, Value::Undefined(why) if why.starts_with(NOBODY_MET_SEVERAL))
        })
        })
}

/// Mean ± sd for reading; an sd that is float noise next to the mean (below
/// [`crate::metrics::value::NOISE`] of it: three seeds computing 2/3 by different sums) is
/// shown as 0. `results.csv` keeps the exact value.
fn show(ms: (Option<f64>, Option<f64>)) -> String {
    match ms {
        (Some(m), Some(s)) => format!("{} ± {}", short(m), short(denoise(s, m))),
        (Some(m), None) => short(m),
        _ => "undefined".to_string(),
    }
}

/// One difference as a report cell: `+0.12 [-0.05, +0.29]`, with the verdict when the interval
/// excludes zero, and why there is none when there is no interval. Float noise (below
/// [`crate::metrics::value::NOISE`] of the larger mean) is shown as 0.
fn difference_cell(d: Option<&MethodDifference>) -> String {
    let Some(x) = d.and_then(|d| d.difference) else {
        return "undefined".to_string();
    };
    let verdict = d.map_or(Verdict::NotTestable, MethodDifference::verdict);
    let clean = |v: f64| denoise(v, x.scale);
    let estimate = clean(x.estimate);
    match (x.interval, verdict) {
        (Some((lo, hi)), Verdict::Higher | Verdict::Lower) => {
            format!(
                "{estimate:+.3} [{:+.3}, {:+.3}] {}",
                clean(lo),
                clean(hi),
                verdict.as_str()
            )
        }
        (Some((lo, hi)), _) => format!("{estimate:+.3} [{:+.3}, {:+.3}]", clean(lo), clean(hi)),
        (None, _) => match x.why_no_interval {
            Some(ONE_VALUE) | None => format!("{estimate:+.3} (one seed: no interval)"),
            Some(why) => format!("{estimate:+.3} (not testable: {why})"),
        },
    }
}

/// The report's section on differences between methods: a table per grouping with one row
/// per pair of methods.
fn write_differences(s: &mut String, input: &ReportInput<'_>) {
    if input.methods.len() < 2 {
        return;
    }
    let _ = writeln!(
        s,
        "\n## Differences between methods\n\nMean of the first method minus mean of the second \
         over seeds, with Welch's 95% interval (each seed's system is one sample); called higher \
         or lower only where the interval excludes zero. No interval (not testable) where a \
         method has a single seed, or where {BOTH_CONSTANT} (every seed of each method gave the \
         same value: Welch's t is 0/0, and agreement among so few seeds says nothing about the \
         next one). Differences below 1e-12 of the metric's scale are float noise and shown as \
         0. `comparison.csv` has every metric, unrounded.\n"
    );
    let mut sections = vec![(
        INDIVIDUAL,
        vec![
            "h_individual",
            "systemic_failure_observed",
            "systemic_failure_expected",
        ],
    )];
    for g in input.groupings {
        sections.push((g.as_str(), vec!["h_avg", "h_unif", "h_worst"]));
    }
    for (k, (grouping, metrics)) in sections.into_iter().enumerate() {
        let gap = if k == 0 { "" } else { "\n" };
        let _ = writeln!(s, "{gap}### {grouping}\n");
        let _ = writeln!(s, "| methods | {} |", metrics.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(metrics.len()));
        for (i, a) in input.methods.iter().enumerate() {
            for b in &input.methods[i + 1..] {
                let cells: Vec<String> = metrics
                    .iter()
                    .map(|m| difference_cell(compare::find(input.differences, grouping, m, a, b)))
                    .collect();
                let _ = writeln!(s, "| {a} − {b} | {} |", cells.join(" | "));
            }
        }
    }
}

/// Writes `report.md`.
pub fn write_report(path: &Path, input: &ReportInput<'_>) -> Result<()> {
    let mut s = String::new();
    let _ = writeln!(s, "# Model-sharing run: {}\n", input.run);
    let _ = writeln!(
        s,
        "Model `{}`; methods {}; {} systems (one per method and seed, whose deployments are \
         the tasks). Values are mean ± sample sd over seeds; every number is also in \
         `results.csv`.\n",
        input.model,
        input.methods.join(", "),
        input.systems.len()
    );
    if !input.failed.is_empty() {
        let _ = writeln!(s, "## Failed cells\n");
        for (m, seed, task, err) in input.failed {
            let first = err.lines().next().unwrap_or("").trim();
            let _ = writeln!(s, "- {m} / seed {seed} / {task}: {first}");
        }
        s.push('\n');
    }
    if !input.damaged.is_empty() {
        let _ = writeln!(s, "## Cells with damaged files\n");
        for (m, seed, task, what) in input.damaged {
            let _ = writeln!(s, "- {m} / seed {seed} / {task}: {what}");
        }
        s.push('\n');
    }
    if !input.incomplete.is_empty() {
        let _ = writeln!(
            s,
            "Systems left out because some of their cells did not finish: {}.\n",
            input.incomplete.join(", ")
        );
    }
    let _ = writeln!(s, "## Homogenization\n");
    let _ = writeln!(s, "### individual\n");
    let _ = writeln!(
        s,
        "| method | H_individual | observed systemic failure | expected systemic failure |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    for m in input.methods {
        let g = |x| show(mean_sd(input.per_method, m, INDIVIDUAL, x));
        let _ = writeln!(
            s,
            "| {m} | {} | {} | {} |",
            g("h_individual"),
            g("systemic_failure_observed"),
            g("systemic_failure_expected")
        );
    }
    undefined_everywhere(&mut s, input, INDIVIDUAL, &["h_individual"]);
    if nobody_met_several(input) {
        let _ = writeln!(
            s,
            "\nEvery person met only one deployment (each task has its own people), so the \
             observed systemic failure is each person's failure in the one task they met, \
             averaged: the error rate pooled over all tasks' examples, and the expected one is \
             the same pooled rate. Neither measures homogenization here; the group-level \
             tables do."
        );
    }
    for grouping in input.groupings {
        let _ = writeln!(s, "\n### {grouping}\n");
        let _ = writeln!(s, "| method | H_individual | H_avg | H_unif | H_worst |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for m in input.methods {
            let g = |x| show(mean_sd(input.per_method, m, grouping, x));
            let _ = writeln!(
                s,
                "| {m} | {} | {} | {} | {} |",
                show(mean_sd(input.per_method, m, INDIVIDUAL, "h_individual")),
                g("h_avg"),
                g("h_unif"),
                g("h_worst")
            );
        }
        undefined_everywhere(&mut s, input, grouping, &["h_avg", "h_unif", "h_worst"]);
    }
    write_differences(&mut s, input);
    let _ = writeln!(s, "\n## Accuracy per task\n");
    let mut header = "| method |".to_string();
    let mut rule = "|---|".to_string();
    for (task, _) in input.baselines {
        header.push_str(&format!(" {task} |"));
        rule.push_str("---|");
    }
    let _ = writeln!(s, "{header}\n{rule}");
    for m in input.methods {
        let mut line = format!("| {m} |");
        for (task, _) in input.baselines {
            let (mean, sd) = mean_sd(
                input.per_method,
                m,
                INDIVIDUAL,
                &format!("failure_rate:{task}"),
            );
            line.push_str(&format!(" {} |", show((mean.map(|f| 1.0 - f), sd))));
        }
        let _ = writeln!(s, "{line}");
    }
    let mut line = "| majority class |".to_string();
    for (_, b) in input.baselines {
        line.push_str(&format!(" {} |", b.map_or("unknown".into(), short)));
    }
    let _ = writeln!(s, "{line}");
    if !input.figures.is_empty() {
        let _ = writeln!(s, "\n## Figures\n");
        for f in input
            .figures
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "svg"))
        {
            let _ = writeln!(s, "![{}]({})", f.display(), f.display());
        }
    }
    write_atomically(path, |w| {
        use std::io::Write;
        w.write_all(s.as_bytes())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{pairwise, Value};

    fn system(method: &str, seed: u32, metric: &str, value: Value) -> SystemResult {
        SystemResult {
            name: format!("{method}/seed-{seed}"),
            attributes: vec![("method".into(), method.into())],
            rows: vec![Measurement::new(INDIVIDUAL, metric, value)],
        }
    }

    #[test]
    fn float_noise_in_an_sd_reads_as_zero() {
        // sd of 0.6666666666666666, ...669, ...666 (smoke-language's finetune).
        assert_eq!(
            show((Some(0.6666666666666666), Some(1.5700924586837752e-16))),
            "0.667 ± 0"
        );
        assert_eq!(show((Some(0.637), Some(0.0128))), "0.637 ± 0.0128");
    }

    #[test]
    fn constant_methods_are_not_testable_and_say_why() {
        // smoke-vision's beard H_avg: scratch 1.0667 at every seed, probe 0.8 at every seed
        // (up to float noise): Welch's t is 0/0, not a zero-width interval called "higher".
        let systems: Vec<SystemResult> =
            [1.0666666666666667, 1.0666666666666669, 1.0666666666666667]
                .iter()
                .enumerate()
                .map(|(i, &v)| system("scratch", i as u32, "h_avg", Value::Defined(v)))
                .chain((0..3).map(|i| system("probe", i, "h_avg", Value::Defined(0.8))))
                .collect();
        let methods = vec!["scratch".to_string(), "probe".to_string()];
        let d = pairwise(&systems, "method", &methods);
        assert_eq!(
            difference_cell(d.first()),
            "+0.267 (not testable: both samples are constant)"
        );
        // One seed a side: no interval either, for its own reason.
        let one = vec![
            system("scratch", 0, "h_avg", Value::Defined(1.0)),
            system("probe", 0, "h_avg", Value::Defined(0.5)),
        ];
        let d = pairwise(&one, "method", &methods);
        assert_eq!(difference_cell(d.first()), "+0.500 (one seed: no interval)");
    }

    #[test]
    fn a_run_where_nobody_meets_two_tasks_is_recognised() {
        // Two tasks, each with its own person (the language runs' layout).
        use crate::failures::{SystemMatrix, ABSENT, FAILED, OK};
        let matrix = SystemMatrix {
            name: "probe/seed-0".into(),
            deployments: vec!["a".into(), "b".into()],
            people: vec!["p1".into(), "p2".into()],
            outcomes: vec![FAILED, ABSENT, ABSENT, OK],
            losses: None,
            groupings: vec![],
            attributes: vec![("method".into(), "probe".into())],
        };
        let rows = crate::metrics::measure_system(&matrix, &crate::metrics::Options::default(), 0);
        let reason = rows
            .iter()
            .find(|r| r.metric == "h_individual")
            .map(|r| r.value.clone())
            .unwrap();
        let systems = vec![system("probe", 0, "h_individual", reason)];
        let input = ReportInput {
            run: "r",
            model: "m",
            methods: &["probe".to_string()],
            groupings: &[],
            systems: &systems,
            per_method: &[],
            differences: &[],
            correlations: &[],
            baselines: &[],
            failed: &[],
            damaged: &[],
            incomplete: &[],
            figures: &[],
        };
        assert!(nobody_met_several(&input));
        let defined = vec![system("probe", 0, "h_individual", Value::Defined(1.2))];
        assert!(!nobody_met_several(&ReportInput {
            systems: &defined,
            ..input
        }));
    }
}
