//! homogen's four learners against scikit-learn on one German Credit split
//! (fixture from scripts/sklearn_reference.py): mean test accuracy over model seeds 0-4 within
//! 2 points for logistic / svm / mlp and 3 points for gbm.

use homogen::data::tabular::german::{self, Encoding};
use homogen::experiment::learners::{self, fit_predict};
use ndarray::Array2;

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tabular/sklearn_reference.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn rows(x: &Array2<f64>, ids: &[usize]) -> Array2<f64> {
    x.select(ndarray::Axis(0), ids)
}

#[test]
fn german_credit_features_match_the_python_construction() {
    let f = fixture();
    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    assert_eq!(gc.n_features(), f["n_features"].as_u64().unwrap() as usize);
    let sums: Vec<f64> = f["feature_sums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (j, want) in sums.iter().enumerate() {
        let got = gc.features.column(j).sum();
        assert!(
            (got - want).abs() < 1e-9,
            "column {j} ({}): {got} vs {want}",
            gc.feature_names[j]
        );
    }
}

fn check(learner: &str, tolerance: f64) {
    let f = fixture();
    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    let test: Vec<usize> = f["test_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let train: Vec<usize> = (0..gc.n_people()).filter(|i| !test.contains(i)).collect();
    let seeds: Vec<u64> = f["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let model = learners::by_name(learner).unwrap();
    let (xtr, xte) = (rows(&gc.features, &train), rows(&gc.features, &test));
    for task in &gc.tasks {
        let ytr: Vec<u8> = train.iter().map(|&i| task.labels[i]).collect();
        let yte: Vec<u8> = test.iter().map(|&i| task.labels[i]).collect();
        let mut total = 0.0;
        for &seed in &seeds {
            let pred = fit_predict(model.as_ref(), &xtr, &ytr, &xte, seed).unwrap();
            let correct = pred.iter().zip(&yte).filter(|(p, y)| p == y).count();
            total += correct as f64 / yte.len() as f64;
        }
        let ours = total / seeds.len() as f64;
        let theirs = f["accuracy"][learner][&task.name].as_f64().unwrap();
        eprintln!(
            "{learner} {}: ours {ours:.4}, sklearn {theirs:.4}",
            task.name
        );
        assert!(
            (ours - theirs).abs() <= tolerance + 1e-12,
            "{learner} on {}: accuracy {ours:.4}, scikit-learn {theirs:.4}",
            task.name
        );
    }
}

#[test]
fn logistic_matches_sklearn_within_2_points() {
    check("logistic", 0.02);
}

#[test]
fn svm_matches_sklearn_within_2_points() {
    check("svm", 0.02);
}

#[test]
fn gbm_matches_sklearn_within_3_points() {
    check("gbm", 0.03);
}

#[test]
fn mlp_matches_sklearn_within_2_points() {
    check("mlp", 0.02);
}

#[test]
fn unknown_learner_is_bad_input() {
    let e = learners::by_name("xgboost").err().unwrap();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("unknown learner `xgboost`"), "{e}");
    assert!(e.to_string().contains("logistic, svm, gbm, mlp"), "{e}");
}
