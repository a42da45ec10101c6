//! ACS PUMS person files (2018 1-year, `psam_pXX.csv` or folktables' `csv_pxx.zip`) with the three
//! folktables tasks the paper uses, on the same people:
//!
//! - `employment` — folktables' ACSEmployment: ESR == 1;
//! - `income_poverty` — ACSIncomePovertyRatio: POVPIP < 250;
//! - `health_insurance` — ACSHealthInsurance: HINS2 == 1.
//!
//! Feature lists are folktables' (`folktables/acs.py`), each task seeing its own list. As in
//! folktables, none of these three tasks filters rows, features are the raw numeric codes, and a
//! missing value (an empty field) becomes 0 (folktables' `np.nan_to_num(..., nan=0.0)`); a missing
//! target compares false (pandas' `NaN == 1` and `NaN < 250` are false), so it is label 0. Every
//! one of these is counted in the dataset's notes. Group `race` from RAC1P with its nine census
//! names.

use std::io::Read;
use std::path::Path;

use ndarray::Array2;

use super::{GroupColumn, TabularDataset, Task};
use crate::error::{Error, InputError, Result};

/// folktables' ACSEmployment features.
pub const EMPLOYMENT_FEATURES: [&str; 16] = [
    "AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR",
    "DEYE", "DREM", "SEX", "RAC1P",
];
/// folktables' ACSIncomePovertyRatio features.
pub const INCOME_POVERTY_FEATURES: [&str; 20] = [
    "AGEP", "SCHL", "MAR", "SEX", "DIS", "ESP", "MIG", "CIT", "MIL", "ANC", "NATIVITY", "RELP",
    "DEAR", "DEYE", "DREM", "RAC1P", "GCL", "ESR", "OCCP", "WKHP",
];
/// folktables' ACSHealthInsurance features.
pub const HEALTH_INSURANCE_FEATURES: [&str; 25] = [
    "AGEP", "SCHL", "MAR", "SEX", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR",
    "DEYE", "DREM", "RACAIAN", "RACASN", "RACBLK", "RACNH", "RACPI", "RACSOR", "RACWHT", "PINCP",
    "ESR", "ST", "FER",
];

/// RAC1P codes 1..=9 and their census names.
pub const RACE_NAMES: [&str; 9] = [
    "White alone",
    "Black or African American alone",
    "American Indian alone",
    "Alaska Native alone",
    "American Indian and Alaska Native tribes specified, or not specified",
    "Asian alone",
    "Native Hawaiian and Other Pacific Islander alone",
    "Some Other Race alone",
    "Two or More Races",
];

/// One folktables task: name, features, target column and the rule making it positive.
struct AcsTask {
    name: &'static str,
    features: &'static [&'static str],
    target: &'static str,
    positive: fn(f64) -> bool,
}

const TASKS: [AcsTask; 3] = [
    AcsTask {
        name: "employment",
        features: &EMPLOYMENT_FEATURES,
        target: "ESR",
        positive: |v| v == 1.0,
    },
    AcsTask {
        name: "income_poverty",
        features: &INCOME_POVERTY_FEATURES,
        target: "POVPIP",
        positive: |v| v < 250.0,
    },
    AcsTask {
        name: "health_insurance",
        features: &HEALTH_INSURANCE_FEATURES,
        target: "HINS2",
        positive: |v| v == 1.0,
    },
];

/// The error for a person file that cannot be opened; a missing one says how to download it.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    Error::reading_or_fetch(
        path,
        e,
        Some(
            "`homogen fetch dataset acs --state CA` downloads California's 2018 person file to \
             data/acs/2018/1-Year/csv_pca.zip (other states: --state XX, and `data.path` in the \
             config)",
        ),
    )
}

/// Loads one ACS person file: a `.csv` (`psam_pXX.csv`) or a `.zip` holding one (`csv_pxx.zip`).
pub fn load(path: &Path) -> Result<TabularDataset> {
    let is_zip = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if is_zip {
        let file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| {
            InputError::new(format!("not a readable zip archive: {e}")).in_file(path)
        })?;
        let mut name = None;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(|e| {
                InputError::new(format!("unreadable zip entry {i}: {e}")).in_file(path)
            })?;
            let entry_name = entry
                .name()
                .map_err(|e| InputError::new(format!("zip entry {i}: {e}")).in_file(path))?
                .to_string();
            if entry_name.to_ascii_lowercase().ends_with(".csv") {
                name = Some(entry_name);
                break;
            }
        }
        let name = name.ok_or_else(|| {
            InputError::new("the archive holds no .csv file (expected psam_pXX.csv)").in_file(path)
        })?;
        let mut text = String::new();
        archive
            .by_name(&name)
            .map_err(|e| InputError::new(format!("reading {name}: {e}")).in_file(path))?
            .read_to_string(&mut text)
            .map_err(|e| Error::io(format!("reading {name} in {}", path.display()), e))?;
        parse(text.as_bytes(), &path.join(&name))
    } else {
        let file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
        parse(std::io::BufReader::new(file), path)
    }
}

