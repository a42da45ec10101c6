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

/// The finished cells of a run folder that a new config makes stale (see [`stale_cells`]),
/// each as `method / seed S / task`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StaleCells {
    /// Cells of the new grid whose folder holds a cell finished with another spec: they will
    /// be trained again, and until then the report leaves them out.
    pub retrained: Vec<String>,
    /// Finished cells of the saved grid that the new grid no longer has: the report leaves
    /// them out.
    pub dropped: Vec<String>,
}

impl StaleCells {
    /// A warning naming the stale cells (at most five of each kind).
    pub fn warning(&self, out: &Path) -> String {
        let list = |v: &[String]| {
            let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if v.len() > 5 {
                s.push_str(&format!(", and {} more", v.len() - 5));
            }
            s
        };
        let mut parts = Vec::new();
        if !self.retrained.is_empty() {
            parts.push(format!(
                "{} finished cells were trained with another spec and will be trained again \
                 ({})",
                self.retrained.len(),
                list(&self.retrained)
            ));
        }
        if !self.dropped.is_empty() {
            parts.push(format!(
                "{} finished cells are no longer in the grid and leave the report ({})",
                self.dropped.len(),
                list(&self.dropped)
            ));
        }
        format!(
            "the config differs from the one saved in {}, which it replaces: {}",
            out.join(SAVED_CONFIG).display(),
            parts.join("; ")
        )
    }
}

/// Compares `config` with the config saved in run folder `out` (by an earlier `run` or
/// `plan`): `None` when there is none, it is the same, or no finished cell is affected;
/// otherwise the finished cells that replacing it makes stale.
pub fn stale_cells(config: &ModelSharingConfig, out: &Path) -> Result<Option<StaleCells>> {
    let Ok(old_text) = std::fs::read_to_string(out.join(SAVED_CONFIG)) else {
        return Ok(None);
    };
    let saved =
        toml::to_string(config).map_err(|e| Error::Runtime(format!("config to TOML: {e}")))?;
    if old_text == saved {
        return Ok(None);
    }
    let name = |c: &Cell| format!("{} / seed {} / {}", c.method, c.seed, c.task);
    let finished_hash = |c: &Cell| {
        std::fs::read_to_string(c.done_path())
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|_| c.failures_path().is_file())
    };
    let cells = grid::expand(config, out)?;
    let mut stale = StaleCells::default();
    for c in &cells {
        if finished_hash(c).is_some_and(|h| h != c.hash) {
            stale.retrained.push(name(c));
        }
    }
    let mut old = runner::read_jobs(&out.join(JOBS)).unwrap_or_default();
    for c in &mut old {
        c.relocate(out);
        let kept = cells
            .iter()
            .any(|n| (&n.method, n.seed, &n.task) == (&c.method, c.seed, &c.task));
        if !kept && finished_hash(c).is_some() {
            stale.dropped.push(name(c));
        }
    }
    Ok((stale != StaleCells::default()).then_some(stale))
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
/// When no cell of the grid is finished there is nothing to measure: no report is written (a
/// report already in `out` is kept) and the summary is `None`.
pub fn run(
    config: &ModelSharingConfig,
    out: &Path,
    exec: &dyn CellExecutor,
    devices: &[String],
    on_cell: runner::OnCell<'_>,
) -> Result<(Option<ReportSummary>, Vec<CellStatus>)> {
    config.check_datasets()?;
    let cells = prepare(config, out)?;
    let statuses = runner::run_cells(exec, &cells, devices, on_cell);
    let summary = match cells.iter().any(Cell::is_done) {
        true => Some(report(out)?),
        false => None,
    };
    Ok((summary, statuses))
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
    let cell = cell_at(&cells, index)?;
    match runner::run_cell(exec, cell, device) {
        CellStatus::Failed { error, bad_input } => {
            let message = format!(
                "cell {index} ({} / seed {} / {}) failed: {error}",
                cell.method, cell.seed, cell.task
            );
            Err(match bad_input {
                true => Error::input(message),
                false => Error::Runtime(message),
            })
        }
        st => Ok(st),
    }
}

/// Fills the probe feature cache with what cell `index` of the grid reads (`homogen run
/// --task-index I --features-only`, the first array of a Slurm run; see
/// [`grid::feature_fills`]); trains nothing. Returns the line saying what was done.
pub fn fill_task(
    config: &ModelSharingConfig,
    out: &Path,
    exec: &execute::TrainerExecutor,
    index: usize,
    device: &str,
) -> Result<String> {
    let cells = prepare(config, out)?;
    let cell = cell_at(&cells, index)?;
    let name = format!(
        "cell {index} ({} / seed {} / {})",
        cell.method, cell.seed, cell.task
    );
    if cell.is_done() {
        return Ok(format!("{name} is finished: no features to fill"));
    }
    Ok(match exec.fill_features(cell, device)? {
        Some(line) => format!("{name}: {line}"),
        None => format!("{name} trains its backbone: it reads no cached features"),
    })
}

