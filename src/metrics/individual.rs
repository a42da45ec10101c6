//! Person-level homogenization (paper eq. 3, and eq. 10 when people meet only some
//! deployments): observed and expected systemic failure and their ratio H_individual.

use super::tally::Tally;
use super::value::Value;

/// Observed systemic failure: mean over people of prod_{i in c_j} F^i(x_j), the share of
/// people failed by every deployment they met.
pub fn observed_systemic_failure(t: &Tally) -> Value {
    if t.total == 0.0 {
        return Value::Undefined("no people".into());
    }
    let failed_everywhere: f64 = (0..t.types.n_types())
        .filter(|&ty| t.types.all_failed(ty))
        .map(|ty| t.weights[ty])
        .sum();
    Value::Defined(failed_everywhere / t.total)
}

/// Expected systemic failure under independence: prod_i FAIL(h^i), or with partial coverage
/// (eq. 10) mean over people of prod_{i in c_j} FAIL(h^i).
pub fn expected_systemic_failure(t: &Tally) -> Value {
    if t.total == 0.0 {
        return Value::Undefined("no people".into());
    }
    let rates = match t.failure_rates() {
        Ok(r) => r,
        Err(reason) => return Value::Undefined(reason),
    };
    let mut sum = 0.0;
    for ty in 0..t.types.n_types() {
        let w = t.weights[ty];
        if w == 0.0 {
            continue;
        }
        let prod: f64 = t
            .types
            .outcome(ty)
            .iter()
            .zip(&rates)
            .filter(|(&o, _)| o != crate::failures::ABSENT)
            .map(|(_, &r)| r)
            .product();
        sum += w * prod;
    }
    Value::Defined(sum / t.total)
}

/// How the reason H_individual is undefined begins when no person met two or more deployments
/// (each deployment decides about its own people), for reports that explain what the other
/// person-level numbers then mean.
pub const NOBODY_MET_SEVERAL: &str = "no person met two or more deployments";

/// H_individual = observed / expected systemic failure; undefined when the expectation is 0
/// (a deployment fails nobody).
pub fn h_individual(t: &Tally) -> Value {
    let k = t.types.deployments.len();
    if k < 2 {
        return Value::Undefined(format!(
            "H_individual compares two or more deployments; the system has {k}"
        ));
    }
    let met_several = (0..t.types.n_types()).any(|ty| {
        t.weights[ty] > 0.0
            && t.types
                .outcome(ty)
                .iter()
                .filter(|&&o| o != crate::failures::ABSENT)
                .count()
                >= 2
    });
    if !met_several {
        return Value::Undefined(format!(
            "{NOBODY_MET_SEVERAL}, so nobody can be failed by several: the deployments decide \
             about different people (compare them with group-level metrics), or `example_id` \
             names one person differently in different deployments"
        ));
    }
    let expected = expected_systemic_failure(t);
    let reason = match t.failure_rates() {
        Ok(rates) => {
            let zero: Vec<&str> = rates
                .iter()
                .zip(&t.types.deployments)
                .filter(|(&r, _)| r == 0.0)
                .map(|(_, d)| d.as_str())
                .collect();
            format!(
                "expected systemic failure is 0 (no failures in deployment {})",
                zero.join(", ")
            )
        }
        Err(r) => r,
    };
    Value::ratio(&observed_systemic_failure(t), &expected, reason)
}
