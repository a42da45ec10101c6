//! `homogen report RUN_DIR`: measures a model-sharing run folder (merging the cells that
//! finished, naming those that failed) and writes `results.csv`, `report.md` and `figures/`.

use std::path::PathBuf;

use clap::Args;
use homogen::experiment::modelsharing;

/// Arguments of `homogen report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder (the `out` of `homogen run` or `homogen plan`).
    pub run_dir: PathBuf,
}

/// Writes the report and prints where it is; cells with damaged files and failed cells are
/// listed on stderr.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let s = modelsharing::report(&args.run_dir)?;
    println!(
        "{} of {} cells finished; report: {}; results: {}",
        s.finished,
        s.total,
        s.report.display(),
        s.results.display()
    );
    for (m, seed, task, what) in &s.damaged {
        eprintln!("warning: {m} / seed {seed} / {task}: {what}");
    }
    for (m, seed, task, e) in &s.failed {
        eprintln!(
            "failed: {m} / seed {seed} / {task}: {}",
            e.lines().next().unwrap_or("").trim()
        );
    }
    Ok(())
}
