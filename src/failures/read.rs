//! Reading failure tables from CSV and Parquet, with validation that names the file, row and
//! column of every problem.
//!
//! Accepted values: `failure` as 0/1/true/false (any case) or a Parquet boolean; `label` and
//! `prediction` as integers (integral floats such as `1.0` too, since pandas writes them when a
//! column once held a missing value) or as class names (`positive`, `World`; then compared as
//! names, an integer-looking value by its integer); `loss` as a float; every other column as
//! text. Columns are found by their schema names or as [`ReadOptions`] renames them.
//!
//! CSV stores no types, so a CSV column is typed from its values as pandas would type it, and
//! then reads as a Parquet column of that type: a label or prediction column whose every value
//! is a number is numeric and must hold integer classes (`1.5` is an error naming the row, as
//! in a Parquet float column; `1.0`, `1` and `1e0` are class 1), and any other column holds
//! class names; in any other column whose every value is a number, a value written as a float
//! reads as Parquet's float column gives it (`1.0` is `1`, NaN is a missing value).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::arrow_columns::{
    bool_column, class_column, column_error, float_column, floats_as_text, text_column, WideValues,
    MAX_EXACT_FLOAT_CLASS,
};
use super::builder::{Builder, Class, RowValues, Source};
use super::mapping::{deployment_names, ReadOptions};
use super::table::{Categorical, FailureTable, RowOrigin};
use crate::decode_guard::decoding;
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
    /// The format of a file, from its first bytes (Parquet starts with `PAR1`) and otherwise
    /// its extension (`.parquet`/`.pq`; anything else is read as CSV). Compressed files, Arrow
    /// IPC (Feather) and JSON are refused with what to do instead, and so is a `.parquet` file
    /// that is not Parquet.
    pub fn of_path(path: &Path) -> Result<Format> {
        use std::io::Read;
        let mut head = Vec::with_capacity(8);
        File::open(path)
            .and_then(|f| f.take(8).read_to_end(&mut head))
            .map_err(|e| Error::reading(path, e))?;
        Format::of_head(path, &head)
    }

    /// [`Format::of_path`] from the file's first bytes `head` (at most 8 are looked at), for a
    /// file already read (a pipe, which cannot be opened twice).
    fn of_head(path: &Path, head: &[u8]) -> Result<Format> {
        let head = &head[..head.len().min(8)];
        let refuse = |what: &str, todo: &str| -> Result<Format> {
            Err(
                InputError::new(format!("{what}; expected a CSV or Parquet file: {todo}"))
                    .in_file(path)
                    .into(),
            )
        };
        let compressed = [
            (&b"\x1f\x8b"[..], "gzip", "gunzip"),
            (b"\x28\xb5\x2f\xfd", "zstd", "unzstd"),
            (b"BZh", "bzip2", "bunzip2"),
            (b"\xfd7zXZ\x00", "xz", "unxz"),
            (b"PK\x03\x04", "zip", "unzip"),
        ];
        if head.starts_with(b"PAR1") {
            return Ok(Format::Parquet);
        }
        if let Some((_, kind, tool)) = compressed.iter().find(|(m, _, _)| head.starts_with(m)) {
            return refuse(
                &format!("the file is {kind}-compressed"),
                &format!("decompress it first (`{tool}`)"),
            );
        }
        if head.starts_with(b"ARROW1") {
            return refuse(
                "the file is Arrow IPC (Feather)",
                "write it as Parquet instead (pandas: `df.to_parquet(...)`)",
            );
        }
        if matches!(
            head.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[')
        ) {
            return refuse(
                "the file looks like JSON",
                "write it as CSV or Parquet instead (pandas: `df.to_csv(..., index=False)`)",
            );
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match extension.as_deref() {
            Some("parquet" | "pq") if !head.is_empty() => refuse(
                "the file is named as Parquet but does not start with Parquet's `PAR1`",
                "if it is CSV, name it `.csv`",
            ),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Ok(Format::Csv),
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

/// A regular file given twice (under any path) would be every row's duplicate: an input error
/// naming both paths. Pipes and other streams are not compared.
fn refuse_repeated_files(paths: &[PathBuf]) -> Result<()> {
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for path in paths.iter().filter(|p| p.is_file()) {
        let Ok(full) = std::fs::canonicalize(path) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(p, _)| *p == full) {
            return Err(InputError::new(format!(
                "the same file is given twice (also as {}); expected each table once",
                first.display()
            ))
            .in_file(path)
            .into());
        }
        seen.push((full, path));
    }
    Ok(())
}

/// Reads one or more failure tables and concatenates them, with columns renamed and
/// deployments taken from the files as `options` say.
pub fn read_tables_with(paths: &[PathBuf], options: &ReadOptions) -> Result<FailureTable> {
    read_tables_noting(paths, options).map(|(table, _)| table)
}

/// [`read_tables_with`], also saying what the concatenation left out or filled in: a `loss`
/// column or a group/attribute column that some files have and others lack is dropped (it
/// would be undefined on the other files' rows), and the rows of files without the `system`
/// column that others have form the system `all`; one line per column, naming a file with it
/// and one without. A caller shows these as warnings, since they change what is measured.
pub fn read_tables_noting(
    paths: &[PathBuf],
    options: &ReadOptions,
) -> Result<(FailureTable, Vec<String>)> {
    if paths.is_empty() {
        return Err(Error::input("no failure-table file given"));
    }
    let deployments = match options.deployment_per_file {
        true => Some(deployment_names(paths)?),
        false => {
            refuse_repeated_files(paths)?;
            None
        }
    };
    let read = |i: usize| read_one(&paths[i], options, deployments.as_ref().map(|d| &*d[i]));
    // The first table is kept as read (appending it to an empty table would re-intern every
    // level); the others are appended.
    let mut table = read(0)?;
    let mut columns = vec![FileColumns::of(&table)];
    for i in 1..paths.len() {
        let next = read(i)?;
        columns.push(FileColumns::of(&next));
        table.append(next);
    }
    Ok((table, dropped_columns(paths, &columns)))
}

/// The optional columns of one file, for [`dropped_columns`].
struct FileColumns {
    system: bool,
    loss: bool,
    extra: Vec<String>,
}

impl FileColumns {
    fn of(table: &FailureTable) -> Self {
        FileColumns {
            system: table.system.is_some(),
            loss: table.loss.is_some(),
            extra: table.extra.iter().map(|c| c.name.clone()).collect(),
        }
    }
}

/// The columns that concatenating the files dropped (or, for `system`, filled in) because
/// only some have them, each as a sentence naming the first file with the column and the
/// first without.
fn dropped_columns(paths: &[PathBuf], files: &[FileColumns]) -> Vec<String> {
    let with_and_without = |has: &dyn Fn(&FileColumns) -> bool| {
        let with = files.iter().position(has)?;
        let without = files.iter().position(|f| !has(f))?;
        Some((paths[with].display(), paths[without].display()))
    };
    let mut notes = Vec::new();
    if let Some((with, without)) = with_and_without(&|f| f.system) {
        notes.push(format!(
            "column `system` is in {with} but not in {without}: the rows of each file without \
             it belong to one system named `{}`",
            super::table::columns::DEFAULT_SYSTEM
        ));
    }
    if let Some((with, without)) = with_and_without(&|f| f.loss) {
        notes.push(format!(
            "column `loss` is in {with} but not in {without}: the loss metrics are left out \
             (every file needs the column)"
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for name in files.iter().flat_map(|f| &f.extra) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    for name in names {
        if let Some((with, without)) = with_and_without(&|f| f.extra.iter().any(|c| c == name)) {
            notes.push(format!(
                "column `{name}` is in {with} but not in {without}: it is dropped, so it is \
                 neither a group (--group) nor an attribute (--by) (every file needs the column)"
            ));
        }
    }
    notes
}

/// Reads one failure table from CSV or Parquet (see [`Format::of_path`]), with the schema's
/// column names.
pub fn read_table(path: &Path) -> Result<FailureTable> {
    read_one(path, &ReadOptions::default(), None)
}

/// Why the Parquet file at `path` cannot be opened (`None` when its footer and schema read): a
/// check that reads the footer only, for files a program wrote itself and must find whole
/// (a truncated or overwritten file fails it; damage inside a data page shows only when the
/// table is read).
pub fn parquet_problem(path: &Path) -> Option<String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Some(format!("{}: cannot open: {e}", path.display())),
    };
    match decoding(path, || ParquetRecordBatchReaderBuilder::try_new(file)) {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("{}: cannot read as Parquet: {e}", path.display())),
        Err(damaged) => Some(damaged.to_string()),
    }
}

/// Reads one file; `deployment` names its single deployment when the file has no column for it.
/// A file that is not a regular file (a pipe, `/dev/stdin`, a shell's `<(...)`) is read once
/// into memory, since it cannot be opened a second time.
fn read_one(path: &Path, options: &ReadOptions, deployment: Option<&str>) -> Result<FailureTable> {
    let streamed = read_if_stream(path)?;
    let format = match &streamed {
        Some(bytes) => Format::of_head(path, bytes)?,
        None => Format::of_path(path)?,
    };
    let mut table = match format {
        Format::Csv => read_csv(path, streamed, options, deployment)?,
        Format::Parquet => read_parquet(path, streamed, options, deployment)?,
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
        extra_columns: table.extra.iter().map(|c| c.name.clone()).collect(),
    }];
    Ok(table)
}

/// Parses a failure flag: 0/1/true/false in any case (also `1.0`/`0.0`).
pub fn parse_failure(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "1.0" => Some(true),
        "0" | "false" | "0.0" => Some(false),
        _ => None,
    }
}

/// Parses an integer label, accepting integral floats such as `3.0` below 2^53 in magnitude
/// (as a Parquet float column's classes are).
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    t.parse::<i64>().ok().or_else(|| {
        let f = t.parse::<f64>().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < MAX_EXACT_FLOAT_CLASS).then_some(f as i64)
    })
}

