//! The run's written outputs: `results.csv` (DESIGN.md §4's tidy columns with `method` first:
//! per-system rows, then per-method aggregates over seeds, then inter-metric correlations) and
//! `report.md` (a table per grouping, per-task accuracy against the majority-class baseline,
//! failed cells by name, the figures).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::compare::{self, MethodDifference};
use crate::error::{Error, Result};
use crate::failures::write_atomically;
use crate::metrics::Verdict;
use crate::metrics::{Measurement, SystemResult, INDIVIDUAL};
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
                        crate::metrics::Value::Undefined(reason) => Some(reason.as_str()),
                        crate::metrics::Value::Defined(_) => None,
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

fn show(ms: (Option<f64>, Option<f64>)) -> String {
    match ms {
        (Some(m), Some(s)) => format!("{} ± {}", short(m), short(s)),
        (Some(m), None) => short(m),
        _ => "undefined".to_string(),
    }
}

/// One difference as a report cell: `+0.12 [-0.05, +0.29]`, with the verdict when the interval
/// excludes zero.
fn difference_cell(d: Option<&MethodDifference>) -> String {
    let Some(x) = d.and_then(|d| d.difference) else {
        return "undefined".to_string();
    };
    let verdict = d.map_or(Verdict::NotTestable, MethodDifference::verdict);
    match (x.interval, verdict) {
        (Some((lo, hi)), Verdict::Higher | Verdict::Lower) => {
            format!(
                "{:+.3} [{lo:+.3}, {hi:+.3}] {}",
                x.estimate,
                verdict.as_str()
            )
        }
        (Some((lo, hi)), _) => format!("{:+.3} [{lo:+.3}, {hi:+.3}]", x.estimate),
        (None, _) => format!("{:+.3} (one seed: no interval)", x.estimate),
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
         or lower only where the interval excludes zero. `comparison.csv` has every metric.\n"
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
