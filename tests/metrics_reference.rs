//! The metrics against values computed independently with numpy/scipy/scikit-learn from the
//! formulas (`scripts/metrics_reference.py`, committed fixtures in tests/fixtures/metrics/).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use homogen::failures;
use homogen::metrics::{
    aggregate_by, correlations, measure_system, Compat, Measurement, Options, SystemResult,
};
use serde_json::Value as Json;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

fn load(name: &str) -> Json {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn measure(fixture: &Json) -> Vec<SystemResult> {
    let table = failures::read_table(&dir().join(fixture["table"].as_str().unwrap())).unwrap();
    let groups: Vec<String> = fixture["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    let compat = match fixture["compat"].as_str().unwrap() {
        "reference" => Compat::Reference,
        _ => Compat::Correct,
    };
    let opts = Options {
        compat,
        ..Options::default()
    };
    failures::systems(&table, &groups)
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| SystemResult {
            name: s.name.clone(),
            attributes: s.attributes.clone(),
            rows: measure_system(s, &opts, i as u64),
        })
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// Compares every expected row (system, grouping, metric) to ours: same set of metrics, values
/// within `tol` (relative above 1), undefined exactly where numpy had no finite value.
fn compare(ours: &[(String, &Measurement)], expected: &Json, tol: f64) {
    let mut by_key: HashMap<(String, String, String), &Measurement> = HashMap::new();
    for (system, m) in ours {
        by_key.insert((system.clone(), m.grouping.clone(), m.metric.clone()), m);
    }
    let rows = expected.as_array().unwrap();
    assert_eq!(rows.len(), by_key.len(), "number of metrics differs");
    for row in rows {
        let key = (
            row["system"].as_str().unwrap().to_string(),
            row["grouping"].as_str().unwrap().to_string(),
            row["metric"].as_str().unwrap().to_string(),
        );
        let m = by_key
            .get(&key)
            .unwrap_or_else(|| panic!("we lack {key:?}"));
        match (row["value"].as_f64(), m.value.get()) {
            (Some(want), Some(got)) => {
                assert!(close(got, want, tol), "{key:?}: {got} vs numpy {want}")
            }
            (None, None) => {}
            (want, got) => panic!("{key:?}: ours {got:?}, numpy {want:?}"),
        }
        for (field, ours) in [
            ("ci_lo", m.ci.map(|c| c.0)),
            ("ci_hi", m.ci.map(|c| c.1)),
            ("p_value", m.p_value),
        ] {
            if let Some(want) = row.get(field).and_then(Json::as_f64) {
                let got = ours.unwrap_or_else(|| panic!("{key:?}: no {field}"));
                // statrs's t quantile and CDF agree with scipy to ~1e-10, not to the last bit.
                assert!(
                    close(got, want, 1e-9),
                    "{key:?} {field}: {got} vs scipy {want}"
                );
            }
        }
    }
}

fn check(name: &str) {
    let fixture = load(name);
    let results = measure(&fixture);
    let ours: Vec<(String, &Measurement)> = results
        .iter()
        .flat_map(|r| r.rows.iter().map(|m| (r.name.clone(), m)))
        .collect();
    compare(&ours, &fixture["rows"], 1e-12);
}

#[test]
fn random_full_coverage_matches_numpy() {
    check("random");
}

#[test]
fn two_groupings_from_labels_and_predictions_match_numpy() {
    check("groups");
}

#[test]
fn partial_coverage_with_a_missing_group_matches_numpy() {
    check("partial");
}

#[test]
fn partial_coverage_in_reference_mode_matches_numpy() {
    check("partial_reference");
}

#[test]
fn loss_metrics_match_numpy() {
    check("losses");
}

#[test]
fn several_systems_aggregation_and_correlations_match_scipy() {
    let fixture = load("systems");
    let results = measure(&fixture);
    let ours: Vec<(String, &Measurement)> = results
        .iter()
        .flat_map(|r| r.rows.iter().map(|m| (r.name.clone(), m)))
        .collect();
    compare(&ours, &fixture["rows"], 1e-12);

    let blocks = aggregate_by(&results, fixture["by"].as_str().unwrap()).unwrap();
    let corr = correlations(&results);
    let mut across: Vec<(String, &Measurement)> = blocks
        .iter()
        .flat_map(|(label, rows)| rows.iter().map(move |m| (label.clone(), m)))
        .collect();
    across.extend(corr.iter().map(|m| ("across_systems".to_string(), m)));
    compare(&across, &fixture["across"], 1e-12);
}

/// Pearson R² and Spearman rho across systems against scipy.stats.pearsonr / spearmanr
/// (`correlations.json`): average ranks for exact ties only (0.1 + 0.2 is not 0.3, -0.0 is
/// 0.0), undefined exactly where scipy gives NaN (a constant metric), p-values from the t
/// distribution as scipy's.
#[test]
fn correlations_rank_ties_as_scipy_does() {
    use homogen::metrics::across::ranks;
    use homogen::metrics::Value;
    let text = std::fs::read_to_string(dir().join("correlations.json")).unwrap();
    let cases: Json = serde_json::from_str(&text).unwrap();
    // Floats are written as Python's repr, which str::parse reads back to the same float.
    let floats = |v: &Json| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().parse().unwrap())
            .collect()
    };
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        for (values, want) in [(&x, &case["ranks_x"]), (&y, &case["ranks_y"])] {
            let want: Vec<f64> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_f64().unwrap())
                .collect();
            assert_eq!(ranks(values), want, "{name}: ranks of {values:?}");
        }
        let results: Vec<SystemResult> = x
            .iter()
            .zip(&y)
            .enumerate()
            .map(|(i, (&a, &b))| SystemResult {
                name: format!("s{i}"),
                attributes: vec![],
                rows: vec![
                    Measurement::new("individual", "h_individual", Value::Defined(a)),
                    Measurement::new("individual", "systemic_failure_observed", Value::Defined(b)),
                ],
            })
            .collect();
        let rows = correlations(&results);
        for (metric, value, p) in [
            ("spearman_rho", "spearman_rho", "spearman_p"),
            ("pearson_r2", "pearson_r2", "pearson_p"),
        ] {
            if case.get(value).is_none() {
                continue; // not compared (pearson on near-constant input)
            }
            let full = format!("{metric}:h_individual|systemic_failure_observed");
            let m = rows
                .iter()
                .find(|m| m.metric == full)
                .unwrap_or_else(|| panic!("{name}: no {full}"));
            match (case[value].as_f64(), m.value.get()) {
                (Some(want), Some(got)) => {
                    assert!(
                        close(got, want, 1e-12),
                        "{name} {metric}: {got} vs scipy {want}"
                    );
                    let want_p = case[p].as_f64().unwrap();
                    let got_p = m.p_value.unwrap_or_else(|| panic!("{name} {metric}: no p"));
                    // statrs's t CDF agrees with scipy to ~1e-10, not to the last bit.
                    assert!(
                        close(got_p, want_p, 1e-9),
                        "{name} {metric} p: {got_p} vs scipy {want_p}"
                    );
                }
                (None, None) => {}
                (want, got) => panic!("{name} {metric}: ours {got:?}, scipy {want:?}"),
            }
        }
    }
}
