//! One training cell: the (model, method, task, seed) unit the experiments runner schedules.
//!
//! [`TrainSpec`] is the `[train]` table of a config (unknown keys are input errors);
//! [`RunOptions`] holds what does not change the result (progress bars, the feature-cache
//! folder); [`CellOutcome`] is what [`super::trainer::train_cell`] returns.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::method::{HeadKind, Method};
use super::optim::{AdamWConfig, OptimizerConfig, SgdConfig};
use super::schedule::Schedule;
use crate::data::{Dataset, DatasetSpec, Input};
use crate::error::{InputError, Result};
use crate::models::config::ModelConfig;
use crate::models::init::InitScheme;

fn d_head() -> String {
    "linear".into()
}
fn d_optimizer() -> String {
    "adamw".into()
}
fn d_lr() -> f64 {
    2e-5
}
fn d_momentum() -> f64 {
    0.9
}
fn d_schedule() -> String {
    "linear".into()
}
fn d_epochs() -> usize {
    3
}
fn d_batch() -> usize {
    8
}
fn d_accum() -> usize {
    1
}
fn d_clip() -> Option<f64> {
    Some(1.0)
}
fn d_dtype() -> String {
    "f32".into()
}
fn d_device() -> String {
    "cpu".into()
}

/// Everything that decides a training run's result. Defaults follow the authors' language
/// recipe (DESIGN.md §2): AdamW lr 2e-5, weight decay 0, linear decay, no warmup, 3 epochs,
/// batch 8, clipping at 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// A model folder (config.json, model.safetensors, tokenizer.json), a Hub id, or a shipped
    /// model card's name (its Hub model at its pinned commit).
    pub model: String,
    /// Hub revision of the model (pinned for real runs).
    #[serde(default)]
    pub revision: Option<String>,
    /// One of [`super::METHOD_NAMES`].
    pub method: String,
    /// `linear` or `mlp` (ignored by `probe`/`probe-mlp`, which name their head).
    #[serde(default = "d_head")]
    pub head: String,
    /// The dataset to load.
    pub dataset: DatasetSpec,
    /// The task (label) to train; the dataset's first task when absent.
    #[serde(default)]
    pub task: Option<String>,
    /// The expected number of classes; when given it must equal the task's.
    #[serde(default)]
    pub num_labels: Option<usize>,
    /// The seed for head/scratch initialisation, data order, dropout and augmentation.
    #[serde(default)]
    pub seed: u64,
    /// `adamw` or `sgd`.
    #[serde(default = "d_optimizer")]
    pub optimizer: String,
    /// Base learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// SGD momentum.
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    /// Weight decay (AdamW: decoupled, not on biases/layer norms; SGD: L2 on all).
    #[serde(default)]
    pub weight_decay: f64,
    /// `linear`, `cosine` (transformers' per-step cosine), `cosine-epochs` (torch's
    /// CosineAnnealingLR stepped once per epoch, the paper's vision recipe) or `constant`.
    #[serde(default = "d_schedule")]
    pub schedule: String,
    /// Linear warmup in optimiser steps.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Passes over the training split.
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    /// Examples per forward pass.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Forward passes per optimiser step.
    #[serde(default = "d_accum")]
    pub grad_accum: usize,
    /// Gradient-norm clipping; `None` turns it off (in a config: `clip_norm = 0` or `false`).
    #[serde(default = "d_clip", deserialize_with = "clip_norm_value")]
    pub clip_norm: Option<f64>,
    /// Maximum tokens per text (the model's limit when absent).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// `f32` (default) or `bf16`: mixed precision (f32 master weights and optimiser state, bf16
    /// matmuls and activations; layer norm, softmax and the loss in f32). Meant for GPUs; it
    /// runs on the CPU too, slowly.
    #[serde(default = "d_dtype")]
    pub dtype: String,
    /// `cpu` or `cuda:N`.
    #[serde(default = "d_device")]
    pub device: String,
    /// Images only: how an image becomes the model's square input (CLIP's resize and centre
    /// crop, or the paper's plain resize to 224×224).
    #[serde(default, skip_serializing_if = "is_default")]
    pub resize: ResizeMode,
    /// Images only: seeded random-resized-crop and flip of training images (methods whose
    /// backbone runs every step; a probe's cached features are never augmented). Off by
    /// default, as in the paper's vision runs.
    #[serde(default, skip_serializing_if = "is_default")]
    pub augment: bool,
    /// CLIP only: what the head reads — the pooled output (post-layer-normed class token) or
    /// CLIP's image embedding after the visual projection (`get_image_features`, what the
    /// paper's vision code trained its heads on).
    #[serde(default, skip_serializing_if = "is_default")]
    pub features: FeatureKind,
    /// Methods with a frozen backbone only (`probe`, `probe-mlp`): keep the backbone's dropout
    /// active while training, as the authors' code did (the Trainer puts the whole model in
    /// training mode), so features are computed on every step instead of cached.
    #[serde(default, skip_serializing_if = "is_default")]
    pub frozen_dropout: bool,
    /// Whose initialisation the fresh parameters get: `transformers` (default) or `torch`
    /// (`torch.nn` modules' own: an `nn.Linear` head and, for scratch CLIP, OpenAI's CLIP
    /// class, as the paper's vision code built them; see [`InitScheme::Torch`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub init: InitScheme,
    /// The cell folder that receives every output (empty when a `[train]` table leaves it out:
    /// `homogen train --out` or the grid runner sets it).
    #[serde(default)]
    pub out: PathBuf,
}

