//! `homogen measure FILE...`: homogenization metrics on any failure table (DESIGN.md §4).

use std::path::PathBuf;

use clap::Args;
use homogen::failures;

/// Arguments of `homogen measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Failure tables (CSV or Parquet), concatenated.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// A group column to measure group-level homogenization over; repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
}

/// Reads the tables, checks them and measures.
pub fn run(args: MeasureArgs) -> anyhow::Result<()> {
    let table = failures::read_tables(&args.files)?;
    let systems = failures::systems(&table, &args.groups)?;
    for s in &systems {
        println!(
            "{}: {} deployments, {} people",
            s.name,
            s.n_deployments(),
            s.n_people()
        );
    }
    Ok(())
}
