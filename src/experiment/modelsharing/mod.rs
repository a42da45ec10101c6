//! The model-sharing study (issue 7): one foundation model adapted by several methods to several
//! tasks over several seeds; each (method, seed) is a system whose deployments are the tasks.
//! [`prepare`] expands the grid into the run folder, [`run`] trains every cell through a
//! [`runner::CellExecutor`] and reports, [`run_task`] trains one cell (a Slurm array task),
//! [`report()`] measures and writes the report of a run folder.

pub mod compare;
pub mod config;
pub mod execute;
pub mod grid;
pub mod measure;
pub mod plot;
pub mod report;
pub mod runner;
pub mod slurm;

use std::path::{Path, PathBuf};

use config::ModelSharingConfig;
use grid::Cell;
use runner::{CellExecutor, CellStatus};

use crate::error::{Error, InputError, Result};
use crate::failures::write_atomically;

/// The resolved config a run folder keeps (`homogen report` reads it).
pub const SAVED_CONFIG: &str = "config.toml";
/// The grid of a run folder.
pub const JOBS: &str = "jobs.jsonl";
/// The run's manifest (DESIGN.md §7); each cell's own manifest (with the dataset fingerprint)
/// is in its folder.
pub const MANIFEST: &str = "manifest.json";

/// The run manifest: program version, the resolved config and its SHA-256, model and revision,
/// methods, seeds, tasks and every cell's content hash.
fn manifest(config: &ModelSharingConfig, saved: &str, cells: &[Cell]) -> String {
    use sha2::{Digest, Sha256};
    // A Hub model's revision as it resolves (a card's name: the card's commit); each cell's
    // manifest records the commit it loaded.
    let revision = match Path::new(&config.model.id).is_dir() {
        true => config.model.revision.clone(),
        false => {
            Some(crate::models::card::hub_ref(&config.model.id, config.model.revision.as_deref()).1)
        }
    };
    let v = serde_json::json!({
        "program": "homogen",
        "version": env!("CARGO_PKG_VERSION"),
        "kind": "modelsharing",
        "config_sha256": hex::encode(Sha256::digest(saved.as_bytes())),
        "config": saved,
        "model": config.model.id,
        "revision": revision,
        "methods": config.method_labels(),
        "seeds": config.seeds.values,
        "tasks": config.tasks.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
        "groupings": config.experiment.groupings,
        "cells": cells.iter().map(|c| serde_json::json!({
            "index": c.index, "method": c.method, "seed": c.seed, "task": c.task, "hash": c.hash,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

/// A model id for people to read: a folder inside the working directory relative to it (configs
/// store it absolute, see `config::resolve`), anything else unchanged.
fn shown_path(id: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| Path::new(id).strip_prefix(cwd).ok().map(Path::to_path_buf))
        .map_or_else(|| id.to_string(), |p| p.display().to_string())
}

/// Expands the grid into `out`: writes `config.toml` (the resolved config) and `jobs.jsonl`
/// (one cell a line with its hash); returns the cells.
pub fn prepare(config: &ModelSharingConfig, out: &Path) -> Result<Vec<Cell>> {
    crate::experiment::config::check_run_folder(out, "modelsharing")?;
    let cells = grid::expand(config, out)?;
    let saved =
        toml::to_string(config).map_err(|e| Error::Runtime(format!("config to TOML: {e}")))?;
    write_text(&out.join(SAVED_CONFIG), &saved)?;
    write_text(&out.join(JOBS), &grid::jobs_jsonl(&cells)?)?;
    write_text(&out.join(MANIFEST), &manifest(config, &saved, &cells))?;
    Ok(cells)
}

/// Trains every cell (finished ones are skipped), one thread per device, calling `on_cell`
/// after each, then writes the report; returns the report summary and each cell's status.
pub fn run(
    config: &ModelSharingConfig,
    out: &Path,
    exec: &dyn CellExecutor,
    devices: &[String],
    on_cell: runner::OnCell<'_>,
) -> Result<(ReportSummary, Vec<CellStatus>)> {
    config.check_datasets()?;
    let cells = prepare(config, out)?;
    let statuses = runner::run_cells(exec, &cells, devices, on_cell);
    Ok((report(out)?, statuses))
}

/// Trains cell `index` of the grid (idempotently); a failed cell is an error after its
/// `FAILED` marker is written.
pub fn run_task(
    config: &ModelSharingConfig,
    out: &Path,
    exec: &dyn CellExecutor,
    index: usize,
    device: &str,
) -> Result<CellStatus> {
    let cells = prepare(config, out)?;
    let Some(cell) = cells.get(index) else {
        return Err(InputError::new(format!(
            "task index {index} is outside the grid's {} cells (0..{})",
            cells.len(),
            cells.len().saturating_sub(1)
        ))
        .at_key("--task-index")
        .into());
    };
    match runner::run_cell(exec, cell, device) {
        CellStatus::Failed(e) => Err(Error::Runtime(format!(
            "cell {index} ({} / seed {} / {}) failed: {e}",
            cell.method, cell.seed, cell.task
        ))),
        st => Ok(st),
    }
}

/// What [`report()`] wrote.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    /// `report.md`.
    pub report: PathBuf,
    /// `results.csv`.
    pub results: PathBuf,
    /// The joined failure table (`failures.parquet`), absent when no cell finished.
    pub failures: Option<PathBuf>,
    /// Cells finished / in the grid.
    pub finished: usize,
    /// Cells in the grid.
    pub total: usize,
    /// Failed cells: (method, seed, task, error).
    pub failed: Vec<(String, u64, String, String)>,
}

/// Measures a run folder and writes `failures.parquet` (the joined tables), `results.csv`,
/// `report.md` and `figures/`. Cells neither finished nor failed count as missing.
pub fn report(run_dir: &Path) -> Result<ReportSummary> {
    let saved = run_dir.join(SAVED_CONFIG);
    let text = std::fs::read_to_string(&saved).map_err(|_| {
        Error::from(
            InputError::new("not a model-sharing run folder (no config.toml; run `homogen run` or `homogen plan` first)")
                .in_file(&saved),
        )
    })?;
    let config: ModelSharingConfig = crate::tomlfile::parse(&text, &saved, "invalid saved config")?;
    let mut cells = runner::read_jobs(&run_dir.join(JOBS))?;
    for c in &mut cells {
        c.relocate(run_dir);
    }
    let failed: Vec<_> = cells
        .iter()
        .filter(|c| !c.is_done())
        .filter_map(|c| {
            std::fs::read_to_string(c.failed_path())
                .ok()
                .map(|e| (c.method.clone(), c.seed, c.task.clone(), e))
        })
        .collect();
    let finished = cells.iter().filter(|c| c.is_done()).count();
    let incomplete = measure::incomplete_systems(&cells);
    let failures_path = run_dir.join("failures.parquet");
    let table = measure::write_joined(&cells, &failures_path)?;
    let groupings = &config.experiment.groupings;
    let systems = measure::measure_systems(&table, groupings)?;
    let per_method = measure::per_method(&systems)?;
    let correlations = crate::metrics::correlations(&systems);
    let baselines = measure::majority_baselines(&table);
    let methods = config.method_labels();
    let differences = compare::method_differences(&systems, &methods);
    compare::write_differences(&run_dir.join("comparison.csv"), &differences)?;
    let figures = plot::figures(
        &run_dir.join("figures"),
        &methods,
        groupings,
        &systems,
        &per_method,
        &correlations,
    )?;
    let run_name = std::fs::canonicalize(run_dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| run_dir.display().to_string());
    let model = shown_path(&config.model.id);
    let input = report::ReportInput {
        run: &run_name,
        model: &model,
        methods: &methods,
        groupings,
        systems: &systems,
        per_method: &per_method,
        differences: &differences,
        correlations: &correlations,
        baselines: &baselines,
        failed: &failed,
        incomplete: &incomplete,
        figures: &figures,
    };
    let results = run_dir.join("results.csv");
    report::write_results(&results, &report::result_rows(&input))?;
    let report_path = run_dir.join("report.md");
    report::write_report(&report_path, &input)?;
    Ok(ReportSummary {
        report: report_path,
        results,
        failures: (!table.is_empty()).then_some(failures_path),
        finished,
        total: cells.len(),
        failed,
    })
}
