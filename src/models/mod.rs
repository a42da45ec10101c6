//! Trainable foundation models in candle: one BERT-family text encoder (RoBERTa, BERT, MiniLM)
//! and the CLIP ViT vision tower, with transformers' parameter names, loading from a folder, the
//! Hugging Face cache or the Hub, scratch initialisation as transformers does it, heads, and the
//! input pipelines (tokenizer, image preprocessing).
//!
//! [`Model`] bundles a backbone, an optional head and the [`ParamStore`] holding every
//! parameter by name; an adaptation method chooses what trains with
//! [`ParamStore::set_trainable`] (see [`Selection`]).

pub mod attention;
pub mod batches;
pub mod card;
pub mod clip_vit;
pub mod config;
pub mod dense;
pub mod embed;
pub mod encoder;
pub mod heads;
pub mod hub;
pub mod init;
pub mod layers;
pub mod norm;
pub mod params;
pub mod pointwise;
pub mod preprocess;
pub mod rows;
pub mod tokenize;
pub mod vmath;

/// Helpers shared by the models' unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::backprop::GradStore;
    use candle_core::Tensor;

    /// Runs `f` inside a rayon pool of `threads` threads (the thread-count tests: parallel
    /// kernels must give the same bits on any number of threads).
    pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    /// Asserts that `ours` and `reference` hold the same gradient, within `tol`, for each named
    /// tensor, and that the reference's is not trivially small (its largest value above
    /// `min_scale`), so that the comparison can fail.
    pub fn assert_same_grads(
        ours: &GradStore,
        reference: &GradStore,
        tensors: &[(&str, &Tensor)],
        tol: f32,
        min_scale: f32,
    ) {
        for (name, t) in tensors {
            let (a, b) = (ours.get(t).unwrap(), reference.get(t).unwrap());
            let d = max_diff(a, b);
            assert!(d < tol, "d{name} differs by {d}");
            let scale = b
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(scale > min_scale, "d{name} is trivially small ({scale})");
        }
    }

    /// The largest absolute difference between two tensors of one shape (f32, one device).
    pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }
}

use candle_core::{Device, Tensor};

pub use batches::{for_each_prefetched, map_batches};
pub use rows::RowsInInputOrder;

use crate::device::Precision;
use crate::error::Result;
use clip_vit::ClipVision;
use config::ModelConfig;
use encoder::{Encoder, EncoderInput};
use heads::{Head, HeadKind};
use hub::{LoadReport, ModelFiles};
use init::InitScheme;
use layers::Ctx;
use params::ParamStore;

/// The backbone of a model.
#[derive(Debug, Clone)]
pub enum Backbone {
    /// A BERT-family text encoder.
    Text(Encoder),
    /// A CLIP vision tower.
    Vision(ClipVision),
}

/// One batch of model input.
#[derive(Debug, Clone)]
pub enum Batch {
    /// Tokenized text.
    Text(EncoderInput),
    /// Preprocessed pixels [batch, 3, size, size].
    Pixels(Tensor),
}

impl Batch {
    /// The batch on `device`: prepared on the host, moved to the model's device for its pass.
    pub fn to_device(&self, device: &Device) -> candle_core::Result<Batch> {
        Ok(match self {
            Batch::Text(input) => Batch::Text(EncoderInput {
                input_ids: input.input_ids.to_device(device)?,
                attention_mask: input.attention_mask.to_device(device)?,
                token_type_ids: input
                    .token_type_ids
                    .as_ref()
                    .map(|t| t.to_device(device))
                    .transpose()?,
            }),
            Batch::Pixels(pixels) => Batch::Pixels(pixels.to_device(device)?),
        })
    }
}

/// The head to attach: its kind and number of classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSpec {
    /// Linear or mlp.
    pub kind: HeadKind,
    /// Number of output classes.
    pub classes: usize,
}

