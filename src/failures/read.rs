//! Reading failure tables from CSV and Parquet, with validation that names the file, row and
//! column of every problem.
//!
//! Accepted values: `failure` as 0/1/true/false (any case) or a Parquet boolean; `label` and
//! `prediction` as integers (integral floats such as `1.0` too, since pandas writes them when a
//! column once held a missing value) or as class names (`positive`, `World`; then compared as
//! names, an integer-looking value by its integer); `loss` as a float; every other column as
//! text. Columns are found by their schema names or as [`ReadOptions`] renames them.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::mapping::{deployment_names, ColumnMap, ReadOptions, Role, Wide};
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

/// Reads one or more failure tables and concatenates them, with the schema's column names.
///
/// Columns: `deployment` and `example_id` are required; `failure` or both `label` and
/// `prediction` must be present. Optional columns (`system`, `label`, `prediction`, `loss`, and
/// group or attribute columns) are kept when every file has them.
pub fn read_tables(paths: &[PathBuf]) -> Result<FailureTable> {
    read_tables_with(paths, &ReadOptions::default())
}

/// Reads one or more failure tables and concatenates them, with columns renamed and
/// deployments taken from the files as `options` say.
pub fn read_tables_with(paths: &[PathBuf], options: &ReadOptions) -> Result<FailureTable> {
    if paths.is_empty() {
        return Err(Error::input("no failure-table file given"));
    }
    let deployments = match options.deployment_per_file {
        true => Some(deployment_names(paths)?),
        false => None,
    };
    let read = |i: usize| read_one(&paths[i], options, deployments.as_ref().map(|d| &*d[i]));
    // The first table is kept as read (appending it to an empty table would re-intern every
    // level); the others are appended.
    let mut table = read(0)?;
    for i in 1..paths.len() {
        table.append(read(i)?);
    }
    Ok(table)
}

/// Reads one failure table from CSV or Parquet (see [`Format::of_path`]), with the schema's
/// column names.
pub fn read_table(path: &Path) -> Result<FailureTable> {
    read_one(path, &ReadOptions::default(), None)
}

/// Reads one file; `deployment` names its single deployment when the file has no column for it.
fn read_one(path: &Path, options: &ReadOptions, deployment: Option<&str>) -> Result<FailureTable> {
    let mut table = match Format::of_path(path)? {
        Format::Csv => read_csv(path, options, deployment)?,
        Format::Parquet => read_parquet(path, options, deployment)?,
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
        rows_per_record: options.wide.as_ref().map_or(1, |w| w.columns.len()),
        columns: options.columns.clone(),
    }];
    Ok(table)
}

/// Receives one file's rows into a table, checking each value.
struct Builder {
    file: PathBuf,
    columns: ColumnMap,
    table: FailureTable,
    /// Whether the failure is given (a failure column, or wide failure columns) rather than
    /// derived from label and prediction.
    has_failure: bool,
    /// The class names once a label or prediction was not an integer (see [`Builder::class`]).
    class_names: Option<Categorical>,
}

