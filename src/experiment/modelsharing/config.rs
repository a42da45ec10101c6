//! Model-sharing experiment configs (TOML): one foundation model, several tasks (deployments),
//! adaptation methods with their hyperparameters, seeds, and where the run goes.
//!
//! ```toml
//! [experiment]
//! kind = "modelsharing"
//! out = "runs/smoke-language"
//! groupings = ["gender"]          # group columns measured besides the individual level
//! devices = ["cpu"]               # cells run concurrently, one per device
//!
//! [model]
//! id = "tests/fixtures/models/roberta"   # a model folder or a Hub id
//! # revision = "..."
//!
//! [train]                         # defaults of every method (the trainer's TrainSpec keys)
//! optimizer = "adamw"
//! lr = 2e-5
//!
//! [[tasks]]
//! name = "imdb"                   # the deployment's name
//! task = "label"                  # optional: the dataset's label/attribute
//! dataset = { name = "imdb", root = "tests/fixtures/data/imdb/hub" }
//! # HateSpeech18's 80/20 cut: split_seed = 0 (one cut) or "seed" (one per training seed)
//!
//! [[methods]]
//! name = "probe"
//! lr = 1e-2                       # any [train] key overrides the default for this method
//!
//! [seeds]
//! values = [1, 2, 3]
//!
//! [slurm]                         # optional: defaults of `homogen plan`
//! partition = "gpu"
//! gpus = 1
//! time = "04:00:00"
//! max_parallel = 8
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, InputError, Result};
use crate::experiment::config::{check_kind_first, first_repeat, key_error, Config};

/// The adaptation methods the trainer knows.
pub use crate::adapt::METHOD_NAMES as METHODS;

/// The datasets the model-sharing runner can train on.
pub use crate::data::hub::HUB_DATASETS as DATASETS;

/// Keys of the trainer's `TrainSpec` a config may set in `[train]` or per method.
pub const TRAIN_KEYS: [&str; 19] = [
    "head",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "warmup_steps",
    "epochs",
    "batch_size",
    "grad_accum",
    "clip_norm",
    "max_length",
    "dtype",
    "num_labels",
    "resize",
    "augment",
    "features",
    "frozen_dropout",
    "init",
];

/// A whole model-sharing config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSharingConfig {
    /// Kind, output folder, groupings, devices.
    pub experiment: ExperimentSection,
    /// The foundation model.
    pub model: ModelSection,
    /// Hyperparameter defaults of every method.
    #[serde(default)]
    pub train: BTreeMap<String, toml::Value>,
    /// The deployments.
    pub tasks: Vec<TaskSection>,
    /// The adaptation methods.
    pub methods: Vec<MethodSection>,
    /// The seeds.
    pub seeds: SeedsSection,
    /// Defaults of the Slurm job-array script.
    #[serde(default)]
    pub slurm: SlurmSection,
    /// The file the config was read from, for errors found after parsing (never serialized).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// `[experiment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Must be `modelsharing`.
    pub kind: String,
    /// Output folder (relative paths are relative to the working directory).
    pub out: PathBuf,
    /// Group columns measured besides the individual level.
    #[serde(default)]
    pub groupings: Vec<String>,
    /// Devices cells run on concurrently (`cpu`, `cuda:0`, ...).
    #[serde(default = "default_devices")]
    pub devices: Vec<String>,
    /// Folder of the probe feature cache, `<out>/.feature-cache` when absent (relative paths
    /// are relative to the working directory, as `out`). Runs pointed at one folder share
    /// their frozen features: a second study of the same model and examples reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_cache: Option<PathBuf>,
}

impl ExperimentSection {
    /// The feature cache folder of a run into `out`: `feature_cache`, or `<out>/.feature-cache`.
    pub fn feature_cache_in(&self, out: &Path) -> PathBuf {
        self.feature_cache
            .clone()
            .unwrap_or_else(|| out.join(".feature-cache"))
    }
}