/// Cell `index` of `cells`; an error naming `--task-index` when the grid has no such cell.
fn cell_at(cells: &[Cell], index: usize) -> Result<&Cell> {
    cells.get(index).ok_or_else(|| {
        InputError::new(format!(
            "task index {index} is outside the grid's {} cells (0..{})",
            cells.len(),
            cells.len().saturating_sub(1)
        ))
        .at_key("--task-index")
        .into()
    })
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
    /// Cells with a manifest or checkpoint that cannot be read: (method, seed, task, what is
    /// wrong and what becomes of the cell); see [`damaged_cells`].
    pub damaged: Vec<(String, u64, String, String)>,
}

/// The cells whose `manifest.json`, failure table or (unfinished cells) checkpoint cannot be
/// read, as
/// (method, seed, task, what): the file, what is wrong with it, and what becomes of the cell —
/// a finished cell is still reported (its `DONE` marker holds its spec's hash) unless its table
/// is the damaged file; an unfinished one (or one whose table cannot be read) is trained again
/// by the next `homogen run`, which moves the damaged files aside.
pub fn damaged_cells(cells: &[Cell]) -> Vec<(String, u64, String, String)> {
    let mut out = Vec::new();
    for c in cells.iter().filter(|c| c.out.is_dir()) {
        let done = c.is_done();
        let mut problems = Vec::new();
        if let Err(e) = crate::adapt::manifest::Manifest::load(&c.out.join("manifest.json")) {
            problems.push(e.to_string());
        }
        if c.has_done_marker() && !done {
            if let Some(p) = c.table_problem() {
                problems.push(format!("its failure table cannot be read: {p}"));
            }
        }
        // Looked at twice: a cell training now (a Slurm task) replaces its last epoch's files
        // right after writing the next, which can look like a missing file for a moment.
        let damage = || match crate::adapt::checkpoint::inspect(&c.out, None) {
            crate::adapt::checkpoint::Found::Damaged(d) => Some(d),
            _ => None,
        };
        if !done && damage().is_some() {
            if let Some(d) = damage() {
                problems.push(format!("its checkpoint cannot be resumed from: {d}"));
            }
        }
        if problems.is_empty() {
            continue;
        }
        let fate = match done {
            true => "the cell finished (its DONE marker holds this spec's hash), so its table is \
                     reported"
                .to_string(),
            false => "the cell is not reported; the next `homogen run` trains it again, moving \
                      the damaged files aside"
                .to_string(),
        };
        out.push((
            c.method.clone(),
            c.seed,
            c.task.clone(),
            format!("{}; {fate}", problems.join("; ")),
        ));
    }
    out
}

/// Measures a run folder and writes `failures.parquet` (the joined tables), `results.csv`,
/// `report.md` and `figures/`. Cells neither finished nor failed count as missing. A run folder
/// without a `cells/` folder, or with no finished cell, is an input error and nothing is
/// written (a report there from earlier is kept, not replaced by one of undefined values).
pub fn report(run_dir: &Path) -> Result<ReportSummary> {
    if !run_dir.is_dir() {
        let what = match run_dir.exists() {
            true => "is a file; expected a model-sharing run folder",
            false => "no such folder; expected a model-sharing run folder",
        };
        return Err(InputError::new(what).in_file(run_dir).into());
    }
    let saved = run_dir.join(SAVED_CONFIG);
    let text = std::fs::read_to_string(&saved).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::from(
            InputError::new("not a model-sharing run folder (no config.toml; run `homogen run` or `homogen plan` first)")
                .in_file(&saved),
        ),
        _ => Error::reading(&saved, e),
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
    let damaged = damaged_cells(&cells);
    let cells_dir = run_dir.join("cells");
    if !cells_dir.is_dir() {
        return Err(InputError::new(
            "no such folder: no cell of this run has been trained here (train them with \
             `homogen run` or the Slurm array of `homogen plan`); nothing was written",
        )
        .in_file(&cells_dir)
        .into());
    }
    if finished == 0 {
        let damaged_note = match damaged.first() {
            Some((m, seed, task, what)) => format!(
                "; {} with damaged files, first {m} / seed {seed} / {task}: {what}",
                damaged.len()
            ),
            None => String::new(),
        };
        return Err(InputError::new(format!(
            "none of the {} cells of the run is finished ({} failed{damaged_note}); nothing to \
             measure, and nothing was written",
            cells.len(),
            failed.len()
        ))
        .in_file(&cells_dir)
        .into());
    }
    let incomplete = measure::incomplete_systems(&cells);
    // Everything is read and checked before anything is written: a cell's table that is bad
    // input leaves the folder's earlier report, tables and figures as they were.
    let groupings = &config.experiment.groupings;
    let table = measure::join_tables(&cells, groupings)?;
    let systems = measure::measure_systems(&table, groupings)?;
    let failures_path = run_dir.join("failures.parquet");
    if !table.is_empty() {
        crate::failures::write_parquet(&failures_path, &table)?;
    }
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
        damaged: &damaged,
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
        damaged,
    })
}
