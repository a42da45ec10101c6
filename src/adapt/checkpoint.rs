//! End-of-epoch checkpoints of a training cell, in `<cell>/checkpoint/`:
//! `epoch-N/params.safetensors` (the trainable parameters only), `epoch-N/optimizer.safetensors`
//! (the optimiser's own save format) and `state.json` (epochs done, optimiser steps taken, spec
//! hash), written last and atomically so that it only ever names a complete epoch folder.
//!
//! The data order, dropout masks and augmentation of every epoch and step are derived from the
//! seed and the (epoch, step) numbers, so these counters are the whole RNG state and the
//! data-order position: resuming at an epoch boundary replays exactly what an uninterrupted run
//! does.
//!
//! A checkpoint that cannot be resumed from — a truncated or unreadable file, a state file that
//! is not JSON, tensor files whose names or shapes disagree with each other or with the model —
//! is moved aside to `<cell>/checkpoint.corrupt` (`.corrupt-2`, ... when taken) with a warning
//! naming the file and what is wrong, and the cell trains from the start: nothing is deleted.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use indicatif::MultiProgress;
use serde::{Deserialize, Serialize};

use super::cache::save_atomically;
use super::optim::Optimizer;
use super::progress;
use super::tensor_error;
use crate::error::{Error, InputError, Result};
use crate::failures::write::move_aside;
use crate::failures::write_atomically;
use crate::models::params::ParamStore;

/// Where a run stands after its last completed epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimiser steps taken (the schedule's position).
    pub step: u64,
    /// The spec hash the checkpoint belongs to.
    pub spec_hash: String,
}

/// The checkpoint folder of a cell.
pub fn dir(cell: &Path) -> PathBuf {
    cell.join("checkpoint")
}

/// The error for a checkpoint that cannot be read back (`e`), with the way out: the cell can
/// start over once the checkpoint folder is gone.
pub fn damaged(cell: &Path, e: Error) -> Error {
    Error::Runtime(format!(
        "cannot resume from the checkpoint in {}: {e}; delete that folder to train this cell \
         from the start",
        dir(cell).display()
    ))
}

/// Why a checkpoint cannot be resumed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    /// The file at fault.
    pub file: PathBuf,
    /// What is wrong with it, and what was expected.
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.reason)
    }
}

/// What a cell's checkpoint folder holds ([`inspect`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// No state file: no epoch was completed (or the folder is gone).
    Nothing,
    /// A checkpoint of another spec.
    OtherSpec(CheckpointState),
    /// A checkpoint whose files are complete and agree with each other.
    Usable(CheckpointState),
    /// A checkpoint that cannot be resumed from.
    Damaged(Damage),
}

/// Inspects a cell's checkpoint without loading tensor data: the state file must be a
/// checkpoint state, and for `spec_hash`'s checkpoint (any spec's when `None`) both tensor files
/// of its epoch must be complete safetensors files (the data their headers describe is exactly
/// what they hold) that agree: every optimiser tensor `PARAM.FIELD` belongs to a saved
/// parameter and has its shape (`[1]` for `step`).
pub fn inspect(cell: &Path, spec_hash: Option<&str>) -> Found {
    let path = dir(cell).join("state.json");
    let damage = |file: &Path, reason: String| {
        Found::Damaged(Damage {
            file: file.to_path_buf(),
            reason,
        })
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Nothing,
        Err(e) => return damage(&path, format!("cannot be read ({e})")),
    };
    let state: CheckpointState = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            return damage(
                &path,
                format!(
                    "not a checkpoint state (expected JSON with epochs_done, step and \
                     spec_hash): {e}"
                ),
            )
        }
    };
    if spec_hash.is_some_and(|h| h != state.spec_hash) {
        return Found::OtherSpec(state);
    }
    let epoch_dir = dir(cell).join(format!("epoch-{}", state.epochs_done));
    let params_path = epoch_dir.join("params.safetensors");
    let opt_path = epoch_dir.join("optimizer.safetensors");
    let params = match header_shapes(&params_path) {
        Ok(p) => p,
        Err(reason) => return damage(&params_path, reason),
    };
    let opt = match header_shapes(&opt_path) {
        Ok(o) => o,
        Err(reason) => return damage(&opt_path, reason),
    };
    for (key, shape) in &opt {
        let Some((param, field)) = key.rsplit_once('.') else {
            return damage(
                &opt_path,
                format!("tensor `{key}`: expected a name PARAM.FIELD"),
            );
        };
        let Some(param_shape) = params.get(param) else {
            return damage(
                &params_path,
                format!(
                    "lacks parameter `{param}`, whose optimizer state `{key}` is in {}",
                    opt_path.display()
                ),
            );
        };
        let expected = if field == "step" {
            vec![1]
        } else {
            param_shape.clone()
        };
        if *shape != expected {
            return damage(
                &opt_path,
                format!(
                    "tensor `{key}`: expected shape {expected:?} (parameter `{param}` in {}), \
                     found {shape:?}",
                    params_path.display()
                ),
            );
        }
    }
    Found::Usable(state)
}

