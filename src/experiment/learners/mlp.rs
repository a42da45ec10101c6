//! `mlp`: scikit-learn's `MLPClassifier()` defaults, trained with candle-nn.
//!
//! One hidden layer of 100 ReLU units and one logistic output unit; Glorot-uniform
//! initialisation as scikit-learn's `_init_coef` (weights and biases of every layer from
//! U(−b, b), b = √(6/(fan_in+fan_out)); scikit-learn uses 2 in place of 6 only when the *hidden*
//! activation is logistic, which ours never is, so the output layer gets 6 too), drawn from our
//! seeded ChaCha8 generator; Adam (lr 1e-3, β 0.9/0.999, ε 1e-8) on mini-batches of
//! min(200, n) people reshuffled every epoch; the batch loss is the mean log loss plus
//! `α/2 · ‖W‖² / batch_size` over the weight matrices (α = 1e-4, biases not penalised), exactly
//! scikit-learn's; up to 200 epochs, stopping once the epoch's training loss has failed to
//! improve on the best by `tol = 1e-4` for more than 10 epochs in a row (scikit-learn's rule).
//! Against scikit-learn on German Credit (`tests/tabular_learners.rs`), seed for seed, ours and
//! its MLP predict alike for about 90% of test people, as often as scikit-learn's own seeds do
//! among themselves: the generators differ, so seed s here is not seed s there. candle computes the
//! forward pass and the gradient of the data loss; the Adam update and the L2 term's gradient are
//! applied to plain vectors (candle-nn's `AdamW` places ε differently from scikit-learn and costs
//! a dozen tensor ops per parameter per step, which dominated training time on these tiny
//! batches). The network computes in f32 (scikit-learn: f64), which halves the matrix work;
//! Adam keeps f64 master copies of the parameters.

use candle_core::{DType, Device, Tensor, Var};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Learner;
use crate::error::{Error, Result};

/// A one-hidden-layer perceptron with scikit-learn's training rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Hidden ReLU units.
    pub hidden: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// L2 penalty α.
    pub alpha: f64,
    /// Mini-batch size (capped at the number of training people).
    pub batch_size: usize,
    /// Most epochs.
    pub max_epochs: usize,
    /// Smallest improvement of the training loss that counts.
    pub tol: f64,
    /// Epochs without improvement tolerated before stopping.
    pub n_iter_no_change: usize,
}

impl Default for Mlp {
    fn default() -> Self {
        Mlp {
            hidden: 100,
            learning_rate: 1e-3,
            alpha: 1e-4,
            batch_size: 200,
            max_epochs: 200,
            tol: 1e-4,
            n_iter_no_change: 10,
        }
    }
}

fn candle(e: candle_core::Error) -> Error {
    Error::Runtime(format!("mlp (candle): {e}"))
}

/// scikit-learn's `_init_coef` bound for a layer with ReLU hidden units:
/// √(6 / (fan_in + fan_out)), the same for the hidden and the output layer.
pub fn init_bound(fan_in: usize, fan_out: usize) -> f64 {
    (6.0 / (fan_in + fan_out) as f64).sqrt()
}

/// A `rows × cols` matrix of U(−bound, bound) draws from `rng`.
fn glorot(rng: &mut ChaCha8Rng, rows: usize, cols: usize, bound: f64) -> Result<Var> {
    let values: Vec<f64> = (0..rows * cols)
        .map(|_| rng.gen_range(-bound..bound))
        .collect();
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Var::from_vec(values, (rows, cols), &Device::Cpu).map_err(candle)
}

