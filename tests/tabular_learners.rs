//! homogen's four learners against scikit-learn on German Credit (fixture from
//! scripts/sklearn_reference.py, which builds the features with pandas and scikit-learn's
//! `OneHotEncoder`, independently of homogen).
//!
//! - Features: the same 58 columns (personal status reduced to sex, as the authors), matched by
//!   name, with the same values.
//! - Accuracy: mean test accuracy over model seeds 0-4 within 2 points of scikit-learn's for
//!   logistic / svm / mlp and 3 points for gbm.
//! - Who fails (what homogenization measures): per-person agreement of test predictions with
//!   scikit-learn's, trained on the full training set (800 people) and on four blocks of 50 (the
//!   data-sharing study's small-data regime). Logistic regression and the RBF SVM solve convex
//!   problems, so they must agree on ≥ 99% of test people in each regime and their decision
//!   functions must match within the solvers' tolerances; gbm (histogram trees, by design not
//!   scikit-learn's exact trees) and the MLP (another random generator, so another
//!   initialisation and batch order) get a documented floor, measured against scikit-learn's
//!   own seed-to-seed agreement.
//! - MLP initialisation: the bound and spread of each layer against scikit-learn's
//!   `MLPClassifier._init_coef`.

use homogen::data::tabular::german::{self, Encoding};
use homogen::experiment::learners::logistic::Logistic;
use homogen::experiment::learners::mlp::{self, Mlp};
use homogen::experiment::learners::svm::RbfSvm;
use homogen::experiment::learners::{self, fit_predict, StandardScaler};
use ndarray::{Array2, Axis};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tabular/sklearn_reference.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn ids(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn bits(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap()
        .bytes()
        .map(|b| u8::from(b == b'1'))
        .collect()
}

/// German Credit as homogen builds it (one-hot), columns put in the fixture's order by name,
/// with the fixture's split and blocks.
struct Gc {
    x: Array2<f64>,
    /// (task name, labels of all 1,000 people)
    tasks: Vec<(String, Vec<u8>)>,
    test: Vec<usize>,
    /// ("full", the 800 training people), ("block0", 50 of them), ...
    sets: Vec<(String, Vec<usize>)>,
    seeds: Vec<u64>,
}

fn german_credit(f: &Value) -> Gc {
    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    let names: Vec<&str> = f["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let order: Vec<usize> = names
        .iter()
        .map(|n| {
            gc.feature_names
                .iter()
                .position(|m| m == n)
                .unwrap_or_else(|| panic!("scikit-learn's column `{n}` is not one of homogen's"))
        })
        .collect();
    let mut sets = vec![("full".to_string(), ids(&f["train_ids"]))];
    for (b, block) in f["blocks"].as_array().unwrap().iter().enumerate() {
        sets.push((format!("block{b}"), ids(block)));
    }
    Gc {
        x: gc.features.select(Axis(1), &order),
        tasks: gc
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.labels.clone()))
            .collect(),
        test: ids(&f["test_ids"]),
        sets,
        seeds: f["seeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect(),
    }
}

fn rows(x: &Array2<f64>, ids: &[usize]) -> Array2<f64> {
    x.select(Axis(0), ids)
}

fn agreement(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(p, q)| p == q).count() as f64 / a.len() as f64
}

