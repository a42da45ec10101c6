//! Adaptation methods: which parameters train, decided by parameter name.
//!
//! Names are transformers' parameter names, with or without the model's wrapper prefix
//! (`roberta.`, `bert.`, `vision_model.`): RoBERTa/BERT `embeddings.*`, `encoder.layer.N.*`,
//! `pooler.*`; CLIP vision `embeddings.*`, `pre_layrnorm.*`, `encoder.layers.N.*`,
//! `post_layernorm.*`. **The head** is every parameter whose name starts with `classifier.` —
//! the prefix transformers' `*ForSequenceClassification` and `*ForImageClassification` use (a
//! linear head `classifier.weight`/`classifier.bias`; RoBERTa's MLP head
//! `classifier.dense.*`/`classifier.out_proj.*`). Everything else is backbone. A **bias** is a
//! parameter whose last name component is `bias` (attention q/k/v/out, MLP and layer-norm
//! biases alike).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, InputError};

/// The name prefix of every head parameter.
pub const HEAD_PREFIX: &str = "classifier.";

/// The classification head put on the backbone's features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum HeadKind {
    /// One linear layer (a linear probe). The default.
    #[default]
    Linear,
    /// RoBERTa's classification head: dense + tanh + output projection (what the authors'
    /// "probing" trained).
    Mlp,
}

/// How a pretrained backbone is adapted to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// The architecture randomly initialised (transformers' scheme); everything trains.
    Scratch,
    /// Backbone frozen; only the head trains. `head` is [`HeadKind::Linear`] for a linear
    /// probe; [`HeadKind::Mlp`] reproduces the authors' probing.
    Probe {
        /// The head on the frozen features.
        head: HeadKind,
    },
    /// BitFit: every backbone bias plus the head.
    BitFit,
    /// Everything trains.
    Finetune,
    /// The authors' code's "bitfit" (a bug, reproduced for comparison): every backbone bias is
    /// frozen and everything else (other backbone parameters and the head) trains.
    BitFitInverted,
}

/// The accepted spellings of [`Method`], for messages and `--help`.
pub const METHOD_NAMES: [&str; 6] = [
    "scratch",
    "probe",
    "probe-mlp",
    "bitfit",
    "finetune",
    "bitfit-inverted",
];

impl Method {
    /// Whether the parameter called `name` trains under this method.
    pub fn trains(&self, name: &str) -> bool {
        let head = is_head(name);
        match self {
            Method::Scratch | Method::Finetune => true,
            Method::Probe { .. } => head,
            Method::BitFit => head || is_bias(name),
            Method::BitFitInverted => head || !is_bias(name),
        }
    }

    /// The `(name, value)` pairs whose name trains under this method, in their order — e.g. the
    /// [`NamedVars`](super::NamedVars) to give the optimiser.
    pub fn select<T: Clone>(&self, params: &[(String, T)]) -> Vec<(String, T)> {
        params
            .iter()
            .filter(|(name, _)| self.trains(name))
            .cloned()
            .collect()
    }

    /// The head a probe uses; `None` for the other methods, whose head the run's configuration
    /// chooses.
    pub fn probe_head(&self) -> Option<HeadKind> {
        match self {
            Method::Probe { head } => Some(*head),
            _ => None,
        }
    }

    /// True when the backbone is frozen and stays as pretrained, so its features can be computed
    /// once and cached (probe only).
    pub fn backbone_frozen(&self) -> bool {
        matches!(self, Method::Probe { .. })
    }

    /// True when the backbone starts from random weights instead of the pretrained ones.
    pub fn random_init(&self) -> bool {
        matches!(self, Method::Scratch)
    }

    /// Trainable and total parameter counts over `(name, element count)` pairs.
    pub fn count<'a>(&self, params: impl IntoIterator<Item = (&'a str, usize)>) -> ParamCounts {
        let mut c = ParamCounts::default();
        for (name, n) in params {
            let trains = self.trains(name);
            c.total += n;
            if trains {
                c.trainable += n;
            }
            if !is_head(name) {
                c.backbone_total += n;
                if !trains {
                    c.backbone_frozen += n;
                }
            }
        }
        c
    }
}

/// True for head parameters (the name starts with [`HEAD_PREFIX`]).
pub fn is_head(name: &str) -> bool {
    name.starts_with(HEAD_PREFIX)
}

/// True for biases: the last component of the name is `bias`.
pub fn is_bias(name: &str) -> bool {
    name.rsplit('.').next() == Some("bias")
}

/// Parameter counts of a model under a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamCounts {
    /// Elements that train.
    pub trainable: usize,
    /// All elements, backbone and head.
    pub total: usize,
    /// Backbone elements.
    pub backbone_total: usize,
    /// Backbone elements that do not train (left exactly as pretrained, unless scratch).
    pub backbone_frozen: usize,
}

impl ParamCounts {
    /// The share of backbone elements that do not train (the paper: BitFit keeps 99.92%).
    pub fn backbone_frozen_share(&self) -> f64 {
        if self.backbone_total == 0 {
            0.0
        } else {
            self.backbone_frozen as f64 / self.backbone_total as f64
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Scratch => "scratch",
            Method::Probe {
                head: HeadKind::Linear,
            } => "probe",
            Method::Probe {
                head: HeadKind::Mlp,
            } => "probe-mlp",
            Method::BitFit => "bitfit",
            Method::Finetune => "finetune",
            Method::BitFitInverted => "bitfit-inverted",
        })
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Parses one of [`METHOD_NAMES`]; anything else is an input error listing them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "scratch" => Method::Scratch,
            "probe" => Method::Probe {
                head: HeadKind::Linear,
            },
            "probe-mlp" => Method::Probe {
                head: HeadKind::Mlp,
            },
            "bitfit" => Method::BitFit,
            "finetune" => Method::Finetune,
            "bitfit-inverted" => Method::BitFitInverted,
            other => {
                return Err(InputError::new(format!(
                    "unknown adaptation method `{other}`, expected one of {}",
                    METHOD_NAMES.join(", ")
                ))
                .at_key("method")
                .into())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_input_error() {
        for name in METHOD_NAMES {
            assert_eq!(name.parse::<Method>().unwrap().to_string(), name);
        }
        let e = "linear-probe".parse::<Method>().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("linear-probe"), "{e}");
        assert!(e.to_string().contains("bitfit-inverted"), "{e}");
    }

    #[test]
    fn bias_and_head_rules_on_single_names() {
        let q_bias = "roberta.encoder.layer.3.attention.self.query.bias";
        let ln_weight = "encoder.layers.0.layer_norm1.weight";
        assert!(Method::BitFit.trains(q_bias));
        assert!(!Method::BitFit.trains(ln_weight));
        assert!(!Method::BitFitInverted.trains(q_bias));
        assert!(Method::BitFitInverted.trains(ln_weight));
        assert!(Method::BitFitInverted.trains("classifier.bias"));
        assert!(!Method::Probe {
            head: HeadKind::Linear
        }
        .trains(q_bias));
        assert!(Method::Probe {
            head: HeadKind::Mlp
        }
        .trains("classifier.dense.weight"));
        // `embeddings.class_embedding` is not a bias although it is a learned vector.
        assert!(!Method::BitFit.trains("vision_model.embeddings.class_embedding"));
    }
}