/// scikit-learn's Adam (`_stochastic_optimizers.AdamOptimizer`), on plain vectors mirroring the
/// candle variables: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
/// θ ← θ − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε), with β 0.9/0.999 and ε 1e-8.
struct Adam {
    lr: f64,
    t: i32,
    params: Vec<Vec<f64>>,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn new(vars: &[Var], lr: f64) -> Result<Self> {
        let params = vars
            .iter()
            .map(|v| {
                v.as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_dtype(DType::F64))
                    .and_then(|t| t.to_vec1::<f64>())
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(candle)?;
        let zeros: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        Ok(Adam {
            lr,
            t: 0,
            m: zeros.clone(),
            v: zeros,
            params,
        })
    }

    /// One update from `grads`; the variables in `penalised` get `l2 · θ` added to their
    /// gradient. Returns ‖θ‖² of the penalised variables before the update.
    fn step(
        &mut self,
        vars: &[Var],
        grads: &candle_core::backprop::GradStore,
        penalised: &[usize],
        l2: f64,
    ) -> Result<f64> {
        self.t += 1;
        let lr_t =
            self.lr * (1.0 - Self::BETA2.powi(self.t)).sqrt() / (1.0 - Self::BETA1.powi(self.t));
        let mut norm = 0.0;
        for (i, var) in vars.iter().enumerate() {
            let g = match grads.get(var) {
                Some(g) => g
                    .flatten_all()
                    .and_then(|t| t.to_dtype(DType::F64))
                    .and_then(|t| t.to_vec1::<f64>())
                    .map_err(candle)?,
                None => continue,
            };
            let pen = penalised.contains(&i);
            let (p, m, v) = (&mut self.params[i], &mut self.m[i], &mut self.v[i]);
            for j in 0..p.len() {
                let mut gj = g[j];
                if pen {
                    norm += p[j] * p[j];
                    gj += l2 * p[j];
                }
                m[j] = Self::BETA1 * m[j] + (1.0 - Self::BETA1) * gj;
                v[j] = Self::BETA2 * v[j] + (1.0 - Self::BETA2) * gj * gj;
                p[j] -= lr_t * m[j] / (v[j].sqrt() + Self::EPS);
            }
            let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let t = Tensor::from_vec(p32, var.shape(), var.device()).map_err(candle)?;
            var.set(&t).map_err(candle)?;
        }
        Ok(norm)
    }
}

/// Stopping rule of scikit-learn's `_update_no_improvement_count` (no validation set).
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStop {
    best: f64,
    count: usize,
    tol: f64,
    patience: usize,
}

impl EarlyStop {
    /// A fresh rule: improvement below `tol` counts as none; stop after more than `patience`
    /// such epochs in a row.
    pub fn new(tol: f64, patience: usize) -> Self {
        EarlyStop {
            best: f64::INFINITY,
            count: 0,
            tol,
            patience,
        }
    }

    /// Records an epoch's loss; true when training should stop.
    pub fn update(&mut self, loss: f64) -> bool {
        if loss > self.best - self.tol {
            self.count += 1;
        } else {
            self.count = 0;
        }
        if loss < self.best {
            self.best = loss;
        }
        self.count > self.patience
    }
}

impl Mlp {
    /// Draws the initial (w1 [d × h], b1 [1 × h], w2 [h × 1], b2 [1 × 1]) from `rng`, in that
    /// order (scikit-learn's order: each layer's weights, then its biases).
    fn draw_initial(&self, rng: &mut ChaCha8Rng, d: usize) -> Result<[Var; 4]> {
        let h = self.hidden;
        let (b1, b2) = (init_bound(d, h), init_bound(h, 1));
        Ok([
            glorot(rng, d, h, b1)?,
            glorot(rng, 1, h, b1)?,
            glorot(rng, h, 1, b2)?,
            glorot(rng, 1, 1, b2)?,
        ])
    }

    /// The parameters `train` starts from for `n_features` inputs and `seed`: (w1, b1, w2, b2)
    /// as flat row-major vectors.
    pub fn initial_parameters(&self, n_features: usize, seed: u64) -> Result<Vec<Vec<f32>>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.draw_initial(&mut rng, n_features)?
            .iter()
            .map(|v| {
                v.as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(candle)
            })
            .collect()
    }

