//! The study's four learners, each scikit-learn's defaults behind a standard scaler (as the
//! authors' `make_pipeline(StandardScaler(), model(random_state=seed))`):
//!
//! - `logistic`: L2 logistic regression, C = 1 (linfa-logistic, L-BFGS);
//! - `svm`: RBF support-vector classifier, C = 1, gamma = 'scale' (linfa-svm, SMO);
//! - `gbm`: gradient-boosted trees, 100 trees, learning rate 0.1, depth 3 (forust-ml);
//! - `mlp`: one hidden layer of 100 ReLU units, Adam (candle-nn), sklearn's `MLPClassifier`
//!   training rules.
//!
//! Each submodule documents how its crate's parameters map onto scikit-learn's and what differs.

pub mod gbm;
pub mod logistic;
pub mod mlp;
pub mod scaler;
pub mod svm;

use ndarray::Array2;

use crate::error::{InputError, Result};

pub use scaler::StandardScaler;

/// The learners' names, in the order the default run uses.
pub const LEARNERS: [&str; 4] = ["logistic", "svm", "gbm", "mlp"];

/// A binary classifier trained from scratch for one task of one trial.
pub trait Learner: Send + Sync {
    /// The learner's name (`logistic`, `svm`, `gbm`, `mlp`).
    fn name(&self) -> &'static str;

    /// Fits on already standardised `x_train` / `y_train` (labels 0 or 1, both classes present)
    /// and predicts 0/1 for each row of the standardised `x_test`. `seed` drives every random
    /// choice the learner makes.
    fn fit_predict_scaled(
        &self,
        x_train: &Array2<f64>,
        y_train: &[u8],
        x_test: &Array2<f64>,
        seed: u64,
    ) -> Result<Vec<u8>>;
}

/// The class every training label has, when the labels hold a single class (`None` when both
/// are present, or there are no labels).
pub fn single_class(y_train: &[u8]) -> Option<u8> {
    let first = *y_train.first()?;
    y_train.iter().all(|&y| y == first).then_some(first)
}

/// What one fit gave: the test predictions, and the class of a single-class training set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    /// One 0/1 prediction per test row.
    pub predictions: Vec<u8>,
    /// `Some(class)` when every training label was `class`: no model was trained and every
    /// prediction is `class` (scikit-learn refuses to fit such data, "needs samples of at least
    /// 2 classes"). Callers count these and say so ([`crate::experiment::datasharing`]).
    pub single_class: Option<u8>,
}

/// Standard-scales with statistics of the training rows, then fits and predicts.
///
/// When the training labels hold a single class, every prediction is that class and
/// [`Fit::single_class`] says so: scikit-learn refuses to fit on one class, and a constant is
/// what any of these learners would converge to.
pub fn fit(
    learner: &dyn Learner,
    x_train: &Array2<f64>,
    y_train: &[u8],
    x_test: &Array2<f64>,
    seed: u64,
) -> Result<Fit> {
    if let Some(class) = single_class(y_train) {
        return Ok(Fit {
            predictions: vec![class; x_test.nrows()],
            single_class: Some(class),
        });
    }
    let scaler = StandardScaler::fit(x_train);
    let predictions = learner.fit_predict_scaled(
        &scaler.transform(x_train),
        y_train,
        &scaler.transform(x_test),
        seed,
    )?;
    Ok(Fit {
        predictions,
        single_class: None,
    })
}

/// [`fit`]'s predictions alone (a single-class training set predicts its class for everyone;
/// use [`fit`] to know when that happened).
pub fn fit_predict(
    learner: &dyn Learner,
    x_train: &Array2<f64>,
    y_train: &[u8],
    x_test: &Array2<f64>,
    seed: u64,
) -> Result<Vec<u8>> {
    fit(learner, x_train, y_train, x_test, seed).map(|f| f.predictions)
}

/// The learner called `name`; an unknown name is bad input listing the known ones.
pub fn by_name(name: &str) -> Result<Box<dyn Learner>> {
    Ok(match name {
        "logistic" => Box::new(logistic::Logistic::default()),
        "svm" => Box::new(svm::RbfSvm::default()),
        "gbm" => Box::new(gbm::Gbm::default()),
        "mlp" => Box::new(mlp::Mlp::default()),
        other => {
            return Err(InputError::new(format!(
                "unknown learner `{other}`; expected one of {}",
                LEARNERS.join(", ")
            ))
            .at_key("learners")
            .into())
        }
    })
}
