//! Reading helpers shared by the loaders: finding split files in a folder, reading Parquet
//! columns of any integer/boolean/string type, and turning label cells into class indices.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::example::Split;
use crate::decode_guard::decoding;
use crate::error::{Error, InputError, Result};

/// The kind of a data file found in a dataset folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Apache Parquet (`.parquet`).
    Parquet,
    /// Comma-separated values with a header (`.csv`).
    Csv,
    /// One JSON object per line (`.jsonl`, `.json`).
    Jsonl,
}

/// A data file with the split its name or folder names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFile {
    /// The split.
    pub split: Split,
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub kind: FileKind,
}

/// The split a file belongs to: the first part of its stem (`train-00000-of-00001`,
/// `test.csv`) or, failing that, the nearest folder named like a split (the Hub's
/// `default/train/0000.parquet`). `Ok(None)` for files of a split we skip (`unsupervised`).
fn split_of(rel: &Path) -> Option<Option<Split>> {
    let stem = rel.file_stem()?.to_str()?;
    let first = stem.split(['-', '.', '_']).next().unwrap_or(stem);
    let mut names = vec![first.to_string()];
    if let Some(parent) = rel.parent() {
        names.extend(
            parent
                .components()
                .rev()
                .filter_map(|c| c.as_os_str().to_str().map(String::from)),
        );
    }
    for name in names {
        if name.eq_ignore_ascii_case("unsupervised") {
            return Some(None);
        }
        if let Some(s) = Split::parse(&name) {
            return Some(Some(s));
        }
    }
    None
}

/// Every data file under `root` (four folder levels at most) whose name or folder names a
/// split, sorted by path; `unsupervised` files are left out. Shards named as the Hub names them
/// (`train-00001-of-00003.parquet`) must all be there: a missing one (an interrupted download,
/// a partial copy) is an error naming it, not a silently smaller split.
pub fn find_split_files(root: &Path) -> Result<Vec<SplitFile>> {
    let mut out = Vec::new();
    walk(root, root, 0, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    check_shards(&out)?;
    Ok(out)
}

/// `(prefix, index, count)` of a shard file name `PREFIX-IIIII-of-NNNNN.EXT`.
fn shard_of(path: &Path) -> Option<(String, usize, usize)> {
    let stem = path.file_stem()?.to_str()?;
    let (left, count) = stem.rsplit_once("-of-")?;
    let (prefix, index) = left.rsplit_once('-')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(count) {
        return None;
    }
    Some((prefix.to_string(), index.parse().ok()?, count.parse().ok()?))
}

/// Every shard set (same folder, prefix, count and extension) is complete.
fn check_shards(files: &[SplitFile]) -> Result<()> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut sets: BTreeMap<(PathBuf, String, usize, String), BTreeSet<usize>> = BTreeMap::new();
    for f in files {
        if let Some((prefix, index, count)) = shard_of(&f.path) {
            let dir = f.path.parent().unwrap_or(Path::new("")).to_path_buf();
            let ext = f
                .path
                .extension()
                .map_or(String::new(), |e| e.to_string_lossy().into_owned());
            sets.entry((dir, prefix, count, ext))
                .or_default()
                .insert(index);
        }
    }
    for ((dir, prefix, count, ext), present) in sets {
        let width = 5;
        if let Some(missing) = (0..count).find(|i| !present.contains(i)) {
            let name = format!("{prefix}-{missing:0width$}-of-{count:0width$}.{ext}");
            return Err(InputError::new(format!(
                "the dataset is incomplete: {name} is missing ({} of {count} `{prefix}` shards \
                 present); download it again to complete it (`homogen fetch dataset NAME` \
                 fetches only what is missing)",
                present.iter().filter(|&&i| i < count).count()
            ))
            .in_file(dir.join(name))
            .into());
        }
    }
    Ok(())
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<SplitFile>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        InputError::new(format!("cannot list the dataset folder: {e}")).in_file(dir)
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        if path.is_dir() {
            if depth < 4 {
                walk(root, &path, depth + 1, out)?;
            }
            continue;
        }
        let kind = match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => FileKind::Parquet,
            Some("csv") => FileKind::Csv,
            Some("jsonl") | Some("json") => FileKind::Jsonl,
            _ => continue,
        };
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if let Some(Some(split)) = split_of(&rel) {
            out.push(SplitFile { split, path, kind });
        }
    }
    Ok(())
}

