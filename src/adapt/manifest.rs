//! A cell's `manifest.json` (DESIGN.md §7) and its `metrics.jsonl`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cell::{CellOutcome, TrainSpec};
use crate::error::{Error, Result};
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
    /// `running` or `finished`.
    pub status: String,
    /// The outcome, once finished.
    pub outcome: Option<CellOutcome>,
}

impl Manifest {
    /// Reads a manifest; `None` when the file is missing or unreadable.
    pub fn read(path: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
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
