//! `logistic`: scikit-learn's `LogisticRegression()` defaults with linfa-logistic.
//!
//! scikit-learn (lbfgs, L2, C = 1) minimises `C · Σ_i loss_i + ½‖w‖²` with the intercept not
//! penalised. linfa-logistic minimises `Σ_i loss_i + (α/2)‖w‖²`, also without penalising the
//! intercept (its `logistic_loss`). Dividing scikit-learn's objective by C gives linfa's with
//! α = 1/C, the same minimiser, so α = 1. Both solve with L-BFGS; we keep scikit-learn's
//! `max_iter = 100` and `tol = 1e-4` (linfa checks the gradient norm, scikit-learn the largest
//! projected-gradient entry, a difference far below the accuracy the study reports).

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

use super::Learner;
use crate::error::{Error, Result};

/// L2-regularised logistic regression, C = 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// scikit-learn's inverse regularisation strength C; linfa's α is 1/C.
    pub c: f64,
    /// L-BFGS iteration cap (scikit-learn's `max_iter`).
    pub max_iterations: u64,
    /// Gradient tolerance (scikit-learn's `tol`).
    pub tolerance: f64,
}

impl Default for Logistic {
    fn default() -> Self {
        Logistic {
            c: 1.0,
            max_iterations: 100,
            tolerance: 1e-4,
        }
    }
}

impl Learner for Logistic {
    fn name(&self) -> &'static str {
        "logistic"
    }

    fn fit_predict_scaled(
        &self,
        x_train: &Array2<f64>,
        y_train: &[u8],
        x_test: &Array2<f64>,
        _seed: u64,
    ) -> Result<Vec<u8>> {
        let y: Array1<usize> = y_train.iter().map(|&v| usize::from(v)).collect();
        let data = Dataset::new(x_train.clone(), y);
        let model = LogisticRegression::default()
            .alpha(1.0 / self.c)
            .max_iterations(self.max_iterations)
            .gradient_tolerance(self.tolerance)
            .fit(&data)
            .map_err(|e| Error::Runtime(format!("logistic regression: {e}")))?;
        Ok(model.predict(x_test).iter().map(|&c| c as u8).collect())
    }
}
