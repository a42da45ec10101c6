//! k-of-n exclusion (the paper's footnote 14): for m = 1..k, the observed share of people
//! failed by at least m deployments against the share expected if deployments failed
//! independently, a Poisson-binomial tail with the FAIL rates, and their ratio.
//!
//! With partial coverage each person's expectation uses only the deployments they met (their
//! own Poisson-binomial over c_j), averaged over people, mirroring eq. 10; a person who met
//! fewer than m deployments counts as not failed by m in both the observation and the
//! expectation.

use super::tally::Tally;
use super::value::{Measurement, Value};
use super::INDIVIDUAL;
use crate::failures::{ABSENT, FAILED};

/// P(X >= m) for m = 0..=len(p), X the number of successes of independent Bernoulli(p_i):
/// the exact Poisson-binomial distribution by dynamic programming.
pub fn poisson_binomial_tail(p: &[f64]) -> Vec<f64> {
    let mut pmf = vec![0.0; p.len() + 1];
    pmf[0] = 1.0;
    for (done, &pi) in p.iter().enumerate() {
        for j in (0..=done + 1).rev() {
            let stay = pmf[j] * (1.0 - pi);
            let step = if j > 0 { pmf[j - 1] * pi } else { 0.0 };
            pmf[j] = stay + step;
        }
    }
    let mut tail = vec![0.0; p.len() + 1];
    let mut acc = 0.0;
    for j in (0..=p.len()).rev() {
        acc += pmf[j];
        tail[j] = acc;
    }
    tail
}

/// Rows `at_least_<m>_observed`, `at_least_<m>_expected`, `at_least_<m>_ratio`, m = 1..k.
pub fn k_of_n_metrics(t: &Tally) -> Vec<Measurement> {
    let k = t.types.k;
    let mut observed = vec![0.0; k + 1];
    let mut expected = vec![0.0; k + 1];
    let rates = t.failure_rates();
    for ty in 0..t.types.n_types() {
        let w = t.weights[ty];
        if w == 0.0 {
            continue;
        }
        let o = t.types.outcome(ty);
        let failures = o.iter().filter(|&&x| x == FAILED).count();
        for obs in observed.iter_mut().take(failures + 1) {
            *obs += w;
        }
        if let Ok(rates) = &rates {
            let p: Vec<f64> = o
                .iter()
                .zip(rates)
                .filter(|(&x, _)| x != ABSENT)
                .map(|(_, &r)| r)
                .collect();
            for (m, tail) in poisson_binomial_tail(&p).into_iter().enumerate() {
                expected[m] += w * tail;
            }
        }
    }
    let mut rows = Vec::with_capacity(3 * k);
    for m in 1..=k {
        let obs = if t.total == 0.0 {
            Value::Undefined("no people".into())
        } else {
            Value::Defined(observed[m] / t.total)
        };
        let exp = match &rates {
            Err(r) => Value::Undefined(r.clone()),
            Ok(_) if t.total == 0.0 => Value::Undefined("no people".into()),
            Ok(_) => Value::Defined(expected[m] / t.total),
        };
        let ratio = Value::ratio(
            &obs,
            &exp,
            format!("no one is expected to be failed by {m} or more deployments"),
        );
        rows.push(Measurement::new(
            INDIVIDUAL,
            format!("at_least_{m}_observed"),
            obs,
        ));
        rows.push(Measurement::new(
            INDIVIDUAL,
            format!("at_least_{m}_expected"),
            exp,
        ));
        rows.push(Measurement::new(
            INDIVIDUAL,
            format!("at_least_{m}_ratio"),
            ratio,
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_binomial_matches_hand_computation() {
        // p = (0.5, 0.2): P(0) = 0.5*0.8 = 0.4, P(1) = 0.5*0.8 + 0.5*0.2 = 0.5, P(2) = 0.1.
        let tail = poisson_binomial_tail(&[0.5, 0.2]);
        let want = [1.0, 0.6, 0.1];
        for (a, b) in tail.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{tail:?}");
        }
    }
}
