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

impl SlurmRequest {
    /// Checks what goes into the script's `#SBATCH` lines: a time limit in one of Slurm's
    /// formats, a partition name (list) without spaces or line breaks, at least one task at a
    /// time. An error names the field (`time`, `partition`, `max_parallel`) and what was expected.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(t) = self.time.as_deref().filter(|t| !is_slurm_time(t)) {
            return Err((
                "time",
                format!(
                    "`{t}` is not a Slurm time limit: expected minutes, MM:SS, HH:MM:SS, D-HH, \
                     D-HH:MM, D-HH:MM:SS or UNLIMITED"
                ),
            ));
        }
        if let Some(p) = self.partition.as_deref().filter(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ','))
        }) {
            return Err((
                "partition",
                format!(
                    "`{p}` is not a partition name: expected letters, digits, `_`, `-`, `.` \
                     (several separated by `,`)"
                ),
            ));
        }
        if self.max_parallel == Some(0) {
            return Err(("max_parallel", "must be at least 1".into()));
        }
        if self.cpus == Some(0) {
            return Err(("cpus", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Whether `t` is a time limit `sbatch --time` accepts: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`,
/// `D-H:M:S` (all parts digits) or `UNLIMITED`/`INFINITE`.
pub fn is_slurm_time(t: &str) -> bool {
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(digits) && parts.iter().all(|p| digits(p)) && (1..=3).contains(&parts.len())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The formats of `sbatch --time` (Slurm's documentation of the option).
    #[test]
    fn slurm_time_limits() {
        for ok in [
            "30",
            "30:00",
            "01:30:00",
            "2-0",
            "2-12",
            "2-12:30",
            "2-12:30:00",
            "UNLIMITED",
        ] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "1h",
            "1:2:3:4",
            "-1",
            "2-",
            "1.5",
            "2-1:2:3:4",
            "01:30 ",
        ] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
    }
}
