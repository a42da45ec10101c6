//! Reading failure tables from CSV and Parquet, with validation that names the file, row and
//! column of every problem.
//!
//! Accepted values: `failure` as 0/1/true/false (any case) or a Parquet boolean; `label` and
//! `prediction` as integers (integral floats such as `1.0` too, since pandas writes them when a
//! column once held a missing value); `loss` as a float; every other column as text.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::table::{columns, Categorical, FailureTable, RowOrigin};
use crate::error::{Error, InputError, Result};

/// The two on-disk formats of a failure table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format a path's extension names (`.csv`; `.parquet`/`.pq`); otherwise the file's
    /// first bytes decide (Parquet starts with `PAR1`).
    pub fn of_path(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
        {
            Some(e) if e == "csv" => Ok(Format::Csv),
            Some(e) if e == "parquet" || e == "pq" => Ok(Format::Parquet),
            _ => {
                use std::io::Read;
                let mut magic = [0u8; 4];
                let mut f = File::open(path).map_err(|e| Error::reading(path, e))?;
                let n = f.read(&mut magic).map_err(|e| Error::reading(path, e))?;
                Ok(if n == 4 && &magic == b"PAR1" {
                    Format::Parquet
                } else {
                    Format::Csv
                })
            }
        }
    }
}

/// Reads one or more failure tables and concatenates them.
///
/// Columns: `deployment` and `example_id` are required; `failure` or both `label` and
/// `prediction` must be present. Optional columns (`system`, `label`, `prediction`, `loss`, and
/// group or attribute columns) are kept when every file has them.
pub fn read_tables(paths: &[PathBuf]) -> Result<FailureTable> {
    if paths.is_empty() {
        return Err(Error::input("no failure-table file given"));
    }
    // The first table is kept as read (appending it to an empty table would re-intern every
    // level); the others are appended.
    let mut table = read_table(&paths[0])?;
    for path in &paths[1..] {
        let part = read_table(path)?;
        table.append(part);
    }
    Ok(table)
}

/// Reads one failure table from CSV or Parquet (see [`Format::of_path`]).
pub fn read_table(path: &Path) -> Result<FailureTable> {
    let mut table = match Format::of_path(path)? {
        Format::Csv => read_csv(path)?,
        Format::Parquet => read_parquet(path)?,
    };
    if table.is_empty() {
        return Err(InputError::new(
            "the file has no data rows; expected one row per (deployment, example)",
        )
        .in_file(path)
        .into());
    }
    table.origins = vec![RowOrigin {
        file: path.to_path_buf(),
        first_row: 0,
    }];
    Ok(table)
}

/// Which columns a file has, by position, and the builder that receives its rows.
struct Builder {
    file: PathBuf,
    table: FailureTable,
    has_failure: bool,
}