#[test]
fn german_credit_features_match_the_python_construction() {
    let f = fixture();
    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    // 6 numerics + one-hot levels 4+5+10+5+5+2+3+4+3+3+4+2+2 = 52: personal status is sex.
    assert_eq!(gc.n_features(), 58);
    assert_eq!(gc.n_features(), f["n_features"].as_u64().unwrap() as usize);
    let sex: Vec<&String> = gc
        .feature_names
        .iter()
        .filter(|n| n.starts_with("personal_status_sex"))
        .collect();
    assert_eq!(
        sex,
        ["personal_status_sex=female", "personal_status_sex=male"]
    );
    // The female indicator is the `sex` grouping.
    let j = gc
        .feature_names
        .iter()
        .position(|n| n == "personal_status_sex=female")
        .unwrap();
    let group = &gc.group("sex").unwrap().values;
    for (r, g) in group.iter().enumerate() {
        assert_eq!(gc.features[[r, j]] == 1.0, g == "female", "row {r}");
    }

    let data = german_credit(&f);
    let n = data.x.nrows();
    let checks = [
        ("feature_sums", data.x.sum_axis(Axis(0)).to_vec()),
        (
            "feature_sums_of_squares",
            data.x.mapv(|v| v * v).sum_axis(Axis(0)).to_vec(),
        ),
        (
            "feature_row_weighted_sums",
            ndarray::Array1::from_iter((1..=n).map(|i| i as f64))
                .dot(&data.x)
                .to_vec(),
        ),
    ];
    let names = f["feature_names"].as_array().unwrap();
    for (key, ours) in checks {
        for (j, (got, want)) in ours.iter().zip(floats(&f[key])).enumerate() {
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{key}, column {j} ({}): {got} vs scikit-learn's {want}",
                names[j]
            );
        }
    }
}

#[test]
fn integer_codes_still_reduce_personal_status_to_sex() {
    let codes = german::load_bundled(Encoding::IntegerCodes).unwrap();
    assert_eq!(codes.n_features(), 19);
    let j = codes
        .feature_names
        .iter()
        .position(|n| n == "personal_status_sex")
        .unwrap();
    let mut values: Vec<f64> = codes.features.column(j).to_vec();
    values.sort_by(f64::total_cmp);
    values.dedup();
    assert_eq!(values, [0.0, 1.0]);
}

