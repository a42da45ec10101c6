//! Writing failure tables to Parquet and CSV, atomically: the file is written under a temporary
//! name in the same folder and renamed into place, so a reader never sees half a table and an
//! earlier file is not lost when writing fails.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::table::{columns, Categorical, FailureTable};
use crate::error::{Error, InputError, Result};

/// A fresh temporary path in `dir` for a file that will be renamed to `name`: hidden, and unique
/// per process *and* per call, so threads of one run (several workers) and processes of a Slurm
/// array can write the same destination at once without clobbering each other's temporary file.
/// `ext` (with its dot, or empty) is kept last for writers that read the format from it.
pub fn temporary_sibling(dir: &Path, name: &str, ext: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.tmp-{}-{n}{ext}", std::process::id()))
}

/// Where a write to `path` lands: the file a symbolic link points to (so the link survives the
/// rename), else `path` itself.
fn link_target(path: &Path) -> PathBuf {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return path.to_path_buf();
    }
    if let Ok(target) = std::fs::canonicalize(path) {
        return target;
    }
    // A dangling link: write the file it names.
    match std::fs::read_link(path) {
        Ok(t) if t.is_absolute() => t,
        Ok(t) => path.parent().unwrap_or(Path::new(".")).join(t),
        Err(_) => path.to_path_buf(),
    }
}

/// True for an existing path that is neither a regular file nor a folder: a device such as
/// `/dev/null` or `/dev/stdout`, a named pipe, a socket. Those are written in place: renaming a
/// file over them would replace the device with a file.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `contents` to `path` through a temporary file in the same folder and a rename; a
/// symbolic link's target is written (the link stays), and a device or named pipe is written
/// in place (it cannot be replaced atomically).
pub fn write_atomically(
    path: &Path,
    contents: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    if path.is_dir() {
        return Err(
            InputError::new("is a folder; expected the name of a file to write")
                .in_file(path)
                .into(),
        );
    }
    let target = link_target(path);
    let path = target.as_path();
    if is_special(path) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening {} for writing", path.display()), e))?;
        let mut w = BufWriter::new(file);
        contents(&mut w)?;
        return w
            .into_inner()
            .map(drop)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()));
    }
    write_through_temporary(path, |tmp| {
        let file =
            File::create(tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let mut w = BufWriter::new(file);
        contents(&mut w)?;
        w.into_inner()
            .map(drop)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e.into_error()))
    })
}

