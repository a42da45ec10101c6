//! `homogen run [CONFIG]`: runs an experiment config; with no argument the built-in default run
//! (the data-sharing study on the bundled German Credit data, offline).

use std::path::PathBuf;

use clap::Args;
use homogen::experiment::config::{Config, DEFAULT_CONFIG};
use homogen::experiment::datasharing::{self, compare, report, RunOptions};
use homogen::experiment::modelsharing::{
    self, config::ModelSharingConfig, execute::TrainerExecutor, runner::CellStatus,
};
use homogen::experiment::protocol::Setting;

/// Arguments of `homogen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment config (TOML); the built-in `configs/default.toml` when absent.
    pub config: Option<PathBuf>,
    /// Output folder, instead of the config's `experiment.out`.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Trials run in parallel (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model-sharing configs: run only this cell of the grid (a Slurm array index).
    #[arg(long)]
    pub task_index: Option<usize>,
    /// With `--task-index`: only fill the probe feature cache with what that cell reads, train
    /// nothing (the first array of a Slurm run, see `homogen plan`).
    #[arg(long, requires = "task_index")]
    pub features_only: bool,
    /// Model-sharing configs: devices to run cells on concurrently, e.g. `cuda:0,cuda:1`
    /// (default: the config's `experiment.devices`).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Model-sharing configs: folder of the probe feature cache, shared by the runs pointed at
    /// it (default: the config's `experiment.feature_cache`, else `<out>/.feature-cache`).
    #[arg(long)]
    pub feature_cache: Option<PathBuf>,
}

/// Loads the config, runs it and prints where the report is and a short summary.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    if let Some(path) = &args.config {
        let text = Config::read_text(path)?;
        if modelsharing::config::kind_of(&text).as_deref() == Some("modelsharing") {
            // Model training keeps every core for its matrix products.
            homogen::device::fix_thread_count(None);
            return run_modelsharing(&args, path, &text, quiet);
        }
    }
    // Data-sharing trials are the parallel unit: candle would otherwise split every tiny
    // matmul across the cores.
    homogen::device::fix_thread_count(Some(1));
    if args.task_index.is_some() || args.devices.is_some() || args.feature_cache.is_some() {
        return Err(homogen::error::Error::from(homogen::error::InputError::new(
            "--task-index, --devices and --feature-cache apply to model-sharing configs (kind = \
             \"modelsharing\") only",
        ))
        .into());
    }
    let (config, text) = match &args.config {
        Some(path) => {
            let text = Config::read_text(path)?;
            (Config::parse(&text, path)?, text)
        }
        None => (Config::default_run()?, DEFAULT_CONFIG.to_string()),
    };
    let summary = datasharing::run(
        &config,
        &text,
        args.out.as_deref(),
        RunOptions {
            quiet,
            threads: args.threads,
        },
    )?;
    println!(
        "{} trials in {:.1} s; report: {}",
        summary.n_trials,
        summary.seconds,
        summary.report.display()
    );
    println!(
        "{:<9} {:>5}  {:>22}  {:>22}  fixed − disjoint [95% CI over data seeds]",
        "learner",
        "scale",
        report::HEADLINE.to_string() + " fixed",
        "disjoint"
    );
    for learner in &config.protocol.learners {
        for &scale in &config.protocol.scales {
            let get = |s| {
                report::find(
                    &summary.results,
                    learner,
                    s,
                    scale,
                    "individual",
                    report::HEADLINE,
                )
            };
            let show =
                |r: Option<&report::ResultRow>| match r.and_then(|r| r.mean.map(|m| (m, r.sd))) {
                    Some((m, Some(sd))) => format!("{m:.3} ± {sd:.3}"),
                    Some((m, None)) => format!("{m:.3}"),
                    None => "not measured".to_string(),
                };
            let difference = compare::find(
                &summary.comparisons,
                learner,
                scale,
                "individual",
                report::HEADLINE,
            );
            println!(
                "{learner:<9} {scale:>5}  {:>22}  {:>22}  {}",
                show(get(Setting::Fixed)),
                show(get(Setting::Disjoint)),
                report::difference_cell(difference)
            );
        }
    }
    for learner in &config.protocol.learners {
        let summary =
            report::verdict_summary(&summary.comparisons, learner, &config.protocol.scales);
        println!("{learner}, fixed − disjoint: {summary}");
    }
    Ok(())
}

