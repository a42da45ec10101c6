//! Hand-computed small tables for every metric (the arithmetic is in the comments), the paper's
//! appendix A.2 scenarios, eq. 10, the empty-group policy both ways and every undefined case.

use homogen::failures::{Grouping, SystemMatrix, ABSENT, FAILED, OK};
use homogen::metrics::{
    aggregate_by, correlations, measure_system, Compat, Measurement, Options, SystemResult, Value,
};

/// A system from one string per person: `1` failed, `0` not failed, `-` absent, one character
/// per deployment (named a, b, c...); `groups[p]` is person p's group in grouping `g`.
fn system(people: &[&str], groups: Option<&[&str]>) -> SystemMatrix {
    let k = people[0].len();
    let deployments: Vec<String> = (0..k)
        .map(|i| ((b'a' + i as u8) as char).to_string())
        .collect();
    let outcomes = people
        .iter()
        .flat_map(|p| {
            p.chars().map(|c| match c {
                '1' => FAILED,
                '0' => OK,
                _ => ABSENT,
            })
        })
        .collect();
    let groupings = groups
        .map(|gs| {
            let mut levels: Vec<String> = Vec::new();
            let of_person = gs
                .iter()
                .map(|g| match levels.iter().position(|l| l == g) {
                    Some(i) => i as u32,
                    None => {
                        levels.push(g.to_string());
                        levels.len() as u32 - 1
                    }
                })
                .collect();
            vec![Grouping {
                name: "g".into(),
                levels,
                of_person,
            }]
        })
        .unwrap_or_default();
    SystemMatrix {
        name: "all".into(),
        deployments,
        people: (0..people.len()).map(|p| format!("p{p}")).collect(),
        outcomes,
        losses: None,
        groupings,
        attributes: vec![],
    }
}

fn rows(s: &SystemMatrix, compat: Compat) -> Vec<Measurement> {
    let opts = Options {
        compat,
        ..Options::default()
    };
    measure_system(s, &opts, 0)
}

fn find<'a>(rows: &'a [Measurement], grouping: &str, metric: &str) -> &'a Measurement {
    rows.iter()
        .find(|r| r.grouping == grouping && r.metric == metric)
        .unwrap_or_else(|| panic!("no row {grouping}/{metric}"))
}

fn value(rows: &[Measurement], grouping: &str, metric: &str) -> f64 {
    match &find(rows, grouping, metric).value {
        Value::Defined(x) => *x,
        Value::Undefined(r) => panic!("{grouping}/{metric} undefined: {r}"),
    }
}

