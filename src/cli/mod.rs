//! Subcommands of the `homogen` binary. Each submodule holds one subcommand's arguments and the
//! few lines that call the library; the work itself lives in the library.

mod data;
mod embed;
mod fetch;
mod measure;
mod plan;
mod report;
mod run;
mod train;

use clap::{Parser, Subcommand};

/// Measure outcome homogenization: do ML systems built from shared components fail the same
/// people?
#[derive(Debug, Parser)]
#[command(name = "homogen", version, about, long_about = None)]
struct Cli {
    /// Silence progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Homogenization metrics on any failure table (CSV or Parquet).
    Measure(measure::MeasureArgs),
    /// Describe a dataset: split sizes, label balance, group sizes.
    Data(data::DataArgs),
    /// Download a dataset or model into the Hugging Face cache.
    ///
    /// `run`, `plan`, `train` and `embed` download what they need and the cache lacks; `fetch`
    /// does it ahead of time. Hub downloads honour HF_HOME / HF_HUB_CACHE (the cache),
    /// HF_ENDPOINT (a mirror), HF_TOKEN or the `huggingface-cli login` token file, and
    /// HF_HUB_OFFLINE (only check the cache).
    Fetch(fetch::FetchArgs),
    /// Features of texts or images from a foundation model, as safetensors.
    Embed(embed::EmbedArgs),
    /// Run an experiment config; with no argument, the built-in default run (offline).
    Run(run::RunArgs),
    /// Train one (model, method, task, seed) cell and write its failure table.
    Train(Box<train::TrainArgs>),
    /// Expand a model-sharing config into jobs.jsonl and a Slurm job-array script.
    Plan(plan::PlanArgs),
    /// Measure a model-sharing run folder: results.csv, report.md, figures.
    Report(report::ReportArgs),
}

/// Parses the command line, runs the subcommand and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Measure(args) => measure::run(args),
        Command::Data(args) => data::run(args),
        Command::Fetch(args) => fetch::run(args, cli.quiet),
        Command::Embed(args) => {
            homogen::device::fix_thread_count(None);
            embed::run(args, cli.quiet)
        }
        Command::Run(args) => run::run(args, cli.quiet),
        Command::Train(args) => {
            homogen::device::fix_thread_count(None);
            train::run(*args, cli.quiet)
        }
        Command::Plan(args) => plan::run(args, cli.quiet),
        Command::Report(args) => report::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}

/// 2 when the root cause is bad input (a [`homogen::error::Error::Input`]), 1 otherwise.
fn exit_code(e: &anyhow::Error) -> i32 {
    e.chain()
        .find_map(|c| c.downcast_ref::<homogen::error::Error>())
        .map_or(1, |e| e.exit_code())
}