/// The largest header the safetensors format allows.
const MAX_HEADER: u64 = 100_000_000;

/// The names and shapes of a safetensors file's tensors, read from its header, after checking
/// that the tensor data the header describes ends exactly where the file does. The error says
/// what is wrong.
fn header_shapes(path: &Path) -> std::result::Result<BTreeMap<String, Vec<usize>>, String> {
    #[derive(Deserialize)]
    struct Info {
        shape: Vec<usize>,
        data_offsets: (u64, u64),
    }
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "missing (the state file names this epoch)".to_string(),
        _ => format!("cannot be read ({e})"),
    })?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot be read ({e})"))?
        .len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|_| {
        format!("truncated: {len} bytes, too short for a safetensors file's header length")
    })?;
    let n = u64::from_le_bytes(n);
    if n > len.saturating_sub(8) {
        return Err(format!(
            "truncated: its header is said to take {n} bytes, but the file has {len} in all"
        ));
    }
    if n > MAX_HEADER {
        return Err(format!(
            "not a safetensors file (a header of {n} bytes; safetensors allows {MAX_HEADER})"
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| format!("cannot be read ({e})"))?;
    let entries: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| format!("not a safetensors file (its header is not JSON: {e})"))?;
    let mut shapes = BTreeMap::new();
    let mut end = 0u64;
    for (name, value) in entries {
        if name == "__metadata__" {
            continue;
        }
        let info: Info = serde_json::from_value(value)
            .map_err(|e| format!("not a safetensors file (tensor `{name}` in its header: {e})"))?;
        end = end.max(info.data_offsets.1);
        shapes.insert(name, info.shape);
    }
    let data = len - 8 - n;
    if data != end {
        return Err(format!(
            "truncated or damaged: its header describes {end} bytes of tensor data, the file \
             holds {data}"
        ));
    }
    Ok(shapes)
}

/// Moves the damaged checkpoint folder aside and says so.
fn set_aside(cell: &Path, damage: &Damage, multi: Option<&MultiProgress>) -> Result<()> {
    let aside = move_aside(&dir(cell)).map_err(|e| {
        Error::Runtime(format!(
            "cannot resume from the checkpoint in {}: {damage}; and it cannot be moved aside: \
             {e}",
            dir(cell).display()
        ))
    })?;
    progress::warn(
        multi,
        &format!(
            "cannot resume from the checkpoint in {}: {damage}; it was moved to {} and the \
             cell trains from the start",
            dir(cell).display(),
            aside.display()
        ),
    );
    Ok(())
}

/// Reads the last checkpoint's state, when there is one for this spec hash whose files are
/// complete ([`inspect`]). A damaged checkpoint is moved aside with a warning (above `multi`'s
/// bars, else on stderr) and reads as none, so the cell trains from the start.
fn latest(
    cell: &Path,
    spec_hash: &str,
    multi: Option<&MultiProgress>,
) -> Result<Option<CheckpointState>> {
    match inspect(cell, Some(spec_hash)) {
        Found::Nothing | Found::OtherSpec(_) => Ok(None),
        Found::Usable(state) => Ok(Some(state)),
        Found::Damaged(damage) => {
            set_aside(cell, &damage, multi)?;
            Ok(None)
        }
    }
}

/// Restores the last checkpoint of `spec_hash` into `store` and `opt` and returns its state;
/// `None` when there is none to resume from. A checkpoint that cannot be used — damaged files
/// ([`inspect`]), or tensors whose names or shapes do not fit the model or the optimizer — is
/// moved aside with a warning (above `multi`'s bars, else on stderr), leaving `store` and `opt`
/// untouched, and reads as none: the cell trains from the start.
pub fn resume(
    cell: &Path,
    spec_hash: &str,
    store: &ParamStore,
    opt: &mut dyn Optimizer,
    multi: Option<&MultiProgress>,
) -> Result<Option<CheckpointState>> {
    let Some(state) = latest(cell, spec_hash, multi)? else {
        return Ok(None);
    };
    match restore(cell, &state, store, opt) {
        Ok(()) => Ok(Some(state)),
        Err(Error::Input(e)) => {
            let damage = Damage {
                file: e.file.clone().unwrap_or_else(|| dir(cell)),
                reason: e.message.clone(),
            };
            set_aside(cell, &damage, multi)?;
            Ok(None)
        }
        Err(e) => Err(damaged(cell, e)),
    }
}

