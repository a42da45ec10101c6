//! Does one adaptation method homogenize more than another? For every pair of methods (in
//! config order) and every metric, Welch's difference of the per-seed means with a 95%
//! interval: the systems of two methods are independent samples (one per seed), so the
//! difference is called higher or lower only where the interval excludes zero.

use std::path::Path;

use crate::error::{Error, Result};
use crate::failures::write_atomically;
use crate::metrics::{pairwise, SetDifference, SystemResult};
use crate::report::tidy::number;

/// `a − b` for one metric of one grouping, between two methods.
pub type MethodDifference = SetDifference;

/// Every pair of `methods` (in order) for every (grouping, metric) the systems report.
pub fn method_differences(systems: &[SystemResult], methods: &[String]) -> Vec<MethodDifference> {
    pairwise(systems, "method", methods)
}

/// The difference of (grouping, metric) between `a` and `b`, if computed.
pub fn find<'a>(
    differences: &'a [MethodDifference],
    grouping: &str,
    metric: &str,
    a: &str,
    b: &str,
) -> Option<&'a MethodDifference> {
    differences
        .iter()
        .find(|d| d.grouping == grouping && d.metric == metric && d.a == a && d.b == b)
}

/// Writes `comparison.csv`: one row per (grouping, metric, pair of methods).
pub fn write_differences(path: &Path, differences: &[MethodDifference]) -> Result<()> {
    write_atomically(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        let err = |e: csv::Error| Error::Runtime(format!("writing {}: {e}", path.display()));
        c.write_record([
            "grouping",
            "metric",
            "method_a",
            "method_b",
            "difference",
            "ci_lo",
            "ci_hi",
            "n_a",
            "n_b",
            "verdict",
        ])
        .map_err(err)?;
        for d in differences {
            let interval = d.difference.and_then(|x| x.interval);
            c.write_record([
                d.grouping.as_str(),
                &d.metric,
                &d.a,
                &d.b,
                &number(d.difference.map(|x| x.estimate)),
                &number(interval.map(|i| i.0)),
                &number(interval.map(|i| i.1)),
                &d.n_a.to_string(),
                &d.n_b.to_string(),
                d.verdict().as_str(),
            ])
            .map_err(err)?;
        }
        c.flush()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Measurement, Value, Verdict};

    fn system(method: &str, h: Option<f64>) -> SystemResult {
        SystemResult {
            name: format!("{method}/seed"),
            attributes: vec![("method".into(), method.into())],
            rows: vec![Measurement {
                grouping: "individual".into(),
                metric: "h_individual".into(),
                value: match h {
                    Some(v) => Value::Defined(v),
                    None => Value::Undefined("no failures".into()),
                },
                ci: None,
                p_value: None,
                note: String::new(),
            }],
        }
    }

    #[test]
    fn pairs_in_config_order_with_welch_over_seeds() {
        // probe: 1, 2, 3 (and one undefined seed); finetune: 4, 6; scratch: 2, 2.
        let systems = vec![
            system("probe", Some(1.0)),
            system("finetune", Some(4.0)),
            system("probe", Some(2.0)),
            system("scratch", Some(2.0)),
            system("probe", Some(3.0)),
            system("finetune", Some(6.0)),
            system("probe", None),
            system("scratch", Some(2.0)),
        ];
        let methods: Vec<String> = ["probe", "finetune", "scratch"].map(String::from).to_vec();
        let d = method_differences(&systems, &methods);
        let pairs: Vec<(&str, &str)> = d.iter().map(|d| (d.a.as_str(), d.b.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("probe", "finetune"),
                ("probe", "scratch"),
                ("finetune", "scratch")
            ]
        );
        // probe − finetune: scipy's Welch interval for [1, 2, 3] vs [4, 6] (see
        // metrics::difference's test).
        let pf = &d[0];
        assert_eq!((pf.n_a, pf.n_b), (3, 2));
        let x = pf.difference.unwrap();
        assert!((x.estimate + 3.0).abs() < 1e-12);
        let (lo, hi) = x.interval.unwrap();
        assert!((lo + 8.976997448258373).abs() < 1e-9 && (hi - 2.9769974482583734).abs() < 1e-9);
        assert_eq!(pf.verdict(), Verdict::NoClearDifference);
        // finetune − scratch: 5 − 2 = 3.
        assert!((d[2].difference.unwrap().estimate - 3.0).abs() < 1e-12);
    }
}
