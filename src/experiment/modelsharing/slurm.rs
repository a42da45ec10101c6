//! The Slurm job-array script of a planned grid: one array task per cell, each running
//! `homogen run CONFIG --out DIR --task-index $SLURM_ARRAY_TASK_ID` (idempotent; a failing
//! cell writes its `FAILED` marker and exits non-zero).

use std::path::Path;

use super::config::SlurmSection;

/// Resources of the array's tasks (config `[slurm]`, overridden by `homogen plan` flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmRequest {
    /// `--partition`.
    pub partition: Option<String>,
    /// GPUs per task (`--gres=gpu:N` when above 0).
    pub gpus: u32,
    /// `--time`.
    pub time: Option<String>,
    /// Concurrent tasks at most (`%K`); unlimited when absent.
    pub max_parallel: Option<usize>,
    /// `--cpus-per-task`.
    pub cpus: Option<u32>,
}

impl SlurmRequest {
    /// The config's `[slurm]` defaults.
    pub fn from_config(s: &SlurmSection) -> Self {
        SlurmRequest {
            partition: s.partition.clone(),
            gpus: s.gpus.unwrap_or(0),
            time: s.time.clone(),
            max_parallel: s.max_parallel,
            cpus: s.cpus,
        }
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

/// The `sbatch` script for `n_cells` cells (`--array=0-(n-1)%K`).
pub fn script(
    name: &str,
    n_cells: usize,
    req: &SlurmRequest,
    homogen: &Path,
    config: &Path,
    out: &Path,
) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name=homogen-{name}\n"));
    let last = n_cells.saturating_sub(1);
    match req.max_parallel {
        Some(k) => s.push_str(&format!("#SBATCH --array=0-{last}%{k}\n")),
        None => s.push_str(&format!("#SBATCH --array=0-{last}\n")),
    }
    s.push_str(&format!(
        "#SBATCH --output={}/slurm/%A_%a.out\n",
        out.to_string_lossy()
    ));
    if let Some(p) = &req.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if req.gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{}\n", req.gpus));
    }
    if let Some(t) = &req.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(c) = req.cpus {
        s.push_str(&format!("#SBATCH --cpus-per-task={c}\n"));
    }
    let device = if req.gpus > 0 { "cuda:0" } else { "cpu" };
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!(
        "exec {} run {} --out {} --task-index \"$SLURM_ARRAY_TASK_ID\" --devices {device} --quiet\n",
        quote(homogen),
        quote(config),
        quote(out)
    ));
    s
}