fn undefined(rows: &[Measurement], grouping: &str, metric: &str) -> String {
    match &find(rows, grouping, metric).value {
        Value::Defined(x) => panic!("{grouping}/{metric} should be undefined, is {x}"),
        Value::Undefined(r) => r.clone(),
    }
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn paper_appendix_a2_scenario_1_nobody_failed_twice() {
    // Two deployments; Alice, Angelique (group A), Bob, Bernardo (group B).
    // h1 fails Alice and Bob, h2 fails Angelique and Bernardo: nobody is failed by both, so
    // observed systemic failure 0 and H_individual = 0 / (1/2 * 1/2) = 0.
    // Each group: FAIL_g = 1/2 in both deployments -> prod 1/4 = prod FAIL -> group H = 1.
    let s = system(&["10", "01", "10", "01"], Some(&["A", "A", "B", "B"]));
    let r = rows(&s, Compat::Correct);
    close(value(&r, "individual", "h_individual"), 0.0);
    close(value(&r, "g", "h_avg"), 1.0);
    close(value(&r, "g", "h_unif"), 1.0);
}

#[test]
fn paper_appendix_a2_scenario_2_same_people_failed() {
    // h1 and h2 both fail Alice and Bob: observed 2/4 = 1/2, expected 1/2 * 1/2 = 1/4, H = 2.
    // Group A: FAIL_A = 1/2 in both (Alice failed, Angelique not): prod 1/4; same for B.
    // H_avg = H_unif = H_worst = (1/4) / (1/4) = 1: homogenization at the person level is
    // invisible at the group level.
    let s = system(&["11", "00", "11", "00"], Some(&["A", "A", "B", "B"]));
    let r = rows(&s, Compat::Correct);
    close(value(&r, "individual", "h_individual"), 2.0);
    close(value(&r, "g", "h_avg"), 1.0);
    close(value(&r, "g", "h_unif"), 1.0);
    close(value(&r, "g", "h_worst"), 1.0);
    close(value(&r, "g", "unfairness"), 0.0);
}

/// Five people, three deployments, full coverage:
/// p1 111 x, p2 110 x, p3 011 y, p4 000 y, p5 101 y.
fn table_a() -> SystemMatrix {
    system(
        &["111", "110", "011", "000", "101"],
        Some(&["x", "x", "y", "y", "y"]),
    )
}

#[test]
fn person_level_metrics_by_hand() {
    let r = rows(&table_a(), Compat::Correct);
    // FAIL = 3/5 for a (p1 p2 p5), b (p1 p2 p3), c (p1 p3 p5).
    for d in ["a", "b", "c"] {
        close(value(&r, "individual", &format!("failure_rate:{d}")), 0.6);
    }
    // Only p1 is failed by all three: 1/5. Expected 0.6^3 = 0.216. H = 0.2 / 0.216 = 25/27.
    close(value(&r, "individual", "systemic_failure_observed"), 0.2);
    close(value(&r, "individual", "systemic_failure_expected"), 0.216);
    close(value(&r, "individual", "h_individual"), 25.0 / 27.0);
}

#[test]
fn k_of_n_exclusion_by_hand() {
    let r = rows(&table_a(), Compat::Correct);
    // Failures per person: 3, 2, 2, 0, 2. >=1: 4/5, >=2: 4/5, >=3: 1/5.
    // Binomial(3, 0.6): P(>=1) = 1 - 0.4^3 = 0.936; P(>=2) = 3*0.36*0.4 + 0.216 = 0.648;
    // P(>=3) = 0.216.
    let want = [(0.8, 0.936), (0.8, 0.648), (0.2, 0.216)];
    for (m, (obs, exp)) in want.iter().enumerate() {
        let m = m + 1;
        close(
            value(&r, "individual", &format!("at_least_{m}_observed")),
            *obs,
        );
        close(
            value(&r, "individual", &format!("at_least_{m}_expected")),
            *exp,
        );
        close(
            value(&r, "individual", &format!("at_least_{m}_ratio")),
            obs / exp,
        );
    }
    // m = k is H_individual.
    close(
        value(&r, "individual", "at_least_3_ratio"),
        value(&r, "individual", "h_individual"),
    );
}

#[test]
fn pairwise_metrics_by_hand() {
    let r = rows(&table_a(), Compat::Correct);
    // a: 1 1 0 0 1, b: 1 1 1 0 0. pa = pb = 0.6, both: p1 p2 -> 0.4.
    // cov = 0.4 - 0.36 = 0.04; PMI = ln(0.4 / 0.36) = ln(10/9);
    // phi = 0.04 / sqrt(0.6*0.4*0.6*0.4) = 0.04 / 0.24 = 1/6;
    // kappa: agreement p1 p2 p4 = 0.6, chance 0.36 + 0.16 = 0.52, (0.6-0.52)/0.48 = 1/6.
    close(value(&r, "individual", "covariance:a|b"), 0.04);
    close(value(&r, "individual", "pmi:a|b"), (10.0f64 / 9.0).ln());
    close(value(&r, "individual", "phi:a|b"), 1.0 / 6.0);
    close(value(&r, "individual", "kappa:a|b"), 1.0 / 6.0);
}

#[test]
fn group_metrics_by_hand() {
    let r = rows(&table_a(), Compat::Correct);
    // Group x (p1 p2): FAIL_x = 1, 1, 1/2 -> prod 1/2. Group y (p3 p4 p5): 1/3, 1/3, 2/3 ->
    // prod 2/27. Denominator prod FAIL = 27/125.
    close(value(&r, "g", "failure_rate_product:x"), 0.5);
    close(value(&r, "g", "failure_rate_product:y"), 2.0 / 27.0);
    // H_unif = mean(1/2, 2/27) / (27/125) = (31/108) * (125/27) = 3875/2916.
    close(value(&r, "g", "h_unif"), 3875.0 / 2916.0);
    // p(x) = (2/5)^3 = 8/125, p(y) = (3/5)^3 = 27/125 -> weights 8/35, 27/35.
    // H_avg = (8/35 * 1/2 + 27/35 * 2/27) / (27/125) = (6/35) * (125/27) = 50/63.
    close(value(&r, "g", "h_avg"), 50.0 / 63.0);
    // H_worst = (1/2) / (27/125) = 125/54, group x.
    close(value(&r, "g", "h_worst"), 125.0 / 54.0);
    assert!(find(&r, "g", "h_worst").note.contains("worst group: x"));
    // Unfairness: deviations from 31/108 are +-23/108; sample variance = 2 * (23/108)^2 / 1.
    close(
        value(&r, "g", "unfairness"),
        2.0 * (23.0f64 / 108.0).powi(2),
    );
}

#[test]
fn eq10_partial_interaction_by_hand() {
    // p1 11, p2 1-, p3 01, p4 -0, p5 00.
    let s = system(&["11", "1-", "01", "-0", "00"], None);
    let r = rows(&s, Compat::Correct);
    // FAIL_a over p1 p2 p3 p5 = 2/4; FAIL_b over p1 p3 p4 p5 = 2/4.
    close(value(&r, "individual", "failure_rate:a"), 0.5);
    close(value(&r, "individual", "failure_rate:b"), 0.5);
    // Numerator: p1 1, p2 1 (failed by a, the only one met), others 0 -> 2/5.
    // Denominator: p1 .25, p2 .5, p3 .25, p4 .5, p5 .25 -> 1.75 / 5 = 0.35. H = 8/7.
    close(value(&r, "individual", "systemic_failure_observed"), 0.4);
    close(value(&r, "individual", "systemic_failure_expected"), 0.35);
    close(value(&r, "individual", "h_individual"), 8.0 / 7.0);
    assert!(find(&r, "individual", "h_individual")
        .note
        .contains("eq. 10"));
    // k-of-n with each person's own deployments: failures 2, 1, 1, 0, 0.
    // >=1 observed 3/5; expected (.75 + .5 + .75 + .5 + .75) / 5 = 0.65.
    // >=2 observed 1/5; expected (.25 + 0 + .25 + 0 + .25) / 5 = 0.15.
    close(value(&r, "individual", "at_least_1_observed"), 0.6);
    close(value(&r, "individual", "at_least_1_expected"), 0.65);
    close(value(&r, "individual", "at_least_2_observed"), 0.2);
    close(value(&r, "individual", "at_least_2_expected"), 0.15);
    close(value(&r, "individual", "at_least_2_ratio"), 4.0 / 3.0);
    // Pairwise over p1 p3 p5 (met both): pa 1/3, pb 2/3, both 1/3 -> cov 1/3 - 2/9 = 1/9.
    close(value(&r, "individual", "covariance:a|b"), 1.0 / 9.0);
    assert!(find(&r, "individual", "covariance:a|b")
        .note
        .contains("3 people who met both"));
    // Observed and expected say what they average under eq. 10.
    assert!(find(&r, "individual", "systemic_failure_observed")
        .note
        .contains("every deployment they met"));
    assert!(find(&r, "individual", "systemic_failure_expected")
        .note
        .contains("deployments they met"));
    // One person met both: singular.
    let r = rows(&system(&["11", "1-", "-0"], None), Compat::Correct);
    assert!(find(&r, "individual", "covariance:a|b")
        .note
        .contains("over the 1 person who met both"));
}

#[test]
fn worst_group_names_its_ties() {
    // x: a 1/2, b 1/2 -> 1/4; y the same; z: 0. Worst x, tied with y.
    let s = system(
        &["11", "00", "11", "00", "00", "00"],
        Some(&["x", "x", "y", "y", "z", "z"]),
    );
    let r = rows(&s, Compat::Correct);
    // FAIL_a = FAIL_b = 2/6: H_worst = (1/4) / (1/9) = 9/4.
    close(value(&r, "g", "h_worst"), 2.25);
    assert!(
        find(&r, "g", "h_worst")
            .note
            .contains("worst group: x (tied with y)"),
        "{}",
        find(&r, "g", "h_worst").note
    );
}

/// p1 11 x, p2 01 x, p3 10 y, p4 00 y, p5 1- z: group z never met deployment b.
fn table_missing_group() -> SystemMatrix {
    system(
        &["11", "01", "10", "00", "1-"],
        Some(&["x", "x", "y", "y", "z"]),
    )
}

#[test]
fn group_missing_from_a_deployment_is_excluded_by_default() {
    let r = rows(&table_missing_group(), Compat::Correct);
    // FAIL_a = 3/5 (p1 p3 p5), FAIL_b = 2/4 (p1 p2): denominator 0.3.
    // x: a 1/2, b 2/2 -> 1/2. y: a 1/2, b 0/2 -> 0. z: excluded.
    close(value(&r, "g", "h_unif"), 0.25 / 0.3); // mean(1/2, 0) / 0.3 = 5/6
    close(value(&r, "g", "h_worst"), 0.5 / 0.3); // 5/3, group x
    assert!(find(&r, "g", "h_worst").note.contains("worst group: x"));
    close(value(&r, "g", "unfairness"), 0.125); // var(1/2, 0) = 2 * 0.25^2 / 1
                                                // p(x) = 2/5 * 2/4 = 0.2 = p(y), p(z) = 0: H_avg = (0.5 * 0.5 + 0.5 * 0) / 0.3 = 5/6.
    close(value(&r, "g", "h_avg"), 0.25 / 0.3);
    for m in ["h_avg", "h_unif", "h_worst", "unfairness"] {
        assert!(
            find(&r, "g", m)
                .note
                .contains("excluded groups missing from a deployment: z"),
            "{m}: {}",
            find(&r, "g", m).note
        );
    }
    assert!(undefined(&r, "g", "failure_rate_product:z").contains("no people in deployment b"));
    // Person level with eq. 10: observed p1 and p5 (failed by a, the only one met) = 2/5;
    // expected (4 * 0.3 + 0.6) / 5 = 0.36; H = 10/9.
    close(value(&r, "individual", "h_individual"), 10.0 / 9.0);
}

#[test]
fn group_missing_from_a_deployment_gets_rate_one_in_reference_mode() {
    let r = rows(&table_missing_group(), Compat::Reference);
    // z: a 1/1, b assumed 1 -> 1. Groups 1/2, 0, 1.
    close(value(&r, "g", "failure_rate_product:z"), 1.0);
    close(value(&r, "g", "h_unif"), 0.5 / 0.3); // mean 1/2 / 0.3 = 5/3
    close(value(&r, "g", "h_worst"), 1.0 / 0.3); // 10/3, group z
                                                 // Worst only through the assumed rate, and the note says so.
    assert!(find(&r, "g", "h_worst")
        .note
        .contains("worst group: z; failure rate 1 assumed for it in deployment b"));
    close(value(&r, "g", "unfairness"), 0.25); // (0 + .25 + .25) / 2
    close(value(&r, "g", "h_avg"), 0.25 / 0.3); // p(z) = 0 either way
    assert!(find(&r, "g", "failure_rate_product:z")
        .note
        .contains("--compat reference"));
}

#[test]
fn undefined_cases_say_why() {
    // Deployment b fails nobody: expected systemic failure 0.
    let s = system(&["10", "00", "10", "00"], Some(&["x", "x", "x", "x"]));
    let r = rows(&s, Compat::Correct);
    close(value(&r, "individual", "systemic_failure_expected"), 0.0);
    assert!(undefined(&r, "individual", "h_individual").contains("no failures in deployment b"));
    assert!(undefined(&r, "individual", "at_least_2_ratio").contains("no one is expected"));
    assert!(undefined(&r, "g", "h_avg").contains("no failures in deployment b"));
    assert!(undefined(&r, "g", "h_unif").contains("is 0"));
    assert!(undefined(&r, "g", "h_worst").contains("is 0"));
    // One group: no variance.
    assert!(undefined(&r, "g", "unfairness").contains("at least two groups"));
    // b constant: PMI divides by 0, phi has zero variance.
    assert!(undefined(&r, "individual", "pmi:a|b").contains("fails nobody"));
    assert!(undefined(&r, "individual", "phi:a|b").contains("zero variance"));
    // Both constant: kappa's chance agreement is 1.
    let s = system(&["00", "00"], None);
    let r = rows(&s, Compat::Correct);
    assert!(undefined(&r, "individual", "kappa:a|b").contains("chance agreement is 1"));
    // Failures, but never by both: PMI is log 0; H is a defined 0.
    let s = system(&["10", "01", "00"], None);
    let r = rows(&s, Compat::Correct);
    assert!(undefined(&r, "individual", "pmi:a|b").contains("log 0"));
    close(value(&r, "individual", "h_individual"), 0.0);
    // Nobody met both deployments.
    let s = system(&["1-", "-1"], None);
    let r = rows(&s, Compat::Correct);
    assert!(undefined(&r, "individual", "covariance:a|b").contains("no people met both"));
    assert!(undefined(&r, "individual", "h_individual").contains("no person met two or more"));
    // One deployment: H would be FAIL / FAIL = 1 whatever happens, so it is undefined.
    let s = system(&["1", "0", "0"], None);
    let r = rows(&s, Compat::Correct);
    assert!(undefined(&r, "individual", "h_individual").contains("the system has 1"));
    close(
        value(&r, "individual", "systemic_failure_observed"),
        1.0 / 3.0,
    );
    // The permutation test is skipped with a note when H is undefined.
    let s = system(&["10", "00"], None);
    let opts = Options {
        permutations: 9,
        ..Options::default()
    };
    let r = measure_system(&s, &opts, 0);
    assert!(find(&r, "individual", "h_individual").p_value.is_none());
    assert!(find(&r, "individual", "h_individual")
        .note
        .contains("no permutation test"));
}

#[test]
fn loss_metrics_by_hand_and_undefined() {
    let mut s = system(&["10", "01"], None);
    // Losses p1 (1, 2), p2 (3, 4).
    s.losses = Some(vec![1.0, 2.0, 3.0, 4.0]);
    let r = rows(&s, Compat::Correct);
    // E[prod] = (2 + 12)/2 = 7; means 2, 3 -> loss-H = 7/6.
    // E[min] = (1 + 3)/2 = 2; MinExp = 2 / min(2, 3) = 1; ExpExp = 2 / mean(2, 3) = 0.8.
    close(value(&r, "individual", "loss_h"), 7.0 / 6.0);
    close(value(&r, "individual", "min_exp"), 1.0);
    close(value(&r, "individual", "exp_exp"), 0.8);
    // A deployment with mean loss 0 -> loss-H and MinExp undefined; a person without a loss
    // under b is left out and counted in the note.
    let mut s = system(&["10", "01", "11"], None);
    s.losses = Some(vec![1.0, 0.0, 3.0, 0.0, 5.0, f64::NAN]);
    let r = rows(&s, Compat::Correct);
    assert!(undefined(&r, "individual", "loss_h").contains("mean loss is 0"));
    assert!(undefined(&r, "individual", "min_exp").contains("mean loss is 0"));
    // E[min] = 0, mean of means = (2 + 0)/2 = 1 -> ExpExp = 0.
    close(value(&r, "individual", "exp_exp"), 0.0);
    assert!(find(&r, "individual", "exp_exp")
        .note
        .contains("1 left out"));
}

fn result(name: &str, method: &str, h: f64, avg: f64) -> SystemResult {
    SystemResult {
        name: name.into(),
        attributes: vec![("method".into(), method.into())],
        rows: vec![
            Measurement::new("individual", "h_individual", Value::Defined(h)),
            Measurement::new("g", "h_avg", Value::Defined(avg)),
        ],
    }
}

#[test]
fn aggregation_by_attribute_by_hand() {
    let results = vec![
        result("s1", "probe", 1.0, 0.0),
        result("s2", "probe", 2.0, 0.0),
        result("s3", "probe", 3.0, 0.0),
        result("s4", "finetune", 5.0, 0.0),
    ];
    let blocks = aggregate_by(&results, "method").unwrap();
    assert_eq!(blocks[0].0, "method=probe");
    assert_eq!(blocks[1].0, "method=finetune");
    let probe = &blocks[0].1;
    // Mean 2, sd 1, n 3; t_{0.975, 2} = 4.302652729749462 (scipy.stats.t.ppf(0.975, 2)),
    // half width 4.302652729749462 / sqrt(3).
    close(value(probe, "individual", "mean:h_individual"), 2.0);
    close(value(probe, "individual", "sd:h_individual"), 1.0);
    close(value(probe, "individual", "n:h_individual"), 3.0);
    let (lo, hi) = find(probe, "individual", "mean:h_individual").ci.unwrap();
    let half = 4.302652729749462 / 3f64.sqrt();
    assert!((lo - (2.0 - half)).abs() < 1e-9 && (hi - (2.0 + half)).abs() < 1e-9);
    // One system: no sd, no interval.
    let finetune = &blocks[1].1;
    assert!(undefined(finetune, "individual", "sd:h_individual").contains("at least two"));
    assert!(find(finetune, "individual", "mean:h_individual")
        .ci
        .is_none());
    // A system without the attribute is bad input.
    let mut bad = results.clone();
    bad[0].attributes.clear();
    let e = aggregate_by(&bad, "method").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("system `s1`"), "{e}");
}