/// Replaces the regular file `path` (a link already resolved) by the file that `write` creates
/// at the temporary path it is given, in the same folder: with `path`'s permission bits when it
/// existed, synced to disk, then renamed into place; removed when anything fails.
fn write_through_temporary(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating folder {}", dir.display()), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = temporary_sibling(dir, &name, "");
    // A file being replaced keeps its permission bits (a read-only table stays read-only).
    let keep = std::fs::metadata(path).ok().map(|m| m.permissions());
    let result = (|| {
        write(&tmp)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&tmp)
            .map_err(|e| Error::io(format!("opening {}", tmp.display()), e))?;
        if let Some(permissions) = keep {
            file.set_permissions(permissions)
                .map_err(|e| Error::io(format!("setting permissions of {}", tmp.display()), e))?;
        }
        file.sync_all()
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renames `path` (a file or a folder) to the first free name of `NAME.corrupt`,
/// `NAME.corrupt-2`, `NAME.corrupt-3`, ... in its folder, so that a damaged output is kept for
/// inspection instead of being overwritten; returns the new path.
pub fn move_aside(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = (1..)
        .map(|i| match i {
            1 => path.with_file_name(format!("{name}.corrupt")),
            i => path.with_file_name(format!("{name}.corrupt-{i}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| path.with_file_name(format!("{name}.corrupt")));
    std::fs::rename(path, &aside).map_err(|e| {
        Error::io(
            format!("moving {} aside to {}", path.display(), aside.display()),
            e,
        )
    })?;
    Ok(aside)
}

/// An input error when `out` exists and is not a folder: a run or a training cell writes a
/// folder of outputs there.
pub fn check_output_folder(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(InputError::new(
            "exists and is not a folder; expected a folder for the outputs (or a name that \
             does not exist yet)",
        )
        .in_file(out)
        .into());
    }
    Ok(())
}

/// An input error naming option `option` when the output file `output` cannot be a file: it
/// is an existing folder, or a path below an existing file (`results.csv/x.csv`). Other
/// failures to create it (no permission, a read-only file system) show when writing.
pub fn check_output_file(output: &Path, option: &str) -> Result<()> {
    let refuse = |message: String| -> Error {
        InputError::new(message)
            .in_file(output)
            .at_key(option)
            .into()
    };
    if output.is_dir() {
        return Err(refuse("is a folder; expected a file name to write".into()));
    }
    let mut ancestor = output.parent();
    while let Some(a) = ancestor.filter(|a| !a.as_os_str().is_empty()) {
        if let Ok(m) = std::fs::metadata(a) {
            if !m.is_dir() {
                return Err(refuse(format!(
                    "`{}` is a file, not a folder, so the output cannot be written below it",
                    a.display()
                )));
            }
            break;
        }
        ancestor = a.parent();
    }
    Ok(())
}

/// An input error when `output` is one of `inputs` (the same file, through any path or link):
/// writing the result would destroy the data it was computed from.
pub fn refuse_overwriting_inputs(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let Ok(out) = std::fs::canonicalize(output) else {
        return Ok(()); // Not there yet: not an input.
    };
    match inputs
        .iter()
        .find(|i| std::fs::canonicalize(i).is_ok_and(|i| i == out))
    {
        Some(input) => Err(InputError::new(format!(
            "the output file is also an input (`{}`); writing the result there would overwrite \
             the data; choose another output file",
            input.display()
        ))
        .in_file(output)
        .into()),
        None => Ok(()),
    }
}

/// Writes a table in the format its extension names (`.csv`, otherwise Parquet).
pub fn write_table(path: &Path, table: &FailureTable) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => write_csv(path, table),
        _ => write_parquet(path, table),
    }
}

fn strings(c: &Categorical) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(
        c.codes.iter().map(|&code| c.levels[code as usize].as_str()),
    ))
}

/// The table as one Arrow record batch, columns in schema order: system, deployment,
/// example_id, label, prediction, failure, loss, float extras, string extras.
pub fn to_record_batch(table: &FailureTable) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut push = |name: &str, dt: DataType, a: ArrayRef| {
        fields.push(Field::new(name, dt, false));
        arrays.push(a);
    };
    if let Some(s) = &table.system {
        push(columns::SYSTEM, DataType::Utf8, strings(s));
    }
    push(
        columns::DEPLOYMENT,
        DataType::Utf8,
        strings(&table.deployment),
    );
    push(
        columns::EXAMPLE_ID,
        DataType::Utf8,
        strings(&table.example_id),
    );
    // Labels read as class names are written as those names, integer labels as integers.
    for (name, values) in [
        (columns::LABEL, &table.label),
        (columns::PREDICTION, &table.prediction),
    ] {
        let Some(values) = values else { continue };
        match &table.class_names {
            Some(classes) => push(
                name,
                DataType::Utf8,
                Arc::new(StringArray::from_iter_values(
                    values.iter().map(|&v| classes[v as usize].as_str()),
                )),
            ),
            None => push(
                name,
                DataType::Int64,
                Arc::new(Int64Array::from(values.clone())),
            ),
        }
    }
    push(
        columns::FAILURE,
        DataType::Boolean,
        Arc::new(BooleanArray::from(table.failure.clone())),
    );
    if let Some(l) = &table.loss {
        push(
            columns::LOSS,
            DataType::Float64,
            Arc::new(Float64Array::from(l.clone())),
        );
    }
    for (name, values) in &table.float_extra {
        push(
            name,
            DataType::Float64,
            Arc::new(Float64Array::from(values.clone())),
        );
    }
    for c in &table.extra {
        push(&c.name, DataType::Utf8, strings(c));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Runtime(format!("building the failure table's columns: {e}")))
}

/// Writes a table as Parquet (Snappy-compressed), atomically.
pub fn write_parquet(path: &Path, table: &FailureTable) -> Result<()> {
    write_batches(path, to_record_batch(table)?, std::iter::empty())
}