impl Builder {
    /// Checks the header: required columns present and no name twice; `deployment` is the
    /// file's one deployment when it has no deployment column.
    fn new(
        file: &Path,
        names: &[String],
        options: &ReadOptions,
        deployment: Option<&str>,
    ) -> Result<(Builder, Layout)> {
        let map = &options.columns;
        let find = |role: Role| names.iter().position(|n| n == map.name(role));
        let refuse = |column: &str, message: String| -> Error {
            InputError::new(message)
                .in_file(file)
                .in_column(column)
                .into()
        };
        let missing = |role: Role| -> Error {
            let per_file = match role {
                Role::Deployment => {
                    ", or --deployment-per-file to make each file one deployment, or --wide \
                     for one column per deployment"
                }
                _ => "",
            };
            refuse(
                map.name(role),
                format!(
                    "missing required column {} (columns found: {}); name the column that \
                     holds it with --column {}=NAME{per_file}",
                    map.describe(role),
                    names.join(", "),
                    role.schema_name(),
                ),
            )
        };
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(refuse(
                    n,
                    "the column name appears twice in the header".into(),
                ));
            }
        }
        let (has_deployment, has_wide) = (find(Role::Deployment), options.wide.as_ref());
        let deployment = match (has_deployment, deployment, has_wide) {
            (Some(i), None, None) => Source::Column(i),
            (None, Some(name), None) => Source::Constant(name.to_string()),
            (None, None, Some(wide)) => Source::Wide(wide_columns(file, names, map, wide)?),
            (None, None, None) => return Err(missing(Role::Deployment)),
            (Some(_), Some(_), _) => {
                return Err(refuse(
                    map.name(Role::Deployment),
                    format!(
                        "the file has a deployment column ({}) and --deployment-per-file names \
                         the deployment after the file; give one of the two",
                        map.describe(Role::Deployment)
                    ),
                ))
            }
            (Some(_), _, Some(_)) => {
                return Err(refuse(
                    map.name(Role::Deployment),
                    format!(
                        "the file has a deployment column ({}) and --wide takes the deployments \
                         from columns; give one of the two",
                        map.describe(Role::Deployment)
                    ),
                ))
            }
            (None, Some(_), Some(_)) => {
                unreachable!("--wide and --deployment-per-file conflict on the command line")
            }
        };
        let wide_role = has_wide.map(|w| w.role);
        let layout = Layout {
            system: find(Role::System),
            example_id: find(Role::ExampleId).ok_or_else(|| missing(Role::ExampleId))?,
            label: find(Role::Label),
            prediction: find(Role::Prediction),
            failure: find(Role::Failure),
            loss: find(Role::Loss),
            extra: names
                .iter()
                .enumerate()
                .filter(|(i, n)| {
                    map.role_of(n).is_none()
                        && !map.is_displaced(n)
                        && !deployment.is_wide_column(*i)
                })
                .map(|(i, _)| i)
                .collect(),
            deployment,
        };
        // With one column per deployment, a per-person prediction or failure column would
        // contradict the deployments' own.
        if let Some(role) = wide_role {
            for (other, position) in [
                (Role::Prediction, layout.prediction),
                (Role::Failure, layout.failure),
            ] {
                if let Some(i) = position {
                    return Err(refuse(
                        &names[i],
                        format!(
                            "a {} column ({}) next to --wide {}=...: with one column per \
                             deployment the {} comes from those columns; drop it or give \
                             --column {}=OTHER",
                            other.schema_name(),
                            map.describe(other),
                            role.schema_name(),
                            other.schema_name(),
                            other.schema_name(),
                        ),
                    ));
                }
            }
        }
        let has_prediction = layout.prediction.is_some() || wide_role == Some(Role::Prediction);
        let has_failure = layout.failure.is_some() || wide_role == Some(Role::Failure);
        if !has_failure && (layout.label.is_none() || !has_prediction) {
            let absent = match (layout.label, has_prediction) {
                (None, false) => format!(
                    "{} and {} are both absent",
                    map.describe(Role::Label),
                    map.describe(Role::Prediction)
                ),
                (None, true) => format!("{} is absent", map.describe(Role::Label)),
                _ => format!("{} is absent", map.describe(Role::Prediction)),
            };
            return Err(refuse(
                map.name(Role::Failure),
                format!(
                    "no failure column ({}) and {absent}: give the failure (0/1/true/false) or \
                     both the label and the prediction, or name their columns with --column \
                     ROLE=NAME (columns found: {})",
                    map.describe(Role::Failure),
                    names.join(", ")
                ),
            ));
        }
        let mut table = FailureTable::new();
        if layout.system.is_some() {
            table.system = Some(Categorical::new(columns::SYSTEM));
        }
        if layout.label.is_some() {
            table.label = Some(Vec::new());
        }
        if has_prediction {
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
            columns: map.clone(),
            table,
            has_failure,
            class_names: None,
        };
        Ok((builder, layout))
    }

    /// An error at data row `row` (1-based) in column `column`.
    fn error(&self, row: usize, column: &str, message: impl Into<String>) -> Error {
        InputError::new(message)
            .in_file(&self.file)
            .at_row(row)
            .in_column(column)
            .into()
    }

    /// The code of a label or prediction (`None`: an empty value). While every value read is
    /// an integer the code is the integer; from the first value that is not, every value is
    /// coded as an index into the class names, a value that reads as an integer named by that
    /// integer (`1.0` is class `1`), so two values get one code exactly when they are the same
    /// class.
    fn class(&mut self, value: Class<'_>) -> Option<i64> {
        let name = match value {
            Class::Int(v) => match &mut self.class_names {
                None => return Some(v),
                Some(names) => return Some(names.intern(&v.to_string()) as i64),
            },
            Class::Text(text) => {
                if let Some(v) = parse_int(text) {
                    return self.class(Class::Int(v));
                }
                text.trim()
            }
        };
        if name.is_empty() {
            return None;
        }
        let names = self.class_names.get_or_insert_with(|| {
            // Switching to names: the integers read so far become the names of themselves.
            let mut names = Categorical::new("class");
            let t = &mut self.table;
            for v in t.label.iter_mut().chain(t.prediction.iter_mut()).flatten() {
                *v = names.intern(&v.to_string()) as i64;
            }
            names
        });
        Some(names.intern(name) as i64)
    }

    /// Appends one row; `row` is the 1-based data row, for errors.
    fn push(&mut self, row: usize, values: RowValues<'_>) -> Result<()> {
        for (role, value) in [
            (Role::Deployment, values.deployment),
            (Role::ExampleId, values.example_id),
        ] {
            if value.is_empty() {
                let column = self.columns.name(role);
                return Err(self.error(row, column, "empty value; expected a non-empty name"));
            }
        }
        if values.system.is_some_and(str::is_empty) {
            let column = self.columns.name(Role::System);
            return Err(self.error(row, column, "empty value; expected a system name"));
        }
        let empty_class = |b: &Self, column: &str| {
            b.error(
                row,
                column,
                "empty value; expected a class (an integer or a name)",
            )
        };
        // The label is stored before the prediction is coded: coding it may switch the codes
        // to class names, which recodes the stored values, this row's label included.
        if let Some(l) = values.label {
            let Some(code) = self.class(l) else {
                return Err(empty_class(self, self.columns.name(Role::Label)));
            };
            self.table
                .label
                .as_mut()
                .expect("a label column")
                .push(code);
        }
        if let Some(p) = values.prediction {
            let Some(code) = self.class(p) else {
                let column = values
                    .wide_column
                    .unwrap_or(self.columns.name(Role::Prediction));
                return Err(empty_class(self, column));
            };
            let predictions = self.table.prediction.as_mut();
            predictions.expect("a prediction column").push(code);
        }
        let t = &mut self.table;
        if let Some(s) = t.system.as_mut() {
            s.push(values.system.unwrap_or_default());
        }
        t.deployment.push(values.deployment);
        t.example_id.push(values.example_id);
        let failure = match (self.has_failure, values.failure) {
            (true, Some(f)) => f,
            _ => {
                let (Some(l), Some(p)) = (&t.label, &t.prediction) else {
                    unreachable!("the header check guarantees failure or label + prediction")
                };
                l.last() != p.last()
            }
        };
        t.failure.push(failure);
        if let Some(l) = t.loss.as_mut() {
            l.push(values.loss.unwrap_or(f64::NAN));
        }
        Ok(())
    }

    /// The table read, with its class names when the labels were names.
    fn finish(mut self) -> FailureTable {
        self.table.class_names = self.class_names.map(|c| c.levels);
        self.table
    }
}

