//! All metrics of one system, with bootstrap intervals and the permutation p-value.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::bootstrap::{attach_intervals, multinomial, Replicates};
use super::group::group_metrics;
use super::individual::{expected_systemic_failure, h_individual, observed_systemic_failure};
use super::kofn::k_of_n_metrics;
use super::loss::Losses;
use super::pairwise::pairwise_metrics;
use super::permutation;
use super::tally::Tally;
use super::types::PersonTypes;
use super::value::{Measurement, Value};
use super::{Compat, Options, INDIVIDUAL};
use crate::failures::SystemMatrix;

/// Every failure-based metric for one weighting of the types, in a fixed order (person level:
/// H, systemic failures, failure rates, k-of-n, pairwise; then each grouping's rows). The order
/// and length depend only on the types, so bootstrap replicates line up with the point
/// estimate.
pub fn failure_metrics(types: &PersonTypes, weights: &[f64], compat: Compat) -> Vec<Measurement> {
    let t = Tally::new(types, weights);
    let mut rows = vec![
        Measurement::new(INDIVIDUAL, "h_individual", h_individual(&t)),
        Measurement::new(
            INDIVIDUAL,
            "systemic_failure_observed",
            observed_systemic_failure(&t),
        ),
        Measurement::new(
            INDIVIDUAL,
            "systemic_failure_expected",
            expected_systemic_failure(&t),
        ),
    ];
    for (i, d) in types.deployments.iter().enumerate() {
        rows.push(Measurement::new(
            INDIVIDUAL,
            format!("failure_rate:{d}"),
            t.failure_rate(i),
        ));
    }
    rows.extend(k_of_n_metrics(&t));
    rows.extend(pairwise_metrics(&t));
    for g in 0..types.groupings.len() {
        rows.extend(group_metrics(&t, g, compat));
    }
    rows
}

/// Every metric of system `s`: point estimates, then (as `opts` asks) bootstrap intervals on
/// every person- and group-level row and the permutation p-value on `h_individual`.
/// `index` (the system's position) selects independent random streams per system.
pub fn measure_system(s: &SystemMatrix, opts: &Options, index: u64) -> Vec<Measurement> {
    let types = PersonTypes::from_system(s);
    let mut rows = failure_metrics(&types, &types.weights(), opts.compat);
    if types.partial_coverage() {
        rows[0].add_note("eq. 10: some people met only some deployments");
        rows[1].add_note("eq. 10: the share of people failed by every deployment they met");
        rows[2].add_note(
            "eq. 10: mean over people of the product of the failure rates of the deployments \
             they met",
        );
    }
    let losses = Losses::of_system(s);
    if let Some(l) = &losses {
        rows.extend(l.rows());
    }

    if opts.bootstrap > 0 {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(2 * index);
        let n = types.n_people();
        let mut replicates = Replicates::new(rows.len(), opts.bootstrap);
        for _ in 0..opts.bootstrap {
            let w = multinomial(n, &types.counts, &mut rng);
            let mut values: Vec<Value> = failure_metrics(&types, &w, opts.compat)
                .into_iter()
                .map(|m| m.value)
                .collect();
            if let Some(l) = &losses {
                values.extend(l.resampled_metrics(&mut rng));
            }
            replicates.push(values);
        }
        attach_intervals(&mut rows, replicates);
    }

    if opts.permutations > 0 {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(2 * index + 1);
        if rows[0].value.get().is_some() {
            rows[0].p_value = Some(permutation::p_value(s, opts.permutations, &mut rng));
        } else {
            rows[0].add_note("no permutation test: H_individual is undefined");
        }
    }
    rows
}