/// Writes the concatenation of `parts` (tables with the same columns) as one Parquet table
/// (Snappy-compressed), atomically, holding one part in memory at a time: for outputs too large
/// to build as one [`FailureTable`] (a data-sharing run's trials on millions of people).
/// An empty `parts` is an error.
pub fn write_parquet_parts(
    path: &Path,
    parts: impl IntoIterator<Item = Result<FailureTable>>,
) -> Result<()> {
    let mut batches = parts
        .into_iter()
        .map(|t| t.and_then(|t| to_record_batch(&t)));
    let first = batches
        .next()
        .ok_or_else(|| Error::Runtime(format!("writing {}: no rows to write", path.display())))??;
    write_batches(path, first, batches)
}

/// Writes `first` and then `rest` (the same columns) as one Parquet table, atomically.
fn write_batches(
    path: &Path,
    first: RecordBatch,
    rest: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<()> {
    write_atomically(path, |w| {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let fail = |e: parquet::errors::ParquetError| {
            Error::Runtime(format!("writing {}: {e}", path.display()))
        };
        let schema = first.schema();
        let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props)).map_err(fail)?;
        writer.write(&first).map_err(fail)?;
        for batch in rest {
            let batch = batch?;
            if batch.schema() != schema {
                return Err(Error::Runtime(format!(
                    "writing {}: a part's columns differ from the first part's",
                    path.display()
                )));
            }
            writer.write(&batch).map_err(fail)?;
        }
        writer.close().map_err(fail)?;
        Ok(())
    })
}

/// Writes a table as CSV with a header row, atomically. Floats use Rust's shortest round-trip
/// formatting, so reading the file back gives the same bits.
pub fn write_csv(path: &Path, table: &FailureTable) -> Result<()> {
    write_atomically(path, |w| {
        let mut out = csv::Writer::from_writer(w);
        let fail = |e: csv::Error| Error::Runtime(format!("writing {}: {e}", path.display()));
        let batch = to_record_batch(table)?;
        let names: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        out.write_record(&names).map_err(fail)?;
        let mut record: Vec<String> = Vec::with_capacity(names.len());
        for row in 0..table.len() {
            record.clear();
            if table.system.is_some() {
                record.push(table.system_of(row).to_string());
            }
            record.push(table.deployment.value(row).to_string());
            record.push(table.example_id.value(row).to_string());
            if let Some(l) = &table.label {
                record.push(table.class_name(l[row]));
            }
            if let Some(p) = &table.prediction {
                record.push(table.class_name(p[row]));
            }
            record.push(if table.failure[row] { "1" } else { "0" }.to_string());
            if let Some(l) = &table.loss {
                record.push(l[row].to_string());
            }
            for (_, values) in &table.float_extra {
                record.push(values[row].to_string());
            }
            for c in &table.extra {
                record.push(c.value(row).to_string());
            }
            out.write_record(&record).map_err(fail)?;
        }
        out.flush()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(())
    })
}

/// Writes named tensors as one safetensors file, atomically (used for features, checkpoints and
/// optimizer state). Host tensors' bytes are written from where they lie, straight to the file:
/// neither the copy that candle's own `View` makes of each tensor nor a buffer of the whole
/// file (a device or named pipe, written in place, still gets the buffer).
pub fn write_safetensors(tensors: &[(&str, &candle_core::Tensor)], path: &Path) -> Result<()> {
    let serialising = |e: safetensors::SafeTensorError| match e {
        safetensors::SafeTensorError::IoError(e) => {
            Error::io(format!("writing {}", path.display()), e)
        }
        e => Error::Runtime(format!("serialising tensors for {}: {e}", path.display())),
    };
    // A read guard on each tensor's storage while its bytes are written (nothing writes these
    // tensors meanwhile).
    let held: Vec<_> = tensors
        .iter()
        .map(|(_, t)| t.storage_and_layout())
        .collect();
    let views = tensors
        .iter()
        .zip(&held)
        .map(|((name, t), (storage, layout))| {
            let bytes = layout
                .contiguous_offsets()
                .and_then(|(start, end)| host_bytes(storage, start, end))
                .map_or_else(|| safetensors::View::data(t), std::borrow::Cow::Borrowed);
            (*name, TensorBytes { tensor: t, bytes })
        });
    let target = link_target(path);
    if path.is_dir() || is_special(&target) {
        let bytes = safetensors::serialize(views, None).map_err(serialising)?;
        return write_atomically(path, |w| {
            std::io::Write::write_all(w, &bytes)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        });
    }
    write_through_temporary(&target, |tmp| {
        safetensors::serialize_to_file(views, None, tmp).map_err(serialising)
    })
}