/// Opens a Parquet file for reading, with errors naming the file.
pub fn open_parquet(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file =
        File::open(path).map_err(|e| InputError::new(format!("cannot open: {e}")).in_file(path))?;
    decoding(path, || ParquetRecordBatchReaderBuilder::try_new(file))?.map_err(|e| {
        InputError::new(format!("cannot read as Parquet: {e}"))
            .in_file(path)
            .into()
    })
}

/// The top-level column names of a Parquet file.
pub fn parquet_columns(builder: &ParquetRecordBatchReaderBuilder<File>) -> Vec<String> {
    builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Reads the top-level columns `keep` of a Parquet file, leaving out the nested leaves named in
/// `skip_leaves` (dotted paths such as `image.bytes`), batch by batch.
pub fn read_parquet(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<File>,
    keep: &[&str],
    skip_leaves: &[&str],
    mut each: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let descr = builder.metadata().file_metadata().schema_descr_ptr();
    let roots = builder.parquet_schema().root_schema().get_fields().to_vec();
    let leaves: Vec<usize> = (0..descr.num_columns())
        .filter(|&i| {
            let root = roots[descr.get_column_root_idx(i)].name();
            keep.contains(&root) && !skip_leaves.contains(&descr.column(i).path().string().as_str())
        })
        .collect();
    let mask = ProjectionMask::leaves(&descr, leaves);
    let mut reader = decoding(path, || builder.with_projection(mask).build())?.map_err(|e| {
        Error::from(InputError::new(format!("cannot read as Parquet: {e}")).in_file(path))
    })?;
    while let Some(batch) = decoding(path, || reader.next())? {
        let batch = batch.map_err(|e| {
            Error::from(InputError::new(format!("cannot read a Parquet batch: {e}")).in_file(path))
        })?;
        each(&batch)?;
    }
    Ok(())
}

/// One cell of a label or attribute column, whatever the column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// An integer (booleans become 0/1, integral floats their integer).
    Int(i64),
    /// A string.
    Str(String),
    /// A null or a non-integral number.
    Other(String),
}

/// The cells of a column of booleans, integers, floats or strings.
pub fn cells(array: &ArrayRef) -> Result<Vec<Cell>> {
    let n = array.len();
    let cast = |to: &DataType| {
        arrow_cast::cast(array, to).map_err(|e| Error::Runtime(format!("casting a column: {e}")))
    };
    let out = match array.data_type() {
        DataType::Boolean => {
            let a = array.as_boolean();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        Cell::Other("null".into())
                    } else {
                        Cell::Int(a.value(i) as i64)
                    }
                })
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let c = cast(&DataType::Utf8)?;
            let a = c.as_string::<i32>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        Cell::Other("null".into())
                    } else {
                        Cell::Str(a.value(i).to_string())
                    }
                })
                .collect()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let c = cast(&DataType::Float64)?;
            let a = c.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    let v = a.value(i);
                    if a.is_null(i) {
                        Cell::Other("null".into())
                    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
                        Cell::Int(v as i64)
                    } else {
                        Cell::Other(v.to_string())
                    }
                })
                .collect()
        }
        t if t.is_integer() || matches!(t, DataType::Dictionary(..)) => {
            let c = cast(&DataType::Int64)?;
            let a = c.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        Cell::Other("null".into())
                    } else {
                        Cell::Int(a.value(i))
                    }
                })
                .collect()
        }
        other => vec![Cell::Other(format!("a value of type {other}")); n],
    };
    Ok(out)
}

