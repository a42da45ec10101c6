//! Model configuration read from a Hugging Face `config.json`.
//!
//! `model_type` decides the architecture: `roberta`/`xlm-roberta`/`camembert` (padding-offset
//! position ids, weights under `roberta.`), `bert` (absolute positions, weights under `bert.`;
//! MiniLM checkpoints are `bert`), `clip` (the vision tower from `vision_config`, weights under
//! `vision_model.`) and `clip_vision_model` (a vision-only config). Missing fields take
//! transformers' defaults for that architecture.

use serde::Deserialize;
use std::path::Path;

use super::layers::Activation;
use crate::error::{Error, InputError, Result};

/// How position ids are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// BERT: 0, 1, 2, ... for every token.
    Absolute,
    /// RoBERTa: pad_id + 1 + index for real tokens, pad_id for padding.
    PaddingOffset,
}

/// The text encoder's configuration (BERT family).
#[derive(Debug, Clone, Deserialize)]
pub struct EncoderConfig {
    /// `model_type` from config.json.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    #[serde(default = "d768")]
    pub hidden_size: usize,
    /// Number of transformer layers.
    #[serde(default = "d12")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "d12")]
    pub num_attention_heads: usize,
    /// Feed-forward inner size.
    #[serde(default = "d3072")]
    pub intermediate_size: usize,
    /// Rows of the position-embedding table.
    #[serde(default = "d512")]
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    #[serde(default = "d2")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "eps12")]
    pub layer_norm_eps: f64,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// Activation in the feed-forward block.
    #[serde(default = "gelu")]
    pub hidden_act: String,
    /// Dropout on embeddings and block outputs.
    #[serde(default = "p01")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "p01")]
    pub attention_probs_dropout_prob: f64,
    /// Std of the normal initialiser.
    #[serde(default = "std002")]
    pub initializer_range: f64,
    /// Dropout in the classification head (falls back to `hidden_dropout_prob`).
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
}

impl EncoderConfig {
    /// Position-id scheme implied by `model_type`.
    pub fn positions(&self) -> Positions {
        if is_roberta(&self.model_type) {
            Positions::PaddingOffset
        } else {
            Positions::Absolute
        }
    }

    /// The prefix transformers puts before backbone weights in task models.
    pub fn prefix(&self) -> &'static str {
        if is_roberta(&self.model_type) {
            "roberta"
        } else {
            "bert"
        }
    }

    /// The padding id (RoBERTa 1, BERT 0 when absent).
    pub fn pad_id(&self) -> usize {
        self.pad_token_id
            .unwrap_or(if is_roberta(&self.model_type) { 1 } else { 0 })
    }

    /// The longest input in tokens, special tokens included.
    pub fn max_tokens(&self) -> usize {
        match self.positions() {
            Positions::PaddingOffset => self
                .max_position_embeddings
                .saturating_sub(self.pad_id() + 1),
            Positions::Absolute => self.max_position_embeddings,
        }
    }

    /// The activation.
    pub fn activation(&self) -> Result<Activation> {
        Activation::parse(&self.hidden_act).ok_or_else(|| {
            InputError::new(format!(
                "unsupported hidden_act `{}`: expected gelu, gelu_new, quick_gelu or relu",
                self.hidden_act
            ))
            .at_key("hidden_act")
            .into()
        })
    }
}

fn is_roberta(model_type: &str) -> bool {
    matches!(model_type, "roberta" | "xlm-roberta" | "camembert")
}

/// The CLIP vision tower's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipVisionConfig {
    /// Hidden size.
    #[serde(default = "d768")]
    pub hidden_size: usize,
    /// MLP inner size.
    #[serde(default = "d3072")]
    pub intermediate_size: usize,
    /// Number of transformer layers.
    #[serde(default = "d12")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "d12")]
    pub num_attention_heads: usize,
    /// Input side in pixels.
    #[serde(default = "d224")]
    pub image_size: usize,
    /// Patch side in pixels.
    #[serde(default = "d32")]
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "d3")]
    pub num_channels: usize,
    /// MLP activation.
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    /// Layer-norm epsilon.
    #[serde(default = "eps5")]
    pub layer_norm_eps: f64,
    /// Dropout on attention probabilities.
    #[serde(default)]
    pub attention_dropout: f64,
    /// Std of the base normal initialiser.
    #[serde(default = "std002")]
    pub initializer_range: f64,
    /// CLIP's init scale factor.
    #[serde(default = "one")]
    pub initializer_factor: f64,
    /// Size of CLIP's image embedding, the visual projection's output (a `clip` config's
    /// top-level `projection_dim`, else the vision config's own; transformers' default 512).
    #[serde(default = "d512")]
    pub projection_dim: usize,
    /// Whether the tower ends with the visual projection (`visual_projection.weight`, no bias),
    /// as `CLIPVisionModelWithProjection` / `get_image_features` do. Chosen by the caller
    /// ([`ModelConfig::with_projected_features`]), not read from the file.
    #[serde(skip)]
    pub with_projection: bool,
}

