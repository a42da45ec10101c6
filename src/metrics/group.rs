//! Group-level homogenization for one grouping (DESIGN.md §1): H_avg, H_unif, H_worst,
//! unfairness and each group's systemic failure prod_i FAIL_g(h^i).
//!
//! A group with no people in some deployment has no failure rate there. By default
//! ([`Compat::Correct`]) it is left out of H_unif, H_worst and unfairness and named in the
//! rows' note; [`Compat::Reference`] gives it failure rate 1 there, as the authors' code does.
//! In H_avg such a group has weight p(g) = 0 either way.

use super::tally::Tally;
use super::value::{Measurement, Value};
use super::Compat;

/// The group-level rows of grouping `g`: `h_avg`, `h_unif`, `h_worst`, `unfairness`, then
/// `failure_rate_product:<group>` for each group: prod_i FAIL_g(h^i), the term the group-level
/// metrics average (the share of the group every deployment would fail if each failed its
/// members independently; not the observed share failed everywhere).
pub fn group_metrics(t: &Tally, g: usize, compat: Compat) -> Vec<Measurement> {
    let (name, levels) = &t.types.groupings[g];
    let k = t.types.k;
    let met = &t.group_met[g];
    let failed = &t.group_failed[g];

    // prod_i FAIL_g(h^i) per group (None: excluded), and p(g) = prod_i p^i(g).
    let mut systemic: Vec<Option<f64>> = Vec::with_capacity(levels.len());
    let mut excluded: Vec<&str> = Vec::new();
    let mut share = vec![0.0; levels.len()];
    let mut missing_where: Vec<Vec<&str>> = vec![Vec::new(); levels.len()];
    for (gi, level) in levels.iter().enumerate() {
        let mut prod = 1.0;
        let mut p = 1.0;
        for i in 0..k {
            let m = met[gi * k + i];
            if m == 0.0 {
                missing_where[gi].push(t.types.deployments[i].as_str());
                p = 0.0;
            } else {
                prod *= failed[gi * k + i] / m;
                p *= m / t.met[i].max(f64::MIN_POSITIVE);
            }
        }
        share[gi] = p;
        if missing_where[gi].is_empty() || compat == Compat::Reference {
            systemic.push(Some(prod));
        } else {
            excluded.push(level.as_str());
            systemic.push(None);
        }
    }
    let note = if excluded.is_empty() {
        String::new()
    } else {
        format!(
            "excluded groups missing from a deployment: {}",
            excluded.join(", ")
        )
    };

    let denominator = match t.failure_rates() {
        Ok(rates) => {
            let prod: f64 = rates.iter().product();
            if prod == 0.0 {
                Err(format!(
                    "prod_i FAIL(h^i) is 0 (no failures in deployment {})",
                    rates
                        .iter()
                        .zip(&t.types.deployments)
                        .filter(|(&r, _)| r == 0.0)
                        .map(|(_, d)| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            } else {
                Ok(prod)
            }
        }
        Err(r) => Err(r),
    };
    let included: Vec<(usize, f64)> = systemic
        .iter()
        .enumerate()
        .filter_map(|(gi, s)| s.map(|s| (gi, s)))
        .collect();

    let h_avg = match &denominator {
        Err(r) => Value::Undefined(r.clone()),
        Ok(d) => {
            let total_share: f64 = share.iter().sum();
            if total_share == 0.0 {
                Value::Undefined(
                    "no group is present in every deployment (sum of p(g) is 0)".into(),
                )
            } else {
                let num: f64 = share
                    .iter()
                    .zip(&systemic)
                    .filter(|(&p, _)| p > 0.0)
                    .map(|(&p, s)| p / total_share * s.unwrap_or(0.0))
                    .sum();
                Value::finite_or(num / d, "H_avg is not finite")
            }
        }
    };
    let no_groups = "no group has a failure rate in every deployment".to_string();
    let h_unif = match &denominator {
        Err(r) => Value::Undefined(r.clone()),
        Ok(_) if included.is_empty() => Value::Undefined(no_groups.clone()),
        Ok(d) => {
            let mean = included.iter().map(|(_, s)| s).sum::<f64>() / included.len() as f64;
            Value::finite_or(mean / d, "H_unif is not finite")
        }
    };
    let mut worst_note = String::new();
    let h_worst = match &denominator {
        Err(r) => Value::Undefined(r.clone()),
        Ok(_) if included.is_empty() => Value::Undefined(no_groups.clone()),
        Ok(d) => {
            // The first group in level order wins ties.
            let mut best = included[0];
            for &(gi, s) in &included[1..] {
                if s > best.1 {
                    best = (gi, s);
                }
            }
            worst_note = format!("worst group: {}", levels[best.0]);
            // Ties (to rounding): a worst group named alone would hide the others.
            let tied: Vec<&str> = included
                .iter()
                .filter(|&&(gi, s)| gi != best.0 && (s - best.1).abs() <= 1e-12 * best.1.abs())
                .map(|&(gi, _)| levels[gi].as_str())
                .collect();
            if !tied.is_empty() {
                let shown = tied.iter().take(3).copied().collect::<Vec<_>>().join(", ");
                let more = match tied.len() > 3 {
                    true => format!(" and {} more", tied.len() - 3),
                    false => String::new(),
                };
                worst_note.push_str(&format!(" (tied with {shown}{more})"));
            }
            if compat == Compat::Reference && !missing_where[best.0].is_empty() {
                worst_note.push_str(&format!(
                    "; failure rate 1 assumed for it in deployment {} (--compat reference)",
                    missing_where[best.0].join(", ")
                ));
            }
            Value::finite_or(best.1 / d, "H_worst is not finite")
        }
    };
    let unfairness = if included.len() < 2 {
        Value::Undefined(format!(
            "unfairness needs at least two groups with a failure rate in every deployment, \
             found {}",
            included.len()
        ))
    } else {
        let n = included.len() as f64;
        let mean = included.iter().map(|(_, s)| s).sum::<f64>() / n;
        let ss: f64 = included.iter().map(|(_, s)| (s - mean).powi(2)).sum();
        Value::Defined(ss / (n - 1.0))
    };

    let mut rows = vec![
        Measurement::new(name, "h_avg", h_avg).with_note(&note),
        Measurement::new(name, "h_unif", h_unif).with_note(&note),
        Measurement::new(name, "h_worst", h_worst)
            .with_note(&worst_note)
            .with_note(&note),
        Measurement::new(name, "unfairness", unfairness).with_note(&note),
    ];
    for (gi, level) in levels.iter().enumerate() {
        let value = match systemic[gi] {
            Some(s) => Value::Defined(s),
            None => Value::Undefined(format!(
                "group `{level}` has no people in deployment {}",
                missing_where[gi].join(", ")
            )),
        };
        let mut row = Measurement::new(name, format!("failure_rate_product:{level}"), value);
        if compat == Compat::Reference && !missing_where[gi].is_empty() {
            row.add_note(&format!(
                "failure rate 1 assumed in deployment {} (--compat reference)",
                missing_where[gi].join(", ")
            ));
        }
        rows.push(row);
    }
    rows
}
