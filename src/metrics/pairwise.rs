//! The paper's appendix A.4 alternatives for each pair of deployments (a, b): covariance of the
//! failure indicators, PMI = log H of the pair, phi (Pearson correlation of the indicators) and
//! Cohen's kappa. All four are computed over the people who met both deployments (with full
//! coverage: everyone), using rates within those people.

use super::tally::Tally;
use super::value::{Measurement, Value};
use super::INDIVIDUAL;
use crate::failures::{ABSENT, FAILED, PAIR_SEPARATOR};

/// Rows `covariance:<a>|<b>`, `pmi:<a>|<b>`, `phi:<a>|<b>`, `kappa:<a>|<b>` for a < b.
pub fn pairwise_metrics(t: &Tally) -> Vec<Measurement> {
    let k = t.types.k;
    let mut rows = Vec::new();
    for a in 0..k {
        for b in a + 1..k {
            let (mut n, mut fa, mut fb, mut fab) = (0.0, 0.0, 0.0, 0.0);
            for ty in 0..t.types.n_types() {
                let w = t.weights[ty];
                let o = t.types.outcome(ty);
                if w == 0.0 || o[a] == ABSENT || o[b] == ABSENT {
                    continue;
                }
                n += w;
                let (xa, xb) = (o[a] == FAILED, o[b] == FAILED);
                if xa {
                    fa += w;
                }
                if xb {
                    fb += w;
                }
                if xa && xb {
                    fab += w;
                }
            }
            let pair = pair_name(&t.types.deployments[a], &t.types.deployments[b]);
            rows.extend(pair_values(n, fa, fb, fab).into_iter().map(|(name, v)| {
                let mut row = Measurement::new(INDIVIDUAL, format!("{name}:{pair}"), v);
                if n > 0.0 && n < t.total {
                    row.add_note(&format!(
                        "over the {} who met both",
                        super::value::people(n)
                    ));
                }
                row
            }));
        }
    }
    rows
}

/// The `<a>|<b>` part of a pairwise metric's name (`covariance:<a>|<b>`): the two
/// deployments' names joined by [`PAIR_SEPARATOR`] (`|`), unescaped.
///
/// Unambiguous because a deployment name never contains `|`: the reader refuses one (naming
/// the file, row and column, exit 2), and so does [`crate::failures::systems`] for a table
/// built in memory ([`crate::failures::deployment_name_problem`]). A name of the tidy output
/// (`results.csv`) therefore reads back as: the metric up to the first `:` (no metric name
/// holds one), the first deployment up to the one `|`, the second after it. A `:` inside a
/// deployment name is allowed; it can only follow the first `:` and so is never the metric's
/// end (`failure_rate:model:v2` is the failure rate of deployment `model:v2`). Prefixes added
/// across systems (`mean:`, `sd:`, `n:`, `difference:`) nest in front the same way.
pub fn pair_name(a: &str, b: &str) -> String {
    format!("{a}{PAIR_SEPARATOR}{b}")
}

/// Covariance, PMI, phi and kappa from the weight of people who met both deployments (`n`),
/// were failed by a, by b, and by both.
fn pair_values(n: f64, fa: f64, fb: f64, fab: f64) -> [(&'static str, Value); 4] {
    if n == 0.0 {
        let u = || Value::Undefined("no people met both deployments".into());
        return [
            ("covariance", u()),
            ("pmi", u()),
            ("phi", u()),
            ("kappa", u()),
        ];
    }
    let (pa, pb, pab) = (fa / n, fb / n, fab / n);
    let covariance = Value::Defined(pab - pa * pb);
    let pmi = if pa == 0.0 || pb == 0.0 {
        Value::Undefined("a deployment of the pair fails nobody (PMI divides by 0)".into())
    } else if pab == 0.0 {
        Value::Undefined("nobody is failed by both (log 0)".into())
    } else {
        Value::Defined((pab / (pa * pb)).ln())
    };
    let var = pa * (1.0 - pa) * pb * (1.0 - pb);
    let phi = if var == 0.0 {
        Value::Undefined("a deployment of the pair fails everyone or nobody (zero variance)".into())
    } else {
        Value::Defined((pab - pa * pb) / var.sqrt())
    };
    // Agreement: both failed or both not failed.
    let observed = (n - fa - fb + 2.0 * fab) / n;
    let chance = pa * pb + (1.0 - pa) * (1.0 - pb);
    let kappa = if chance == 1.0 {
        Value::Undefined("chance agreement is 1 (both deployments constant)".into())
    } else {
        Value::Defined((observed - chance) / (1.0 - chance))
    };
    [
        ("covariance", covariance),
        ("pmi", pmi),
        ("phi", phi),
        ("kappa", kappa),
    ]
}
