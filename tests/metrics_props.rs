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
    let fast = hypergeometric_counts(12, &[6, 5, 7], draws, &mut ChaCha8Rng::seed_from_u64(1));
    let slow = shuffled_counts(&s, draws, &mut ChaCha8Rng::seed_from_u64(2));
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
