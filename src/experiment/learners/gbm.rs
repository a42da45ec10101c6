//! `gbm`: scikit-learn's `GradientBoostingClassifier()` defaults as closely as forust-ml allows.
//!
//! Same: log-loss boosting, 100 trees, learning rate 0.1, depth 3, no subsampling, the initial
//! score the log-odds of the training prior, Newton leaf values Σg / Σh with no L2 penalty and no
//! minimum leaf weight. Different: forust grows XGBoost-style trees, choosing splits by the
//! second-order gain on histograms (at most 256 bins per feature, which is every distinct value on
//! German Credit) where scikit-learn fits a least-squares tree on the residuals with the
//! Friedman-MSE criterion and exact thresholds; and scikit-learn breaks ties between equal splits
//! by a seeded feature permutation, forust by feature order.

use forust_ml::{GradientBooster, Matrix};
use ndarray::Array2;

use super::Learner;
use crate::error::{Error, Result};

/// Gradient-boosted decision trees.
#[derive(Debug, Clone, PartialEq)]
pub struct Gbm {
    /// Number of trees.
    pub trees: usize,
    /// Shrinkage.
    pub learning_rate: f32,
    /// Depth of each tree.
    pub max_depth: usize,
}

impl Default for Gbm {
    fn default() -> Self {
        Gbm {
            trees: 100,
            learning_rate: 0.1,
            max_depth: 3,
        }
    }
}

/// Column-major copy of `x`, forust's layout.
fn column_major(x: &Array2<f64>) -> Vec<f64> {
    x.t().iter().copied().collect()
}

impl Learner for Gbm {
    fn name(&self) -> &'static str {
        "gbm"
    }

    fn fit_predict_scaled(
        &self,
        x_train: &Array2<f64>,
        y_train: &[u8],
        x_test: &Array2<f64>,
        seed: u64,
    ) -> Result<Vec<u8>> {
        let fail = |e: forust_ml::errors::ForustError| Error::Runtime(format!("gbm: {e}"));
        let mut model = GradientBooster::default()
            .set_iterations(self.trees)
            .set_learning_rate(self.learning_rate)
            .set_max_depth(self.max_depth)
            .set_l2(0.0)
            .set_min_leaf_weight(0.0)
            .set_initialize_base_score(true)
            .set_parallel(false)
            .set_seed(seed);
        let train = column_major(x_train);
        let y: Vec<f64> = y_train.iter().map(|&v| f64::from(v)).collect();
        model
            .fit_unweighted(
                &Matrix::new(&train, x_train.nrows(), x_train.ncols()),
                &y,
                None,
            )
            .map_err(fail)?;
        let test = column_major(x_test);
        let scores = model.predict(&Matrix::new(&test, x_test.nrows(), x_test.ncols()), false);
        Ok(scores.iter().map(|&s| u8::from(s > 0.0)).collect())
    }
}
