//! Properties of the metrics (proptest) and the statistical behaviour of the bootstrap and the
//! permutation test.

use std::collections::HashMap;

use homogen::failures::{Grouping, SystemMatrix, FAILED, OK};
use homogen::metrics::bootstrap::multinomial;
use homogen::metrics::permutation::{hypergeometric_counts, p_value, shuffled_counts};
use homogen::metrics::{measure_system, Measurement, Options, PersonTypes, Value};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn matrix(k: usize, outcomes: Vec<u8>, groups: Vec<Grouping>) -> SystemMatrix {
    let n = outcomes.len() / k;
    SystemMatrix {
        name: "all".into(),
        deployments: (0..k).map(|i| format!("d{i}")).collect(),
        people: (0..n).map(|p| format!("p{p}")).collect(),
        outcomes,
        losses: None,
        groupings: groups,
        attributes: vec![],
    }
}

fn get(rows: &[Measurement], grouping: &str, metric: &str) -> Value {
    rows.iter()
        .find(|r| r.grouping == grouping && r.metric == metric)
        .map(|r| r.value.clone())
        .unwrap_or_else(|| panic!("no {grouping}/{metric}"))
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Defined(x), Value::Defined(y)) => (x - y).abs() <= 1e-12 * x.abs().max(1.0),
        (Value::Undefined(_), Value::Undefined(_)) => true,
        _ => false,
    }
}

/// Random full-coverage tables: k deployments, n people, failure probability per deployment.
fn table() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (2usize..=4, 2usize..=30).prop_flat_map(|(k, n)| {
        (
            Just(k),
            prop::collection::vec(prop::bool::weighted(0.4), n * k)
                .prop_map(|v| v.into_iter().map(|f| if f { FAILED } else { OK }).collect()),
        )
    })
}

