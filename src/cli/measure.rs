//! `homogen measure FILE...`: homogenization metrics on any failure table (DESIGN.md §4).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use homogen::error::Error;
use homogen::failures;
use homogen::metrics::{self, Compat, Options, SystemResult};
use homogen::report::tidy::{self, TidyRow};

/// The metric names of the output, shown after `--help`.
const METRICS_HELP: &str = "\
Output rows (system, grouping, metric, value, ci_lo, ci_hi, p_value, note):
  individual: h_individual (p_value from --permutations), systemic_failure_observed,
    systemic_failure_expected, failure_rate:<deployment>, at_least_<m>_observed|expected|ratio
    (k-of-n exclusion, m = 1..k), covariance|pmi|phi|kappa:<a>|<b> (pairs of deployments),
    loss_h, min_exp, exp_exp (with a `loss` column)
  <group column>: h_avg, h_unif, h_worst (note: worst group), unfairness, failure_rate_product:<group>
  --by COL: system `COL=value`, rows mean:<metric> (95% t interval), sd:<metric>, n:<metric>
  --by COL --compare: system `COL=a − COL=b`, rows difference:<metric> (Welch 95% interval;
    note: higher|lower|no clear difference)
  --correlations: system `across_systems`, rows pearson_r2:<a>|<b>, spearman_rho:<a>|<b>
Intervals: bootstrap over people, percentiles 2.5/97.5 (linear interpolation).
  The same files and options give the same bytes. The draws follow --seed, each system's
  position and the people's order, and resample a person with all their groups at once: so
  reordering rows or systems, or adding a --group, draws other replicates (an interval or
  p-value moves within its Monte Carlo error).
Undefined values have an empty value and the reason in note.";

/// Output formats of `homogen measure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned blocks for reading in a terminal.
    Table,
    /// The tidy CSV: system,grouping,metric,value,ci_lo,ci_hi,p_value,note.
    Csv,
    /// The tidy rows as a JSON array.
    Json,
}

/// How to treat a group missing from a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompatArg {
    /// The authors' code: failure rate 1 where the group is missing.
    Reference,
}

/// The most bootstrap replicates `--bootstrap` takes (each keeps 8 bytes per metric row).
const MAX_BOOTSTRAP: u64 = 1_000_000;
/// The most permutations `--permutations` takes.
const MAX_PERMUTATIONS: u64 = 100_000_000;

/// Arguments of `homogen measure`.
#[derive(Debug, Args)]
#[command(after_help = METRICS_HELP)]
pub struct MeasureArgs {
    /// Failure tables (CSV or Parquet), concatenated.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// A group column to measure group-level homogenization over; repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Bootstrap replicates over people for percentile 95% intervals (0: none; at most
    /// 1,000,000, which keep 8 bytes per metric each).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=MAX_BOOTSTRAP))]
    pub bootstrap: u64,
    /// Permutations for the p-value of H_individual against independence (0: none; at most
    /// 100,000,000, a p-value resolution of 1e-8).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=MAX_PERMUTATIONS))]
    pub permutations: u64,
    /// Seed of the bootstrap and the permutations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write here (atomically) instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// `reference`: give a group missing from a deployment failure rate 1, as the authors'
    /// code does (default: leave it out and list it).
    #[arg(long, value_enum)]
    pub compat: Option<CompatArg>,
    /// Aggregate every metric over the systems sharing this column's value (mean, sd, n, 95% t
    /// interval).
    #[arg(long)]
    pub by: Option<String>,
    /// With `--by COL`: for every pair of COL's values, Welch's difference of each metric's
    /// mean over their systems, with its 95% interval (higher or lower only where it excludes
    /// zero).
    #[arg(long, requires = "by")]
    pub compare: bool,
    /// Pearson R² and Spearman rho between metrics across systems.
    #[arg(long)]
    pub correlations: bool,
    /// Read a schema column from another column of the files: ROLE is one of system,
    /// deployment, example_id, label, prediction, failure, loss; repeatable (`--column
    /// example_id=person --column label=y_true`). A column that carries a renamed role's schema
    /// name is then ignored.
    #[arg(long = "column", value_name = "ROLE=NAME")]
    pub columns: Vec<String>,
    /// Each file is one deployment, named after the file: its name without extension, or as
    /// much of its path as tells the files apart (`x/preds`, `y/preds`). For files holding one
    /// model's predictions each, without a deployment column.
    #[arg(long)]
    pub deployment_per_file: bool,
    /// One row per person and one column per deployment: `prediction=COL,COL...` (each
    /// column a deployment's predictions, compared with the label column) or
    /// `failure=COL,COL...` (each a deployment's failure flags); deployments are named after
    /// the columns, and every other column is read as usual.
    #[arg(long, value_name = "ROLE=COLS", conflicts_with = "deployment_per_file")]
    pub wide: Option<String>,
}

