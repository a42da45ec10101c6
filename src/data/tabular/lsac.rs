//! LSAC law-school data in the commonly distributed CSV layout (`law_data.csv`-style, one row per
//! student with columns `LSAT`, `UGPA`, `ZFYA`, `race`, `sex`, `pass_bar`; header names matched
//! case-insensitively, `zfygpa` accepted for `ZFYA`, other columns ignored).
//!
//! Two tasks **on the same students** (the authors' code used different rows per task):
//! `pass_bar` (pass_bar == 1) and `zfya_above_mean` (ZFYA above the mean ZFYA of the kept
//! students). Features: LSAT and UGPA; race and sex are groups, not features (`tempeh`, the
//! loader the authors used, drops race and gender by default). A row missing
//! either target (an empty field or `NA`) is dropped and counted, as the paper does; a row missing
//! a feature or its race is dropped and counted too. Groups: `race` and `sex`.

use std::io::Read;
use std::path::Path;

use ndarray::Array2;

use super::{GroupColumn, TabularDataset, Task};
use crate::error::{Error, InputError, Result};

/// Name of the bar-passage task.
pub const PASS_BAR: &str = "pass_bar";
/// Name of the first-year-average task.
pub const ZFYA_ABOVE_MEAN: &str = "zfya_above_mean";

/// Rows kept and dropped while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LsacCounts {
    /// Rows in the file.
    pub rows: usize,
    /// Rows dropped because `pass_bar` or `ZFYA` was missing.
    pub missing_target: usize,
    /// Rows dropped because LSAT, UGPA, race or sex was missing.
    pub missing_feature: usize,
}

/// Loads an LSAC CSV file.
pub fn load(path: &Path) -> Result<(TabularDataset, LsacCounts)> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::reading_or_fetch(
            path,
            e,
            Some(
                "put the LSAC bar-passage CSV there (`law_data.csv` as commonly distributed, \
                 with columns LSAT, UGPA, ZFYA, race, sex, pass_bar) or point `data.path` at it",
            ),
        )
    })?;
    parse(std::io::BufReader::new(file), path)
}

fn is_missing(field: &str) -> bool {
    let f = field.trim();
    f.is_empty() || f.eq_ignore_ascii_case("na") || f.eq_ignore_ascii_case("nan")
}

/// Parses an LSAC CSV (`origin` names it in errors).
pub fn parse(reader: impl Read, origin: &Path) -> Result<(TabularDataset, LsacCounts)> {
    let mut csv = csv::ReaderBuilder::new().from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| InputError::new(format!("unreadable header: {e}")).in_file(origin))?
        .clone();
    let find = |names: &[&str]| -> Result<usize> {
        header
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
            .ok_or_else(|| {
                InputError::new(format!(
                    "the LSAC file has no `{}` column (expected law_data.csv-style columns \
                     LSAT, UGPA, ZFYA, race, sex, pass_bar)",
                    names[0]
                ))
                .in_file(origin)
                .in_column(names[0])
                .into()
            })
    };
    let lsat = find(&["LSAT"])?;
    let ugpa = find(&["UGPA"])?;
    let zfya = find(&["ZFYA", "zfygpa"])?;
    let race = find(&["race"])?;
    let sex = find(&["sex"])?;
    let pass = find(&["pass_bar"])?;

    let mut counts = LsacCounts::default();
    let mut ids = Vec::new();
    let mut x: Vec<f64> = Vec::new();
    let mut zf: Vec<f64> = Vec::new();
    let mut passed = Vec::new();
    let mut races = Vec::new();
    let mut sexes = Vec::new();
    for (r, record) in csv.records().enumerate() {
        let record = record.map_err(|e| {
            InputError::new(format!("malformed CSV record: {e}"))
                .in_file(origin)
                .at_row(r + 1)
        })?;
        counts.rows += 1;
        let get = |i: usize| record.get(i).unwrap_or("");
        if is_missing(get(pass)) || is_missing(get(zfya)) {
            counts.missing_target += 1;
            continue;
        }
        if [lsat, ugpa, race, sex].iter().any(|&i| is_missing(get(i))) {
            counts.missing_feature += 1;
            continue;
        }
        let num = |i: usize, name: &str| -> Result<f64> {
            get(i).trim().parse::<f64>().map_err(|_| {
                InputError::new(format!("expected a number, found `{}`", get(i)))
                    .in_file(origin)
                    .at_row(r + 1)
                    .in_column(name)
                    .into()
            })
        };
        let p = num(pass, "pass_bar")?;
        if p != 0.0 && p != 1.0 {
            return Err(
                InputError::new(format!("expected pass_bar 0 or 1, found `{p}`"))
                    .in_file(origin)
                    .at_row(r + 1)
                    .in_column("pass_bar")
                    .into(),
            );
        }
        x.push(num(lsat, "LSAT")?);
        x.push(num(ugpa, "UGPA")?);
        zf.push(num(zfya, "ZFYA")?);
        passed.push(p as u8);
        races.push(get(race).trim().to_string());
        sexes.push(get(sex).trim().to_string());
        ids.push(r.to_string());
    }
    let n = ids.len();
    if n == 0 {
        return Err(InputError::new(format!(
            "no usable rows ({} rows, {} missing a target, {} missing a feature)",
            counts.rows, counts.missing_target, counts.missing_feature
        ))
        .in_file(origin)
        .into());
    }
    let mean = zf.iter().sum::<f64>() / n as f64;
    let features = Array2::from_shape_vec((n, 2), x)
        .map_err(|e| Error::Runtime(format!("LSAC matrix shape: {e}")))?;
    let dataset = TabularDataset {
        name: "lsac".to_string(),
        ids,
        feature_names: vec!["LSAT".to_string(), "UGPA".to_string()],
        features,
        tasks: vec![
            Task {
                name: PASS_BAR.to_string(),
                labels: passed,
                feature_columns: vec![0, 1],
            },
            Task {
                name: ZFYA_ABOVE_MEAN.to_string(),
                labels: zf.iter().map(|&z| u8::from(z > mean)).collect(),
                feature_columns: vec![0, 1],
            },
        ],
        groups: vec![
            GroupColumn {
                name: "race".to_string(),
                values: races,
            },
            GroupColumn {
                name: "sex".to_string(),
                values: sexes,
            },
        ],
        notes: vec![format!(
            "LSAC: {} rows, {} dropped for a missing target (pass_bar or ZFYA), {} for a missing \
             LSAT/UGPA/race/sex; {n} students kept, the same in both tasks; ZFYA mean {mean:.4}",
            counts.rows, counts.missing_target, counts.missing_feature
        )],
    };
    Ok((dataset, counts))
}
