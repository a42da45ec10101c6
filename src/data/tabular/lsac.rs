//! LSAC National Longitudinal Bar Passage Study data, read from a CSV whose layout is detected
//! from its header.
//!
//! **Supported: the SEAPHE layout.** The study's student file as SEAPHE distributes it
//! (`lsac.sas7bdat`, the file the authors loaded through `tempeh`) and the widely mirrored CSV
//! made from it (the same column names plus a model's predictions), `bar_pass_prediction.csv`,
//! whose header is
//! `decile1b,decile3,ID,decile1,sex,race,cluster,lsat,ugpa,zfygpa,DOB_yr,grad,zgpa,bar1,bar1_yr,
//! bar2,bar2_yr,fulltime,fam_inc,age,gender,parttime,male,race1,race2,Dropout,other,asian,black,
//! hisp,pass_bar,bar,tier,index6040,indxgrp,indxgrp2,dnn_bar_pass_prediction,gpa` (some copies add
//! a leading unnamed index column). A CSV export of `lsac.sas7bdat` (e.g. pandas'
//! `read_sas(..).to_csv(..)`) has the columns the loader needs (`tempeh` reads them from it by
//! these names); string values written as Python bytes
//! (`b'white'`) are read as `white`. The loader needs `lsat`, `ugpa`, `zfygpa`, `pass_bar`,
//! `race1` (`white`, `black`, `hisp`, `asian`, `other`) and `gender` (`female`, `male`), matched
//! case-insensitively; other columns are ignored. (`race` there is a numeric code and `sex` a
//! 1/2 code; the string columns `race1` and `gender` are used instead.)
//!
//! **Refused: Kusner et al.'s `law_data.csv`** (counterfactual fairness, header
//! `,race,sex,LSAT,UGPA,region_first,ZFYA,sander_index,first_pf`). It has no bar-passage outcome:
//! `first_pf` is first-year pass/fail. Reading it as bar passage would silently measure another
//! task, so such a file (also one whose `first_pf` was renamed `pass_bar`) is bad input whose
//! message says where to get the bar-passage data.
//!
//! Two tasks **on the same students** (the authors' code used different rows per task, see
//! DESIGN.md §2): `pass_bar` (pass_bar == 1) and `zfya_above_mean` (zfygpa, the z-scored
//! first-year average, above the mean of the kept students; the authors binarise at the mean of
//! their gpa task's own rows). Features: lsat and ugpa, as `tempeh` gives them (it drops race and
//! gender by default); race and sex are groups, not features. A row missing either target (an
//! empty field, `NA` or `nan`) is dropped and counted; so is a row missing a feature, its race or
//! its gender. Groups: `race` (from `race1`) and `sex` (from `gender`).
//!
//! **Population.** [`Population::All`] keeps every race. [`Population::Authors`] keeps white and
//! Black students only, as `tempeh` does (its loader drops every other `race1` value, and rows
//! without one); rows outside it are counted in [`LsacCounts::outside_population`]. (`tempeh`
//! also forces each task's table to a fixed row count, 20,460 for pass_bar and 22,342 for
//! zfygpa, deleting rows drawn with `np.random.seed(219)` when the download has more and adding
//! synthetic ones when it has fewer; that is not reproduced.)

use std::io::Read;
use std::path::Path;

use ndarray::Array2;

use super::{GroupColumn, TabularDataset, Task};
use crate::error::{Error, InputError, Result};

/// Name of the bar-passage task.
pub const PASS_BAR: &str = "pass_bar";
/// Name of the first-year-average task (zfygpa above its mean).
pub const ZFYA_ABOVE_MEAN: &str = "zfya_above_mean";

/// Where to get data the loader accepts, for error messages.
const HOW_TO_GET: &str = "the LSAC bar-passage data with `pass_bar` and `zfygpa` columns is \
    SEAPHE's lsac.sas7bdat (LSAC_SAS.zip, the file the authors loaded through tempeh; export it \
    to CSV) or its widely mirrored CSV, bar_pass_prediction.csv";

/// The columns the SEAPHE layout must have (matched case-insensitively).
pub const REQUIRED_COLUMNS: [&str; 6] = ["lsat", "ugpa", "zfygpa", "pass_bar", "race1", "gender"];

/// Which students to keep (`all` or `authors` in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Population {
    /// Every student with both targets, the features, a race and a gender.
    #[default]
    All,
    /// Only white and Black students (`race1` = `white` or `black`), as the authors' `tempeh`
    /// loader keeps.
    Authors,
}

impl Population {
    /// Whether this is [`Population::All`] (the default; a config need not write it).
    pub fn is_all(&self) -> bool {
        *self == Population::All
    }

    /// Parses `all` or `authors`.
    pub fn parse(name: &str) -> Option<Population> {
        match name {
            "all" => Some(Population::All),
            "authors" => Some(Population::Authors),
            _ => None,
        }
    }
}

/// Loader options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LsacOptions {
    /// Which students to keep.
    pub population: Population,
}

/// Rows kept and dropped while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LsacCounts {
    /// Rows in the file.
    pub rows: usize,
    /// Rows dropped because their race is not in the chosen population
    /// ([`Population::Authors`]: not white or Black, or no race).
    pub outside_population: usize,
    /// Rows dropped because `pass_bar` or `zfygpa` was missing.
    pub missing_target: usize,
    /// Rows dropped because lsat, ugpa, race1 or gender was missing.
    pub missing_feature: usize,
}

/// Loads an LSAC CSV file with every student ([`Population::All`]).
pub fn load(path: &Path) -> Result<(TabularDataset, LsacCounts)> {
    load_with(path, &LsacOptions::default())
}

