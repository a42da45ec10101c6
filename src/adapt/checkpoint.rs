//! End-of-epoch checkpoints of a training cell, in `<cell>/checkpoint/`:
//! `epoch-N/params.safetensors` (the trainable parameters only), `epoch-N/optimizer.safetensors`
//! (the optimiser's own save format) and `state.json` (epochs done, optimiser steps taken, spec
//! hash), written last and atomically so that it only ever names a complete epoch folder.
//!
//! The data order, dropout masks and augmentation of every epoch and step are derived from the
//! seed and the (epoch, step) numbers, so these counters are the whole RNG state and the
//! data-order position: resuming at an epoch boundary replays exactly what an uninterrupted run
//! does.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::cache::save_atomically;
use super::optim::Optimizer;
use super::tensor_error;
use crate::error::{Error, Result};
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

/// Reads the last checkpoint's state, when there is one for this spec hash.
pub fn latest(cell: &Path, spec_hash: &str) -> Result<Option<CheckpointState>> {
    let path = dir(cell).join("state.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let state: CheckpointState = serde_json::from_str(&text)
        .map_err(|e| Error::Runtime(format!("reading {}: {e}", path.display())))?;
    Ok((state.spec_hash == spec_hash).then_some(state))
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

/// Restores the trainable parameters and the optimiser state of `state`'s epoch.
pub fn restore(
    cell: &Path,
    state: &CheckpointState,
    store: &ParamStore,
    opt: &mut dyn Optimizer,
) -> Result<()> {
    let epoch_dir = dir(cell).join(format!("epoch-{}", state.epochs_done));
    let path = epoch_dir.join("params.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| Error::Runtime(format!("reading {}: {e}", path.display())))?;
    for p in store.trainable() {
        let t = tensors.get(p.name()).ok_or_else(|| {
            Error::Runtime(format!("{} lacks parameter `{}`", path.display(), p.name()))
        })?;
        let t = t
            .to_device(p.var().device())
            .and_then(|t| t.to_dtype(p.var().dtype()))
            .map_err(tensor_error)?;
        p.var().set(&t).map_err(tensor_error)?;
    }
    opt.load_state(&epoch_dir.join("optimizer.safetensors"))
}
