//! `homogen data describe (--dataset NAME [--root DIR] | CONFIG)`: split sizes, label balance
//! and group sizes from the annotations only.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use homogen::data::{self, describe, DatasetSpec};
use homogen::error::{Error, InputError};

/// Arguments of `homogen data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

/// The `data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Per split: number of examples, label balance per task, counts per group.
    Describe(DescribeArgs),
}

/// Output formats of `data describe`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// `dataset,split,task_or_grouping,value,count`.
    Csv,
}

/// Arguments of `homogen data describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// A TOML config with a `[dataset]` table or `[[datasets]]` tables (keys of DatasetSpec).
    pub config: Option<PathBuf>,
    /// Dataset name: celeba, imdb, ag_news, yahoo_answers_topics, hate_speech18.
    #[arg(long, conflicts_with = "config")]
    pub dataset: Option<String>,
    /// Local folder with the data; default: the Hugging Face cache.
    #[arg(long, requires = "dataset")]
    pub root: Option<PathBuf>,
    /// Hub revision to look up in the cache.
    #[arg(long, requires = "dataset")]
    pub revision: Option<String>,
    /// CelebA task attribute; repeatable.
    #[arg(long = "task", requires = "dataset")]
    pub tasks: Vec<String>,
    /// Text column override (e.g. question_content for Yahoo).
    #[arg(long, requires = "dataset")]
    pub text_field: Option<String>,
    /// Number of length bins.
    #[arg(long, requires = "dataset")]
    pub length_bins: Option<usize>,
    /// Grouping to count; repeatable (default: every grouping the dataset has).
    #[arg(long = "grouping", requires = "dataset")]
    pub groupings: Vec<String>,
    /// TOML file with `male = [..]` and `female = [..]` replacing the paper's gender words.
    #[arg(long, requires = "dataset")]
    pub gender_words: Option<PathBuf>,
    /// Seed of HateSpeech18's 80/20 cut.
    #[arg(long, requires = "dataset")]
    pub split_seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    dataset: Option<DatasetSpec>,
    #[serde(default)]
    datasets: Vec<DatasetSpec>,
}

fn specs(args: &DescribeArgs) -> anyhow::Result<Vec<DatasetSpec>> {
    if let Some(name) = &args.dataset {
        let mut spec = DatasetSpec::named(name);
        spec.root = args.root.clone();
        spec.revision = args.revision.clone();
        spec.tasks = args.tasks.clone();
        spec.text_field = args.text_field.clone();
        if let Some(n) = args.length_bins {
            spec.length_bins = n;
        }
        if !args.groupings.is_empty() {
            spec.groupings = Some(args.groupings.clone());
        }
        spec.gender_words = args.gender_words.clone();
        if let Some(s) = args.split_seed {
            spec.split_seed = s;
        }
        return Ok(vec![spec]);
    }
    let Some(path) = &args.config else {
        return Err(Error::input("give --dataset NAME (with --root DIR) or a CONFIG file").into());
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))?;
    let config: ConfigFile = homogen::tomlfile::parse(&text, path, "not a dataset config")?;
    let mut all: Vec<DatasetSpec> = config.dataset.into_iter().collect();
    all.extend(config.datasets);
    if all.is_empty() {
        return Err(Error::from(
            InputError::new("no `[dataset]` or `[[datasets]]` table").in_file(path),
        )
        .into());
    }
    // Relative roots are relative to the config file.
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    for s in &mut all {
        if let Some(r) = &s.root {
            if r.is_relative() {
                s.root = Some(base.join(r));
            }
        }
    }
    Ok(all)
}

/// Loads the annotations and prints the description.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    let DataCommand::Describe(args) = args.command;
    let mut rows = Vec::new();
    for spec in specs(&args)? {
        let ds = data::load(&spec, false)?;
        rows.extend(describe::describe(&ds));
    }
    let mut buf = Vec::new();
    match args.format {
        Format::Csv => describe::write_csv(&rows, &mut buf)?,
        Format::Table => buf.extend(describe::render_table(&rows, 20).into_bytes()),
    }
    match &args.out {
        Some(path) => homogen::failures::write_atomically(path, |w| {
            use std::io::Write;
            w.write_all(&buf)
                .map_err(|e| homogen::error::Error::io(format!("writing {}", path.display()), e))
        })?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&buf)?;
        }
    }
    Ok(())
}