/// Which parameters an adaptation method trains, by transformers name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Everything (finetuning, scratch).
    All,
    /// Every backbone bias (layer-norm biases included) plus the whole head (BitFit).
    BitFit,
    /// Only the head (probing).
    Head,
}

impl Selection {
    /// Whether the parameter called `name` trains under this selection.
    pub fn selects(&self, name: &str) -> bool {
        let head = name.starts_with(&format!("{}.", heads::PREFIX));
        match self {
            Selection::All => true,
            Selection::BitFit => head || name.ends_with(".bias"),
            Selection::Head => head,
        }
    }
}

/// A backbone, an optional head and their parameters.
#[derive(Debug, Clone)]
pub struct Model {
    /// The backbone's configuration.
    pub config: ModelConfig,
    /// The backbone.
    pub backbone: Backbone,
    /// The head, when one was requested.
    pub head: Option<Head>,
    /// Every parameter by transformers name.
    pub store: ParamStore,
}

impl Model {
    /// Builds the architecture with zero-filled parameters (load or initialise next).
    pub fn from_config(
        config: &ModelConfig,
        head: Option<HeadSpec>,
        device: &Device,
        precision: impl Into<Precision>,
    ) -> Result<Self> {
        let mut store = ParamStore::new(device.clone(), precision);
        let (backbone, std, dropout) = match config {
            ModelConfig::Text(c) => (
                Backbone::Text(Encoder::new(c, &mut store)?),
                c.initializer_range,
                c.classifier_dropout.unwrap_or(c.hidden_dropout_prob),
            ),
            ModelConfig::Vision(c) => (
                Backbone::Vision(ClipVision::new(c, &mut store)?),
                // CLIPForImageClassification's classifier init.
                (c.hidden_size as f64).powf(-0.5) * c.initializer_factor,
                0.0,
            ),
        };
        let head = match head {
            Some(h) => Some(Head::new(
                h.kind,
                &mut store,
                config.feature_size(),
                h.classes,
                std,
                dropout,
            )?),
            None => None,
        };
        Ok(Model {
            config: config.clone(),
            backbone,
            head,
            store,
        })
    }

    /// A model initialised from scratch as transformers would, from `seed`.
    pub fn scratch(
        config: &ModelConfig,
        head: Option<HeadSpec>,
        device: &Device,
        precision: impl Into<Precision>,
        seed: u64,
    ) -> Result<Self> {
        Self::scratch_as(
            config,
            head,
            device,
            precision,
            seed,
            InitScheme::Transformers,
        )
    }

    /// A model initialised from scratch under `scheme`, from `seed`.
    pub fn scratch_as(
        config: &ModelConfig,
        head: Option<HeadSpec>,
        device: &Device,
        precision: impl Into<Precision>,
        seed: u64,
        scheme: InitScheme,
    ) -> Result<Self> {
        let model = Self::from_config(config, head, device, precision)?;
        init::init_all_as(&model.store, seed, scheme)?;
        Ok(model)
    }

    /// Loads a pretrained model from resolved files; a head missing from the checkpoint is
    /// initialised from `seed`.
    pub fn load(
        files: &ModelFiles,
        head: Option<HeadSpec>,
        device: &Device,
        precision: impl Into<Precision>,
        seed: u64,
    ) -> Result<(Self, LoadReport)> {
        let config = ModelConfig::from_file(&files.config)?;
        let scheme = InitScheme::Transformers;
        Self::load_as(&config, files, head, device, precision, seed, scheme)
    }

    /// [`load`](Self::load) with the architecture given (the files' config, adapted: CLIP with
    /// its visual projection, say) and the missing head initialised under `scheme`.
    pub fn load_as(
        config: &ModelConfig,
        files: &ModelFiles,
        head: Option<HeadSpec>,
        device: &Device,
        precision: impl Into<Precision>,
        seed: u64,
        scheme: InitScheme,
    ) -> Result<(Self, LoadReport)> {
        let model = Self::from_config(config, head, device, precision)?;
        let report = hub::load_into(
            &model.store,
            &files.weights,
            model.backbone_prefix(),
            heads::PREFIX,
        )?;
        let missing: Vec<_> = report
            .missing_head
            .iter()
            .filter_map(|n| model.store.get(n).cloned())
            .collect();
        init::init_params_as(&missing, &model.store, seed, scheme)?;
        Ok((model, report))
    }