/// The positions of `--wide`'s deployment columns, each with its name; every one must exist
/// and none may be a column that plays a role.
fn wide_columns(
    file: &Path,
    names: &[String],
    map: &ColumnMap,
    wide: &Wide,
) -> Result<Vec<(usize, String)>> {
    wide.columns
        .iter()
        .map(|c| {
            let refuse = |message: String| -> Error {
                InputError::new(message)
                    .in_file(file)
                    .in_column(c.clone())
                    .at_key(Wide::OPTION)
                    .into()
            };
            if let Some(role) = map.role_of(c) {
                return Err(refuse(format!(
                    "`{c}` is the {} column; list only the deployments' own columns",
                    role.schema_name()
                )));
            }
            match names.iter().position(|n| n == c) {
                Some(i) => Ok((i, c.clone())),
                None => Err(refuse(format!(
                    "no such column (columns found: {})",
                    names.join(", ")
                ))),
            }
        })
        .collect()
}

/// Where a file's deployment comes from.
enum Source {
    /// The column at this position.
    Column(usize),
    /// One name for every row (the file's, with `--deployment-per-file`).
    Constant(String),
    /// One column per deployment (`--wide`): positions and names.
    Wide(Vec<(usize, String)>),
}

impl Source {
    /// Whether column `i` is one of `--wide`'s deployment columns.
    fn is_wide_column(&self, i: usize) -> bool {
        matches!(self, Source::Wide(columns) if columns.iter().any(|(c, _)| *c == i))
    }
}