/// Whether `text` is written as an integer: an optional sign and decimal digits.
fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The type of a CSV label or prediction column, which CSV does not store: a column whose
/// every value is a number is numeric, as a Parquet integer or float column is, so each of its
/// values must be an integer class (`1`, `1.0` and `1e0` are class 1); a column with any
/// other value holds class names (`cat`, or `1` and `cat`, compared as names).
#[derive(Debug, Default)]
struct CsvClassColumn {
    /// A value that is not a number was read: the column holds names.
    names: bool,
    /// The first number that is not an integer class (a fraction, NaN, an infinity, beyond
    /// 2^53 written as a float or beyond 64 bits): its 1-based data row and text.
    first_non_integer: Option<(usize, String)>,
}

impl CsvClassColumn {
    fn note(&mut self, row: usize, text: &str) {
        let t = text.trim();
        // Integers first: the common case, and cheaper to tell.
        if self.names || t.parse::<i64>().is_ok() {
            return;
        }
        if t.parse::<f64>().is_err() {
            self.names = true;
        } else if self.first_non_integer.is_none() && parse_int(t).is_none() {
            self.first_non_integer = Some((row, t.to_string()));
        }
    }

    /// The error for a numeric column holding a number that is not an integer class.
    fn check(&self, path: &Path, column: &str) -> Result<()> {
        let Some((row, text)) = self.first_non_integer.as_ref().filter(|_| !self.names) else {
            return Ok(());
        };
        let why = match (is_integer_literal(text), text.parse::<f64>()) {
            (true, _) => "it does not fit a 64-bit signed integer".to_string(),
            (false, Ok(f)) if f.is_finite() && f.fract() == 0.0 => {
                "a float holds integers exactly only below 2^53".to_string()
            }
            _ => "every value of the column is a number, so it holds integer classes (`1.0` \
                  is class 1) as a numeric Parquet column does; a column of class names needs \
                  a value that is not a number"
                .to_string(),
        };
        Err(
            InputError::new(format!("expected an integer class, found `{text}`: {why}"))
                .in_file(path)
                .at_row(*row)
                .in_column(column)
                .into(),
        )
    }
}