/// Elements `start..end` of a host tensor's storage as little-endian bytes, borrowed; `None`
/// for a device's storage, a big-endian host, or a dtype without a plain byte view.
fn host_bytes(storage: &candle_core::Storage, start: usize, end: usize) -> Option<&[u8]> {
    use candle_core::{CpuStorage, Storage};
    let Storage::Cpu(cpu) = storage else {
        return None;
    };
    if cfg!(target_endian = "big") {
        return None;
    }
    Some(match cpu {
        CpuStorage::U8(v) => &v[start..end],
        CpuStorage::U32(v) => bytemuck::cast_slice(&v[start..end]),
        CpuStorage::I64(v) => bytemuck::cast_slice(&v[start..end]),
        CpuStorage::F32(v) => bytemuck::cast_slice(&v[start..end]),
        CpuStorage::F64(v) => bytemuck::cast_slice(&v[start..end]),
        _ => return None,
    })
}

/// A tensor's dtype and shape with its bytes, borrowed or copied, for safetensors' serializer.
struct TensorBytes<'a> {
    tensor: &'a candle_core::Tensor,
    bytes: std::borrow::Cow<'a, [u8]>,
}

impl safetensors::View for TensorBytes<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::View::dtype(&self.tensor)
    }
    fn shape(&self) -> &[usize] {
        self.tensor.dims()
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};

    /// The file holds exactly the bytes that safetensors writes from candle's own `View` (which
    /// copies each tensor): for whole tensors, a narrowed one (its storage starts past 0), a
    /// transposed one (not contiguous) and dtypes borrowed or copied; written through a link,
    /// the link's target gets them.
    #[test]
    fn safetensors_file_equals_the_serializers_own_bytes() {
        let dev = Device::Cpu;
        let base = Tensor::arange(0f32, 24., &dev)
            .unwrap()
            .reshape((4, 6))
            .unwrap();
        let narrowed = base.narrow(0, 1, 2).unwrap();
        assert_ne!(narrowed.layout().start_offset(), 0);
        let transposed = base.t().unwrap();
        assert!(!transposed.is_contiguous());
        let ids = Tensor::new(&[3u32, 1, 4, 1, 5], &dev).unwrap();
        let longs = Tensor::new(&[-2i64, 7], &dev).unwrap();
        let halves = base.to_dtype(DType::BF16).unwrap();
        let doubles = base.to_dtype(DType::F64).unwrap().narrow(1, 2, 3).unwrap();
        let tensors = [
            ("base", &base),
            ("narrowed", &narrowed),
            ("transposed", &transposed),
            ("ids", &ids),
            ("longs", &longs),
            ("halves", &halves),
            ("doubles", &doubles),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        write_safetensors(&tensors, &path).unwrap();
        let expected = safetensors::serialize(tensors.iter().map(|(n, t)| (*n, *t)), None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        // Through a symbolic link: the link stays, its target gets the file.
        let link = dir.path().join("link.safetensors");
        std::os::unix::fs::symlink("target.safetensors", &link).unwrap();
        write_safetensors(&tensors, &link).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let target = dir.path().join("target.safetensors");
        assert_eq!(std::fs::read(&target).unwrap(), expected);
        let back = candle_core::safetensors::load(&path, &dev).unwrap();
        let rows: Vec<Vec<f32>> = back["narrowed"].to_vec2().unwrap();
        assert_eq!(
            rows,
            vec![
                (6..12).map(|v| v as f32).collect::<Vec<_>>(),
                (12..18).map(|v| v as f32).collect()
            ]
        );
    }
}
