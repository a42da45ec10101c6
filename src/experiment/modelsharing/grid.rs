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

/// The cells that fill the probe feature cache before the grid trains (the first array of a
/// Slurm run): of the cells that read cached features, the first unfinished one of each
/// distinct [`TrainSpec::feature_identity`](crate::adapt::TrainSpec::feature_identity) on
/// `device`, in index order. Cells whose method trains the backbone need no fill, nor does an
/// identity whose cells are all finished.
pub fn feature_fills(cells: &[Cell], device: &str) -> Result<Vec<usize>> {
    let mut seen = std::collections::HashSet::new();
    let mut fills = Vec::new();
    for cell in cells.iter().filter(|c| !c.is_done()) {
        let spec = super::execute::TrainerExecutor::spec(cell, device)?;
        if let Some(identity) = spec.feature_identity()? {
            if seen.insert(identity) {
                fills.push(cell.index);
            }
        }
    }
    Ok(fills)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke(name: &str, edit: impl Fn(String) -> String) -> ModelSharingConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("configs/smoke-{name}.toml"));
        let text = edit(std::fs::read_to_string(&path).unwrap());
        ModelSharingConfig::parse(&text, &path).unwrap()
    }

    /// One fill per distinct set of frozen features, counted by hand from the smoke configs:
    /// vision's probe cells (6..=11: scratch comes first, 3 seeds x 2 tasks a method) all read
    /// the same CelebA images; language's probe cells (0..=11, seed-major, 4 tasks a seed)
    /// read one text set each, and HateSpeech18 cut per seed (`split_seed = "seed"`) is
    /// another set of examples for each seed; a finished cell needs no fill, so the next cell
    /// of its set fills it.
    #[test]
    fn one_fill_per_distinct_frozen_features() {
        let dir = tempfile::tempdir().unwrap();
        let vision = expand(&smoke("vision", |t| t), dir.path()).unwrap();
        assert_eq!(vision[6].method, "probe");
        assert_eq!(feature_fills(&vision, "cpu").unwrap(), vec![6]);

        let language = expand(&smoke("language", |t| t), dir.path()).unwrap();
        assert_eq!(feature_fills(&language, "cpu").unwrap(), vec![0, 1, 2, 3]);
        let per_seed = |t: String| {
            t.replace(
                "hate_speech18/parquet\", groupings",
                "hate_speech18/parquet\", split_seed = \"seed\", groupings",
            )
        };
        let language = expand(&smoke("language", per_seed), dir.path()).unwrap();
        assert_eq!(
            feature_fills(&language, "cpu").unwrap(),
            vec![0, 1, 2, 3, 7, 11]
        );

        let done = &vision[6];
        std::fs::create_dir_all(&done.out).unwrap();
        let table = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/data/imdb/hub/plain_text/test-00000-of-00001.parquet");
        std::fs::copy(table, done.failures_path()).unwrap();
        std::fs::write(done.done_path(), &done.hash).unwrap();
        assert!(done.is_done());
        assert_eq!(feature_fills(&vision, "cpu").unwrap(), vec![7]);
    }
}