impl ClipVisionConfig {
    /// Patches per image plus the class token.
    pub fn num_positions(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side + 1
    }

    /// The activation.
    pub fn activation(&self) -> Result<Activation> {
        Activation::parse(&self.hidden_act).ok_or_else(|| {
            InputError::new(format!("unsupported hidden_act `{}`", self.hidden_act))
                .at_key("vision_config.hidden_act")
                .into()
        })
    }
}

/// A backbone's configuration.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// A BERT-family text encoder.
    Text(EncoderConfig),
    /// A CLIP vision tower.
    Vision(ClipVisionConfig),
}

/// `value` (the object at `prefix` in the file) as a `T`; an error names the key path.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
    model_type: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut err = InputError::new(format!("invalid {model_type} config: {}", e.inner()));
        if path != "." {
            err = err.at_key(format!("{prefix}{path}"));
        }
        err.into()
    })
}

impl ModelConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Input(ie) if ie.file.is_none() => Error::from(ie.in_file(path)),
            other => other,
        })
    }

    /// Parses the text of a `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| InputError::new(format!("not valid JSON: {e}")))?;
        let model_type = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .ok_or_else(|| InputError::new("missing `model_type`").at_key("model_type"))?
            .to_string();
        let model_type = model_type.as_str();
        let config = match model_type {
            "roberta" | "xlm-roberta" | "camembert" | "bert" => {
                ModelConfig::Text(typed(value.clone(), "", model_type)?)
            }
            "clip" => {
                let vision = value.get("vision_config").cloned().ok_or_else(|| {
                    InputError::new("a `clip` config needs `vision_config`")
                        .at_key("vision_config")
                })?;
                let mut vision: ClipVisionConfig = typed(vision, "vision_config.", model_type)?;
                if let Some(dim) = value.get("projection_dim") {
                    vision.projection_dim = typed(dim.clone(), "projection_dim", model_type)?;
                }
                ModelConfig::Vision(vision)
            }
            "clip_vision_model" => ModelConfig::Vision(typed(value, "", model_type)?),
            other => {
                return Err(InputError::new(format!(
                    "unknown model_type `{other}`: expected roberta, xlm-roberta, bert, clip or clip_vision_model"
                ))
                .at_key("model_type")
                .into())
            }
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let (hidden, heads) = match self {
            ModelConfig::Text(c) => {
                c.activation()?;
                (c.hidden_size, c.num_attention_heads)
            }
            ModelConfig::Vision(c) => {
                c.activation()?;
                if c.patch_size == 0 || c.image_size % c.patch_size != 0 {
                    return Err(
                        InputError::new("image_size must be a multiple of patch_size")
                            .at_key("patch_size")
                            .into(),
                    );
                }
                (c.hidden_size, c.num_attention_heads)
            }
        };
        if heads == 0 || hidden % heads != 0 {
            return Err(InputError::new(format!(
                "hidden_size {hidden} is not divisible by num_attention_heads {heads}"
            ))
            .at_key("num_attention_heads")
            .into());
        }
        Ok(())
    }

    /// The hidden size.
    pub fn hidden_size(&self) -> usize {
        match self {
            ModelConfig::Text(c) => c.hidden_size,
            ModelConfig::Vision(c) => c.hidden_size,
        }
    }

    /// The size of the features a head reads: the hidden size, or CLIP's projection size when
    /// the tower ends with its visual projection.
    pub fn feature_size(&self) -> usize {
        match self {
            ModelConfig::Vision(c) if c.with_projection => c.projection_dim,
            other => other.hidden_size(),
        }
    }

    /// The same model ending with CLIP's visual projection (its features are CLIP's image
    /// embedding); an input error for a text encoder, naming the `features` key.
    pub fn with_projected_features(self) -> Result<Self> {
        match self {
            ModelConfig::Vision(mut c) => {
                c.with_projection = true;
                Ok(ModelConfig::Vision(c))
            }
            ModelConfig::Text(c) => Err(InputError::new(format!(
                "features = \"projected\" is CLIP's image embedding; this model is a text \
                 encoder ({}), whose features are its first token's hidden state",
                c.model_type
            ))
            .at_key("features")
            .into()),
        }
    }
}

fn d768() -> usize {
    768
}
fn d12() -> usize {
    12
}
fn d3072() -> usize {
    3072
}
fn d512() -> usize {
    512
}
fn d224() -> usize {
    224
}
fn d32() -> usize {
    32
}
fn d3() -> usize {
    3
}
fn d2() -> usize {
    2
}
fn eps12() -> f64 {
    1e-12
}
fn eps5() -> f64 {
    1e-5
}
fn p01() -> f64 {
    0.1
}
fn std002() -> f64 {
    0.02
}
fn one() -> f64 {
    1.0
}
fn gelu() -> String {
    "gelu".into()
}
fn quick_gelu() -> String {
    "quick_gelu".into()
}