fn default_devices() -> Vec<String> {
    vec!["cpu".to_string()]
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A model folder (relative to the config's folder), a Hub id, or a shipped model card's
    /// name (`roberta-base`: its Hub model at its pinned commit).
    pub id: String,
    /// The pinned Hub revision.
    #[serde(default)]
    pub revision: Option<String>,
}

/// One `[[tasks]]` entry: a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSection {
    /// The deployment's name (unique).
    pub name: String,
    /// The label to train (a CelebA attribute); the dataset's first task when absent.
    #[serde(default)]
    pub task: Option<String>,
    /// The dataset spec (the keys of `data::DatasetSpec`: name, root, max_train, ...).
    pub dataset: toml::Table,
}

/// One `[[methods]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSection {
    /// The method (see [`METHODS`]).
    pub name: String,
    /// A label for reports when one method appears twice (e.g. `probe-reference`).
    #[serde(default)]
    pub label: Option<String>,
    /// Hyperparameters overriding `[train]`.
    #[serde(flatten)]
    pub overrides: BTreeMap<String, toml::Value>,
}

/// The `split_seed` value that gives each training seed its own train/test cut (HateSpeech18,
/// which has one split upstream): the cut of a cell trained with seed `s` uses `split_seed = s`,
/// as the authors' unseeded cut gave every run its own, but reproducibly, and shared by the
/// methods of one seed so that they stay paired.
pub const SPLIT_PER_SEED: &str = "seed";

impl TaskSection {
    /// The task's dataset table for a cell trained with `seed`: `split_seed = "seed"` becomes
    /// that seed; everything else as configured.
    pub fn dataset_for_seed(&self, seed: u64) -> toml::Table {
        let mut table = self.dataset.clone();
        if self.split_per_seed() {
            table.insert("split_seed".into(), toml::Value::Integer(seed as i64));
        }
        table
    }

    /// Whether the task's train/test cut follows the training seed (`split_seed = "seed"`).
    pub fn split_per_seed(&self) -> bool {
        self.dataset.get("split_seed").and_then(toml::Value::as_str) == Some(SPLIT_PER_SEED)
    }

    /// The task's dataset spec (with `split_seed = "seed"`, the cut of seed 0: what the checks
    /// before training read, the task's classes and groups, is the same for every cut); an
    /// error names `tasks[i].dataset` in `origin`.
    fn dataset_spec(&self, origin: &Path, i: usize) -> Result<crate::data::DatasetSpec> {
        if let Some(v) = self.dataset.get("split_seed") {
            if !(v.is_integer() || self.split_per_seed()) {
                return Err(key_error(
                    origin,
                    &format!("tasks[{i}].dataset.split_seed"),
                    format!(
                        "expected an integer or \"{SPLIT_PER_SEED}\" (a cut per training seed), \
                         found {v}"
                    ),
                ));
            }
        }
        toml::Value::Table(self.dataset_for_seed(0))
            .try_into()
            .map_err(|e| key_error(origin, &format!("tasks[{i}].dataset"), e.to_string()))
    }
}

impl MethodSection {
    /// The name reports use.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// `[seeds]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedsSection {
    /// The training seeds.
    pub values: Vec<u64>,
}

/// `[slurm]`: defaults of the job-array script (flags of `homogen plan` override them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSection {
    /// `--partition`.
    #[serde(default)]
    pub partition: Option<String>,
    /// GPUs per task (`--gres=gpu:N`); none when 0 or absent.
    #[serde(default)]
    pub gpus: Option<u32>,
    /// `--time` (HH:MM:SS).
    #[serde(default)]
    pub time: Option<String>,
    /// At most this many tasks at once (`%K`).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// CPUs per task.
    #[serde(default)]
    pub cpus: Option<u32>,
}

pub use crate::experiment::config::kind_of;

