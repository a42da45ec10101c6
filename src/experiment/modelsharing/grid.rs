//! The grid of a model-sharing config: one cell per (method, seed, task), each a trainer spec
//! (the JSON form of `adapt::TrainSpec`) with a content hash and its own output folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::ModelSharingConfig;
use crate::error::{Error, Result};

/// One training cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Position in the grid (the Slurm array index).
    pub index: usize,
    /// The method's label (reports group by it).
    pub method: String,
    /// The training seed.
    pub seed: u64,
    /// The task's name (the deployment).
    pub task: String,
    /// SHA-256 (hex) of the spec without its output folder.
    pub hash: String,
    /// The cell's output folder.
    pub out: PathBuf,
    /// The trainer spec (`adapt::TrainSpec` keys), `out` included.
    pub spec: serde_json::Value,
}

impl Cell {
    /// The cell's failure table, once trained.
    pub fn failures_path(&self) -> PathBuf {
        self.out.join("failures.parquet")
    }

    /// The marker a finished cell leaves: its hash.
    pub fn done_path(&self) -> PathBuf {
        self.out.join("DONE")
    }

    /// The marker a failed cell leaves: the error.
    pub fn failed_path(&self) -> PathBuf {
        self.out.join("FAILED")
    }

    /// Places the cell in run folder `run_dir` (its `out` and the spec's `out`): `jobs.jsonl`
    /// stores absolute folders, so a run folder that was copied or moved would otherwise read
    /// (and report) the cells of wherever it was first made.
    pub fn relocate(&mut self, run_dir: &Path) {
        self.out = cell_dir(run_dir, &self.method, self.seed, &self.task);
        if let Some(spec) = self.spec.as_object_mut() {
            spec.insert("out".into(), self.out.to_string_lossy().into_owned().into());
        }
    }

    /// True when the cell finished with this very spec and its failure table opens.
    pub fn is_done(&self) -> bool {
        self.has_done_marker() && self.table_problem().is_none()
    }

    /// True when the cell's `DONE` marker holds this spec's hash and its table file exists
    /// (whether or not the table reads).
    pub fn has_done_marker(&self) -> bool {
        std::fs::read_to_string(self.done_path()).is_ok_and(|h| h.trim() == self.hash)
            && self.failures_path().is_file()
    }

    /// Why the cell's failure table cannot be opened (`None` when its Parquet footer reads;
    /// cheap, since a report asks for every cell several times).
    pub fn table_problem(&self) -> Option<String> {
        crate::failures::read::parquet_problem(&self.failures_path())
    }
}

/// The folder of a cell: `<out>/cells/<method>/seed-<seed>/<task>`.
pub fn cell_dir(out: &Path, method: &str, seed: u64, task: &str) -> PathBuf {
    out.join("cells")
        .join(method)
        .join(format!("seed-{seed}"))
        .join(task)
}

/// Expands the config into cells, method-major, then seed, then task; `out` is the run folder.
pub fn expand(config: &ModelSharingConfig, out: &Path) -> Result<Vec<Cell>> {
    let mut cells = Vec::new();
    for m in &config.methods {
        for &seed in &config.seeds.values {
            for t in &config.tasks {
                let mut spec = serde_json::Map::new();
                spec.insert("model".into(), config.model.id.clone().into());
                if let Some(r) = &config.model.revision {
                    spec.insert("revision".into(), r.clone().into());
                }
                spec.insert("method".into(), m.name.clone().into());
                let dataset = serde_json::to_value(t.dataset_for_seed(seed))
                    .map_err(|e| Error::Runtime(format!("dataset spec to JSON: {e}")))?;
                spec.insert("dataset".into(), dataset);
                if let Some(task) = &t.task {
                    spec.insert("task".into(), task.clone().into());
                }
                spec.insert("seed".into(), seed.into());
                for (k, v) in config.train.iter().chain(m.overrides.iter()) {
                    let v = serde_json::to_value(v)
                        .map_err(|e| Error::Runtime(format!("`{k}` to JSON: {e}")))?;
                    spec.insert(k.clone(), v);
                }
                let hash = hex::encode(Sha256::digest(
                    serde_json::Value::Object(spec.clone())
                        .to_string()
                        .as_bytes(),
                ));
                let dir = cell_dir(out, m.label(), seed, &t.name);
                spec.insert("out".into(), dir.to_string_lossy().into_owned().into());
                cells.push(Cell {
                    index: cells.len(),
                    method: m.label().to_string(),
                    seed,
                    task: t.name.clone(),
                    hash,
                    out: dir,
                    spec: serde_json::Value::Object(spec),
                });
            }
        }
    }
    Ok(cells)
}

/// `jobs.jsonl`: one JSON object per cell, in index order.
pub fn jobs_jsonl(cells: &[Cell]) -> Result<String> {
    let mut s = String::new();
    for c in cells {
        s.push_str(
            &serde_json::to_string(c).map_err(|e| Error::Runtime(format!("cell to JSON: {e}")))?,
        );
        s.push('\n');
    }
    Ok(s)
}
