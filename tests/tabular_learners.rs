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

#[test]
fn early_stop_follows_sklearns_no_improvement_rule() {
    use homogen::experiment::learners::mlp::EarlyStop;
    // tol 0.1, patience 2: stop once more than 2 epochs in a row fail to beat best − tol.
    let mut s = EarlyStop::new(0.1, 2);
    assert!(!s.update(1.0)); // best 1.0, count 0
    assert!(!s.update(0.95)); // 0.95 > 1.0 − 0.1: count 1; best 0.95
    assert!(!s.update(0.80)); // 0.80 ≤ 0.95 − 0.1: count 0; best 0.80
    assert!(!s.update(0.75)); // count 1; best 0.75
    assert!(!s.update(0.74)); // count 2; best 0.74
    assert!(s.update(0.73)); // count 3 > 2: stop
}

#[test]
fn scaler_and_gamma_scale_match_hand_values() {
    use homogen::experiment::learners::svm::gamma_scale;
    use homogen::experiment::learners::StandardScaler;
    // Column 0: 1, 2, 3 → mean 2, population sd √(2/3); column 1 constant 5 → scale 1.
    let x = ndarray::array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]];
    let s = StandardScaler::fit(&x);
    assert_eq!(s.mean.to_vec(), vec![2.0, 5.0]);
    assert!((s.scale[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
    assert_eq!(s.scale[1], 1.0);
    let z = s.transform(&x);
    assert!((z[[0, 0]] + 1.224744871391589).abs() < 1e-12);
    assert_eq!(z[[2, 1]], 0.0);
    // gamma = 1 / (n_features · Var(all entries)): entries 1,2,3,5,5,5 → mean 3.5,
    // Var = (6.25 + 2.25 + 0.25 + 3 · 2.25) / 6 = 15.5 / 6; gamma = 6 / (2 · 15.5) = 0.19354…
    assert!((gamma_scale(&x) - 6.0 / 31.0).abs() < 1e-15);
}

#[test]
fn one_class_training_data_predicts_that_class() {
    let model = learners::by_name("svm").unwrap();
    let x = ndarray::array![[0.0], [1.0], [2.0]];
    let pred = fit_predict(model.as_ref(), &x, &[1, 1, 1], &x, 0).unwrap();
    assert_eq!(pred, vec![1, 1, 1]);
}