/// Reads a CSV text column as Parquet reads a float column when every value of the column is a
/// number (as pandas types it): a value written as a float (`1.0`, `2.5e0`) becomes the text
/// Parquet gives that float, a whole number as an integer (person `1.0` is person `1`, as in a
/// Parquet float id column written by pandas), and NaN is refused as a missing value naming the
/// row. Values written as integers are kept as written (`007` stays `007`, and an id beyond
/// 2^53 keeps its digits). A column holding any other text is left as it is.
fn csv_numeric_text(
    path: &Path,
    column: &str,
    values: &mut Categorical,
    rows_per_record: usize,
) -> Result<()> {
    let mut floats: Vec<(usize, f64)> = Vec::new();
    for (level, text) in values.levels.iter().enumerate() {
        if is_integer_literal(text) {
            continue;
        }
        match text.parse::<f64>() {
            Ok(x) => floats.push((level, x)),
            Err(_) => return Ok(()),
        }
    }
    if let Some(&(level, _)) = floats.iter().find(|(_, x)| x.is_nan()) {
        let row = values.codes.iter().position(|&c| c as usize == level);
        return Err(column_error(
            path,
            column,
            row.map(|r| r / rows_per_record.max(1) + 1),
            "missing value (NaN); expected a value".into(),
        ));
    }
    if floats.is_empty() {
        return Ok(());
    }
    let numbers: Vec<f64> = floats.iter().map(|&(_, x)| x).collect();
    let array: ArrayRef = std::sync::Arc::new(Float64Array::from(numbers.clone()));
    let text = floats_as_text(&array, &numbers)
        .map_err(|e| column_error(path, column, None, e.to_string()))?;
    let mut renamed: Vec<Option<String>> = vec![None; values.levels.len()];
    for (i, &(level, _)) in floats.iter().enumerate() {
        renamed[level] = Some(text.value(i).to_string());
    }
    values.rename_levels(|level, _| renamed[level].clone());
    Ok(())
}