impl Builder {
    /// Checks the header: required columns present and no name twice.
    fn new(file: &Path, names: &[String]) -> Result<(Builder, Layout)> {
        let find = |name: &str| names.iter().position(|n| n == name);
        let missing = |name: &str| -> Error {
            InputError::new(format!(
                "missing required column `{name}` (columns found: {})",
                names.join(", ")
            ))
            .in_file(file)
            .in_column(name)
            .into()
        };
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(
                    InputError::new("the column name appears twice in the header")
                        .in_file(file)
                        .in_column(n.clone())
                        .into(),
                );
            }
        }
        let layout = Layout {
            system: find(columns::SYSTEM),
            deployment: find(columns::DEPLOYMENT).ok_or_else(|| missing(columns::DEPLOYMENT))?,
            example_id: find(columns::EXAMPLE_ID).ok_or_else(|| missing(columns::EXAMPLE_ID))?,
            label: find(columns::LABEL),
            prediction: find(columns::PREDICTION),
            failure: find(columns::FAILURE),
            loss: find(columns::LOSS),
            extra: names
                .iter()
                .enumerate()
                .filter(|(_, n)| !columns::CORE.contains(&n.as_str()))
                .map(|(i, _)| i)
                .collect(),
        };
        if layout.failure.is_none() && (layout.label.is_none() || layout.prediction.is_none()) {
            let absent = match (layout.label, layout.prediction) {
                (None, None) => "`label` and `prediction` are both absent",
                (None, Some(_)) => "`label` is absent",
                _ => "`prediction` is absent",
            };
            return Err(InputError::new(format!(
                "no `failure` column and {absent}: give `failure` (0/1/true/false) or both \
                 `label` and `prediction` (columns found: {})",
                names.join(", ")
            ))
            .in_file(file)
            .in_column(columns::FAILURE)
            .into());
        }
        let mut table = FailureTable::new();
        if layout.system.is_some() {
            table.system = Some(Categorical::new(columns::SYSTEM));
        }
        if layout.label.is_some() {
            table.label = Some(Vec::new());
        }
        if layout.prediction.is_some() {
            table.prediction = Some(Vec::new());
        }
        if layout.loss.is_some() {
            table.loss = Some(Vec::new());
        }
        table.extra = layout
            .extra
            .iter()
            .map(|&i| Categorical::new(names[i].clone()))
            .collect();
        let builder = Builder {
            file: file.to_path_buf(),
            table,
            has_failure: layout.failure.is_some(),
        };
        Ok((builder, layout))
    }

    fn error(&self, row: usize, column: &str, message: impl Into<String>) -> Error {
        InputError::new(message)
            .in_file(&self.file)
            .at_row(row)
            .in_column(column)
            .into()
    }

    /// Appends one row; `row` is the 1-based data row, for errors.
    fn push(&mut self, row: usize, values: RowValues<'_>) -> Result<()> {
        let t = &mut self.table;
        for (name, value) in [
            (columns::DEPLOYMENT, values.deployment),
            (columns::EXAMPLE_ID, values.example_id),
        ] {
            if value.is_empty() {
                return Err(self.error(row, name, "empty value; expected a non-empty name"));
            }
        }
        if let Some(s) = t.system.as_mut() {
            s.push(values.system.unwrap_or_default());
        }
        t.deployment.push(values.deployment);
        t.example_id.push(values.example_id);
        if let Some(l) = t.label.as_mut() {
            l.push(values.label.unwrap_or_default());
        }
        if let Some(p) = t.prediction.as_mut() {
            p.push(values.prediction.unwrap_or_default());
        }
        let failure = match (
            self.has_failure,
            values.failure,
            values.label,
            values.prediction,
        ) {
            (true, Some(f), _, _) => f,
            (_, _, Some(l), Some(p)) => l != p,
            _ => unreachable!("the header check guarantees failure or label + prediction"),
        };
        t.failure.push(failure);
        if let Some(l) = t.loss.as_mut() {
            l.push(values.loss.unwrap_or(f64::NAN));
        }
        Ok(())
    }
}

/// Column positions of one file.
struct Layout {
    system: Option<usize>,
    deployment: usize,
    example_id: usize,
    label: Option<usize>,
    prediction: Option<usize>,
    failure: Option<usize>,
    loss: Option<usize>,
    extra: Vec<usize>,
}

/// The parsed values of one row's fixed columns.
struct RowValues<'a> {
    system: Option<&'a str>,
    deployment: &'a str,
    example_id: &'a str,
    label: Option<i64>,
    prediction: Option<i64>,
    failure: Option<bool>,
    loss: Option<f64>,
}

/// Parses a failure flag: 0/1/true/false in any case (also `1.0`/`0.0`).
pub fn parse_failure(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "1.0" => Some(true),
        "0" | "false" | "0.0" => Some(false),
        _ => None,
    }
}