/// Parses a PUMS person CSV (`origin` names it in errors).
pub fn parse(reader: impl Read, origin: &Path) -> Result<TabularDataset> {
    let mut csv = csv::ReaderBuilder::new().from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| InputError::new(format!("unreadable header: {e}")).in_file(origin))?
        .clone();
    // Union of every column we need, in first-use order: features, targets, RAC1P.
    let mut needed: Vec<&str> = Vec::new();
    for t in &TASKS {
        for f in t.features.iter().chain(std::iter::once(&t.target)) {
            if !needed.contains(f) {
                needed.push(f);
            }
        }
    }
    let mut index = Vec::with_capacity(needed.len());
    for name in &needed {
        let i = header.iter().position(|h| h == *name).ok_or_else(|| {
            InputError::new(format!(
                "the ACS person file has no `{name}` column, which folktables' tasks need \
                 (expected the 2018 PUMS person layout, psam_pXX.csv)"
            ))
            .in_file(origin)
            .in_column(*name)
        })?;
        index.push(i);
    }
    let rac1p = needed.iter().position(|n| *n == "RAC1P").unwrap_or(0);

    let mut values: Vec<f64> = Vec::new();
    let mut missing = vec![0usize; needed.len()];
    let mut n = 0usize;
    for (r, record) in csv.records().enumerate() {
        let record = record.map_err(|e| {
            InputError::new(format!("malformed CSV record: {e}"))
                .in_file(origin)
                .at_row(r + 1)
        })?;
        for (c, &i) in index.iter().enumerate() {
            let field = record.get(i).unwrap_or("").trim();
            let v = if field.is_empty() {
                missing[c] += 1;
                f64::NAN
            } else {
                field.parse::<f64>().map_err(|_| {
                    InputError::new(format!(
                        "expected a number or an empty field, found `{field}`"
                    ))
                    .in_file(origin)
                    .at_row(r + 1)
                    .in_column(needed[c])
                })?
            };
            values.push(v);
        }
        n += 1;
    }
    if n == 0 {
        return Err(InputError::new("no data rows").in_file(origin).into());
    }
    let width = needed.len();
    let raw = Array2::from_shape_vec((n, width), values)
        .map_err(|e| Error::Runtime(format!("ACS matrix shape: {e}")))?;

    let mut race = Vec::with_capacity(n);
    for r in 0..n {
        let code = raw[[r, rac1p]];
        let name = (code.fract() == 0.0 && (1.0..=9.0).contains(&code))
            .then(|| RACE_NAMES[code as usize - 1])
            .ok_or_else(|| {
                InputError::new(format!("expected a RAC1P code 1..9, found `{code}`"))
                    .in_file(origin)
                    .at_row(r + 1)
                    .in_column("RAC1P")
            })?;
        race.push(name.to_string());
    }

    // Features: the union of the three lists (targets that are also features, like ESR, stay).
    let mut feature_names: Vec<String> = Vec::new();
    for t in &TASKS {
        for f in t.features {
            if !feature_names.iter().any(|n| n == f) {
                feature_names.push(f.to_string());
            }
        }
    }
    let col_of = |name: &str| needed.iter().position(|n| *n == name).unwrap_or(0);
    let mut features = Array2::<f64>::zeros((n, feature_names.len()));
    for (j, name) in feature_names.iter().enumerate() {
        let c = col_of(name);
        for r in 0..n {
            let v = raw[[r, c]];
            features[[r, j]] = if v.is_nan() { 0.0 } else { v };
        }
    }
    let mut notes = vec![format!(
        "ACS PUMS: {n} people, no rows filtered (folktables' ACSEmployment, \
         ACSIncomePovertyRatio and ACSHealthInsurance have no row filter)"
    )];
    for (c, name) in needed.iter().enumerate() {
        if missing[c] > 0 {
            notes.push(format!(
                "{name}: {} missing values, filled with 0 as folktables does{}",
                missing[c],
                if TASKS.iter().any(|t| t.target == *name) {
                    " (as a target: label 0)"
                } else {
                    ""
                }
            ));
        }
    }
    let tasks = TASKS
        .iter()
        .map(|t| {
            let c = col_of(t.target);
            Task {
                name: t.name.to_string(),
                labels: (0..n)
                    .map(|r| u8::from((t.positive)(raw[[r, c]])))
                    .collect(),
                feature_columns: t
                    .features
                    .iter()
                    .map(|f| feature_names.iter().position(|n| n == f).unwrap_or(0))
                    .collect(),
            }
        })
        .collect();
    Ok(TabularDataset {
        name: "acs".to_string(),
        ids: (0..n).map(|r| r.to_string()).collect(),
        feature_names,
        features,
        tasks,
        groups: vec![GroupColumn {
            name: "race".to_string(),
            values: race,
        }],
        notes,
    })
}
