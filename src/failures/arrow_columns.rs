//! Parquet columns of a failure table as the reader needs them: text, labels (integers or
//! class names), failure flags and floats, each checked for nulls and bad values with the file,
//! row and column named.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use super::builder::Class;
use super::read::parse_failure;
use crate::error::{Error, InputError, Result};

/// The first null, counting logical nulls: a column of Arrow's `Null` type (what pyarrow
/// writes for a column of only missing values) and dictionary entries that are null have no
/// validity bitmap of their own.
fn first_null(array: &dyn Array) -> Option<usize> {
    let nulls = array.logical_nulls()?;
    (nulls.null_count() > 0)
        .then(|| nulls.iter().position(|valid| !valid))
        .flatten()
}

pub(super) fn column_error(
    path: &Path,
    column: &str,
    row: Option<usize>,
    message: String,
) -> Error {
    let mut e = InputError::new(message).in_file(path).in_column(column);
    if let Some(r) = row {
        e = e.at_row(r);
    }
    e.into()
}

pub(super) fn null_check(path: &Path, column: &str, array: &dyn Array, row0: usize) -> Result<()> {
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
/// A float that is a whole number is written as an integer (pandas stores an integer id column
/// with a missing value as floats: person `1.0` is person `1` of a CSV file);
/// NaN, pandas' missing value in a float column, is refused like a null.
pub(super) fn text_column(
    path: &Path,
    column: &str,
    array: &ArrayRef,
    row0: usize,
) -> Result<ArrayRef> {
    null_check(path, column, array.as_ref(), row0)?;
    if array.data_type().is_floating() {
        let floats = arrow_cast::cast(array, &DataType::Float64)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        let values = floats.as_primitive::<Float64Type>().values();
        if let Some(i) = values.iter().position(|x| x.is_nan()) {
            return Err(column_error(
                path,
                column,
                Some(row0 + i + 1),
                "missing value (NaN); expected a value".into(),
            ));
        }
        let out = floats_as_text(array, values)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        return Ok(std::sync::Arc::new(out));
    }
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
    let array = without_time_zone(array);
    arrow_cast::cast(&array, &DataType::Utf8)
        .or_else(|_| displayed(&array))
        .map_err(|e| {
            column_error(
                path,
                column,
                None,
                format!("cannot read {} values as text: {e}", array.data_type()),
            )
        })
}

/// Timestamps with a zone as the same instants without it (Arrow keeps them in UTC), since
/// printing a zone's name (`UTC`, `Europe/Paris`, as pandas writes `datetime64[ns, tz]`) needs
/// a time-zone database that Arrow is built without here. Other arrays unchanged.
fn without_time_zone(array: &ArrayRef) -> ArrayRef {
    use arrow_array::types::{
        ArrowTimestampType, TimestampMicrosecondType, TimestampMillisecondType,
        TimestampNanosecondType, TimestampSecondType,
    };
    use arrow_schema::TimeUnit;
    fn naive<T: ArrowTimestampType>(array: &ArrayRef) -> ArrayRef {
        Arc::new(
            array
                .as_primitive::<T>()
                .clone()
                .with_timezone_opt(None::<String>),
        )
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, Some(_)) => naive::<TimestampSecondType>(array),
        DataType::Timestamp(TimeUnit::Millisecond, Some(_)) => {
            naive::<TimestampMillisecondType>(array)
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            naive::<TimestampMicrosecondType>(array)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, Some(_)) => {
            naive::<TimestampNanosecondType>(array)
        }
        _ => array.clone(),
    }
}

/// Values Arrow cannot cast to text (structs, maps, fixed-size binary) as Arrow prints them
/// (`{a: 1, b: x}`): an attribute column of such a type does not make the file unreadable.
fn displayed(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    let options = arrow_cast::display::FormatOptions::default();
    let formatter = arrow_cast::display::ArrayFormatter::try_new(array.as_ref(), &options)?;
    let values = (0..array.len())
        .map(|i| formatter.value(i).try_to_string())
        .collect::<std::result::Result<Vec<String>, _>>()?;
    Ok(Arc::new(arrow_array::StringArray::from(values)))
}