/// Column positions of one file.
struct Layout {
    system: Option<usize>,
    deployment: Source,
    example_id: usize,
    label: Option<usize>,
    prediction: Option<usize>,
    failure: Option<usize>,
    loss: Option<usize>,
    extra: Vec<usize>,
}

/// A label or prediction as read: an integer column's value or a text value.
#[derive(Clone, Copy)]
enum Class<'a> {
    Int(i64),
    Text(&'a str),
}

/// The parsed values of one row's fixed columns.
#[derive(Clone, Copy)]
struct RowValues<'a> {
    system: Option<&'a str>,
    deployment: &'a str,
    example_id: &'a str,
    label: Option<Class<'a>>,
    prediction: Option<Class<'a>>,
    /// The `--wide` column the prediction came from, for errors.
    wide_column: Option<&'a str>,
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

fn read_csv(path: &Path, options: &ReadOptions, deployment: Option<&str>) -> Result<FailureTable> {
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
    let (mut builder, layout) = Builder::new(path, &header, options, deployment)?;
    let mut record = csv::StringRecord::new();
    let mut row = 0usize;
    while reader.read_record(&mut record).map_err(csv_error)? {
        row += 1;
        let field = |i: usize| record.get(i).unwrap_or("");
        let check = |i: Option<usize>, what: &str, ok: &dyn Fn(&str) -> bool| match i {
            Some(i) if !ok(field(i)) => Err(Error::from(
                InputError::new(format!("expected {what}, found `{}`", field(i)))
                    .in_file(path)
                    .at_row(row)
                    .in_column(&header[i]),
            )),
            _ => Ok(()),
        };
        let is_failure = |s: &str| parse_failure(s).is_some();
        check(layout.failure, "0, 1, true or false", &is_failure)?;
        check(layout.loss, "a number", &|s| {
            s.trim().parse::<f64>().is_ok()
        })?;
        let values = RowValues {
            system: layout.system.map(field),
            deployment: match &layout.deployment {
                Source::Column(i) => field(*i),
                Source::Constant(name) => name,
                Source::Wide(_) => "",
            },
            example_id: field(layout.example_id),
            label: layout.label.map(|i| Class::Text(field(i))),
            prediction: layout.prediction.map(|i| Class::Text(field(i))),
            wide_column: None,
            failure: layout.failure.and_then(|i| parse_failure(field(i))),
            loss: layout.loss.and_then(|i| field(i).trim().parse().ok()),
        };
        let Source::Wide(columns) = &layout.deployment else {
            builder.push(row, values)?;
            for (col, &i) in builder.table.extra.iter_mut().zip(&layout.extra) {
                col.push(field(i));
            }
            continue;
        };
        // One table row per deployment column.
        for (i, name) in columns {
            let values = match builder.has_failure {
                true => {
                    check(Some(*i), "0, 1, true or false", &is_failure)?;
                    RowValues {
                        deployment: name,
                        failure: parse_failure(field(*i)),
                        ..values
                    }
                }
                false => RowValues {
                    deployment: name,
                    prediction: Some(Class::Text(field(*i))),
                    wide_column: Some(name),
                    ..values
                },
            };
            builder.push(row, values)?;
            for (col, &i) in builder.table.extra.iter_mut().zip(&layout.extra) {
                col.push(field(i));
            }
        }
    }
    Ok(builder.finish())
}

