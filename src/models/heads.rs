//! Classification heads on the backbone's features, named as transformers names them.
//!
//! - `linear`: one dense layer, `classifier.weight` / `classifier.bias` (the paper's linear probe).
//! - `mlp`: RoBERTa's classification head, `classifier.dense` + tanh + `classifier.out_proj`,
//!   with dropout before each dense layer in training (what the authors' code called probing).

use candle_core::{Result, Tensor};
use std::str::FromStr;

use super::layers::{Ctx, Linear};
use super::params::ParamStore;
use crate::error::{Error, InputError};

/// Prefix of every head parameter.
pub const PREFIX: &str = "classifier";

/// Which head to put on the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// One dense layer.
    Linear,
    /// Dense + tanh + dense.
    Mlp,
}

impl FromStr for HeadKind {
    type Err = Error;
    fn from_str(s: &str) -> std::result::Result<Self, Error> {
        match s {
            "linear" => Ok(HeadKind::Linear),
            "mlp" => Ok(HeadKind::Mlp),
            other => Err(InputError::new(format!(
                "unknown head `{other}`: expected `linear` or `mlp`"
            ))
            .into()),
        }
    }
}

/// A head with its parameters.
#[derive(Debug, Clone)]
pub enum Head {
    /// `classifier`.
    Linear(Linear),
    /// `classifier.dense`, `classifier.out_proj`, and the dropout probability.
    Mlp(Linear, Linear, f64),
}

impl Head {
    /// Registers the head's parameters: weights normal(0, `std`), biases zero.
    pub fn new(
        kind: HeadKind,
        store: &mut ParamStore,
        hidden: usize,
        classes: usize,
        std: f64,
        dropout: f64,
    ) -> crate::error::Result<Self> {
        Ok(match kind {
            HeadKind::Linear => {
                Head::Linear(Linear::new(store, PREFIX, hidden, classes, true, std)?)
            }
            HeadKind::Mlp => Head::Mlp(
                Linear::new(store, &format!("{PREFIX}.dense"), hidden, hidden, true, std)?,
                Linear::new(
                    store,
                    &format!("{PREFIX}.out_proj"),
                    hidden,
                    classes,
                    true,
                    std,
                )?,
                dropout,
            ),
        })
    }

    /// Logits [batch, classes] from features [batch, hidden].
    pub fn forward(&self, features: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        match self {
            Head::Linear(l) => l.forward(features),
            Head::Mlp(dense, out, p) => {
                let x = dense.forward(&ctx.dropout(features, *p)?)?.tanh()?;
                out.forward(&ctx.dropout(&x, *p)?)
            }
        }
    }
}