fn check(learner: &str, tolerance: f64) {
    let f = fixture();
    let gc = german_credit(&f);
    let model = learners::by_name(learner).unwrap();
    let train = &gc.sets[0].1;
    let (xtr, xte) = (rows(&gc.x, train), rows(&gc.x, &gc.test));
    for (task, labels) in &gc.tasks {
        let ytr: Vec<u8> = train.iter().map(|&i| labels[i]).collect();
        let yte: Vec<u8> = gc.test.iter().map(|&i| labels[i]).collect();
        let mut total = 0.0;
        for &seed in &gc.seeds {
            let pred = fit_predict(model.as_ref(), &xtr, &ytr, &xte, seed).unwrap();
            total += agreement(&pred, &yte);
        }
        let ours = total / gc.seeds.len() as f64;
        let theirs = f["accuracy"][learner][task].as_f64().unwrap();
        eprintln!("{learner} {task}: ours {ours:.4}, sklearn {theirs:.4}");
        assert!(
            (ours - theirs).abs() <= tolerance + 1e-12,
            "{learner} on {task}: accuracy {ours:.4}, scikit-learn {theirs:.4}"
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

/// Per regime (`full`, `blocks` pooled): people compared, people predicted alike by us and
/// scikit-learn's defaults, and by us and the exact optimum; largest |decision function
/// difference| between us and scikit-learn's defaults, us and the optimum, scikit-learn's
/// defaults and the optimum; largest |P(y = 1) difference| (logistic only).
#[derive(Default)]
struct Agreement {
    people: usize,
    agree: usize,
    agree_optimum: usize,
    max_decision: f64,
    max_decision_optimum: f64,
    sklearn_from_optimum: f64,
    max_proba: f64,
}

/// Logistic regression or the SVM (neither uses a seed) against scikit-learn, person by person.
fn convex_agreement(
    learner: &str,
    decision: impl Fn(&Array2<f64>, &[u8], &Array2<f64>) -> Vec<f64>,
) -> [Agreement; 2] {
    let f = fixture();
    let gc = german_credit(&f);
    let model = learners::by_name(learner).unwrap();
    let mut out: [Agreement; 2] = Default::default();
    for (task, labels) in &gc.tasks {
        for (set, train) in &gc.sets {
            let want = &f["agreement"][learner][task][set];
            let (xtr, xte) = (rows(&gc.x, train), rows(&gc.x, &gc.test));
            let ytr: Vec<u8> = train.iter().map(|&i| labels[i]).collect();
            // The production path: scaler and learner as the data-sharing study runs them.
            let pred = fit_predict(model.as_ref(), &xtr, &ytr, &xte, 0).unwrap();
            let theirs = bits(&want["pred"]);
            let scaler = StandardScaler::fit(&xtr);
            let ours = decision(&scaler.transform(&xtr), &ytr, &scaler.transform(&xte));
            let reference = floats(&want["decision"]);
            let optimum = floats(&want["decision_optimum"]);
            let a = &mut out[usize::from(set != "full")];
            a.people += pred.len();
            a.agree += pred.iter().zip(&theirs).filter(|(p, q)| p == q).count();
            for (i, ((o, r), e)) in ours.iter().zip(&reference).zip(&optimum).enumerate() {
                // The decision function's sign is the prediction.
                assert_eq!(u8::from(*o >= 0.0), pred[i], "{task} {set} person {i}");
                a.agree_optimum += usize::from(pred[i] == u8::from(*e > 0.0));
                a.max_decision = a.max_decision.max((o - r).abs());
                a.max_decision_optimum = a.max_decision_optimum.max((o - e).abs());
                a.sklearn_from_optimum = a.sklearn_from_optimum.max((r - e).abs());
            }
            if want.get("proba").is_some() {
                for (o, p) in ours.iter().zip(floats(&want["proba"])) {
                    a.max_proba = a.max_proba.max((1.0 / (1.0 + (-o).exp()) - p).abs());
                }
            }
            let d = agreement(&pred, &theirs);
            eprintln!("{learner} {task} {set}: agreement {d:.4}");
        }
    }
    for (regime, a) in ["full (800)", "blocks (4 × 50)"].iter().zip(&out) {
        eprintln!(
            "{learner} {regime}: {} of {} test predictions agree with sklearn ({:.4}), {} with \
             the optimum; largest |Δ decision| vs sklearn {:.2e}, vs the optimum {:.2e} \
             (sklearn's from the optimum {:.2e}); |Δ P(y=1)| vs sklearn {:.2e}",
            a.agree,
            a.people,
            a.agree as f64 / a.people as f64,
            a.agree_optimum,
            a.max_decision,
            a.max_decision_optimum,
            a.sklearn_from_optimum,
            a.max_proba
        );
    }
    out
}

#[test]
fn logistic_fails_the_same_people_as_sklearn() {
    let [full, blocks] = convex_agreement("logistic", |x, y, t| {
        Logistic::default().fit_decision_function(x, y, t).unwrap()
    });
    for (regime, a) in [("full", &full), ("blocks", &blocks)] {
        // Measured: 400 of 400 (full), 1,599 of 1,600 (blocks); the one person scikit-learn
        // decides otherwise is one where its default stopping point has not reached the
        // optimum: we agree with the optimum on every person.
        assert!(
            a.agree as f64 >= 0.99 * a.people as f64,
            "logistic, {regime}: {} of {} agree",
            a.agree,
            a.people
        );
        assert_eq!(a.agree_optimum, a.people, "logistic, {regime}");
        // linfa stops L-BFGS when the gradient norm of Σ loss + ½‖w‖² is below 1e-4; the L2
        // term makes the objective 1-strongly convex in w, so w is within ~1e-4 of the optimum
        // and a logit within ~1e-4·‖x‖, a few 1e-3 at most for standardised test rows (measured:
        // 6.5e-6 full, 2.5e-4 blocks).
        assert!(
            a.max_decision_optimum < 2e-3,
            "logistic, {regime}: {} from the optimum",
            a.max_decision_optimum
        );
        // scikit-learn stops once the largest gradient entry of that objective divided by n is
        // below 1e-4, i.e. entries up to n·1e-4 (0.08 with 800 people, 0.005 with 50): a far
        // looser test, which leaves its logits up to 0.03 from the optimum (measured 5.7e-3
        // full, 2.95e-2 blocks; the fixture's `decision_optimum`). Our distance to it is that
        // early stop, nothing more.
        assert!(a.sklearn_from_optimum < 0.05, "logistic, {regime}");
        assert!(
            a.max_decision <= a.sklearn_from_optimum + a.max_decision_optimum + 1e-12,
            "logistic, {regime}: {}",
            a.max_decision
        );
        // P(y = 1) moves by at most a quarter of the logit's change.
        assert!(a.max_proba < 0.0125, "logistic, {regime}: {}", a.max_proba);
    }
}

#[test]
fn svm_fails_the_same_people_as_sklearn() {
    let [full, blocks] = convex_agreement("svm", |x, y, t| {
        RbfSvm::default().fit_decision_function(x, y, t).unwrap()
    });
    for (regime, a) in [("full", &full), ("blocks", &blocks)] {
        // Measured: every person, both regimes.
        assert!(
            a.agree as f64 >= 0.99 * a.people as f64,
            "svm, {regime}: {} of {} agree",
            a.agree,
            a.people
        );
        assert!(a.agree_optimum as f64 >= 0.99 * a.people as f64);
        // Both SMOs (libsvm's, linfa-svm's) stop once the largest KKT violation is below
        // tol = 1e-3, which leaves the decision function O(tol) from the optimum (measured:
        // ours 4.4e-4, scikit-learn's 4.3e-4 from it; 6.2e-4 between the two).
        assert!(
            a.max_decision_optimum < 2e-3,
            "svm, {regime}: {}",
            a.max_decision_optimum
        );
        assert!(a.max_decision < 2e-3, "svm, {regime}: {}", a.max_decision);
    }
}

/// A seeded learner (gbm, mlp) against scikit-learn, seed for seed, and scikit-learn against
/// itself across seeds. Returns (ours vs sklearn, sklearn vs sklearn) per regime.
fn seeded_agreement(learner: &str) -> [(f64, f64); 2] {
    let f = fixture();
    let gc = german_credit(&f);
    let model = learners::by_name(learner).unwrap();
    let mut sums = [(0.0, 0usize, 0.0, 0usize); 2];
    for (task, labels) in &gc.tasks {
        for (set, train) in &gc.sets {
            let want = f["agreement"][learner][task][set]["pred"]
                .as_array()
                .unwrap();
            let theirs: Vec<Vec<u8>> = want.iter().map(bits).collect();
            let (xtr, xte) = (rows(&gc.x, train), rows(&gc.x, &gc.test));
            let ytr: Vec<u8> = train.iter().map(|&i| labels[i]).collect();
            let s = &mut sums[usize::from(set != "full")];
            let mut line = 0.0;
            for (k, &seed) in gc.seeds.iter().enumerate() {
                let pred = fit_predict(model.as_ref(), &xtr, &ytr, &xte, seed).unwrap();
                let a = agreement(&pred, &theirs[k]);
                line += a;
                s.0 += a;
                s.1 += 1;
                for other in &theirs[k + 1..] {
                    s.2 += agreement(&theirs[k], other);
                    s.3 += 1;
                }
            }
            eprintln!(
                "{learner} {task} {set}: agreement with sklearn {:.4} (mean over seeds)",
                line / gc.seeds.len() as f64
            );
        }
    }
    let out = sums.map(|(a, n, b, m)| (a / n as f64, b / m as f64));
    for (regime, (ours, theirs)) in ["full (800)", "blocks (4 × 50)"].iter().zip(&out) {
        eprintln!(
            "{learner} {regime}: agreement with sklearn (same seed) {ours:.4}; sklearn seed vs \
             seed {theirs:.4}"
        );
    }
    out
}

#[test]
fn gbm_agreement_with_sklearn_has_a_floor() {
    // forust grows XGBoost-style trees (splits by second-order gain), scikit-learn least-squares
    // trees on the residuals (Friedman MSE), so the trees differ by design. Measured (scikit-learn
    // 1.9.1, seed for seed, mean over seeds 0-4 and both tasks): 94.2% of test people predicted
    // alike with 800 training people, 87.6% with 50 (scikit-learn against itself across seeds:
    // 99.9% and 97.7%). The floors leave about 4 points for platform and version drift.
    let [full, blocks] = seeded_agreement("gbm");
    assert!(full.0 >= 0.90, "gbm, full: {}", full.0);
    assert!(blocks.0 >= 0.83, "gbm, blocks: {}", blocks.0);
}

#[test]
fn mlp_agreement_with_sklearn_has_a_floor() {
    // Another generator means another initialisation and batch order, so seed s here is not
    // seed s there: the yardstick is scikit-learn against itself across seeds. Measured: ours
    // and scikit-learn's agree on 90.8% (800 training people) and 90.3% (50) of test people;
    // scikit-learn's seeds among themselves on 90.8% and 89.9%.
    let [full, blocks] = seeded_agreement("mlp");
    assert!(full.0 >= full.1 - 0.03, "mlp, full: {full:?}");
    assert!(blocks.0 >= blocks.1 - 0.03, "mlp, blocks: {blocks:?}");
}

#[test]
fn mlp_initialisation_matches_sklearns_init_coef() {
    let f = fixture();
    let init = &f["mlp_init"];
    assert_eq!(init["activation"], "relu");
    let layers = init["layers"].as_array().unwrap();
    let net = Mlp::default();
    let d = layers[0]["fan_in"].as_u64().unwrap() as usize;
    let draws = layers[0]["draws"].as_u64().unwrap();
    // Pool our initial parameters over as many seeds as scikit-learn's draws.
    let mut pooled: [Vec<f64>; 4] = Default::default();
    for seed in 0..draws {
        for (p, v) in pooled
            .iter_mut()
            .zip(net.initial_parameters(d, seed).unwrap())
        {
            p.extend(v.iter().map(|&x| f64::from(x)));
        }
    }
    let sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    for (l, layer) in layers.iter().enumerate() {
        let (fan_in, fan_out) = (
            layer["fan_in"].as_u64().unwrap() as usize,
            layer["fan_out"].as_u64().unwrap() as usize,
        );
        let bound = layer["bound"].as_f64().unwrap();
        // scikit-learn's factor (6 with ReLU hidden units, every layer) and bound.
        assert_eq!(layer["factor"].as_f64().unwrap(), 6.0);
        assert!((mlp::init_bound(fan_in, fan_out) - bound).abs() < 1e-15);
        for (what, ours, max_key, sd_key) in [
            ("weights", &pooled[2 * l], "weight_max_abs", "weight_sd"),
            ("biases", &pooled[2 * l + 1], "bias_max_abs", "bias_sd"),
        ] {
            let max = ours.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let (their_max, their_sd) = (
                layer[max_key].as_f64().unwrap(),
                layer[sd_key].as_f64().unwrap(),
            );
            // Sampling error of an sd estimate from n uniform draws: relative sd
            // ½·√((κ − 1)/n) with kurtosis κ = 9/5, so 4 of those is a safe tolerance.
            let n = ours.len() as f64;
            let rel = 4.0 * 0.5 * (0.8 / n).sqrt();
            eprintln!(
                "layer {l} {what} ({} draws): max |w| {max:.5} (sklearn {their_max:.5}), sd {:.5} \
                 (sklearn {their_sd:.5}), bound {bound:.5}",
                ours.len(),
                sd(ours)
            );
            // f32 rounding may push a draw a hair past the bound.
            assert!(
                max <= bound * (1.0 + 1e-6),
                "layer {l} {what}: {max} > {bound}"
            );
            // The largest of n draws from U(−b, b) is below (1 − 10/n)·b with probability
            // e^−10; the output layer's bound under the old factor 2 was 0.58 of this one.
            assert!(
                max >= (1.0 - 10.0 / n) * bound && their_max >= (1.0 - 10.0 / n) * bound,
                "layer {l} {what}: max {max}, scikit-learn's {their_max}, bound {bound}"
            );
            // U(−b, b) has sd b/√3: ours and scikit-learn's estimates both near it.
            let want = bound / 3f64.sqrt();
            assert!(
                (sd(ours) - want).abs() <= rel * want,
                "layer {l} {what}: sd {} vs b/√3 = {want}",
                sd(ours)
            );
            assert!(
                (their_sd - want).abs() <= rel * want,
                "layer {l} {what}: scikit-learn's sd {their_sd} vs b/√3 = {want}"
            );
        }
    }
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