/// Canonical metric keys: pair names sorted, so reordering deployments maps rows onto rows.
fn keyed(rows: &[Measurement]) -> HashMap<(String, String), Value> {
    rows.iter()
        .map(|r| {
            let metric = match r.metric.split_once(':') {
                Some((name, rest)) if rest.contains('|') => {
                    let mut pair: Vec<&str> = rest.split('|').collect();
                    pair.sort();
                    format!("{name}:{}", pair.join("|"))
                }
                _ => r.metric.clone(),
            };
            ((r.grouping.clone(), metric), r.value.clone())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn singleton_groups_give_h_unif_and_h_avg_equal_to_h_individual((k, o) in table()) {
        let n = o.len() / k;
        let g = Grouping {
            name: "me".into(),
            levels: (0..n).map(|p| format!("g{p}")).collect(),
            of_person: (0..n as u32).collect(),
        };
        let s = matrix(k, o, vec![g]);
        let rows = measure_system(&s, &Options::default(), 0);
        let h = get(&rows, "individual", "h_individual");
        prop_assert!(same(&get(&rows, "me", "h_unif"), &h), "{:?} {:?}", get(&rows, "me", "h_unif"), h);
        prop_assert!(same(&get(&rows, "me", "h_avg"), &h));
    }

    #[test]
    fn identical_deployments_give_h_one_over_the_other_rates(
        k in 2usize..=4,
        column in prop::collection::vec(prop::bool::weighted(0.4), 2..40),
    ) {
        let o: Vec<u8> = column
            .iter()
            .flat_map(|&f| std::iter::repeat_n(if f { FAILED } else { OK }, k))
            .collect();
        let fail = column.iter().filter(|&&f| f).count() as f64 / column.len() as f64;
        let rows = measure_system(&matrix(k, o, vec![]), &Options::default(), 0);
        let h = get(&rows, "individual", "h_individual");
        if fail == 0.0 {
            prop_assert!(h.get().is_none());
        } else {
            // H = FAIL / FAIL^k = 1 / prod_{i>=2} FAIL.
            let want = 1.0 / fail.powi(k as i32 - 1);
            prop_assert!((h.get().unwrap() - want).abs() < 1e-12 * want);
        }
    }

    #[test]
    fn reordering_people_or_deployments_changes_nothing(
        (k, o) in table(),
        seed in any::<u64>(),
    ) {
        let n = o.len() / k;
        let groups: Vec<u32> = (0..n as u32).map(|p| p % 3).collect();
        let grouping = |of_person: Vec<u32>| Grouping {
            name: "g".into(),
            levels: vec!["x".into(), "y".into(), "z".into()],
            of_person,
        };
        let base = keyed(&measure_system(&matrix(k, o.clone(), vec![grouping(groups.clone())]), &Options::default(), 0));

        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut people: Vec<usize> = (0..n).collect();
        let mut deps: Vec<usize> = (0..k).collect();
        rand::seq::SliceRandom::shuffle(people.as_mut_slice(), &mut rng);
        rand::seq::SliceRandom::shuffle(deps.as_mut_slice(), &mut rng);
        let mut shuffled = matrix(
            k,
            people.iter().flat_map(|&p| deps.iter().map(move |&i| (p, i))).map(|(p, i)| o[p * k + i]).collect(),
            vec![grouping(people.iter().map(|&p| groups[p]).collect())],
        );
        shuffled.deployments = deps.iter().map(|i| format!("d{i}")).collect();
        let other = keyed(&measure_system(&shuffled, &Options::default(), 0));
        prop_assert_eq!(base.len(), other.len());
        for (key, v) in &base {
            prop_assert!(same(v, &other[key]), "{:?}: {:?} vs {:?}", key, v, other[key]);
        }
    }

    #[test]
    fn bootstrap_interval_contains_the_point_estimate(
        k in 2usize..=3,
        o in prop::collection::vec(prop::bool::weighted(0.5), 120),
        seed in any::<u64>(),
    ) {
        let o: Vec<u8> = o.into_iter().map(|f| if f { FAILED } else { OK }).collect();
        let s = matrix(k, o[..(120 / k) * k].to_vec(), vec![]);
        let opts = Options { bootstrap: 200, seed, ..Options::default() };
        for r in measure_system(&s, &opts, 0) {
            let metric = &r.metric;
            if !(metric.starts_with("failure_rate") || metric.starts_with("systemic_failure") || metric == "h_individual") {
                continue;
            }
            if let (Value::Defined(v), Some((lo, hi))) = (&r.value, r.ci) {
                prop_assert!(lo <= *v + 1e-12 && *v <= hi + 1e-12, "{metric}: {v} not in [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn permutation_p_value_is_tiny_on_identical_deployments(
        k in 2usize..=4,
        fails in 5usize..=15,
        seed in any::<u64>(),
    ) {
        // 30 people, the same `fails` of them failed by every deployment.
        let o: Vec<u8> = (0..30)
            .flat_map(|p| std::iter::repeat_n(if p < fails { FAILED } else { OK }, k))
            .collect();
        let s = matrix(k, o, vec![]);
        let p = p_value(&s, 199, &mut ChaCha8Rng::seed_from_u64(seed));
        // P(a permutation reproduces the overlap) <= 1 / C(30, 5) per draw: p is 1/200.
        prop_assert!(p <= 0.01, "p = {p}");
    }
}

#[test]
fn permutation_p_value_is_roughly_uniform_on_independent_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut ps = Vec::new();
    for _ in 0..300 {
        let o: Vec<u8> = (0..60 * 2)
            .map(|_| if rng.gen_bool(0.5) { FAILED } else { OK })
            .collect();
        ps.push(p_value(&matrix(2, o, vec![]), 99, &mut rng));
    }
    let mean = ps.iter().sum::<f64>() / ps.len() as f64;
    let small = ps.iter().filter(|&&p| p <= 0.1).count() as f64 / ps.len() as f64;
    // Uniform: mean 0.5, P(p <= 0.1) = 0.1 (the count statistic is discrete, hence slightly
    // conservative); with 300 tables the sd of the share is 0.017.
    assert!((0.4..0.65).contains(&mean), "mean p = {mean}");
    assert!((0.04..0.17).contains(&small), "share p <= 0.1 = {small}");
}

#[test]
fn fast_and_slow_permutation_paths_agree_in_distribution() {
    // 12 people, 3 deployments failing 6, 5 and 7 of them.
    let n = 12;
    let fails = [6usize, 5, 7];
    let o: Vec<u8> = (0..n)
        .flat_map(|p| fails.iter().map(move |&m| if p < m { FAILED } else { OK }))
        .collect();
    let s = matrix(3, o, vec![]);
    let draws = 20_000;
    let fast: Vec<u64> =
        hypergeometric_counts(12, &[6, 5, 7], draws, &mut ChaCha8Rng::seed_from_u64(1)).collect();
    let slow: Vec<u64> = shuffled_counts(&s, draws, &mut ChaCha8Rng::seed_from_u64(2)).collect();
    let pmf = |c: &[u64]| {
        let mut h = [0.0; 13];
        for &x in c {
            h[x as usize] += 1.0 / draws as f64;
        }
        h
    };
    let (a, b) = (pmf(&fast), pmf(&slow));
    let tv: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0;
    assert!(tv < 0.03, "total variation {tv}: {a:?} vs {b:?}");
    // Both means match the exact expectation n * prod(m_i / n) = 12 * (6*5*7) / 12^3 = 1.4583.
    let exact = 12.0 * (6.0 * 5.0 * 7.0) / 1728.0;
    for c in [&fast, &slow] {
        let mean = c.iter().sum::<u64>() as f64 / draws as f64;
        assert!((mean - exact).abs() < 0.03, "mean {mean} vs {exact}");
    }
}

#[test]
fn multinomial_bootstrap_matches_row_resampling_in_distribution() {
    // 40 people, 2 deployments; compare the bootstrap distribution of the share failed by both
    // under the multinomial draw over types and under resampling rows directly.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let o: Vec<u8> = (0..80)
        .map(|_| if rng.gen_bool(0.4) { FAILED } else { OK })
        .collect();
    let s = matrix(2, o.clone(), vec![]);
    let types = PersonTypes::from_system(&s);
    let both: Vec<bool> = (0..types.n_types()).map(|t| types.all_failed(t)).collect();
    let reps = 20_000;
    let mut by_types = Vec::with_capacity(reps);
    let mut by_rows = Vec::with_capacity(reps);
    for _ in 0..reps {
        let w = multinomial(40, &types.counts, &mut rng);
        by_types.push(
            w.iter()
                .zip(&both)
                .filter(|(_, &b)| b)
                .map(|(w, _)| w)
                .sum::<f64>()
                / 40.0,
        );
        let hits = (0..40)
            .map(|_| rng.gen_range(0..40))
            .filter(|&p| o[2 * p] == FAILED && o[2 * p + 1] == FAILED)
            .count();
        by_rows.push(hits as f64 / 40.0);
    }
    let moments = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / x.len() as f64;
        let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64;
        (m, v.sqrt())
    };
    let (m1, s1) = moments(&by_types);
    let (m2, s2) = moments(&by_rows);
    assert!((m1 - m2).abs() < 0.003, "means {m1} {m2}");
    assert!((s1 - s2).abs() < 0.003, "sds {s1} {s2}");
}

#[test]
fn permutation_test_with_partial_coverage_uses_real_shuffles() {
    // 40 people, 2 deployments; people 30..40 met only deployment a. The first 10 are failed
    // by both: far more overlap than shuffling allows, so p = 1/200.
    let o: Vec<u8> = (0..40)
        .flat_map(|p| {
            let f = if p < 10 { FAILED } else { OK };
            let b = if p >= 30 {
                homogen::failures::ABSENT
            } else {
                f
            };
            [f, b]
        })
        .collect();
    let s = matrix(2, o, vec![]);
    let p = p_value(&s, 199, &mut ChaCha8Rng::seed_from_u64(9));
    assert!((p - 1.0 / 200.0).abs() < 1e-12, "p = {p}");
    // Independent data with the same coverage: p-values spread over (0, 1].
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let mut ps = Vec::new();
    for _ in 0..100 {
        let o: Vec<u8> = (0..40)
            .flat_map(|p| {
                let a = if rng.gen_bool(0.5) { FAILED } else { OK };
                let b = if p >= 30 {
                    homogen::failures::ABSENT
                } else if rng.gen_bool(0.5) {
                    FAILED
                } else {
                    OK
                };
                [a, b]
            })
            .collect();
        ps.push(p_value(&matrix(2, o, vec![]), 99, &mut rng));
    }
    let mean = ps.iter().sum::<f64>() / ps.len() as f64;
    assert!((0.35..0.7).contains(&mean), "mean p = {mean}");
}

/// The exact distribution of the permuted count under full coverage: the chain of
/// hypergeometric laws, P(y | x) = C(m, y) C(n − m, x − y) / C(n, x), from log-factorials.
fn exact_chain_pmf(n: u64, failed: &[u64]) -> Vec<f64> {
    let n_us = n as usize;
    let mut log_fact = vec![0.0f64; n_us + 1];
    for i in 1..=n_us {
        log_fact[i] = log_fact[i - 1] + (i as f64).ln();
    }
    let log_choose = |a: u64, b: u64| -> f64 {
        log_fact[a as usize] - log_fact[b as usize] - log_fact[(a - b) as usize]
    };
    let mut pmf = vec![0.0; n_us + 1];
    pmf[failed[0] as usize] = 1.0;
    for &m in &failed[1..] {
        let mut next = vec![0.0; n_us + 1];
        for (x, &px) in pmf.iter().enumerate() {
            let x = x as u64;
            if px == 0.0 {
                continue;
            }
            // y ranges over max(0, x + m − n) ..= min(x, m).
            for y in (x + m).saturating_sub(n)..=x.min(m) {
                let lp = log_choose(m, y) + log_choose(n - m, x - y) - log_choose(n, x);
                next[y as usize] += px * lp.exp();
            }
        }
        pmf = next;
    }
    pmf
}

/// P(X >= t) from a pmf.
fn tail(pmf: &[f64], t: usize) -> f64 {
    pmf[t.min(pmf.len())..].iter().sum()
}

#[test]
fn exact_tail_of_the_repro_by_log_factorials() {
    // P(X >= 24), X ~ Hypergeometric(N = 100, K = 49, n = 50): scipy.stats.hypergeom(100, 49,
    // 50).sf(23) = 0.6553 (the value; also sum(comb(49, x) comb(51, 50 - x)) / comb(100,
    // 50) over x >= 24 with Python's exact integers: 0.655339).
    let pmf = exact_chain_pmf(100, &[50, 49]);
    assert!((pmf.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!((tail(&pmf, 24) - 0.6553).abs() < 5e-5, "{}", tail(&pmf, 24));
}

/// rand_distr 0.4.3's Hypergeometric (H2PE branch, mode >= 10 above the lower bound) draws
/// from the wrong law (rust-random/rand#1508): on the repro its permutation p-value was
/// 0.6037 against the exact 0.6553 (z ≈ 48 at 200,000 draws). Every tail below, for single
/// draws and a 3-deployment chain, in both the inversion and the H2PE regimes, must match the
/// exact law within 4 standard errors of the Monte Carlo estimate (seeded, so deterministic).
#[test]
fn hypergeometric_counts_match_exact_tails() {
    let draws = 200_000usize;
    let cases: [(u64, &[u64]); 7] = [
        (100, &[50, 49]),
        (100, &[60, 50]),
        (200, &[100, 100]),
        (300, &[150, 140]),
        (200, &[100, 90, 120]),
        (1000, &[20, 30]),
        (12, &[6, 5, 7]),
    ];
    for (case, (n, failed)) in cases.iter().enumerate() {
        let pmf = exact_chain_pmf(*n, failed);
        let mean: f64 = pmf.iter().enumerate().map(|(x, p)| x as f64 * p).sum();
        let sd = pmf
            .iter()
            .enumerate()
            .map(|(x, p)| (x as f64 - mean).powi(2) * p)
            .sum::<f64>()
            .sqrt();
        let counts: Vec<u64> = hypergeometric_counts(
            *n,
            failed,
            draws,
            &mut ChaCha8Rng::seed_from_u64(case as u64),
        )
        .collect();
        let mut worst = 0.0f64;
        for d in [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0] {
            let t = (mean + d * sd).round().max(0.0) as usize;
            let exact = tail(&pmf, t);
            if exact <= 0.0 || exact >= 1.0 {
                continue;
            }
            let seen = counts.iter().filter(|&&c| c as usize >= t).count() as f64 / draws as f64;
            let z = (seen - exact) / (exact * (1.0 - exact) / draws as f64).sqrt();
            worst = worst.max(z.abs());
            assert!(
                z.abs() < 4.0,
                "n = {n}, failed = {failed:?}: P(X >= {t}) = {seen} drawn vs {exact} exact (z = {z:.1})"
            );
        }
        assert!(worst > 0.0, "case {case} tested no tail");
    }
}

#[test]
fn permutation_p_value_of_the_repro_matches_the_exact_tail() {
    // The table: 100 people, deployment a fails 0..49, b fails 0..23 and 50..74: 24
    // people failed by both. Exact p = P(X >= 24) = 0.6553 (see above); the Monte Carlo
    // p-value (1 + #) / (1 + P) with P = 200,000 has sd 0.0011.
    let o: Vec<u8> = (0..100)
        .flat_map(|p| {
            let a = p < 50;
            let b = p < 24 || (50..75).contains(&p);
            [a, b].map(|f| if f { FAILED } else { OK })
        })
        .collect();
    let s = matrix(2, o, vec![]);
    let exact = tail(&exact_chain_pmf(100, &[50, 49]), 24);
    let p = p_value(&s, 200_000, &mut ChaCha8Rng::seed_from_u64(3));
    let z = (p - exact) / (exact * (1.0 - exact) / 200_000.0).sqrt();
    assert!(z.abs() < 4.0, "p = {p}, exact {exact}, z = {z:.1}");
}