/// Loads an LSAC CSV file with `options`.
pub fn load_with(path: &Path, options: &LsacOptions) -> Result<(TabularDataset, LsacCounts)> {
    let file = std::fs::File::open(path).map_err(|e| {
        let how = format!("put the LSAC CSV there or point `data.path` at it; {HOW_TO_GET}");
        Error::reading_or_fetch(path, e, Some(&how))
    })?;
    parse_with(std::io::BufReader::new(file), path, options)
}

fn is_missing(field: &str) -> bool {
    let f = field.trim();
    f.is_empty() || f.eq_ignore_ascii_case("na") || f.eq_ignore_ascii_case("nan")
}

/// A string value as found, without surrounding spaces or the `b'..'` of a Python bytes repr.
fn label(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix("b'")
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(f)
        .trim()
}

/// The header's column names, shortened for a message.
fn found_columns(header: &csv::StringRecord) -> String {
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let shown = names
        .iter()
        .take(12)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 12 {
        format!("{shown}, … ({} columns)", names.len())
    } else {
        shown
    }
}

/// The error for Kusner et al.'s `law_data.csv`, told by its own columns (`first_pf`, or `ZFYA`
/// with `sander_index` or `region_first`) in a header that lacks the SEAPHE layout's.
fn kusner_error(header: &csv::StringRecord, origin: &Path) -> Option<Error> {
    let has = |name: &str| header.iter().any(|h| h.trim().eq_ignore_ascii_case(name));
    let seaphe = REQUIRED_COLUMNS.iter().all(|c| has(c));
    let kusner = has("first_pf") || (has("ZFYA") && (has("sander_index") || has("region_first")));
    if seaphe || !kusner {
        return None;
    }
    let found = if has("pass_bar") {
        "found `pass_bar` beside the columns of Kusner et al.'s law_data.csv (ZFYA, \
         sander_index, region_first); that file has no bar-passage column, so this `pass_bar` \
         is presumably a renamed `first_pf`"
    } else {
        "found `first_pf`: this is Kusner et al.'s law_data.csv"
    };
    Some(
        InputError::new(format!(
            "expected `pass_bar` (bar passage) and `zfygpa`; {found}. `first_pf` is first-year \
             pass/fail, not bar passage, and is not accepted in its place; {HOW_TO_GET}"
        ))
        .in_file(origin)
        .in_column("pass_bar")
        .into(),
    )
}

/// Parses an LSAC CSV with every student (`origin` names it in errors).
pub fn parse(reader: impl Read, origin: &Path) -> Result<(TabularDataset, LsacCounts)> {
    parse_with(reader, origin, &LsacOptions::default())
}

/// Parses an LSAC CSV with `options` (`origin` names it in errors).
pub fn parse_with(
    reader: impl Read,
    origin: &Path,
    options: &LsacOptions,
) -> Result<(TabularDataset, LsacCounts)> {
    let mut csv = csv::ReaderBuilder::new().from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| InputError::new(format!("unreadable header: {e}")).in_file(origin))?
        .clone();
    if let Some(e) = kusner_error(&header, origin) {
        return Err(e);
    }
    let find = |name: &str| -> Result<usize> {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let missing: Vec<&str> = REQUIRED_COLUMNS
                    .iter()
                    .copied()
                    .filter(|c| !header.iter().any(|h| h.trim().eq_ignore_ascii_case(c)))
                    .collect();
                InputError::new(format!(
                    "the LSAC file has no `{name}` column (expected the SEAPHE layout with \
                     columns {}; missing {}; found {}); {HOW_TO_GET}",
                    REQUIRED_COLUMNS.join(", "),
                    missing.join(", "),
                    found_columns(&header)
                ))
                .in_file(origin)
                .in_column(name)
                .into()
            })
    };
    let lsat = find("lsat")?;
    let ugpa = find("ugpa")?;
    let zfygpa = find("zfygpa")?;
    let pass = find("pass_bar")?;
    let race = find("race1")?;
    let gender = find("gender")?;

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
        if options.population == Population::Authors {
            let rc = label(get(race));
            if !(rc.eq_ignore_ascii_case("white") || rc.eq_ignore_ascii_case("black")) {
                counts.outside_population += 1;
                continue;
            }
        }
        if is_missing(get(pass)) || is_missing(get(zfygpa)) {
            counts.missing_target += 1;
            continue;
        }
        if [lsat, ugpa, race, gender]
            .iter()
            .any(|&i| is_missing(label(get(i))))
        {
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
            return Err(InputError::new(format!(
                "expected pass_bar 0 or 1, found `{}`",
                get(pass)
            ))
            .in_file(origin)
            .at_row(r + 1)
            .in_column("pass_bar")
            .into());
        }
        x.push(num(lsat, "lsat")?);
        x.push(num(ugpa, "ugpa")?);
        zf.push(num(zfygpa, "zfygpa")?);
        passed.push(p as u8);
        races.push(label(get(race)).to_string());
        sexes.push(label(get(gender)).to_string());
        ids.push(r.to_string());
    }
    let n = ids.len();
    let population = match options.population {
        Population::All => "all races",
        Population::Authors => "white and Black students only",
    };
    if n == 0 {
        return Err(InputError::new(format!(
            "no usable rows ({} rows, {} outside the population ({population}), {} missing a \
             target, {} missing a feature)",
            counts.rows, counts.outside_population, counts.missing_target, counts.missing_feature
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
        feature_names: vec!["lsat".to_string(), "ugpa".to_string()],
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
            "LSAC ({population}): {} rows, {} outside the population, {} dropped for a missing \
             target (pass_bar or zfygpa), {} for a missing lsat/ugpa/race1/gender; {n} students \
             kept, the same in both tasks; zfygpa mean {mean:.4}",
            counts.rows, counts.outside_population, counts.missing_target, counts.missing_feature
        )],
    };
    Ok((dataset, counts))
}