/// The strings of a string column (`None` for nulls); any other type is an input error.
pub fn strings(array: &ArrayRef, file: &Path, column: &str) -> Result<Vec<Option<String>>> {
    if !matches!(
        array.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Err(InputError::new(format!(
            "expected a string column, found type {}",
            array.data_type()
        ))
        .in_file(file)
        .in_column(column)
        .into());
    }
    let c = arrow_cast::cast(array, &DataType::Utf8)
        .map_err(|e| Error::Runtime(format!("casting a column: {e}")))?;
    let a = c.as_string::<i32>();
    Ok((0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect())
}

/// A class index from a label cell: an integer in `0..classes.len()`, or a class name (or an
/// integer written as text). Anything else is an input error naming file, row and column.
pub fn class_index(
    cell: &Cell,
    classes: &[String],
    file: &Path,
    row: usize,
    column: &str,
) -> Result<i64> {
    let n = classes.len() as i64;
    let found = match cell {
        Cell::Int(v) if (0..n).contains(v) => return Ok(*v),
        Cell::Int(v) => v.to_string(),
        Cell::Str(s) => {
            if let Some(i) = classes.iter().position(|c| c == s.trim()) {
                return Ok(i as i64);
            }
            // An integer written as text, also as an integral float (`1.0`, as pandas writes).
            let t = s.trim();
            let v = t.parse::<i64>().ok().or_else(|| {
                let f = t.parse::<f64>().ok()?;
                (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
            });
            match v {
                Some(v) if (0..n).contains(&v) => return Ok(v),
                _ => format!("`{s}`"),
            }
        }
        Cell::Other(s) => s.clone(),
    };
    Err(InputError::new(format!(
        "label {found} is outside the class set: expected 0..={} or one of {}",
        n - 1,
        classes.join(", ")
    ))
    .in_file(file)
    .at_row(row)
    .in_column(column)
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_indices_names_or_integral_numbers() {
        let classes: Vec<String> = ["neg", "pos"].iter().map(|s| s.to_string()).collect();
        let f = Path::new("x.csv");
        let ok = |c: Cell| class_index(&c, &classes, f, 1, "label").unwrap();
        assert_eq!(ok(Cell::Int(1)), 1);
        assert_eq!(ok(Cell::Str("pos".into())), 1);
        assert_eq!(ok(Cell::Str(" 0 ".into())), 0);
        assert_eq!(ok(Cell::Str("1.0".into())), 1);
        for bad in [
            Cell::Int(2),
            Cell::Int(-1),
            Cell::Str("positive".into()),
            Cell::Str("1.5".into()),
            Cell::Other("null".into()),
        ] {
            assert!(
                class_index(&bad, &classes, f, 4, "label").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_missing_shard_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        for name in [
            "train-00000-of-00003.parquet",
            "train-00002-of-00003.parquet",
            "test-00000-of-00001.parquet",
        ] {
            std::fs::write(data.join(name), b"").unwrap();
        }
        let err = find_split_files(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("train-00001-of-00003.parquet is missing (2 of 3 `train` shards"),
            "{err}"
        );
        std::fs::write(data.join("train-00001-of-00003.parquet"), b"").unwrap();
        assert_eq!(find_split_files(dir.path()).unwrap().len(), 4);
        assert_eq!(
            shard_of(Path::new("a/valid-00010-of-00012.parquet")),
            Some(("valid".to_string(), 10, 12))
        );
        assert_eq!(shard_of(Path::new("default/train/0000.parquet")), None);
        assert_eq!(shard_of(Path::new("train-x-of-00002.parquet")), None);
    }

    #[test]
    fn split_names_come_from_file_or_folder_names() {
        let s = |p: &str| split_of(Path::new(p));
        assert_eq!(
            s("plain_text/train-00000-of-00001.parquet"),
            Some(Some(Split::Train))
        );
        assert_eq!(
            s("data/validation-00000-of-00001.parquet"),
            Some(Some(Split::Valid))
        );
        assert_eq!(s("default/test/0000.parquet"), Some(Some(Split::Test)));
        assert_eq!(
            s("plain_text/unsupervised-00000-of-00001.parquet"),
            Some(None)
        );
        assert_eq!(s("dataset_infos.json"), None);
    }
}