impl ModelSharingConfig {
    /// Parses a config's text; `origin` names the file in errors. Relative `model.id` and
    /// `dataset.root` paths that exist next to the config are resolved against its folder.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        check_kind_first(text, origin, "modelsharing")?;
        let mut config: ModelSharingConfig =
            crate::tomlfile::parse(text, origin, "invalid config")?;
        let dir = origin.parent().unwrap_or(Path::new(""));
        // Checked before resolving: an empty path would resolve to the config's folder.
        if config.model.id.trim().is_empty() {
            return Err(key_error(
                origin,
                "model.id",
                "model.id is empty; expected a model folder, a Hub id (owner/name) or a model \
                 card's name"
                    .into(),
            ));
        }
        config.model.id = resolve(dir, &config.model.id);
        for t in &mut config.tasks {
            if let Some(toml::Value::String(root)) = t.dataset.get("root") {
                let r = resolve(dir, root);
                t.dataset.insert("root".into(), toml::Value::String(r));
            }
        }
        config.validate(origin)?;
        config.origin = Some(origin.to_path_buf());
        Ok(config)
    }

    /// Loads every task's dataset (annotations only) and checks that its task exists, before
    /// any cell trains: a wrong `root` or task name is then one error naming the task's key,
    /// instead of one failed cell per method and seed.
    pub fn check_datasets(&self) -> Result<()> {
        let origin = self.origin.as_deref().unwrap_or(Path::new("config"));
        let model = self.local_model_config();
        for (i, t) in self.tasks.iter().enumerate() {
            let spec = t.dataset_spec(origin, i)?;
            let ds = crate::data::load(&spec, false)
                .map_err(|e| prefixed(e, &format!("task `{}` (tasks[{i}].dataset)", t.name)))?;
            if let Some(model) = &model {
                crate::adapt::check_dataset_fits(&ds, model).map_err(|e| match e {
                    Error::Input(e) => key_error(
                        origin,
                        &format!("tasks[{i}].dataset"),
                        format!("task `{}`: {}", t.name, e.message),
                    ),
                    other => other,
                })?;
            }
            if let Some(task) = &t.task {
                if ds.task_index(task).is_none() {
                    let names: Vec<&str> = ds.tasks.iter().map(|t| t.name.as_str()).collect();
                    return Err(key_error(
                        origin,
                        &format!("tasks[{i}].task"),
                        format!(
                            "dataset `{}` has no task `{task}`; its tasks: {}",
                            spec.name,
                            names.join(", ")
                        ),
                    ));
                }
            }
            self.check_num_labels(origin, i, &ds)?;
        }
        if let Some(model) = &model {
            for (i, m) in self.methods.iter().enumerate() {
                self.check_train_spec(origin, i, m, Some(model))?;
            }
        }
        Ok(())
    }

    /// The model's `config.json` when the model is a local folder or already in the Hub
    /// cache; `None` otherwise, or when it does not read (the trainer then reports it).
    fn local_model_config(&self) -> Option<crate::models::config::ModelConfig> {
        use crate::models::hub;
        let dir = Path::new(&self.model.id);
        let files = match dir.is_dir() {
            true => hub::from_folder(dir, true, None),
            false => {
                let (id, revision) =
                    crate::models::card::hub_ref(&self.model.id, self.model.revision.as_deref());
                hub::from_cache(&crate::data::hub::cache_from_env(), &id, &revision, true)
            }
        };
        crate::models::config::ModelConfig::from_file(&files.ok()?.config).ok()
    }

    /// Checks each method's `num_labels` (when set) against the classes of task `i`'s label,
    /// so that a head of the wrong size is one error naming the key before any cell trains.
    fn check_num_labels(&self, origin: &Path, i: usize, ds: &crate::data::Dataset) -> Result<()> {
        let t = &self.tasks[i];
        let index = match &t.task {
            Some(name) => ds.task_index(name),
            None => (!ds.tasks.is_empty()).then_some(0),
        };
        let Some(task) = index.and_then(|k| ds.tasks.get(k)) else {
            return Ok(()); // Reported by the trainer.
        };
        let classes = task.classes.len();
        for (j, m) in self.methods.iter().enumerate() {
            let (key, value) = match m.overrides.get("num_labels") {
                Some(v) => (format!("methods[{j}].num_labels"), Some(v)),
                None => ("train.num_labels".to_string(), self.train.get("num_labels")),
            };
            let Some(n) = value.and_then(toml::Value::as_integer) else {
                continue;
            };
            if n != classes as i64 {
                return Err(key_error(
                    origin,
                    &key,
                    format!(
                        "the head would have {n} outputs but task `{}` (tasks[{i}], label `{}` of \
                         dataset {}) has {classes} classes",
                        t.name, task.name, ds.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Downloads what the grid reads from the Hub and the cache lacks (the model, when
    /// `model.id` is a Hub id; each task's dataset without a `root`) once, before any cell
    /// starts: cells running at once, and Slurm array tasks on nodes without network, then find
    /// them cached. Nothing is contacted for what is cached; with `HF_HUB_OFFLINE` set a missing
    /// one is an error naming its key. Returns a line for each download (for logs).
    pub fn fetch_missing(&self, progress: bool) -> Result<Vec<String>> {
        let mut fetched = Vec::new();
        if !Path::new(&self.model.id).is_dir() {
            let (id, revision) =
                crate::models::card::hub_ref(&self.model.id, self.model.revision.as_deref());
            let cache = crate::data::hub::cache_from_env();
            let cached = crate::models::hub::from_cache(&cache, &id, &revision, false).is_ok();
            let opts = crate::models::hub::ResolveOptions {
                revision: Some(revision),
                allow_pickle: false,
                progress,
            };
            let files = crate::models::hub::resolve(&id, &opts)
                .map_err(|e| prefixed(e, &format!("model `{}` (model.id)", self.model.id)))?;
            if !cached {
                let commit = files.revision.unwrap_or_default();
                fetched.push(format!("model {id} at commit {commit}"));
            }
        }
        let origin = self.origin.as_deref().unwrap_or(Path::new("config"));
        for (i, t) in self.tasks.iter().enumerate() {
            let spec = t.dataset_spec(origin, i)?;
            let got = crate::data::fetch_if_missing(&spec, progress)
                .map_err(|e| prefixed(e, &format!("task `{}` (tasks[{i}].dataset)", t.name)))?;
            if let Some(f) = got {
                fetched.push(format!(
                    "dataset {} ({} files) at commit {}",
                    spec.name,
                    f.files.len(),
                    f.commit.unwrap_or_default()
                ));
            }
        }
        Ok(fetched)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(&Config::read_text(path)?, path)
    }

    /// The method labels, in config order.
    pub fn method_labels(&self) -> Vec<String> {
        self.methods.iter().map(|m| m.label().to_string()).collect()
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |key: &str, message: String| key_error(origin, key, message);
        if self.experiment.devices.is_empty() {
            return Err(bad("experiment.devices", "must not be empty".into()));
        }
        if let Some(dir) = &self.experiment.feature_cache {
            if dir.exists() && !dir.is_dir() {
                return Err(bad(
                    "experiment.feature_cache",
                    format!("`{}` is a file; expected a folder", dir.display()),
                ));
            }
        }
        for d in &self.experiment.devices {
            let ok = d == "cpu"
                || d.strip_prefix("cuda:")
                    .is_some_and(|n| n.parse::<usize>().is_ok());
            if !ok {
                return Err(bad(
                    "experiment.devices",
                    format!("unknown device `{d}`, expected cpu or cuda:N"),
                ));
            }
        }
        let local = Path::new(&self.model.id);
        let looks_local = self.model.id.starts_with('.')
            || self.model.id.starts_with('/')
            || self.model.id.split('/').count() > 2;
        if self.model.id.is_empty() || (looks_local && !local.join("config.json").is_file()) {
            return Err(bad(
                "model.id",
                format!(
                    "model `{}` not found: expected a folder with config.json or a Hub id \
                     (owner/name)",
                    self.model.id
                ),
            ));
        }
        if self.tasks.is_empty() {
            return Err(bad(
                "tasks",
                "at least one [[tasks]] entry is needed".into(),
            ));
        }
        let mut names = Vec::new();
        for (i, t) in self.tasks.iter().enumerate() {
            check_folder_name(&t.name, "task name")
                .map_err(|m| bad(&format!("tasks[{i}].name"), m))?;
            // Task names are the deployments the report measures.
            if let Some(m) = crate::failures::deployment_name_problem(&t.name) {
                return Err(bad(&format!("tasks[{i}].name"), m));
            }
            if names.contains(&t.name) {
                return Err(bad(
                    &format!("tasks[{i}].name"),
                    format!("duplicate task name `{}`", t.name),
                ));
            }
            names.push(t.name.clone());
            let ds = t.dataset.get("name").and_then(|v| v.as_str());
            match ds {
                Some(n) if DATASETS.contains(&dataset_short(n)) => {}
                Some(n) => {
                    return Err(bad(
                        &format!("tasks[{i}].dataset.name"),
                        format!(
                            "unknown dataset `{n}`, expected one of {}",
                            DATASETS.join(", ")
                        ),
                    ))
                }
                None => {
                    return Err(bad(
                        &format!("tasks[{i}].dataset.name"),
                        "missing dataset name".into(),
                    ))
                }
            }
            t.dataset_spec(origin, i)?
                .check_subsets()
                .map_err(|e| match e {
                    Error::Input(ie) => bad(
                        &format!("tasks[{i}].dataset.{}", ie.key.as_deref().unwrap_or("")),
                        ie.message.clone(),
                    ),
                    other => other,
                })?;
        }
        if self.methods.is_empty() {
            return Err(bad(
                "methods",
                "at least one [[methods]] entry is needed".into(),
            ));
        }
        let mut labels = Vec::new();
        for (i, m) in self.methods.iter().enumerate() {
            if !METHODS.contains(&m.name.as_str()) {
                return Err(bad(
                    &format!("methods[{i}].name"),
                    format!(
                        "unknown method `{}`, expected one of {}",
                        m.name,
                        METHODS.join(", ")
                    ),
                ));
            }
            let label_key = match m.label.is_some() {
                true => format!("methods[{i}].label"),
                false => format!("methods[{i}].name"),
            };
            check_folder_name(m.label(), "method label").map_err(|m| bad(&label_key, m))?;
            if labels.contains(&m.label()) {
                return Err(bad(
                    &format!("methods[{i}].label"),
                    format!(
                        "method `{}` appears twice; give each a distinct `label`",
                        m.label()
                    ),
                ));
            }
            labels.push(m.label());
            for k in m.overrides.keys() {
                if !TRAIN_KEYS.contains(&k.as_str()) {
                    return Err(bad(
                        &format!("methods[{i}].{k}"),
                        format!(
                            "unknown key `{k}`, expected name, label or one of {}",
                            TRAIN_KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        for k in self.train.keys() {
            if !TRAIN_KEYS.contains(&k.as_str()) {
                return Err(bad(
                    &format!("train.{k}"),
                    format!(
                        "unknown key `{k}`, expected one of {}",
                        TRAIN_KEYS.join(", ")
                    ),
                ));
            }
        }
        if self.seeds.values.is_empty() {
            return Err(bad("seeds.values", "must not be empty".into()));
        }
        if let Some(i) = first_repeat(&self.seeds.values) {
            return Err(bad(
                "seeds.values",
                format!(
                    "seed {} is listed twice; each seed must appear once (a repeated seed would \
                     train the same cells twice and count them twice)",
                    self.seeds.values[i]
                ),
            ));
        }
        for (i, m) in self.methods.iter().enumerate() {
            self.check_train_spec(origin, i, m, None)?;
        }
        self.check_groupings(origin)
    }

    /// Checks method `i`'s training spec (`[train]` with the method's overrides) as the trainer
    /// will read it, so that a bad value is reported once, naming its key, before any cell
    /// trains (instead of failing every cell of the grid at run time); with the `model`'s
    /// config, also that its options fit the model's inputs ([`TrainSpec::check_options_fit`]).
    ///
    /// [`TrainSpec::check_options_fit`]: crate::adapt::TrainSpec::check_options_fit
    fn check_train_spec(
        &self,
        origin: &Path,
        i: usize,
        m: &MethodSection,
        model: Option<&crate::models::config::ModelConfig>,
    ) -> Result<()> {
        let key_of = |k: &str| match m.overrides.contains_key(k) {
            true => format!("methods[{i}].{k}"),
            false => format!("train.{k}"),
        };
        let spec_with = |keys: &mut dyn Iterator<Item = (&String, &toml::Value)>| {
            let mut t = toml::Table::new();
            t.insert("model".into(), self.model.id.clone().into());
            t.insert("method".into(), m.name.clone().into());
            t.insert(
                "dataset".into(),
                toml::Value::Table(self.tasks[0].dataset.clone()),
            );
            for (k, v) in keys {
                t.insert(k.clone(), v.clone());
            }
            toml::Value::Table(t).try_into::<crate::adapt::TrainSpec>()
        };
        let merged = || self.train.iter().chain(m.overrides.iter());
        let spec = match spec_with(&mut merged()) {
            Ok(spec) => spec,
            Err(e) => {
                // The key whose value does not deserialize on its own.
                let (key, message) = merged()
                    .find_map(|(k, v)| {
                        spec_with(&mut std::iter::once((k, v)))
                            .err()
                            .map(|e| (key_of(k), e.message().to_string()))
                    })
                    .unwrap_or_else(|| (format!("methods[{i}]"), e.message().to_string()));
                return Err(key_error(origin, &key, message));
            }
        };
        let relocate = |e: Error| match e {
            Error::Input(ie) => {
                let key = ie.key.as_deref().map_or(format!("methods[{i}]"), key_of);
                Error::from(InputError {
                    file: Some(origin.to_path_buf()),
                    key: Some(key),
                    ..*ie
                })
            }
            other => other,
        };
        spec.validate().map_err(relocate)?;
        if let Some(model) = model {
            spec.check_options_fit(model).map_err(relocate)?;
        }
        if spec.max_length == Some(0) {
            return Err(key_error(
                origin,
                &key_of("max_length"),
                "must be at least 1 (tokens per text)".into(),
            ));
        }
        match crate::device::parse_dtype(&spec.dtype) {
            Err(Error::Input(ie)) => Err(key_error(origin, &key_of("dtype"), ie.message.clone())),
            _ => Ok(()),
        }
    }

    /// Checks that every task's dataset provides each of `experiment.groupings`.
    fn check_groupings(&self, origin: &Path) -> Result<()> {
        for g in &self.experiment.groupings {
            for (i, t) in self.tasks.iter().enumerate() {
                let spec = t.dataset_spec(origin, i)?;
                let provided = crate::data::grouping_columns(&spec);
                if !provided.contains(g) {
                    return Err(key_error(
                        origin,
                        "experiment.groupings",
                        format!(
                            "task `{}` (dataset {}) has no grouping `{g}`; it provides {}",
                            t.name,
                            spec.name,
                            provided.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks a name that becomes one folder of the run (`cells/<method>/seed-<s>/<task>`): it must
/// be non-empty, hold no path separator or control character and not be `.` or `..`, so that
/// every cell stays inside the run folder and in a folder of its own. `what` names it in the
/// message.
pub fn check_folder_name(name: &str, what: &str) -> std::result::Result<(), String> {
    let problem = if name.is_empty() {
        Some("must not be empty")
    } else if name == "." || name == ".." {
        Some("must not be `.` or `..`")
    } else if name.contains('/') || name.contains('\\') {
        Some("must not contain `/` or `\\`")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!(
            "{what} {name:?} {p}: it names the cells' folder inside the run folder"
        )),
        None => Ok(()),
    }
}

/// `stanfordnlp/imdb` → `imdb`.
fn dataset_short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A path that exists — next to the config first, then as given — made absolute and canonical,
/// so that the cells' content hashes do not depend on how the config's path was spelled or on
/// the working directory (`configs/x.toml`, `./configs/x.toml` and `/abs/configs/x.toml` name
/// the same cells). Anything else (a Hub id) is kept as is.
fn resolve(dir: &Path, p: &str) -> String {
    let path = Path::new(p);
    let candidates = [
        (path.is_relative() && !dir.as_os_str().is_empty()).then(|| dir.join(path)),
        Some(path.to_path_buf()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| c.exists())
        .and_then(|c| std::fs::canonicalize(c).ok())
        .map_or_else(|| p.to_string(), |c| c.to_string_lossy().into_owned())
}

/// An input error's message prefixed with what it concerns (`task `x` (tasks[0].dataset)`);
/// other errors unchanged.
fn prefixed(e: Error, what: &str) -> Error {
    match e {
        Error::Input(mut ie) => {
            ie.message = format!("{what}: {}", ie.message);
            Error::Input(ie)
        }
        other => other,
    }
}