/// How images are resized to the model's input ([`TrainSpec::resize`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// CLIPImageProcessor: shortest side bicubic to the input size, centre crop.
    #[default]
    Clip,
    /// Bilinear straight to the input size (torchvision's `Resize([224, 224])`), as the
    /// paper's vision code did.
    Stretch,
}

/// What a CLIP head reads ([`TrainSpec::features`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// The vision tower's pooled output (hidden size).
    #[default]
    Pooled,
    /// The pooled output through CLIP's visual projection (projection size).
    Projected,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `clip_norm` as a config writes it: a positive number, or `0` / `false` for no clipping
/// (TOML has no null); JSON's `null` (a serialized spec) is no clipping too.
fn clip_norm_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Clip {
        Number(f64),
        Flag(bool),
    }
    match Option::<Clip>::deserialize(d)? {
        None | Some(Clip::Flag(false)) => Ok(None),
        Some(Clip::Number(0.0)) => Ok(None),
        Some(Clip::Number(x)) => Ok(Some(x)),
        Some(Clip::Flag(true)) => Err(serde::de::Error::custom(
            "clip_norm = true is not a norm: give the maximum norm (1.0 is the usual), or 0 / \
             false for no clipping",
        )),
    }
}

impl TrainSpec {
    /// A spec with every default for `model`, `method`, `dataset` and `out`.
    pub fn new(model: &str, method: &str, dataset: DatasetSpec, out: PathBuf) -> Self {
        TrainSpec {
            model: model.into(),
            revision: None,
            method: method.into(),
            head: d_head(),
            dataset,
            task: None,
            num_labels: None,
            seed: 0,
            optimizer: d_optimizer(),
            lr: d_lr(),
            momentum: d_momentum(),
            weight_decay: 0.0,
            schedule: d_schedule(),
            warmup_steps: 0,
            epochs: d_epochs(),
            batch_size: d_batch(),
            grad_accum: d_accum(),
            clip_norm: d_clip(),
            max_length: None,
            dtype: d_dtype(),
            device: d_device(),
            resize: ResizeMode::default(),
            augment: false,
            features: FeatureKind::default(),
            frozen_dropout: false,
            init: InitScheme::Transformers,
            out,
        }
    }

