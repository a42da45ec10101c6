//! `homogen train`: one (model, method, task, seed) cell, from flags or a config's `[train]`
//! table — the unit the experiments runner schedules.

use std::path::PathBuf;

use clap::Args;
use homogen::adapt::{train_cell, FeatureKind, ResizeMode, RunOptions, TrainSpec};
use homogen::data::DatasetSpec;
use homogen::error::{Error, InputError};
use homogen::models::init::InitScheme;

/// Arguments of `homogen train`.
///
/// Test hook: with `HOMOGEN_TEST_ABORT_AFTER_STEPS=N` in the environment the process exits with
/// code 137 after its N-th optimiser step (to test resuming); rerunning the same command resumes
/// from the last completed epoch.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A TOML file with a `[train]` table (the keys of the flags below, snake_case, with the
    /// dataset as a `[train.dataset]` table). Only `--out` and the run options (`--cache-dir`,
    /// `--allow-pickle`, `--overwrite`) may be given with it; a training flag is refused
    /// rather than silently ignored.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A model folder (config.json, model.safetensors, tokenizer.json), a Hub id, or a model
    /// card's name (roberta-base, clip-vit-base-patch16, bert-base-uncased: pinned commits).
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    pub model: Option<String>,
    /// Hub revision of the model.
    #[arg(long, conflicts_with = "config")]
    pub revision: Option<String>,
    /// scratch, probe, probe-mlp, bitfit, finetune or bitfit-inverted.
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    pub method: Option<String>,
    /// linear or mlp (for methods other than probe/probe-mlp).
    #[arg(long, default_value = "linear", conflicts_with = "config")]
    pub head: String,
    /// Dataset name (celeba, imdb, ag_news, yahoo_answers_topics, hate_speech18).
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    pub dataset: Option<String>,
    /// A local copy of the dataset (default: the Hugging Face cache).
    #[arg(long, conflicts_with = "config")]
    pub data_root: Option<PathBuf>,
    /// Keep at most this many training examples (seeded, stratified).
    #[arg(long, conflicts_with = "config")]
    pub max_train: Option<usize>,
    /// Keep at most this many test examples (seeded, stratified).
    #[arg(long, conflicts_with = "config")]
    pub max_test: Option<usize>,
    /// The task to train (default: the dataset's first).
    #[arg(long, conflicts_with = "config")]
    pub task: Option<String>,
    /// Expected number of classes (checked against the task).
    #[arg(long, conflicts_with = "config")]
    pub num_labels: Option<usize>,
    /// Seed of initialisation, data order, dropout and augmentation.
    #[arg(long, default_value_t = 0, conflicts_with = "config")]
    pub seed: u64,
    /// adamw or sgd.
    #[arg(long, default_value = "adamw", conflicts_with = "config")]
    pub optimizer: String,
    /// Base learning rate.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 2e-5,
        conflicts_with = "config"
    )]
    pub lr: f64,
    /// SGD momentum.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 0.9,
        conflicts_with = "config"
    )]
    pub momentum: f64,
    /// Weight decay.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 0.0,
        conflicts_with = "config"
    )]
    pub weight_decay: f64,
    /// linear, cosine (transformers' per-step schedules), cosine-epochs (torch's
    /// `CosineAnnealingLR(T_max=epochs)` stepped once per epoch) or constant.
    #[arg(long, default_value = "linear", conflicts_with = "config")]
    pub schedule: String,
    /// Warmup steps.
    #[arg(long, default_value_t = 0, conflicts_with = "config")]
    pub warmup_steps: u64,
    /// Epochs.
    #[arg(long, default_value_t = 3, conflicts_with = "config")]
    pub epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 8, conflicts_with = "config")]
    pub batch_size: usize,
    /// Gradient accumulation (batches per optimiser step).
    #[arg(long, default_value_t = 1, conflicts_with = "config")]
    pub grad_accum: usize,
    /// Gradient-norm clipping (0 turns it off).
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 1.0,
        conflicts_with = "config"
    )]
    pub clip_norm: f64,
    /// Maximum tokens per text.
    #[arg(long, conflicts_with = "config")]
    pub max_length: Option<usize>,
    /// f32, or bf16: mixed precision (f32 master weights, bf16 compute; for GPUs).
    #[arg(long, default_value = "f32", conflicts_with = "config")]
    pub dtype: String,
    /// cpu or cuda:N.
    #[arg(long, default_value = "cpu", conflicts_with = "config")]
    pub device: String,
    /// The cell folder for every output.
    #[arg(long, required_unless_present = "config")]
    pub out: Option<PathBuf>,
    /// Folder of the probe feature cache (default: `.feature-cache` next to the cell folder).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Allow loading pytorch_model.bin (a pickle; only for trusted models).
    #[arg(long)]
    pub allow_pickle: bool,
    /// Images: `clip` (CLIP's resize and centre crop) or `stretch` (bilinear to 224×224, the
    /// paper's vision code).
    #[arg(long, value_parser = ["clip", "stretch"], default_value = "clip", conflicts_with = "config")]
    pub resize: String,
    /// Images: seeded random-resized-crop and flip of training images.
    #[arg(long, conflicts_with = "config")]
    pub augment: bool,
    /// CLIP: `pooled` (the pooled output) or `projected` (through CLIP's visual projection,
    /// the image embedding the paper's vision code trained on).
    #[arg(long, value_parser = ["pooled", "projected"], default_value = "pooled", conflicts_with = "config")]
    pub features: String,
    /// Probe only: keep the frozen backbone's dropout on while training (the authors' code), so
    /// the backbone runs every step instead of its features being cached.
    #[arg(long, alias = "no-feature-cache", conflicts_with = "config")]
    pub frozen_dropout: bool,
    /// Initialisation of fresh parameters: `transformers` (their `_init_weights`) or `torch`
    /// (`torch.nn` modules' own: an `nn.Linear` head; for scratch CLIP, OpenAI's CLIP class).
    #[arg(long, value_parser = ["transformers", "torch"], default_value = "transformers", conflicts_with = "config")]
    pub init: String,
    /// Train even when `--out` holds something else: a cell trained with another spec (it is
    /// replaced) or files that are not a cell's. Without it such a folder is refused; the same
    /// spec's cell is always resumed or skipped.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(serde::Deserialize)]
