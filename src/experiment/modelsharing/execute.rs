//! The real [`CellExecutor`]: the trainer ([`crate::adapt::train_cell`]) on the cell's spec.

use std::path::PathBuf;

use super::grid::Cell;
use super::runner::CellExecutor;
use crate::adapt::{fill_cell_features, train_cell, RunOptions, TrainSpec};
use crate::error::{Error, InputError, Result};

/// Trains cells with [`train_cell`]; probe features are shared through one cache folder.
#[derive(Debug, Clone, Default)]
pub struct TrainerExecutor {
    /// Hide progress bars.
    pub quiet: bool,
    /// The probe feature cache shared by every cell (`<run>/.feature-cache` unless the
    /// config's `experiment.feature_cache` or `run --feature-cache` names another folder).
    pub cache_dir: Option<PathBuf>,
    /// The terminal's bars, shared with the grid's bar (see [`RunOptions::progress`]).
    pub progress: Option<indicatif::MultiProgress>,
}

impl TrainerExecutor {
    /// The cell's spec as the trainer's [`TrainSpec`], on `device`.
    pub fn spec(cell: &Cell, device: &str) -> Result<TrainSpec> {
        let mut spec = cell.spec.clone();
        if let Some(o) = spec.as_object_mut() {
            o.insert("device".into(), device.into());
        }
        let spec: TrainSpec = serde_json::from_value(spec).map_err(|e| {
            Error::from(InputError::new(format!(
                "cell {} ({} / seed {} / {}) is not a valid training spec: {e}",
                cell.index, cell.method, cell.seed, cell.task
            )))
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Fills the probe feature cache with the features `cell` will read on `device`, training
    /// nothing (see [`fill_cell_features`]); the line saying what was done, `None` when the
    /// cell's method reads no cached features.
    pub fn fill_features(&self, cell: &Cell, device: &str) -> Result<Option<String>> {
        fill_cell_features(&Self::spec(cell, device)?, &self.options())
    }

    fn options(&self) -> RunOptions {
        RunOptions {
            quiet: self.quiet,
            cache_dir: self.cache_dir.clone(),
            allow_pickle: false,
            progress: self.progress.clone(),
        }
    }
}

impl CellExecutor for TrainerExecutor {
    fn execute(&self, cell: &Cell, device: &str) -> Result<()> {
        let spec = Self::spec(cell, device)?;
        train_cell(&spec, &self.options())?;
        Ok(())
    }
}
