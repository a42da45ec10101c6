//! scikit-learn's `StandardScaler`: per-column mean and population standard deviation of the
//! training rows; a constant column keeps scale 1 (it becomes all zeros).

use ndarray::{Array1, Array2, Axis};

/// Per-column centring and scaling learnt from training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScaler {
    /// Column means.
    pub mean: Array1<f64>,
    /// Column population standard deviations (1 where a column is constant).
    pub scale: Array1<f64>,
}

impl StandardScaler {
    /// Learns means and standard deviations (ddof 0, as scikit-learn) from `x`'s rows.
    pub fn fit(x: &Array2<f64>) -> Self {
        let n = x.nrows().max(1) as f64;
        let mean = x.sum_axis(Axis(0)) / n;
        let mut scale = Array1::zeros(x.ncols());
        for (j, col) in x.columns().into_iter().enumerate() {
            let var = col.iter().map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt();
            // scikit-learn treats near-constant columns as constant.
            scale[j] = if sd < 10.0 * f64::EPSILON * mean[j].abs().max(1.0) {
                1.0
            } else {
                sd
            };
        }
        StandardScaler { mean, scale }
    }

    /// `(x - mean) / scale`, row by row.
    pub fn transform(&self, x: &Array2<f64>) -> Array2<f64> {
        (x - &self.mean) / &self.scale
    }
}
