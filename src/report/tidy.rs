//! The tidy metrics table of DESIGN.md §4 — one row per (system, grouping, metric) with value,
//! bootstrap interval, p-value and note — and its three renderings: CSV (the contract tests and
//! users parse), JSON (an array of objects, `null` where absent) and a terminal table.
//!
//! CSV and JSON print numbers with full precision (Rust's shortest round-trip form of an f64);
//! the terminal table rounds to 3 significant digits.

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::metrics::{Measurement, Value};

/// The CSV header, exactly.
pub const HEADER: [&str; 8] = [
    "system", "grouping", "metric", "value", "ci_lo", "ci_hi", "p_value", "note",
];

/// One row of the tidy metrics table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TidyRow {
    /// The system's name (`all` for a table without a `system` column).
    pub system: String,
    /// `individual` or the group column's name.
    pub grouping: String,
    /// The metric's name.
    pub metric: String,
    /// The value; `None` when undefined (the reason is in `note`).
    pub value: Option<f64>,
    /// Lower end of the 95% interval.
    pub ci_lo: Option<f64>,
    /// Upper end of the 95% interval.
    pub ci_hi: Option<f64>,
    /// Permutation (or correlation) p-value.
    pub p_value: Option<f64>,
    /// Why a value is undefined, the worst group, excluded groups...; empty when none.
    pub note: String,
}

impl TidyRow {
    /// The row of `m` for system `system`; an undefined value's reason leads the note.
    pub fn from_measurement(system: &str, m: &Measurement) -> Self {
        let (value, note) = match &m.value {
            Value::Defined(x) => (Some(*x), m.note.clone()),
            Value::Undefined(reason) if m.note.is_empty() => (None, format!("undefined: {reason}")),
            Value::Undefined(reason) => (None, format!("undefined: {reason}; {}", m.note)),
        };
        TidyRow {
            system: system.to_string(),
            grouping: m.grouping.clone(),
            metric: m.metric.clone(),
            value,
            ci_lo: m.ci.map(|c| c.0),
            ci_hi: m.ci.map(|c| c.1),
            p_value: m.p_value,
            note,
        }
    }
}

/// A number cell of a CSV: empty when absent, else Rust's shortest round-trip form of the
/// f64, with zero always unsigned (a sum of no terms is -0.0 in Rust; "-0" means nothing in a
/// report).
pub fn number(x: Option<f64>) -> String {
    unsigned(x).map_or_else(String::new, |v| format!("{v}"))
}

/// `x` with -0.0 made 0.0 (adding +0.0 does exactly that and leaves every other value alone).
fn unsigned(x: Option<f64>) -> Option<f64> {
    x.map(|v| v + 0.0)
}

/// Writes the rows as CSV with [`HEADER`].
pub fn write_csv<W: Write>(rows: &[TidyRow], out: W) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| Error::Runtime(format!("writing CSV: {e}"));
    w.write_record(HEADER).map_err(err)?;
    for r in rows {
        w.write_record([
            r.system.as_str(),
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
    w.flush()
        .map_err(|e| Error::io("writing CSV".to_string(), e))?;
    Ok(())
}

/// The rows as a JSON array of objects with the CSV's fields (`null` for absent numbers).
pub fn to_json(rows: &[TidyRow]) -> String {
    // Zero unsigned, as in the CSV.
    let rows: Vec<TidyRow> = rows
        .iter()
        .map(|r| TidyRow {
            value: unsigned(r.value),
            ci_lo: unsigned(r.ci_lo),
            ci_hi: unsigned(r.ci_hi),
            p_value: unsigned(r.p_value),
            ..r.clone()
        })
        .collect();
    // Serialising plain strings and finite floats cannot fail.
    serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_string())
}

/// `x` rounded to 3 significant digits for reading (integers printed whole).
pub fn short(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e6 {
        return format!("{x}"); // counts and exact integers as such
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// The terminal rendering: one block per system and grouping, metric names and values aligned,
/// intervals as `1.83 [1.52, 2.21]`, then the p-value and the note.
pub fn render_table(rows: &[TidyRow]) -> String {
    let mut out = String::new();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        while end < rows.len()
            && rows[end].system == rows[start].system
            && rows[end].grouping == rows[start].grouping
        {
            end += 1;
        }
        let block = &rows[start..end];
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "system {} — {}\n",
            block[0].system, block[0].grouping
        ));
        let values: Vec<String> = block
            .iter()
            .map(|r| match (r.value, r.ci_lo, r.ci_hi) {
                (None, _, _) => "undefined".to_string(),
                (Some(v), Some(lo), Some(hi)) => {
                    format!("{} [{}, {}]", short(v), short(lo), short(hi))
                }
                (Some(v), _, _) => short(v),
            })
            .collect();
        let name_w = block
            .iter()
            .map(|r| r.metric.chars().count())
            .max()
            .unwrap_or(0);
        let value_w = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
        for (r, v) in block.iter().zip(&values) {
            let mut line = format!("  {:<name_w$}  {:<value_w$}", r.metric, v);
            if let Some(p) = r.p_value {
                line.push_str(&format!("  p = {}", short(p)));
            }
            if !r.note.is_empty() {
                line.push_str(&format!("  ({})", r.note));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_keep_three_significant_digits() {
        assert_eq!(short(1.8312), "1.83");
        assert_eq!(short(0.0123456), "0.0123");
        assert_eq!(short(3.0), "3");
        assert_eq!(short(-0.0), "0");
        assert_eq!(short(123.456), "123");
        assert_eq!(short(2.5e-7), "2.50e-7");
    }

    /// Rust sums no terms to -0.0 (an observed systemic failure of nobody was printed `-0`).
    #[test]
    fn zero_is_written_unsigned_in_csv_and_json() {
        let empty: f64 = std::iter::empty::<f64>().sum();
        assert!(empty.is_sign_negative(), "the case this guards against");
        assert_eq!(number(Some(empty)), "0");
        assert_eq!(number(Some(0.25)), "0.25");
        assert_eq!(number(None), "");
        let row = TidyRow {
            system: "all".into(),
            grouping: "individual".into(),
            metric: "systemic_failure_observed".into(),
            value: Some(empty),
            ci_lo: Some(-0.0),
            ci_hi: Some(0.0),
            p_value: None,
            note: String::new(),
        };
        let mut csv = Vec::new();
        write_csv(std::slice::from_ref(&row), &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.ends_with("all,individual,systemic_failure_observed,0,0,0,,\n"),
            "{csv}"
        );
        let json = to_json(&[row]);
        assert!(!json.contains("-0"), "{json}");
        assert!(json.contains("\"value\": 0.0"), "{json}");
    }
}