/// Parses an integer label, accepting integral floats such as `3.0`.
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    t.parse::<i64>().ok().or_else(|| {
        let f = t.parse::<f64>().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

fn read_csv(path: &Path) -> Result<FailureTable> {
    let file = File::open(path).map_err(|e| Error::reading(path, e))?;
    if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        return Err(
            InputError::new("the file is empty; expected a header row and data rows")
                .in_file(path)
                .into(),
        );
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(std::io::BufReader::new(file));
    let csv_error = |e: csv::Error| -> Error {
        // The record index, not the line: a quoted field may span lines. The header is
        // record 0, so data row n (1-based, as elsewhere) is record n.
        let row = e.position().map(|p| p.record() as usize);
        let message = match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => format!(
                "text is not valid UTF-8 (field {}); expected UTF-8 encoded text",
                err.field() + 1
            ),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("the row has {len} fields but the header has {expected_len}")
            }
            csv::ErrorKind::Io(io) => {
                return Error::io(
                    format!("reading {}", path.display()),
                    std::io::Error::new(io.kind(), io.to_string()),
                )
            }
            _ => e.to_string(),
        };
        let mut err = InputError::new(message).in_file(path);
        if let Some(r) = row.filter(|&r| r > 0) {
            err = err.at_row(r);
        }
        err.into()
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let (mut builder, layout) = Builder::new(path, &header)?;
    let mut record = csv::StringRecord::new();
    let mut row = 0usize;
    while reader.read_record(&mut record).map_err(csv_error)? {
        row += 1;
        let field = |i: usize| record.get(i).unwrap_or("");
        let parse =
            |i: Option<usize>, name: &str, what: &str, f: &dyn Fn(&str) -> bool| -> Result<()> {
                if let Some(i) = i {
                    if !f(field(i)) {
                        return Err(builder.error(
                            row,
                            name,
                            format!("expected {what}, found `{}`", field(i)),
                        ));
                    }
                }
                Ok(())
            };
        parse(
            layout.failure,
            columns::FAILURE,
            "0, 1, true or false",
            &|s| parse_failure(s).is_some(),
        )?;
        parse(layout.label, columns::LABEL, "an integer label", &|s| {
            parse_int(s).is_some()
        })?;
        parse(
            layout.prediction,
            columns::PREDICTION,
            "an integer prediction",
            &|s| parse_int(s).is_some(),
        )?;
        parse(layout.loss, columns::LOSS, "a number", &|s| {
            s.trim().parse::<f64>().is_ok()
        })?;
        let values = RowValues {
            system: layout.system.map(field),
            deployment: field(layout.deployment),
            example_id: field(layout.example_id),
            label: layout.label.and_then(|i| parse_int(field(i))),
            prediction: layout.prediction.and_then(|i| parse_int(field(i))),
            failure: layout.failure.and_then(|i| parse_failure(field(i))),
            loss: layout.loss.and_then(|i| field(i).trim().parse().ok()),
        };
        if let (Some(s), Some(_)) = (values.system, layout.system) {
            if s.is_empty() {
                return Err(builder.error(
                    row,
                    columns::SYSTEM,
                    "empty value; expected a system name",
                ));
            }
        }
        builder.push(row, values)?;
        for (col, &i) in builder.table.extra.iter_mut().zip(&layout.extra) {
            col.push(field(i));
        }
    }
    Ok(builder.table)
}

fn read_parquet(path: &Path) -> Result<FailureTable> {
    let file = File::open(path).map_err(|e| Error::reading(path, e))?;
    if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        return Err(
            InputError::new("the file is empty; expected a Parquet file")
                .in_file(path)
                .into(),
        );
    }
    let not_parquet = |e: parquet::errors::ParquetError| -> Error {
        InputError::new(format!("cannot read as Parquet: {e}"))
            .in_file(path)
            .into()
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(not_parquet)?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let (mut out, layout) = Builder::new(path, &names)?;
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(not_parquet)?;
    let mut row0 = 0usize;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| {
            Error::from(InputError::new(format!("cannot decode Parquet data: {e}")).in_file(path))
        })?;
        let text = |i: usize| text_column(path, &names[i], batch.column(i), row0);
        let system = layout.system.map(text).transpose()?;
        let deployment = text(layout.deployment)?;
        let example_id = text(layout.example_id)?;
        let extras: Vec<ArrayRef> = layout
            .extra
            .iter()
            .map(|&i| text(i))
            .collect::<Result<_>>()?;
        let ints = |i: Option<usize>| {
            i.map(|i| int_column(path, &names[i], batch.column(i), row0))
                .transpose()
        };
        let label = ints(layout.label)?;
        let prediction = ints(layout.prediction)?;
        let failure = layout
            .failure
            .map(|i| bool_column(path, &names[i], batch.column(i), row0))
            .transpose()?;
        let loss = layout
            .loss
            .map(|i| float_column(path, &names[i], batch.column(i), row0))
            .transpose()?;
        fn s(a: &ArrayRef, r: usize) -> &str {
            a.as_string::<i32>().value(r)
        }
        for r in 0..batch.num_rows() {
            let values = RowValues {
                system: system.as_ref().map(|a| s(a, r)),
                deployment: s(&deployment, r),
                example_id: s(&example_id, r),
                label: label.as_ref().map(|v| v[r]),
                prediction: prediction.as_ref().map(|v| v[r]),
                failure: failure.as_ref().map(|v| v[r]),
                loss: loss.as_ref().map(|v| v[r]),
            };
            out.push(row0 + r + 1, values)?;
            for (col, a) in out.table.extra.iter_mut().zip(&extras) {
                col.push(s(a, r));
            }
        }
        row0 += batch.num_rows();
    }
    Ok(out.table)
}