    /// SHA-256 (hex) of the spec's canonical JSON, without `out` (moving a cell keeps its hash).
    pub fn hash(&self) -> String {
        let mut s = self.clone();
        s.out = PathBuf::new();
        let json = serde_json::to_string(&s).unwrap_or_default();
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// The method, parsed.
    pub fn method(&self) -> Result<Method> {
        self.method.parse()
    }

    /// Whether the cell's backbone stays frozen in evaluation mode, so that its features come
    /// from the probe feature cache (a probe whose backbone dropout is off).
    pub fn reads_cached_features(&self) -> Result<bool> {
        Ok(self.method()?.backbone_frozen() && !self.frozen_dropout)
    }

    /// What decides the frozen features this cell reads from the probe feature cache — model,
    /// revision, dataset, `max_length`, dtype, device, resize and feature kind — as one string;
    /// `None` when it reads none ([`reads_cached_features`](Self::reads_cached_features)).
    /// Cells with one identity share one cache file, so `homogen plan` fills each identity once
    /// before the cells train. The cache key hashes what these fields lead to (the model's
    /// files, the examples, the preprocessing); a new field that changes features belongs in
    /// both.
    pub fn feature_identity(&self) -> Result<Option<String>> {
        if !self.reads_cached_features()? {
            return Ok(None);
        }
        let identity = serde_json::json!({
            "model": self.model,
            "revision": self.revision,
            "dataset": self.dataset,
            "max_length": self.max_length,
            "dtype": self.dtype,
            "device": self.device,
            "resize": self.resize,
            "features": self.features,
        });
        Ok(Some(identity.to_string()))
    }

    /// The head: the probe's own, else the `head` key.
    pub fn head_kind(&self) -> Result<HeadKind> {
        if let Some(h) = self.method()?.probe_head() {
            return Ok(h);
        }
        match self.head.as_str() {
            "linear" => Ok(HeadKind::Linear),
            "mlp" => Ok(HeadKind::Mlp),
            other => Err(bad(
                "head",
                format!("unknown head `{other}`, expected linear or mlp"),
            )),
        }
    }

    /// Checks numbers that must be positive or finite.
    pub fn validate(&self) -> Result<()> {
        self.method()?;
        self.dataset.check_subsets()?;
        self.head_kind()?;
        if self.epochs == 0 {
            return Err(bad("epochs", "must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size", "must be at least 1".into()));
        }
        if self.grad_accum == 0 {
            return Err(bad("grad_accum", "must be at least 1".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(bad(
                "lr",
                format!("must be a positive number, got {}", self.lr),
            ));
        }
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(bad("clip_norm", format!("must be positive, got {c}")));
            }
        }
        // PyTorch's optimisers refuse these too.
        if !(self.momentum.is_finite() && self.momentum >= 0.0) {
            return Err(bad(
                "momentum",
                format!("must be 0 or more, got {}", self.momentum),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad(
                "weight_decay",
                format!("must be 0 or more, got {}", self.weight_decay),
            ));
        }
        self.optimizer_config()?;
        self.schedule(1)?;
        Ok(())
    }

    /// Refuses options that do nothing for the model's inputs: the image options (`resize`,
    /// `augment`) with a text encoder, and `max_length` with an image encoder. Without this
    /// check a run would silently train without what its spec says.
    pub fn check_options_fit(&self, model: &ModelConfig) -> Result<()> {
        match model {
            ModelConfig::Text(c) => {
                let text = |key: &str| {
                    bad(
                        key,
                        format!(
                            "an image option, but this model is a text encoder ({}), whose \
                             inputs are texts: leave it out",
                            c.model_type
                        ),
                    )
                };
                if self.augment {
                    return Err(text("augment"));
                }
                if self.resize != ResizeMode::default() {
                    return Err(text("resize"));
                }
            }
            ModelConfig::Vision(_) => {
                if self.max_length.is_some() {
                    return Err(bad(
                        "max_length",
                        "a text option (tokens per text), but this model is an image encoder \
                         (CLIP's vision tower): leave it out"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The optimiser's configuration.
    pub fn optimizer_config(&self) -> Result<OptimizerConfig> {
        match self.optimizer.as_str() {
            "adamw" => Ok(OptimizerConfig::AdamW(AdamWConfig {
                lr: self.lr,
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            })),
            "sgd" => Ok(OptimizerConfig::Sgd(SgdConfig {
                lr: self.lr,
                momentum: self.momentum,
                weight_decay: self.weight_decay,
                ..SgdConfig::default()
            })),
            other => Err(bad(
                "optimizer",
                format!("unknown optimizer `{other}`, expected adamw or sgd"),
            )),
        }
    }

    /// The schedule of a run of `steps_per_epoch` optimiser steps per epoch.
    pub fn schedule(&self, steps_per_epoch: u64) -> Result<Schedule> {
        let warmup_steps = self.warmup_steps;
        let total_steps = steps_per_epoch * self.epochs as u64;
        if self.schedule == "cosine-epochs" && warmup_steps > 0 {
            return Err(bad(
                "warmup_steps",
                "the cosine-epochs schedule has no warmup (torch's CosineAnnealingLR); use \
                 `cosine` for a warmup"
                    .into(),
            ));
        }
        match self.schedule.as_str() {
            "linear" => Ok(Schedule::LinearWithWarmup {
                warmup_steps,
                total_steps,
            }),
            "cosine" => Ok(Schedule::cosine_with_warmup(warmup_steps, total_steps)),
            "constant" => Ok(Schedule::Constant { warmup_steps }),
            "cosine-epochs" => Ok(Schedule::CosineAnnealingEpochs {
                epochs: self.epochs as u64,
                steps_per_epoch,
            }),
            other => Err(bad(
                "schedule",
                format!(
                    "unknown schedule `{other}`, expected linear, cosine, cosine-epochs or \
                     constant"
                ),
            )),
        }
    }
}

fn bad(key: &str, message: String) -> crate::error::Error {
    InputError::new(message).at_key(key).into()
}

/// Refuses a dataset whose inputs are not the kind the model reads (texts for a text encoder,
/// images for CLIP's vision tower), naming both; the key is `dataset`.
pub fn check_dataset_fits(ds: &Dataset, model: &ModelConfig) -> Result<()> {
    let Some(first) = ds.examples.first() else {
        return Ok(());
    };
    let (holds, model_is, fitting) = match (&first.input, model) {
        (Input::Text(_), ModelConfig::Vision(_)) => (
            "texts",
            "an image encoder (CLIP's vision tower)".to_string(),
            "a text model (roberta-base, bert-base-uncased)",
        ),
        (Input::Image(_), ModelConfig::Text(c)) => (
            "images",
            format!("a text encoder ({})", c.model_type),
            "an image model (clip-vit-base-patch16)",
        ),
        _ => return Ok(()),
    };
    Err(bad(
        "dataset",
        format!(
            "dataset `{}` holds {holds}, but the model is {model_is}: train {fitting} on it",
            ds.name
        ),
    ))
}

/// Options that do not change a run's result.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Hide progress bars.
    pub quiet: bool,
    /// Folder of the probe feature cache; `<out>/../.feature-cache` when absent.
    pub cache_dir: Option<PathBuf>,
    /// Allow loading `pytorch_model.bin` (a pickle).
    pub allow_pickle: bool,
    /// Where the epoch bars go when several cells share one terminal (the grid runner's bars);
    /// a bar of its own on stderr when absent.
    pub progress: Option<indicatif::MultiProgress>,
}

/// What a finished cell produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellOutcome {
    /// The per-example failure table of the test split.
    pub failures: PathBuf,
    /// The run manifest.
    pub manifest: PathBuf,
    /// Per-epoch metrics, one JSON object a line.
    pub metrics: PathBuf,
    /// True when the cell was already finished and nothing ran.
    pub skipped: bool,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Mean test cross-entropy.
    pub test_loss: f64,
    /// Trainable parameter elements.
    pub trainable_params: usize,
    /// All parameter elements.
    pub total_params: usize,
    /// Share of backbone elements bit-identical to the pretrained values after training.
    pub backbone_identical_share: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TrainSpec {
        TrainSpec::new("m", "bitfit", DatasetSpec::named("imdb"), "a".into())
    }

    #[test]
    fn hash_ignores_the_out_folder_but_not_the_seed() {
        let a = spec();
        let mut b = spec();
        b.out = "elsewhere".into();
        assert_eq!(a.hash(), b.hash());
        b.seed = 1;
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
    }

    #[test]
    fn bad_values_are_input_errors_naming_the_key() {
        for (key, edit) in [
            (
                "method",
                (|s: &mut TrainSpec| s.method = "lora".into()) as fn(&mut TrainSpec),
            ),
            ("head", |s| s.head = "deep".into()),
            ("optimizer", |s| s.optimizer = "adam".into()),
            ("schedule", |s| s.schedule = "step".into()),
            ("epochs", |s| s.epochs = 0),
            ("batch_size", |s| s.batch_size = 0),
            ("grad_accum", |s| s.grad_accum = 0),
            ("lr", |s| s.lr = -1.0),
            ("clip_norm", |s| s.clip_norm = Some(0.0)),
            ("momentum", |s| s.momentum = -0.9),
            ("weight_decay", |s| s.weight_decay = -0.01),
            ("weight_decay", |s| s.weight_decay = f64::NAN),
        ] {
            let mut s = spec();
            edit(&mut s);
            let e = s.validate().unwrap_err();
            assert_eq!(e.exit_code(), 2, "{key}");
            if key != "method" {
                assert!(e.to_string().contains(key), "{key}: {e}");
            }
        }
        spec().validate().unwrap();
    }

    #[test]
    fn clip_norm_zero_or_false_turns_clipping_off() {
        let parse = |v: &str| {
            toml::from_str::<TrainSpec>(&format!(
                "model = \"m\"\nmethod = \"probe\"\nout = \"o\"\nclip_norm = {v}\n\
                 [dataset]\nname = \"imdb\"\n"
            ))
        };
        assert_eq!(parse("0").unwrap().clip_norm, None);
        assert_eq!(parse("0.0").unwrap().clip_norm, None);
        assert_eq!(parse("false").unwrap().clip_norm, None);
        assert_eq!(parse("2.5").unwrap().clip_norm, Some(2.5));
        assert!(parse("true").unwrap_err().to_string().contains("clip_norm"));
        // A serialized spec without clipping reads back the same (cells travel as JSON).
        let mut s = spec();
        s.clip_norm = None;
        let back: TrainSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn new_keys_keep_old_hashes_at_their_defaults() {
        // Specs written before `resize`, `augment`, `features`, `frozen_dropout` and `init` existed
        // serialize (and hash) as before while those keys keep their defaults.
        let json = serde_json::to_string(&spec()).unwrap();
        for key in ["resize", "augment", "features", "frozen_dropout", "init"] {
            assert!(!json.contains(key), "{key} in {json}");
        }
        let mut s = spec();
        s.resize = ResizeMode::Stretch;
        assert_ne!(s.hash(), spec().hash());
        let mut s = spec();
        s.features = FeatureKind::Projected;
        assert!(serde_json::to_string(&s)
            .unwrap()
            .contains("\"features\":\"projected\""));
    }

    #[test]
    fn cosine_epochs_steps_once_per_epoch_and_has_no_warmup() {
        let mut s = spec();
        s.schedule = "cosine-epochs".into();
        s.epochs = 4;
        let sched = s.schedule(3).unwrap();
        assert_eq!(sched.lr(2.0, 2), 2.0);
        assert!((sched.lr(2.0, 3) - (1.0 + 0.5f64.sqrt())).abs() < 1e-12);
        s.warmup_steps = 2;
        let e = s.validate().unwrap_err();
        assert!(e.to_string().contains("warmup_steps"), "{e}");
    }

    #[test]
    fn train_table_rejects_unknown_keys_and_fills_defaults() {
        let ok: TrainSpec = toml::from_str(
            "model = \"m\"\nmethod = \"probe\"\nout = \"o\"\n[dataset]\nname = \"imdb\"\n",
        )
        .unwrap();
        // The authors' language recipe (DESIGN.md §2).
        assert_eq!((ok.lr, ok.epochs, ok.batch_size), (2e-5, 3, 8));
        assert_eq!(ok.clip_norm, Some(1.0));
        assert_eq!((ok.weight_decay, ok.warmup_steps), (0.0, 0));
        let bad = toml::from_str::<TrainSpec>(
            "model = \"m\"\nmethod = \"probe\"\nout = \"o\"\nepoch = 3\n[dataset]\nname = \"imdb\"\n",
        );
        assert!(bad.unwrap_err().to_string().contains("epoch"));
    }
}