/// The text of a float column (`array`, whose values as f64 are `values`; no NaN): whole
/// numbers within f64's exact integers print as integers (`1.0` is `1`), others as Arrow
/// prints them. A CSV column whose every value is a number is read through this too, so a
/// value reads the same from either format.
pub(super) fn floats_as_text(
    array: &ArrayRef,
    values: &[f64],
) -> std::result::Result<arrow_array::StringArray, arrow_schema::ArrowError> {
    let text = arrow_cast::cast(array, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let whole = |x: f64| x.fract() == 0.0 && x.abs() <= MAX_EXACT_FLOAT_CLASS;
    Ok(values
        .iter()
        .enumerate()
        .map(|(i, &x)| match whole(x) {
            true => Some(format!("{}", x as i64)),
            false => Some(text.value(i).to_string()),
        })
        .collect())
}

/// One `--wide` deployment column of a batch.
pub(super) enum WideValues {
    /// The deployment's predictions.
    Predictions(ClassColumn),
    /// The deployment's failure flags.
    Failures(Vec<bool>),
}

/// A label or prediction column of one batch: integers, or text (class names, or integers
/// written as text).
pub(super) enum ClassColumn {
    /// An integer, boolean or integral float column.
    Ints(Vec<i64>),
    /// A text column.
    Text(ArrayRef),
}

impl ClassColumn {
    /// Row `row`'s value.
    pub(super) fn value(&self, row: usize) -> Class<'_> {
        match self {
            ClassColumn::Ints(v) => Class::Int(v[row]),
            ClassColumn::Text(a) => Class::Text(a.as_string::<i32>().value(row)),
        }
    }
}

/// The largest magnitude of a float class read as an integer: 2^53, where consecutive
/// integers stop being distinct floats.
pub(super) const MAX_EXACT_FLOAT_CLASS: f64 = 9_007_199_254_740_992.0;

/// Reads a label or prediction column: integer and boolean columns as integers, float columns
/// when every value is integral (pandas writes `1.0` once a column held a missing value), text
/// and categorical (dictionary) columns as text; any other type (dates, times, durations,
/// binary, decimals, ...) is an input error naming the column and its Arrow type.
pub(super) fn class_column(
    path: &Path,
    column: &str,
    array: &ArrayRef,
    row0: usize,
) -> Result<ClassColumn> {
    null_check(path, column, array.as_ref(), row0)?;
    let dt = array.data_type();
    if dt.is_integer() || *dt == DataType::Boolean {
        let a = arrow_cast::cast(array, &DataType::Int64)
            .map_err(|e| column_error(path, column, None, e.to_string()))?;
        // A safe cast turns a value beyond i64 (a large uint64) into null.
        if let Some(i) = first_null(a.as_ref()) {
            return Err(column_error(
                path,
                column,
                Some(row0 + i + 1),
                format!(
                    "the class {} does not fit a 64-bit signed integer",
                    arrow_cast::cast(array, &DataType::Utf8)
                        .map(|t| t.as_string::<i32>().value(i).to_string())
                        .unwrap_or_default()
                ),
            ));
        }
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
                // Beyond 2^53 floats cannot tell neighbouring integers apart.
                (f.is_finite() && f.fract() == 0.0 && f.abs() < MAX_EXACT_FLOAT_CLASS)
                    .then_some(f as i64)
                    .ok_or_else(|| {
                        column_error(
                            path,
                            column,
                            Some(row0 + i + 1),
                            match f.is_finite() && f.fract() == 0.0 {
                                false => format!("expected an integer class, found {f}"),
                                true => format!(
                                    "expected an integer class, found {f:e} (a float column \
                                     holds integers exactly only below 2^53)"
                                ),
                            },
                        )
                    })
            })
            .collect::<Result<_>>()
            .map(ClassColumn::Ints);
    }
    let text_like = |t: &DataType| {
        matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        )
    };
    let accepted = match dt {
        // A pandas categorical: names, or integers.
        DataType::Dictionary(_, values) => {
            text_like(values) || values.is_integer() || **values == DataType::Boolean
        }
        other => text_like(other),
    };
    if !accepted {
        return Err(column_error(
            path,
            column,
            None,
            format!(
                "the column has Arrow type {dt}; expected classes as integers, text (class \
                 names), a categorical, integral floats or booleans"
            ),
        ));
    }
    text_column(path, column, array, row0).map(ClassColumn::Text)
}

pub(super) fn bool_column(
    path: &Path,
    column: &str,
    array: &ArrayRef,
    row0: usize,
) -> Result<Vec<bool>> {
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

pub(super) fn float_column(
    path: &Path,
    column: &str,
    array: &ArrayRef,
    row0: usize,
) -> Result<Vec<f64>> {
    null_check(path, column, array.as_ref(), row0)?;
    if *array.data_type() == DataType::Boolean {
        return Err(column_error(
            path,
            column,
            None,
            "expected numbers, found a boolean column".into(),
        ));
    }
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