fn read_parquet(
    path: &Path,
    options: &ReadOptions,
    deployment: Option<&str>,
) -> Result<FailureTable> {
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
    let (mut out, layout) = Builder::new(path, &names, options, deployment)?;
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
        let deployment = match &layout.deployment {
            Source::Column(i) => Some(text(*i)?),
            Source::Constant(_) | Source::Wide(_) => None,
        };
        let example_id = text(layout.example_id)?;
        let extras: Vec<ArrayRef> = layout
            .extra
            .iter()
            .map(|&i| text(i))
            .collect::<Result<_>>()?;
        let classes = |i: Option<usize>| {
            i.map(|i| class_column(path, &names[i], batch.column(i), row0))
                .transpose()
        };
        let flags = |i: usize| bool_column(path, &names[i], batch.column(i), row0);
        let label = classes(layout.label)?;
        let prediction = classes(layout.prediction)?;
        let failure = layout.failure.map(flags).transpose()?;
        let loss = layout
            .loss
            .map(|i| float_column(path, &names[i], batch.column(i), row0))
            .transpose()?;
        // `--wide`: each deployment column's predictions or failure flags.
        let wide: Vec<(&str, WideValues)> = match &layout.deployment {
            Source::Wide(columns) => columns
                .iter()
                .map(|(i, name)| {
                    let values = match out.has_failure {
                        true => WideValues::Failures(flags(*i)?),
                        false => WideValues::Predictions(class_column(
                            path,
                            name,
                            batch.column(*i),
                            row0,
                        )?),
                    };
                    Ok((name.as_str(), values))
                })
                .collect::<Result<_>>()?,
            _ => Vec::new(),
        };
        fn s(a: &ArrayRef, r: usize) -> &str {
            a.as_string::<i32>().value(r)
        }
        for r in 0..batch.num_rows() {
            let values = RowValues {
                system: system.as_ref().map(|a| s(a, r)),
                deployment: match (&deployment, &layout.deployment) {
                    (Some(a), _) => s(a, r),
                    (None, Source::Constant(name)) => name,
                    (None, _) => "",
                },
                example_id: s(&example_id, r),
                label: label.as_ref().map(|c| c.value(r)),
                prediction: prediction.as_ref().map(|c| c.value(r)),
                wide_column: None,
                failure: failure.as_ref().map(|v| v[r]),
                loss: loss.as_ref().map(|v| v[r]),
            };
            if wide.is_empty() {
                out.push(row0 + r + 1, values)?;
                for (col, a) in out.table.extra.iter_mut().zip(&extras) {
                    col.push(s(a, r));
                }
                continue;
            }
            // One table row per deployment column.
            for (name, column) in &wide {
                let values = match column {
                    WideValues::Predictions(c) => RowValues {
                        deployment: name,
                        prediction: Some(c.value(r)),
                        wide_column: Some(name),
                        ..values
                    },
                    WideValues::Failures(f) => RowValues {
                        deployment: name,
                        failure: Some(f[r]),
                        ..values
                    },
                };
                out.push(row0 + r + 1, values)?;
                for (col, a) in out.table.extra.iter_mut().zip(&extras) {
                    col.push(s(a, r));
                }
            }
        }
        row0 += batch.num_rows();
    }
    Ok(out.finish())
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

/// One `--wide` deployment column of a batch.
enum WideValues {
    /// The deployment's predictions.
    Predictions(ClassColumn),
    /// The deployment's failure flags.
    Failures(Vec<bool>),
}

/// A label or prediction column of one batch: integers, or text (class names, or integers
/// written as text).
enum ClassColumn {
    Ints(Vec<i64>),
    Text(ArrayRef),
}

impl ClassColumn {
    fn value(&self, row: usize) -> Class<'_> {
        match self {
            ClassColumn::Ints(v) => Class::Int(v[row]),
            ClassColumn::Text(a) => Class::Text(a.as_string::<i32>().value(row)),
        }
    }
}

/// Reads a label or prediction column: integer and boolean columns as integers, float columns
/// when every value is integral (pandas writes `1.0` once a column held a missing value), any
/// other type as text.
fn class_column(path: &Path, column: &str, array: &ArrayRef, row0: usize) -> Result<ClassColumn> {
    null_check(path, column, array.as_ref(), row0)?;
    let dt = array.data_type();
    if dt.is_integer() || *dt == DataType::Boolean {
        let a = arrow_cast::cast(array, &DataType::Int64)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        return Ok(ClassColumn::Ints(
            a.as_primitive::<Int64Type>().values().to_vec(),
        ));
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
                            format!("expected an integer class, found {f}"),
                        )
                    })
            })
            .collect::<Result<_>>()
            .map(ClassColumn::Ints);
    }
    text_column(path, column, array, row0).map(ClassColumn::Text)
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