#[test]
fn correlations_across_systems_match_scipy() {
    // h = 1, 2, 3, 4; h_avg = 2, 4, 5, 9. scipy.stats.pearsonr: r = 0.9647638212377322,
    // p = 0.03523617876226792.
    let results: Vec<SystemResult> = [(1.0, 2.0), (2.0, 4.0), (3.0, 5.0), (4.0, 9.0)]
        .iter()
        .enumerate()
        .map(|(i, (h, a))| result(&format!("s{i}"), "m", *h, *a))
        .collect();
    let rows = correlations(&results);
    let r2 = find(&rows, "g", "pearson_r2:h_individual|h_avg");
    let r = 0.9647638212377322f64;
    assert!((r2.value.get().unwrap() - r * r).abs() < 1e-12);
    assert!((r2.p_value.unwrap() - 0.03523617876226792).abs() < 1e-9);
    // Spearman on h_avg = 2, 4, 3, 9: rho = 0.8, p = 0.2 (scipy.stats.spearmanr).
    let results: Vec<SystemResult> = [(1.0, 2.0), (2.0, 4.0), (3.0, 3.0), (4.0, 9.0)]
        .iter()
        .enumerate()
        .map(|(i, (h, a))| result(&format!("s{i}"), "m", *h, *a))
        .collect();
    let rows = correlations(&results);
    let rho = find(&rows, "g", "spearman_rho:h_individual|h_avg");
    assert!((rho.value.get().unwrap() - 0.8).abs() < 1e-12);
    assert!((rho.p_value.unwrap() - 0.2).abs() < 1e-9);
    // Two systems: undefined. A constant metric: undefined.
    let rows = correlations(&results[..2]);
    assert!(undefined(&rows, "g", "pearson_r2:h_individual|h_avg").contains("at least 3"));
    let constant: Vec<SystemResult> = (0..4)
        .map(|i| result(&format!("s{i}"), "m", i as f64, 1.0))
        .collect();
    let rows = correlations(&constant);
    assert!(undefined(&rows, "g", "spearman_rho:h_individual|h_avg").contains("constant"));
}