/// Saves the trainable parameters and the optimiser state, then the state file.
pub fn save(
    cell: &Path,
    state: &CheckpointState,
    store: &ParamStore,
    opt: &dyn Optimizer,
) -> Result<()> {
    let epoch_dir = dir(cell).join(format!("epoch-{}", state.epochs_done));
    std::fs::create_dir_all(&epoch_dir)
        .map_err(|e| Error::io(format!("creating {}", epoch_dir.display()), e))?;
    let params: Vec<(String, Tensor)> = store
        .trainable()
        .iter()
        .map(|p| (p.name().to_string(), p.var().as_tensor().clone()))
        .collect();
    let refs: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    save_atomically(&refs, &epoch_dir.join("params.safetensors"))?;
    opt.save_state(&epoch_dir.join("optimizer.safetensors"))?;
    let json = serde_json::to_string_pretty(state)
        .map_err(|e| Error::Runtime(format!("encoding checkpoint state: {e}")))?;
    write_atomically(&dir(cell).join("state.json"), |w| {
        use std::io::Write;
        w.write_all(json.as_bytes())
            .map_err(|e| Error::io("writing checkpoint state", e))
    })?;
    // Older epochs are no longer needed.
    for e in 0..state.epochs_done {
        let _ = std::fs::remove_dir_all(dir(cell).join(format!("epoch-{e}")));
    }
    Ok(())
}