    /// The prefix of backbone parameter names (`roberta`, `bert`, `vision_model`).
    pub fn backbone_prefix(&self) -> &'static str {
        match &self.config {
            ModelConfig::Text(c) => c.prefix(),
            ModelConfig::Vision(_) => clip_vit::PREFIX,
        }
    }

    /// Features [batch, feature size]: the first token's final hidden state, or CLIP's pooled
    /// output (through the visual projection when the model has it).
    pub fn features(&self, batch: &Batch, ctx: &Ctx) -> candle_core::Result<Tensor> {
        match (&self.backbone, batch) {
            (Backbone::Text(e), Batch::Text(input)) => Ok(e.forward(input, ctx, false)?.features),
            (Backbone::Vision(v), Batch::Pixels(px)) => Ok(v.forward(px, ctx, false)?.features),
            (Backbone::Text(_), Batch::Pixels(_)) => {
                candle_core::bail!("a text encoder cannot take pixel input")
            }
            (Backbone::Vision(_), Batch::Text(_)) => {
                candle_core::bail!("a vision tower cannot take text input")
            }
        }
    }

    /// [`features`](Self::features) as kept values: f32 on the CPU, cut from the graph that
    /// computed them. What collects features over many batches (the feature cache, `embed`)
    /// must keep these: a tensor that still tracks its graph keeps every activation of its
    /// forward pass alive, attention probabilities included (gigabytes per batch of long texts).
    pub fn host_features(&self, batch: &Batch, ctx: &Ctx) -> candle_core::Result<Tensor> {
        features_to_host(&self.features(batch, ctx)?)
    }

    /// Logits [batch, classes] through the head (features when there is no head).
    pub fn logits(&self, batch: &Batch, ctx: &Ctx) -> candle_core::Result<Tensor> {
        let features = self.features(batch, ctx)?;
        match &self.head {
            Some(h) => h.forward(&features, ctx),
            None => Ok(features),
        }
    }
}

/// `features` detached from its graph, as f32 on the CPU (see [`Model::host_features`]).
pub fn features_to_host(features: &Tensor) -> candle_core::Result<Tensor> {
    features
        .detach()
        .to_dtype(candle_core::DType::F32)?
        .to_device(&candle_core::Device::Cpu)
}

/// `rows` [n, ...] computed in `order` (row j is input `order[j]`), put back in input order:
/// row i of the result is input i's. An error unless `order` is a permutation of 0..n.
pub fn rows_in_input_order(rows: &Tensor, order: &[usize]) -> crate::error::Result<Tensor> {
    let position = order_positions(order)?;
    Tensor::from_vec(position, order.len(), rows.device())
        .and_then(|p| rows.contiguous()?.index_select(&p, 0))
        .map_err(|e| crate::error::Error::Runtime(e.to_string()))
}

/// Where each input sits in `order`: `position[order[j]] == j`. An error unless `order` is a
/// permutation of 0..order.len().
fn order_positions(order: &[usize]) -> crate::error::Result<Vec<u32>> {
    let n = order.len();
    let mut position = vec![u32::MAX; n];
    for (place, &i) in order.iter().enumerate() {
        match position.get_mut(i) {
            Some(p) if *p == u32::MAX => *p = place as u32,
            _ => {
                return Err(crate::error::Error::Runtime(format!(
                    "the computation order is not a permutation of 0..{n} (index {i} at place \
                     {place})"
                )))
            }
        }
    }
    Ok(position)
}
