//! A cell's `manifest.json` (DESIGN.md §7) and its `metrics.jsonl`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cell::{CellOutcome, TrainSpec};
use super::progress::warn;
use crate::error::{Error, InputError, Result};
use crate::failures::write::move_aside;
use crate::failures::write_atomically;

/// What a cell folder records about its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The program and its version.
    pub program: String,
    /// The program version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The full training configuration.
    pub config: TrainSpec,
    /// [`TrainSpec::hash`] of `config`.
    pub config_hash: String,
    /// The training seed.
    pub seed: u64,
    /// The model's revision (the snapshot commit for Hub models; `None` for a local folder).
    pub model_revision: Option<String>,
    /// [`crate::data::Dataset::fingerprint`] of the loaded dataset.
    pub dataset_fingerprint: String,
    /// The commit of the dataset's Hub snapshot it was read from (`None` for a local folder):
    /// `homogen fetch dataset NAME --revision COMMIT` gets the same files.
    #[serde(default)]
    pub dataset_revision: Option<String>,
    /// The probe feature cache file the head trained on (its name in the cache folder, the
    /// SHA-256 key of the model, preprocessing and examples); `None` when no cached features
    /// were used (the backbone ran every step).
    #[serde(default)]
    pub feature_cache: Option<String>,
    /// `running` or `finished`.
    pub status: String,
    /// The outcome, once finished.
    pub outcome: Option<CellOutcome>,
}

impl Manifest {
    /// Reads a manifest: `Ok(None)` when there is no such file; an input error naming the file
    /// when it cannot be read or is not a cell manifest.
    pub fn load(path: &Path) -> Result<Option<Manifest>> {
        let bad = |message: String| -> Error { InputError::new(message).in_file(path).into() };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(format!("cannot be read ({e})"))),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            bad(format!(
                "not a cell manifest (expected the JSON object homogen writes, with program, \
                 config, config_hash and status): {e}"
            ))
        })
    }

    /// Reads the manifest of the cell that is about to train: `None` when there is none. One
    /// that cannot be read ([`Manifest::load`]) is moved aside to `manifest.json.corrupt` with
    /// a warning naming it and why, together with the cell's failure table next to it (which
    /// it no longer ties to a spec), so that the cell trains again and nothing is lost.
    pub fn read(path: &Path) -> Option<Manifest> {
        let problem = match Manifest::load(path) {
            Ok(m) => return m,
            Err(e) => e,
        };
        let mut moved = Vec::new();
        let mut failed = Vec::new();
        let table = path.with_file_name("failures.parquet");
        for (p, why) in [
            (path, ""),
            (
                table.as_path(),
                " (no manifest ties that table to a spec any more)",
            ),
        ] {
            if std::fs::symlink_metadata(p).is_err() {
                continue;
            }
            match move_aside(p) {
                Ok(aside) => moved.push(format!("{} to {}{why}", p.display(), aside.display())),
                Err(e) => failed.push(e.to_string()),
            }
        }
        let mut message = problem.to_string();
        if !moved.is_empty() {
            message.push_str(&format!("; moved {}", moved.join(" and ")));
        }
        if !failed.is_empty() {
            message.push_str(&format!("; could not move aside: {}", failed.join("; ")));
        }
        message.push_str("; the cell is trained again");
        warn(None, &message);
        None
    }

    /// Writes the manifest atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Runtime(format!("encoding manifest: {e}")))?;
        write_atomically(path, |w| {
            w.write_all(json.as_bytes())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        })
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Optimiser steps taken so far.
    pub step: u64,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// The learning rate of the epoch's last optimiser step.
    pub lr: f64,
    /// Validation loss, when there is a validation split.
    pub valid_loss: Option<f64>,
    /// Validation accuracy, when there is a validation split.
    pub valid_accuracy: Option<f64>,
    /// Training examples per second over the epoch.
    pub examples_per_s: f64,
}

/// Keeps only the lines of epochs up to `epochs_done` (a resumed run rewrites the rest).
pub fn truncate_metrics(path: &Path, epochs_done: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| serde_json::from_str::<EpochMetrics>(l).is_ok_and(|m| m.epoch <= epochs_done))
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomically(path, |w| {
        w.write_all(kept.as_bytes())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

/// Appends one epoch's metrics.
pub fn append_metrics(path: &Path, m: &EpochMetrics) -> Result<()> {
    let line =
        serde_json::to_string(m).map_err(|e| Error::Runtime(format!("encoding metrics: {e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
