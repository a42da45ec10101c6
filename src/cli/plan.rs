//! `homogen plan CONFIG --out DIR`: expands a model-sharing grid into DIR (`jobs.jsonl`, one
//! content-hashed cell a line) and writes an `sbatch` job-array script running one cell a task.

use std::path::PathBuf;

use clap::Args;
use homogen::error::InputError;
use homogen::experiment::modelsharing::{self, config::ModelSharingConfig, slurm};

/// Arguments of `homogen plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Model-sharing experiment config (TOML).
    pub config: PathBuf,
    /// The run folder (default: the config's `experiment.out`).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Slurm partition (default: the config's `[slurm] partition`).
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per task.
    #[arg(long)]
    pub gpus: Option<u32>,
    /// Time limit per task (HH:MM:SS).
    #[arg(long)]
    pub time: Option<String>,
    /// At most this many tasks at once (`--array=0-N%K`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// CPUs per task.
    #[arg(long)]
    pub cpus: Option<u32>,
}

/// Writes `jobs.jsonl` and `submit.sbatch` into the run folder.
pub fn run(args: PlanArgs, quiet: bool) -> anyhow::Result<()> {
    let config = ModelSharingConfig::load(&args.config)?;
    let out = args.out.clone().unwrap_or(config.experiment.out.clone());
    let mut req = slurm::SlurmRequest::from_config(&config.slurm);
    if args.partition.is_some() {
        req.partition = args.partition.clone();
    }
    if let Some(g) = args.gpus {
        req.gpus = g;
    }
    if args.time.is_some() {
        req.time = args.time.clone();
    }
    if args.max_parallel.is_some() {
        req.max_parallel = args.max_parallel;
    }
    if args.cpus.is_some() {
        req.cpus = args.cpus;
    }
    // Checked before anything is written; the error names the flag or the config key.
    if let Err((field, message)) = req.check() {
        let from_flag = match field {
            "time" => args.time.is_some(),
            "partition" => args.partition.is_some(),
            "max_parallel" => args.max_parallel.is_some(),
            "cpus" => args.cpus.is_some(),
            _ => false,
        };
        let key = if from_flag {
            format!("--{}", field.replace('_', "-"))
        } else {
            format!("slurm.{field}")
        };
        let mut e = InputError::new(message).at_key(key);
        if !from_flag {
            e = e.in_file(&args.config);
        }
        return Err(homogen::error::Error::from(e).into());
    }
    // Downloaded here, once, so that array tasks (often on nodes without network) find the
    // model and datasets in the cache. Planning offline, what is missing is left to the tasks.
    // With every dataset at hand, what only training would reject (a wrong `root` or task
    // name, a `num_labels` that is not the task's class count) is one error now, not one failed
    // array task per cell.
    match config.fetch_missing(!quiet) {
        Ok(lines) => {
            lines.iter().for_each(|l| eprintln!("downloaded {l}"));
            config.check_datasets()?;
        }
        Err(e) if homogen::data::hub::offline() => {
            eprintln!(
                "warning: {e}; the array tasks will need to download it (the datasets were not \
                 checked)"
            )
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(stale) = modelsharing::stale_cells(&config, &out)? {
        eprintln!("warning: {}", stale.warning(&out));
    }
    let cells = modelsharing::prepare(&config, &out)?;
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or(p.to_path_buf());
    let exe = std::env::current_exe()?;
    let name = args
        .config
        .file_stem()
        .map_or("run".into(), |s| s.to_string_lossy().into_owned());
    let script = slurm::script(
        &name,
        cells.len(),
        &req,
        &exe,
        &abs(&args.config),
        &abs(&out),
    );
    std::fs::create_dir_all(out.join("slurm"))?;
    let path = out.join("submit.sbatch");
    homogen::failures::write_atomically(&path, |w| {
        std::io::Write::write_all(w, script.as_bytes())
            .map_err(|e| homogen::error::Error::io(format!("writing {}", path.display()), e))
    })?;
    println!(
        "{} cells: {} and {}; submit with `sbatch {}`",
        cells.len(),
        out.join(modelsharing::JOBS).display(),
        path.display(),
        path.display()
    );
    Ok(())
}
