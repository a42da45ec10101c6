//! Runs a model-sharing grid: each cell through a [`CellExecutor`] (the trainer), skipping
//! finished cells and marking failed ones, several cells at once when several devices are
//! given (one thread per device).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::grid::Cell;
use crate::error::{Error, Result};
use crate::failures::write_atomically;

/// Trains one cell: reads `cell.spec` (with `device` set) and writes `cell.failures_path()`.
pub trait CellExecutor: Sync {
    /// Trains the cell on `device` (`cpu`, `cuda:N`); the runner writes the markers.
    fn execute(&self, cell: &Cell, device: &str) -> Result<()>;
}

/// What happened to one cell.
#[derive(Debug, Clone, PartialEq)]
pub enum CellStatus {
    /// Already finished with the same hash; nothing ran.
    Skipped,
    /// Trained now.
    Trained,
    /// Failed (the error is also in the cell's `FAILED` marker).
    Failed {
        /// The error's message.
        error: String,
        /// True when the error is bad input (a corrupt image, a wrong setting): the user must
        /// change something; false for a runtime failure.
        bad_input: bool,
    },
}

impl CellStatus {
    /// True for [`CellStatus::Failed`].
    pub fn is_failed(&self) -> bool {
        matches!(self, CellStatus::Failed { .. })
    }
}

/// Runs one cell idempotently: skipped when done, else trained and marked `DONE` (its hash)
/// or `FAILED` (the error).
pub fn run_cell(exec: &dyn CellExecutor, cell: &Cell, device: &str) -> CellStatus {
    if cell.is_done() {
        return CellStatus::Skipped;
    }
    let _ = std::fs::remove_file(cell.failed_path());
    let result = std::fs::create_dir_all(&cell.out)
        .map_err(|e| Error::io(format!("creating {}", cell.out.display()), e))
        .and_then(|()| exec.execute(cell, device))
        .and_then(|()| {
            if cell.failures_path().is_file() {
                Ok(())
            } else {
                Err(Error::Runtime(format!(
                    "the trainer wrote no {}",
                    cell.failures_path().display()
                )))
            }
        });
    let marker = match &result {
        Ok(()) => (cell.done_path(), cell.hash.clone()),
        Err(e) => (cell.failed_path(), format!("{e}\n")),
    };
    let written = write_atomically(&marker.0, |w| {
        use std::io::Write;
        w.write_all(marker.1.as_bytes())
            .map_err(|e| Error::io("writing marker", e))
    });
    match (result, written) {
        (Ok(()), Ok(())) => CellStatus::Trained,
        (Err(e), _) | (Ok(()), Err(e)) => CellStatus::Failed {
            error: e.to_string(),
            bad_input: matches!(e, Error::Input(_)),
        },
    }
}

/// Called after each cell with its status and the seconds it took (progress reporting).
pub type OnCell<'a> = &'a (dyn Fn(&Cell, &CellStatus, f64) + Sync);

/// Runs every cell, one thread per device pulling the next cell from a shared counter; calls
/// `on_cell` after each; returns each cell's status in index order.
pub fn run_cells(
    exec: &dyn CellExecutor,
    cells: &[Cell],
    devices: &[String],
    on_cell: OnCell<'_>,
) -> Vec<CellStatus> {
    let next = AtomicUsize::new(0);
    let statuses: Mutex<Vec<Option<CellStatus>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|s| {
        for device in devices {
            let (next, statuses) = (&next, &statuses);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(cell) = cells.get(i) else { break };
                let started = std::time::Instant::now();
                let st = run_cell(exec, cell, device);
                on_cell(cell, &st, started.elapsed().as_secs_f64());
                if let Ok(mut v) = statuses.lock() {
                    v[i] = Some(st);
                }
            });
        }
    });
    statuses
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            s.unwrap_or(CellStatus::Failed {
                error: "not run".into(),
                bad_input: false,
            })
        })
        .collect()
}

/// The cells of a run folder's `jobs.jsonl`.
pub fn read_jobs(path: &Path) -> Result<Vec<Cell>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::reading_or_fetch(
            path,
            e,
            Some("it lists the run's cells, and `homogen run CONFIG` or `homogen plan CONFIG` writes it"),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        crate::error::InputError::new(format!(
            "not UTF-8 text (byte {at}); expected one JSON cell per line"
        ))
        .in_file(path)
        .at_row(crate::error::line_at(e.as_bytes(), at))
    })?;
    let mut cells: Vec<(usize, Cell)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| -> Error {
            crate::error::InputError::new(message)
                .in_file(path)
                .at_row(i + 1)
                .into()
        };
        let cell: Cell = serde_json::from_str(line).map_err(|e| bad(format!("not a cell: {e}")))?;
        // A cell listed twice would be measured twice (each person twice in one deployment).
        if let Some((row, _)) = cells
            .iter()
            .find(|(_, c)| (&c.method, c.seed, &c.task) == (&cell.method, cell.seed, &cell.task))
        {
            return Err(bad(format!(
                "the cell {} / seed {} / {} is listed twice (also at row {row}); expected one \
                 line per cell, as `homogen plan` writes",
                cell.method, cell.seed, cell.task
            )));
        }
        cells.push((i + 1, cell));
    }
    Ok(cells.into_iter().map(|(_, c)| c).collect())
}