/// The whole content of `path` when it is not a regular file or a folder (a pipe, a character
/// device such as `/dev/stdin`); `None` for a regular file, which is read from disk as needed.
fn read_if_stream(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => std::fs::read(path)
            .map(Some)
            .map_err(|e| Error::reading(path, e)),
        _ => Ok(None),
    }
}

fn read_csv(
    path: &Path,
    streamed: Option<Vec<u8>>,
    options: &ReadOptions,
    deployment: Option<&str>,
) -> Result<FailureTable> {
    let (input, empty): (Box<dyn std::io::Read>, bool) = match streamed {
        Some(bytes) => {
            let empty = bytes.is_empty();
            (Box::new(std::io::Cursor::new(bytes)), empty)
        }
        None => {
            let file = File::open(path).map_err(|e| Error::reading(path, e))?;
            let empty = file.metadata().map(|m| m.len() == 0).unwrap_or(false);
            (Box::new(std::io::BufReader::new(file)), empty)
        }
    };
    if empty {
        return Err(
            InputError::new("the file is empty; expected a header row and data rows")
                .in_file(path)
                .into(),
        );
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    // `spans_lines`: a field of the failing row runs over several lines.
    let csv_error = |e: csv::Error, spans_lines: bool| -> Error {
        // The record index, not the line: a quoted field may span lines. The header is
        // record 0, so data row n (1-based, as elsewhere) is record n.
        let row = e.position().map(|p| p.record() as usize);
        let message = match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => format!(
                "{} is not valid UTF-8 (field {}); expected UTF-8 encoded text",
                match row {
                    Some(0) => "the header row (the column names)",
                    _ => "text",
                },
                err.field() + 1
            ),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                let fields = if *len == 1 { "field" } else { "fields" };
                let mut m = format!("the row has {len} {fields} but the header has {expected_len}");
                if spans_lines && len < expected_len {
                    // A quote left open makes the lines after it part of one field.
                    m += "; a quoted field in it runs over several lines: is a quote (\") \
                          not closed?";
                }
                m
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
        .map_err(|e| csv_error(e, false))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let (mut builder, layout) = Builder::new(path, &header, options, deployment)?;
    // The type of each label and prediction column (one per `--wide` prediction column).
    let mut label_type = CsvClassColumn::default();
    let mut prediction_type = CsvClassColumn::default();
    let mut wide_types: Vec<CsvClassColumn> = match &layout.deployment {
        Source::Wide(columns) => columns.iter().map(|_| Default::default()).collect(),
        _ => Vec::new(),
    };
    let mut record = csv::StringRecord::new();
    let mut row = 0usize;
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(e, record.iter().any(|f| f.contains('\n'))))?
    {
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
        if let Some(i) = layout.label {
            label_type.note(row, field(i));
        }
        if let Some(i) = layout.prediction {
            prediction_type.note(row, field(i));
        }
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
        for ((i, name), class_type) in columns.iter().zip(&mut wide_types) {
            let values = match builder.has_failure {
                true => {
                    check(Some(*i), "0, 1, true or false", &is_failure)?;
                    RowValues {
                        deployment: name,
                        failure: parse_failure(field(*i)),
                        ..values
                    }
                }
                false => {
                    class_type.note(row, field(*i));
                    RowValues {
                        deployment: name,
                        prediction: Some(Class::Text(field(*i))),
                        wide_column: Some(name),
                        ..values
                    }
                }
            };
            builder.push(row, values)?;
            for (col, &i) in builder.table.extra.iter_mut().zip(&layout.extra) {
                col.push(field(i));
            }
        }
    }
    // Numeric label and prediction columns hold integer classes only.
    let classes = [
        (layout.label, &label_type),
        (layout.prediction, &prediction_type),
    ];
    for (i, class_type) in classes {
        if let Some(i) = i {
            class_type.check(path, &header[i])?;
        }
    }
    if let Source::Wide(columns) = &layout.deployment {
        for ((_, name), class_type) in columns.iter().zip(&wide_types) {
            class_type.check(path, name)?;
        }
    }
    // Numeric text columns read as Parquet's float columns do.
    let rows_per_record = match &layout.deployment {
        Source::Wide(columns) => columns.len(),
        _ => 1,
    };
    let t = &mut builder.table;
    let mut text_columns: Vec<(usize, &mut Categorical)> =
        vec![(layout.example_id, &mut t.example_id)];
    if let Source::Column(i) = layout.deployment {
        text_columns.push((i, &mut t.deployment));
    }
    if let (Some(i), Some(system)) = (layout.system, t.system.as_mut()) {
        text_columns.push((i, system));
    }
    text_columns.extend(layout.extra.iter().copied().zip(t.extra.iter_mut()));
    for (i, values) in text_columns {
        csv_numeric_text(path, &header[i], values, rows_per_record)?;
    }
    builder.finish()
}

fn read_parquet(
    path: &Path,
    streamed: Option<Vec<u8>>,
    options: &ReadOptions,
    deployment: Option<&str>,
) -> Result<FailureTable> {
    let empty = || -> Result<FailureTable> {
        Err(
            InputError::new("the file is empty; expected a Parquet file")
                .in_file(path)
                .into(),
        )
    };
    match streamed {
        // The Parquet reader seeks; bytes read from a pipe are read from memory.
        Some(bytes) if bytes.is_empty() => empty(),
        Some(bytes) => parquet_from(path, bytes::Bytes::from(bytes), options, deployment),
        None => {
            let file = File::open(path).map_err(|e| Error::reading(path, e))?;
            if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
                return empty();
            }
            parquet_from(path, file, options, deployment)
        }
    }
}

/// Reads the Parquet data of `path` from `source` (the file, or its bytes).
fn parquet_from<R: parquet::file::reader::ChunkReader + 'static>(
    path: &Path,
    source: R,
    options: &ReadOptions,
    deployment: Option<&str>,
) -> Result<FailureTable> {
    let not_parquet = |e: parquet::errors::ParquetError| -> Error {
        InputError::new(format!("cannot read as Parquet: {e}"))
            .in_file(path)
            .into()
    };
    let builder = decoding(path, || ParquetRecordBatchReaderBuilder::try_new(source))?
        .map_err(not_parquet)?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let (mut out, layout) = Builder::new(path, &names, options, deployment)?;
    let mut reader =
        decoding(path, || builder.with_batch_size(64 * 1024).build())?.map_err(not_parquet)?;
    let mut row0 = 0usize;
    while let Some(batch) = decoding(path, || reader.next())? {
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
    out.finish()
}