/// Restores the trainable parameters and the optimiser state of `state`'s epoch. Every name and
/// shape is checked before anything changes: a file that does not fit (an unreadable file, a
/// missing or extra parameter, a wrong shape) is an input error naming it, and leaves `store`
/// and `opt` as they were.
pub fn restore(
    cell: &Path,
    state: &CheckpointState,
    store: &ParamStore,
    opt: &mut dyn Optimizer,
) -> Result<()> {
    let epoch_dir = dir(cell).join(format!("epoch-{}", state.epochs_done));
    let path = epoch_dir.join("params.safetensors");
    let bad = |message: String| -> Error { InputError::new(message).in_file(&path).into() };
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| bad(format!("not a readable safetensors checkpoint: {e}")))?;
    let trainable = store.trainable();
    let mut values = Vec::with_capacity(trainable.len());
    for p in &trainable {
        let t = tensors
            .remove(p.name())
            .ok_or_else(|| bad(format!("lacks parameter `{}`", p.name())))?;
        if t.dims() != p.var().dims() {
            return Err(bad(format!(
                "tensor `{}`: expected shape {:?}, found {:?}",
                p.name(),
                p.var().dims(),
                t.dims()
            )));
        }
        values.push(t);
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(bad(format!(
            "tensor `{extra}` is not a trainable parameter of this model (a checkpoint of \
             another model or method?)"
        )));
    }
    opt.load_state(&epoch_dir.join("optimizer.safetensors"))?;
    for (p, t) in trainable.iter().zip(values) {
        let t = t
            .to_device(p.var().device())
            .and_then(|t| t.to_dtype(p.var().dtype()))
            .map_err(tensor_error)?;
        p.var().set(&t).map_err(tensor_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapt::{AdamWConfig, OptimizerConfig};
    use crate::models::params::Init;
    use candle_core::DType;

    /// A store of `(name, shape)` zero parameters, all trainable.
    fn store(params: &[(&str, &[usize])]) -> ParamStore {
        let mut s = ParamStore::new(Device::Cpu, DType::F32);
        for (name, shape) in params {
            s.register(name, *shape, Init::Zeros).unwrap();
        }
        s
    }

    fn optimizer(s: &ParamStore) -> Box<dyn Optimizer> {
        OptimizerConfig::AdamW(AdamWConfig {
            lr: 0.1,
            ..AdamWConfig::default()
        })
        .build(s.trainable_vars())
    }

    fn values(s: &ParamStore) -> Vec<Vec<f32>> {
        s.iter()
            .map(|p| {
                p.var()
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect()
    }

    const HEAD: [(&str, &[usize]); 2] = [("head.bias", &[2]), ("head.weight", &[2, 3])];

    /// A cell folder holding the epoch-1 checkpoint of a store shaped like [`HEAD`] after one
    /// AdamW step; returns the trained values.
    fn saved_cell(cell: &Path) -> Vec<Vec<f32>> {
        let s = store(&HEAD);
        let mut opt = optimizer(&s);
        let mut loss: Option<Tensor> = None;
        for p in s.iter() {
            let t = p.var().as_tensor();
            let term = ((t + 1.0).unwrap().sqr().unwrap()).sum_all().unwrap();
            loss = Some(match loss {
                Some(l) => (l + term).unwrap(),
                None => term,
            });
        }
        opt.step(&loss.unwrap().backward().unwrap()).unwrap();
        let state = CheckpointState {
            epochs_done: 1,
            step: 1,
            spec_hash: "h".into(),
        };
        save(cell, &state, &s, opt.as_ref()).unwrap();
        values(&s)
    }

    #[test]
    fn a_fitting_checkpoint_resumes() {
        let cell = tempfile::tempdir().unwrap();
        let trained = saved_cell(cell.path());
        let s = store(&HEAD);
        let mut opt = optimizer(&s);
        let st = resume(cell.path(), "h", &s, opt.as_mut(), None).unwrap();
        assert_eq!(st.map(|s| s.epochs_done), Some(1));
        assert_eq!(values(&s), trained);
        assert_eq!(opt.state_tensors().unwrap().len(), 6);
        // Another spec's checkpoint is not this cell's: nothing restored, nothing set aside.
        let s = store(&HEAD);
        let mut opt = optimizer(&s);
        assert_eq!(
            resume(cell.path(), "other", &s, opt.as_mut(), None).unwrap(),
            None
        );
        assert!(dir(cell.path()).is_dir());
    }

    /// Complete files that agree with each other but not with the model (another model under
    /// the same spec, a parameter renamed): the checkpoint is moved aside, the store and the
    /// optimizer keep their values, and the cell starts over.
    #[test]
    fn a_checkpoint_that_does_not_fit_the_model_is_set_aside_untouched() {
        let wrong_shape: [(&str, &[usize]); 2] = [("head.bias", &[2]), ("head.weight", &[3, 2])];
        let extra: [(&str, &[usize]); 3] = [
            ("head.bias", &[2]),
            ("head.extra", &[1]),
            ("head.weight", &[2, 3]),
        ];
        let fewer: [(&str, &[usize]); 1] = [("head.bias", &[2])];
        for (case, params, reason) in [
            (
                "shape",
                &wrong_shape[..],
                "expected shape [3, 2], found [2, 3]",
            ),
            ("missing", &extra[..], "lacks parameter `head.extra`"),
            (
                "extra",
                &fewer[..],
                "`head.weight` is not a trainable parameter",
            ),
        ] {
            let cell = tempfile::tempdir().unwrap();
            saved_cell(cell.path());
            let files = |d: &Path| {
                let mut v: Vec<_> = walk(d)
                    .into_iter()
                    .map(|(p, b)| (p.strip_prefix(d).unwrap().to_path_buf(), b))
                    .collect();
                v.sort();
                v
            };
            let before = files(&dir(cell.path()));
            // The files themselves are sound: only the model tells.
            assert!(
                matches!(inspect(cell.path(), Some("h")), Found::Usable(_)),
                "{case}"
            );
            let s = store(params);
            let mut opt = optimizer(&s);
            let zeros = values(&s);
            let state = latest(cell.path(), "h", None).unwrap().unwrap();
            let e = restore(cell.path(), &state, &s, opt.as_mut()).unwrap_err();
            let Error::Input(input) = &e else {
                panic!("{case}: {e}")
            };
            assert!(input.message.contains(reason), "{case}: {e}");
            assert!(
                input
                    .file
                    .as_ref()
                    .is_some_and(|f| f.ends_with("epoch-1/params.safetensors")),
                "{case}: {e}"
            );
            assert_eq!(values(&s), zeros, "{case}: restore changed the store");
            assert!(opt.state_tensors().unwrap().is_empty(), "{case}");

            assert_eq!(
                resume(cell.path(), "h", &s, opt.as_mut(), None).unwrap(),
                None
            );
            assert_eq!(values(&s), zeros, "{case}: resume changed the store");
            assert!(opt.state_tensors().unwrap().is_empty(), "{case}");
            assert!(!dir(cell.path()).exists(), "{case}");
            let aside = cell.path().join("checkpoint.corrupt");
            assert_eq!(files(&aside), before, "{case}: the set-aside files differ");
        }
    }

    /// Every file below `d` with its bytes.
    fn walk(d: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                let b = std::fs::read(&p).unwrap();
                out.push((p, b));
            }
        }
        out
    }
}
