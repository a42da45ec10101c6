//! Scratch initialisation as transformers initialises each architecture, drawn from our seeded
//! ChaCha8 generator (candle's own initialisers do not follow a seed).
//!
//! Each parameter carries its [`Init`] (set where the module registers it): normal(0, 0.02) for
//! BERT-family weights and embeddings (the padding row zeroed), zeros for biases, ones for
//! layer-norm weights, and CLIP's factor-scaled normals. Parameters are filled in name order,
//! so the same seed gives the same bytes.

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::params::{candle_err, Init, Param, ParamStore};
use crate::error::{Error, Result};

/// Initialises every parameter of `store` from `seed`.
pub fn init_all(store: &ParamStore, seed: u64) -> Result<()> {
    let params: Vec<Param> = store.iter().cloned().collect();
    init_params(&params, seed)
}

/// Initialises the given parameters (in the order given) from `seed`.
pub fn init_params(params: &[Param], seed: u64) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in params {
        let var = p.var();
        let n = var.elem_count();
        let values: Vec<f32> = match p.init() {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Normal(std) => normal(&mut rng, n, std)?,
            Init::NormalZeroRow(std, row) => {
                let mut v = normal(&mut rng, n, std)?;
                let width = var.dims().get(1).copied().unwrap_or(1);
                if let Some(r) = v.get_mut(row * width..(row + 1) * width) {
                    r.fill(0.0);
                }
                v
            }
        };
        let t = Tensor::from_vec(values, var.shape(), var.device())
            .and_then(|t| t.to_dtype(var.dtype()))
            .map_err(candle_err)?;
        var.set(&t).map_err(candle_err)?;
    }
    Ok(())
}

fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Result<Vec<f32>> {
    let dist = Normal::new(0.0f32, std as f32)
        .map_err(|e| Error::Runtime(format!("bad initialiser std {std}: {e}")))?;
    Ok((0..n).map(|_| dist.sample(rng)).collect())
}