/// `homogen run` on a model-sharing config: the whole grid, or one cell with `--task-index`.
fn run_modelsharing(
    args: &RunArgs,
    path: &std::path::Path,
    text: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    let config = ModelSharingConfig::parse(text, path)?;
    let out = args.out.clone().unwrap_or(config.experiment.out.clone());
    let devices = args
        .devices
        .clone()
        .unwrap_or(config.experiment.devices.clone());
    // Every device opens before any cell trains (`cuda:0` on a build without CUDA is one bad
    // input, not a failure per cell), named by where it was given.
    for d in &devices {
        if let Err(homogen::error::Error::Input(mut e)) = homogen::device::parse_device(d) {
            match args.devices.is_some() {
                true => e.key = Some("--devices".into()),
                false => {
                    e.key = Some("experiment.devices".into());
                    e.file = Some(path.to_path_buf());
                }
            }
            return Err(homogen::error::Error::Input(e).into());
        }
    }
    // The model and datasets the cache lacks are downloaded once, before any cell starts.
    for line in config.fetch_missing(!quiet)? {
        eprintln!("downloaded {line}");
    }
    if let Some(stale) = modelsharing::stale_cells(&config, &out)? {
        eprintln!("warning: {}", stale.warning(&out));
    }
    let multi = indicatif::MultiProgress::new();
    let exec = TrainerExecutor {
        quiet,
        cache_dir: Some(match &args.feature_cache {
            Some(dir) => dir.clone(),
            None => config.experiment.feature_cache_in(&out),
        }),
        progress: Some(multi.clone()),
    };
    if let Some(i) = args.task_index {
        let device = devices.first().map_or("cpu", |d| d.as_str());
        if args.features_only {
            println!(
                "{}",
                modelsharing::fill_task(&config, &out, &exec, i, device)?
            );
            return Ok(());
        }
        let st = modelsharing::run_task(&config, &out, &exec, i, device)?;
        println!("cell {i}: {st:?}");
        return Ok(());
    }
    let total = config.methods.len() * config.seeds.values.len() * config.tasks.len();
    let bar = homogen::adapt::progress::cells_bar(total, quiet, &multi);
    let done = std::sync::atomic::AtomicUsize::new(0);
    // (index, method, seed, task, first line of the error) of each failed cell.
    let failed = std::sync::Mutex::new(Vec::<(usize, String, u64, String, String)>::new());
    let on_cell = |cell: &modelsharing::grid::Cell, st: &CellStatus, secs: f64| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        bar.inc(1);
        if let CellStatus::Failed { error, .. } = st {
            if let Ok(mut f) = failed.lock() {
                let line = error.lines().next().unwrap_or("").trim().to_string();
                f.push((
                    cell.index,
                    cell.method.clone(),
                    cell.seed,
                    cell.task.clone(),
                    line,
                ));
            }
        }
        if !quiet {
            let what = match st {
                CellStatus::Skipped => "already finished".to_string(),
                CellStatus::Trained => format!("trained in {secs:.1} s"),
                CellStatus::Failed { error, .. } => {
                    format!("FAILED: {}", error.lines().next().unwrap_or("").trim())
                }
            };
            let line = format!(
                "[{n}/{total}] {} / seed {} / {}: {what}",
                cell.method, cell.seed, cell.task
            );
            homogen::adapt::progress::log_line(Some(&multi), &line);
        }
    };
    let (summary, statuses) = modelsharing::run(&config, &out, &exec, &devices, &on_cell)?;
    bar.finish_and_clear();
    let count = |f: fn(&CellStatus) -> bool| statuses.iter().filter(|s| f(s)).count();
    let report = match &summary {
        Some(s) => format!("report: {}", s.report.display()),
        None if out.join("report.md").exists() => format!(
            "no cell is finished, so {} was left as it was",
            out.join("report.md").display()
        ),
        None => "no cell is finished, so no report was written".to_string(),
    };
    println!(
        "{} cells: {} trained, {} skipped (already finished), {} failed; {report}",
        statuses.len(),
        count(|s| matches!(s, CellStatus::Trained)),
        count(|s| matches!(s, CellStatus::Skipped)),
        count(CellStatus::is_failed),
    );
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort();
    for (_, m, seed, task, e) in &failed {
        eprintln!("failed: {m} / seed {seed} / {task}: {e}");
    }
    if !failed.is_empty() {
        let message = format!("{} cells failed", failed.len());
        // Every failure is bad input (a corrupt file, a wrong setting): exit 2, as it would
        // be for the one cell alone.
        let all_input = statuses.iter().all(|s| {
            !matches!(
                s,
                CellStatus::Failed {
                    bad_input: false,
                    ..
                }
            )
        });
        if all_input {
            let first = &failed[0];
            return Err(homogen::error::Error::input(format!(
                "{message}, each with bad input (first: {} / seed {} / {}: {})",
                first.1, first.2, first.3, first.4
            ))
            .into());
        }
        anyhow::bail!(message);
    }
    Ok(())
}
