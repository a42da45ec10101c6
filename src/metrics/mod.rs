//! Homogenization metrics: pure functions over [`crate::failures::SystemMatrix`]; no I/O.
//!
//! Every formula of DESIGN.md §1. People are first compressed into distinct *types*
//! ([`PersonTypes`]: outcome codes across deployments plus group codes, with a count), and every
//! failure-based metric is a function of type weights ([`Tally`]). The bootstrap is then a
//! multinomial draw of n people over the types, which is exactly equivalent in distribution to
//! resampling rows of the person × deployment matrix, at a cost independent of n.
//!
//! Metric names (the `metric` column of the tidy output, DESIGN.md §4):
//! - person level (grouping `individual`): `h_individual`, `systemic_failure_observed`,
//!   `systemic_failure_expected`, `failure_rate:<deployment>`, the k-of-n exclusion rows
//!   `at_least_<m>_observed`, `at_least_<m>_expected`, `at_least_<m>_ratio` (m = 1..k), the
//!   pairwise rows `covariance:<a>|<b>`, `pmi:<a>|<b>`, `phi:<a>|<b>`, `kappa:<a>|<b>`, and,
//!   when the table has losses, `loss_h`, `min_exp`, `exp_exp`;
//! - group level (grouping = the group column): `h_avg`, `h_unif`, `h_worst` (note: the worst
//!   group), `unfairness`, and `failure_rate_product:<group>` = prod_i FAIL_g(h^i).
//!
//! A name is read back as the metric up to the first `:` and its argument after it; a pair's
//! two deployments are split at the one `|`, which no deployment name holds (see
//! [`pairwise::pair_name`]).

pub mod across;
pub mod bootstrap;
pub mod difference;
pub mod group;
pub mod individual;
pub mod kofn;
pub mod loss;
pub mod measure;
pub mod pairwise;
pub mod permutation;
pub mod tally;
pub mod types;
pub mod value;

pub use across::{aggregate_by, correlations, SystemResult};
pub use difference::{compare_by, pairwise, welch, Difference, SetDifference, Verdict};
pub use measure::{failure_metrics, measure_system};
pub use tally::Tally;
pub use types::PersonTypes;
pub use value::{Measurement, Value};

/// The grouping name of person-level rows.
pub const INDIVIDUAL: &str = "individual";

/// How to treat a group that has no people in some deployment (DESIGN.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// The correct behaviour: the group has no failure rate there, so it is left out of
    /// H_unif, H_worst and unfairness and listed as excluded in the rows' note.
    #[default]
    Correct,
    /// The authors' code: the group gets failure rate 1 in the deployment it is missing from.
    Reference,
}

/// What to compute beyond the point estimates, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Bootstrap replicates (0: no intervals).
    pub bootstrap: usize,
    /// Permutations for the test of H_individual against independence (0: no p-value).
    pub permutations: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Treatment of groups missing from a deployment.
    pub compat: Compat,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bootstrap: 0,
            permutations: 0,
            seed: 0,
            compat: Compat::Correct,
        }
    }
}