struct ConfigFile {
    train: TrainSpec,
}

fn spec_from(args: &TrainArgs) -> Result<TrainSpec, Error> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))?;
        let mut spec =
            homogen::tomlfile::parse::<ConfigFile>(&text, path, "not a valid [train] config")?
                .train;
        if let Some(out) = &args.out {
            spec.out = out.clone();
        }
        if spec.out.as_os_str().is_empty() {
            return Err(InputError::new(
                "missing `out` (the cell folder): set it in [train] or pass --out",
            )
            .in_file(path)
            .at_key("train.out")
            .into());
        }
        return Ok(spec);
    }
    let missing = |flag: &str| InputError::new("is required").at_key(flag);
    let mut dataset = DatasetSpec::named(
        args.dataset
            .as_deref()
            .ok_or_else(|| missing("--dataset"))?,
    );
    dataset.root = args.data_root.clone();
    dataset.max_train = args.max_train;
    dataset.max_test = args.max_test;
    let mut spec = TrainSpec::new(
        args.model.as_deref().ok_or_else(|| missing("--model"))?,
        args.method.as_deref().ok_or_else(|| missing("--method"))?,
        dataset,
        args.out.clone().ok_or_else(|| missing("--out"))?,
    );
    spec.revision = args.revision.clone();
    spec.head = args.head.clone();
    spec.task = args.task.clone();
    spec.num_labels = args.num_labels;
    spec.seed = args.seed;
    spec.optimizer = args.optimizer.clone();
    spec.lr = args.lr;
    spec.momentum = args.momentum;
    spec.weight_decay = args.weight_decay;
    spec.schedule = args.schedule.clone();
    spec.warmup_steps = args.warmup_steps;
    spec.epochs = args.epochs;
    spec.batch_size = args.batch_size;
    spec.grad_accum = args.grad_accum;
    spec.clip_norm = (args.clip_norm != 0.0).then_some(args.clip_norm);
    spec.max_length = args.max_length;
    spec.dtype = args.dtype.clone();
    spec.device = args.device.clone();
    spec.resize = match args.resize.as_str() {
        "stretch" => ResizeMode::Stretch,
        _ => ResizeMode::Clip,
    };
    spec.augment = args.augment;
    spec.features = match args.features.as_str() {
        "projected" => FeatureKind::Projected,
        _ => FeatureKind::Pooled,
    };
    spec.frozen_dropout = args.frozen_dropout;
    spec.init = match args.init.as_str() {
        "torch" => InitScheme::Torch,
        _ => InitScheme::Transformers,
    };
    Ok(spec)
}

