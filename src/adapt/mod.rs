//! Adaptation (DESIGN.md §5): how a pretrained backbone is turned into a classifier for a task.
//!
//! This part holds the optimisation core the one training loop uses, each piece checked against
//! PyTorch/transformers through committed fixtures (`scripts/make_optim_fixtures.py`):
//! - [`method`]: which parameters train under scratch, probe, BitFit, finetune and the authors'
//!   inverted BitFit, decided by parameter name;
//! - [`optim`]: AdamW and SGD with momentum over named candle [`Var`](candle_core::Var)s, with
//!   fused in-place updates (CPU and CUDA kernels) and checkpointable state;
//! - [`schedule`]: transformers' and torch's learning-rate schedules, stepwise;
//! - [`clip`]: gradient-norm clipping as `torch.nn.utils.clip_grad_norm_`;
//! - [`trainer`]: the one training loop ([`train_cell`]) over a [`TrainSpec`], with its input
//!   pipeline (`pipeline`), the probe feature [`cache`] (filled by `features`), [`checkpoint`]s,
//!   the run [`manifest`] and [`progress`] bars.

pub mod cache;
pub mod cell;
pub mod checkpoint;
pub mod clip;
mod device_kernel;
mod features;
mod kernel;
pub mod manifest;
pub mod method;
pub mod optim;
mod pipeline;
pub mod progress;
pub mod schedule;
mod state;
pub mod trainer;

pub use cell::{check_dataset_fits, CellOutcome, FeatureKind, ResizeMode, RunOptions, TrainSpec};
pub use clip::{clip_coefficient, clip_grad_norm, grad_norm};
pub use method::{HeadKind, Method, ParamCounts, HEAD_PREFIX, METHOD_NAMES};
pub use optim::{
    no_decay, AdamW, AdamWConfig, DecayRule, NamedVars, Optimizer, OptimizerConfig, Sgd, SgdConfig,
    UpdatePath,
};
pub use schedule::Schedule;
pub use trainer::{fill_cell_features, train_cell};

use crate::error::Error;

/// Wraps a candle error (a failed tensor operation) as a runtime error.
pub(crate) fn tensor_error(e: candle_core::Error) -> Error {
    Error::Runtime(format!("tensor operation failed: {e}"))
}