/// Reads the tables, measures every system and writes the report.
pub fn run(args: MeasureArgs) -> anyhow::Result<()> {
    if let Some(output) = &args.output {
        failures::check_output_file(output, "--output")?;
        failures::refuse_overwriting_inputs(output, &args.files)?;
    }
    let wide = args
        .wide
        .as_deref()
        .map(failures::Wide::parse)
        .transpose()?;
    if let Some(wide) = &wide {
        for column in &args.groups {
            wide.refuse_as_attribute(column, "--group")?;
        }
        if let Some(column) = &args.by {
            wide.refuse_as_attribute(column, "--by")?;
        }
    }
    let read = failures::ReadOptions {
        columns: failures::ColumnMap::parse(&args.columns)?,
        deployment_per_file: args.deployment_per_file,
        wide,
    };
    let (table, dropped) = failures::read_tables_noting(&args.files, &read)?;
    for line in dropped {
        eprintln!("warning: {line}");
    }
    let systems = failures::systems(&table, &args.groups)?;
    if let Some(column) = &args.by {
        // Before measuring, which can take minutes with many draws.
        failures::check_attribute(&table, column, &args.groups, "--by")?;
    }
    let opts = Options {
        bootstrap: args.bootstrap as usize,
        permutations: args.permutations as usize,
        seed: args.seed,
        compat: match args.compat {
            Some(CompatArg::Reference) => Compat::Reference,
            None => Compat::Correct,
        },
    };
    let results: Vec<SystemResult> = systems
        .iter()
        .enumerate()
        .map(|(i, s)| SystemResult {
            name: s.name.clone(),
            attributes: s.attributes.clone(),
            rows: metrics::measure_system(s, &opts, i as u64),
        })
        .collect();

    let mut rows: Vec<TidyRow> = results
        .iter()
        .flat_map(|r| r.rows.iter().map(|m| TidyRow::from_measurement(&r.name, m)))
        .collect();
    if let Some(column) = &args.by {
        for (label, block) in metrics::aggregate_by(&results, column)? {
            rows.extend(block.iter().map(|m| TidyRow::from_measurement(&label, m)));
        }
        if args.compare {
            for (label, block) in metrics::compare_by(&results, column)? {
                rows.extend(block.iter().map(|m| TidyRow::from_measurement(&label, m)));
            }
        }
    }
    if args.correlations {
        rows.extend(
            metrics::correlations(&results)
                .iter()
                .map(|m| TidyRow::from_measurement("across_systems", m)),
        );
    }

    let write = |w: &mut dyn Write| -> homogen::error::Result<()> {
        match args.format {
            OutputFormat::Csv => tidy::write_csv(&rows, w),
            OutputFormat::Json => {
                writeln!(w, "{}", tidy::to_json(&rows)).map_err(|e| Error::io("writing JSON", e))
            }
            OutputFormat::Table => write!(w, "{}", tidy::render_table(&rows))
                .map_err(|e| Error::io("writing the table", e)),
        }
    };
    match &args.output {
        // An I/O failure names the option and its path (a folder that cannot be created).
        Some(path) => failures::write_atomically(path, |w| write(w)).map_err(|e| match e {
            Error::Io { context, os_error } => Error::Io {
                context: format!(
                    "writing the output (option `-o`/`--output` {}): {context}",
                    path.display()
                ),
                os_error,
            },
            other => other,
        })?,
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            write(&mut lock)?;
        }
    }
    Ok(())
}