fn first_null(array: &dyn Array) -> Option<usize> {
    (array.null_count() > 0)
        .then(|| (0..array.len()).find(|&i| array.is_null(i)))
        .flatten()
}

fn column_error(path: &Path, column: &str, row: Option<usize>, message: String) -> Error {
    let mut e = InputError::new(message).in_file(path).in_column(column);
    if let Some(r) = row {
        e = e.at_row(r);
    }
    e.into()
}

fn null_check(path: &Path, column: &str, array: &dyn Array, row0: usize) -> Result<()> {
    match first_null(array) {
        Some(i) => Err(column_error(
            path,
            column,
            Some(row0 + i + 1),
            "missing value (null); expected a value".into(),
        )),
        None => Ok(()),
    }
}

/// Any column as UTF-8 text (numbers and booleans are formatted; binary must be valid UTF-8).
fn text_column(path: &Path, column: &str, array: &ArrayRef, row0: usize) -> Result<ArrayRef> {
    null_check(path, column, array.as_ref(), row0)?;
    if let DataType::Binary | DataType::LargeBinary | DataType::BinaryView = array.data_type() {
        let bin = arrow_cast::cast(array, &DataType::LargeBinary)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        let bin = bin.as_binary::<i64>();
        for i in 0..bin.len() {
            if std::str::from_utf8(bin.value(i)).is_err() {
                return Err(column_error(
                    path,
                    column,
                    Some(row0 + i + 1),
                    "text is not valid UTF-8; expected UTF-8 encoded text".into(),
                ));
            }
        }
    }
    arrow_cast::cast(array, &DataType::Utf8).map_err(|e| {
        column_error(
            path,
            column,
            None,
            format!("cannot read {} values as text: {e}", array.data_type()),
        )
    })
}

fn int_column(path: &Path, column: &str, array: &ArrayRef, row0: usize) -> Result<Vec<i64>> {
    null_check(path, column, array.as_ref(), row0)?;
    let dt = array.data_type();
    if dt.is_integer() || *dt == DataType::Boolean {
        let a = arrow_cast::cast(array, &DataType::Int64)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        return Ok(a.as_primitive::<Int64Type>().values().to_vec());
    }
    if dt.is_floating() {
        let a = arrow_cast::cast(array, &DataType::Float64)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        let a = a.as_primitive::<Float64Type>();
        return a
            .values()
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                (f.is_finite() && f.fract() == 0.0)
                    .then_some(f as i64)
                    .ok_or_else(|| {
                        column_error(
                            path,
                            column,
                            Some(row0 + i + 1),
                            format!("expected an integer, found {f}"),
                        )
                    })
            })
            .collect();
    }
    let text = text_column(path, column, array, row0)?;
    let text = text.as_string::<i32>();
    (0..text.len())
        .map(|i| {
            parse_int(text.value(i)).ok_or_else(|| {
                column_error(
                    path,
                    column,
                    Some(row0 + i + 1),
                    format!("expected an integer, found `{}`", text.value(i)),
                )
            })
        })
        .collect()
}

fn bool_column(path: &Path, column: &str, array: &ArrayRef, row0: usize) -> Result<Vec<bool>> {
    null_check(path, column, array.as_ref(), row0)?;
    if *array.data_type() == DataType::Boolean {
        let a = array.as_boolean();
        return Ok((0..a.len()).map(|i| a.value(i)).collect());
    }
    let text = text_column(path, column, array, row0)?;
    let text = text.as_string::<i32>();
    (0..text.len())
        .map(|i| {
            parse_failure(text.value(i)).ok_or_else(|| {
                column_error(
                    path,
                    column,
                    Some(row0 + i + 1),
                    format!("expected 0, 1, true or false, found `{}`", text.value(i)),
                )
            })
        })
        .collect()
}

fn float_column(path: &Path, column: &str, array: &ArrayRef, row0: usize) -> Result<Vec<f64>> {
    null_check(path, column, array.as_ref(), row0)?;
    let a = arrow_cast::cast(array, &DataType::Float64).map_err(|e| {
        column_error(
            path,
            column,
            None,
            format!("expected numbers, found {} values: {e}", array.data_type()),
        )
    })?;
    // A safe cast turns unparsable text into null: report the first such row.
    if let Some(i) = first_null(a.as_ref()) {
        return Err(column_error(
            path,
            column,
            Some(row0 + i + 1),
            "expected a number".into(),
        ));
    }
    Ok(a.as_primitive::<Float64Type>().values().to_vec())
}