    /// Trains on `x` (people × features) and returns the fitted parameters (w1, b1, w2, b2) and
    /// the per-epoch training losses.
    pub fn train(&self, x: &Array2<f64>, y: &[u8], seed: u64) -> Result<(Vec<Tensor>, Vec<f64>)> {
        let dev = Device::Cpu;
        let (n, d) = x.dim();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let [w1, c1, w2, c2] = self.draw_initial(&mut rng, d)?;
        let vars = [w1.clone(), c1.clone(), w2.clone(), c2.clone()];
        let mut adam = Adam::new(&vars, self.learning_rate)?;
        let xs = Tensor::from_iter(x.iter().map(|&v| v as f32), &dev)
            .and_then(|t| t.reshape((n, d)))
            .map_err(candle)?;
        let batch = self.batch_size.min(n).max(1);
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut stop = EarlyStop::new(self.tol, self.n_iter_no_change);
        let mut curve = Vec::new();
        for _ in 0..self.max_epochs {
            order.shuffle(&mut rng);
            let mut total = 0.0;
            for chunk in order.chunks(batch) {
                let idx = Tensor::new(chunk, &dev).map_err(candle)?;
                let bs = chunk.len() as f64;
                let xb = xs.index_select(&idx, 0).map_err(candle)?;
                let z = forward(&xb, &w1, &c1, &w2, &c2).map_err(candle)?;
                let zs = z.to_vec1::<f32>().map_err(candle)?;
                // Mean log loss, log(1 + e^z) − y·z computed stably, and its derivative in z,
                // (σ(z) − y)/bs. Backpropagating Σ z·dz (dz held constant) gives candle the
                // exact parameter gradients of the mean log loss with two graph ops instead of
                // ten.
                let mut data_loss = 0.0;
                let mut dz = Vec::with_capacity(zs.len());
                for (&zj, &row) in zs.iter().zip(chunk) {
                    let zj = f64::from(zj);
                    let yj = f64::from(y[row as usize]);
                    data_loss += zj.max(0.0) - yj * zj + (-zj.abs()).exp().ln_1p();
                    dz.push(((1.0 / (1.0 + (-zj).exp()) - yj) / bs) as f32);
                }
                data_loss /= bs;
                let dz = Tensor::from_vec(dz, zs.len(), &dev).map_err(candle)?;
                let surrogate = (&z * &dz).and_then(|t| t.sum_all()).map_err(candle)?;
                let grads = surrogate.backward().map_err(candle)?;
                // The L2 term α/2·‖W‖²/bs of the weight matrices (index 0 and 2): its value is
                // added to the loss and its gradient α·W/bs to the weights' gradients.
                let l2 = adam.step(&vars, &grads, &[0, 2], self.alpha / bs)?;
                let loss = data_loss + 0.5 * self.alpha * l2 / bs;
                total += loss * bs;
            }
            let epoch_loss = total / n as f64;
            curve.push(epoch_loss);
            if stop.update(epoch_loss) {
                break;
            }
        }
        let params = [w1, c1, w2, c2]
            .into_iter()
            .map(|v| v.as_tensor().clone())
            .collect();
        Ok((params, curve))
    }
}

/// The network's logit for each row of `x`.
fn forward(
    x: &Tensor,
    w1: &Tensor,
    c1: &Tensor,
    w2: &Tensor,
    c2: &Tensor,
) -> candle_core::Result<Tensor> {
    x.matmul(w1)?
        .broadcast_add(c1)?
        .relu()?
        .matmul(w2)?
        .broadcast_add(c2)?
        .squeeze(1)
}

impl Learner for Mlp {
    fn name(&self) -> &'static str {
        "mlp"
    }

    fn fit_predict_scaled(
        &self,
        x_train: &Array2<f64>,
        y_train: &[u8],
        x_test: &Array2<f64>,
        seed: u64,
    ) -> Result<Vec<u8>> {
        let (p, _) = self.train(x_train, y_train, seed)?;
        let (n, d) = x_test.dim();
        let logits = Tensor::from_iter(x_test.iter().map(|&v| v as f32), &Device::Cpu)
            .and_then(|t| t.reshape((n, d)))
            .and_then(|xt| forward(&xt, &p[0], &p[1], &p[2], &p[3]))
            .and_then(|z| z.to_dtype(DType::F64))
            .and_then(|z| z.to_vec1::<f64>())
            .map_err(candle)?;
        Ok(logits.iter().map(|&z| u8::from(z > 0.0)).collect())
    }
}
