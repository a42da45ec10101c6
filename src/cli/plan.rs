//! `homogen plan CONFIG --out DIR`: expands a model-sharing grid into DIR (`jobs.jsonl`, one
//! content-hashed cell a line) and writes the Slurm scripts: `submit.sbatch`, a job array
//! running one cell a task; `features.sbatch`, an array filling each distinct set of probe
//! features once; and `submit.sh`, which submits the fills, then the cells after them.

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

/// Writes `jobs.jsonl`, `submit.sbatch`, `features.sbatch` (when probe cells read cached
/// features) and `submit.sh` into the run folder.
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
    let (config_path, out_abs) = (abs(&args.config), abs(&out));
    let fills = modelsharing::grid::feature_fills(&cells, req.device())?;
    std::fs::create_dir_all(out.join("slurm"))?;
    let train_path = out.join("submit.sbatch");
    let train = slurm::script(&name, cells.len(), &req, &exe, &config_path, &out_abs);
    write_script(&train_path, &train)?;
    let features_path = out.join("features.sbatch");
    let features = if fills.is_empty() {
        // A features script of an earlier plan would fill what this grid does not read.
        remove_if_present(&features_path)?;
        None
    } else {
        let script = slurm::features_script(&name, &fills, &req, &exe, &config_path, &out_abs);
        write_script(&features_path, &script)?;
        Some(abs(&features_path))
    };
    let submit_path = out.join("submit.sh");
    let submit = slurm::submit_script(features.as_deref(), &abs(&train_path));
    write_script(&submit_path, &submit)?;
    let fills_line = match fills.len() {
        0 => "no probe features to fill first".to_string(),
        n => format!(
            "{n} probe feature fill{} first ({})",
            if n == 1 { "" } else { "s" },
            features_path.display()
        ),
    };
    println!(
        "{} cells: {} and {}; {fills_line}; submit with `bash {}`",
        cells.len(),
        out.join(modelsharing::JOBS).display(),
        train_path.display(),
        submit_path.display()
    );
    Ok(())
}

/// Writes an executable script atomically.
fn write_script(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    homogen::failures::write_atomically(path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
            .map_err(|e| homogen::error::Error::io(format!("writing {}", path.display()), e))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
            homogen::error::Error::io(format!("making {} executable", path.display()), e)
        })?;
    }
    Ok(())
}

/// Removes `path` when it exists.
fn remove_if_present(path: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(homogen::error::Error::io(format!("removing {}", path.display()), e).into())
        }
        _ => Ok(()),
    }
}