/// Builds the spec and trains the cell.
pub fn run(args: TrainArgs, quiet: bool) -> anyhow::Result<()> {
    let from_flags = args.config.is_none();
    let spec = spec_from(&args).map_err(|e| name_the_flag(e, from_flags))?;
    if spec.max_length == Some(0) {
        let e = InputError::new("must be at least 1 (tokens per text)").at_key("max_length");
        return Err(name_the_flag(e.into(), from_flags).into());
    }
    let opts = RunOptions {
        quiet,
        cache_dir: args.cache_dir.clone(),
        allow_pickle: args.allow_pickle,
        progress: None,
    };
    if !args.overwrite {
        check_out_folder(&spec)?;
    }
    // A Hub dataset the cache lacks is downloaded first (the model is, by the trainer).
    homogen::data::fetch_if_missing(&spec.dataset, !quiet)
        .map_err(|e| name_the_flag(e, from_flags))?;
    let outcome = train_cell(&spec, &opts).map_err(|e| name_the_flag(e, from_flags))?;
    if !quiet {
        if outcome.skipped {
            eprintln!("already finished: {}", spec.out.display());
        }
        eprintln!(
            "test accuracy {:.4}, failures in {}",
            outcome.test_accuracy,
            outcome.failures.display()
        );
    }
    Ok(())
}

/// An input error (naming `--out`) when the cell folder exists, is not empty and is not this
/// spec's cell: it holds no cell `manifest.json` (a dataset, another program's outputs), or a
/// manifest recording another spec's hash (a finished cell that training would replace). An
/// empty or missing folder and the same spec's cell (resumed or skipped) pass, and so does a
/// cell whose manifest cannot be read but whose other outputs are there (the trainer moves the
/// manifest aside with a warning and trains the cell again).
fn check_out_folder(spec: &TrainSpec) -> Result<(), Error> {
    let out = &spec.out;
    let Ok(mut entries) = std::fs::read_dir(out) else {
        return Ok(()); // Missing (created by the trainer), or not a folder (refused by it).
    };
    if entries.next().is_none() {
        return Ok(());
    }
    let refuse = |message: String| -> Result<(), Error> {
        Err(InputError::new(message).in_file(out).at_key("--out").into())
    };
    let manifest = match homogen::adapt::manifest::Manifest::load(&out.join("manifest.json")) {
        Ok(m) => m,
        // A damaged manifest in a folder holding a cell's other outputs: a cell, which the
        // trainer trains again after moving the manifest and its table aside (with a warning),
        // unless its checkpoint shows it was trained with another spec.
        Err(e)
            if ["failures.parquet", "checkpoint", "metrics.jsonl"]
                .iter()
                .any(|f| out.join(f).exists()) =>
        {
            use homogen::adapt::checkpoint::{inspect, Found};
            return match inspect(out, Some(&spec.hash())) {
                Found::OtherSpec(st) => refuse(format!(
                    "its manifest.json cannot be read ({e}), and its checkpoint belongs to \
                     another spec (config hash {}, this spec's {}); training would replace \
                     that cell; choose another folder or pass --overwrite",
                    short(&st.spec_hash),
                    short(&spec.hash())
                )),
                _ => Ok(()),
            };
        }
        Err(e) => {
            return refuse(format!(
                "the folder is not empty and its manifest.json cannot be read ({e}), nor does \
                 it hold a cell's other outputs: it may not be a training cell, and training \
                 would write into it; choose a new or empty folder (or pass --overwrite)"
            ))
        }
    };
    match manifest {
        None => refuse(
            "the folder is not empty and holds no cell manifest.json: it is not a training \
             cell, and training would write into it; choose a new or empty folder (or pass \
             --overwrite)"
                .into(),
        ),
        Some(m) if m.config_hash != spec.hash() => {
            let was = &m.config;
            refuse(format!(
                "the folder holds a {} cell trained with another spec (method {}, seed {}, lr \
                 {}, dataset {}; config hash {}, this spec's {}); training would replace it; \
                 choose another folder or pass --overwrite",
                m.status,
                was.method,
                was.seed,
                was.lr,
                was.dataset.name,
                short(&m.config_hash),
                short(&spec.hash())
            ))
        }
        Some(_) => Ok(()),
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// An input error about a spec built from flags names the flag (`--batch-size`) where it
/// names a key that is one (`batch_size`); with `--config` the key stays.
fn name_the_flag(e: Error, from_flags: bool) -> Error {
    let Error::Input(mut input) = e else {
        return e;
    };
    if let Some(key) = input.key.as_mut().filter(|_| from_flags) {
        let flag = key.replace('_', "-");
        let command = TrainArgs::augment_args(clap::Command::new("train"));
        if command
            .get_arguments()
            .any(|a| a.get_long() == Some(flag.as_str()))
        {
            *key = format!("--{flag}");
        }
    }
    Error::Input(input)
}
