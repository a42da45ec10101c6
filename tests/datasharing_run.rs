//! The data-sharing runner end to end on German Credit: failure tables, measurements, report,
//! figures, and bad configs.

use std::path::Path;
use std::process::Command;

use homogen::data::tabular::german::{self, Encoding};
use homogen::experiment::config::Config;
use homogen::experiment::datasharing::{self, RunOptions};
use homogen::experiment::protocol::split;
use homogen::failures::read_table;

const SMALL: &str = r#"
[experiment]
kind = "datasharing"
out = "unused"
[data]
dataset = "german_credit"
[protocol]
learners = ["logistic", "gbm"]
scales = [10, 2]
data_seeds = [0]
model_seeds = [0, 1]
groupings = ["sex"]
"#;

#[test]
fn default_config_is_the_papers_german_credit_grid() {
    let c = Config::default_run().unwrap();
    assert_eq!(c.protocol.learners, vec!["logistic", "svm", "gbm", "mlp"]);
    assert_eq!(c.protocol.scales, vec![20, 16, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    assert_eq!(
        c.protocol.data_seeds.len() * c.protocol.model_seeds.len(),
        25
    );
    assert_eq!(c.experiment.out, Path::new("runs/default"));
}

#[test]
fn small_run_writes_failure_tables_measurements_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(SMALL, Path::new("small.toml")).unwrap();
    let summary = datasharing::run(
        &config,
        SMALL,
        Some(dir.path()),
        RunOptions {
            quiet: true,
            threads: None,
        },
    )
    .unwrap();
    // 2 learners × 2 settings × 2 scales × 1 data seed × 2 model seeds = 16 trials.
    assert_eq!(summary.n_trials, 16);

    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    let test = split(1000, 0).test;
    let t = read_table(&dir.path().join("failures/logistic.parquet")).unwrap();
    // 8 logistic trials × 2 tasks × 200 test people.
    assert_eq!(t.len(), 8 * 2 * 200);
    let names: Vec<&str> = t.extra.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "sex",
            "learner",
            "setting",
            "scale",
            "data_seed",
            "model_seed"
        ]
    );
    let labels = t.label.as_ref().unwrap();
    let preds = t.prediction.as_ref().unwrap();
    let sex = t.extra_column("sex").unwrap();
    for row in 0..t.len() {
        let person: usize = t.example_id.value(row).parse().unwrap();
        assert!(test.binary_search(&person).is_ok(), "only test people");
        let task = gc.task(t.deployment.value(row)).unwrap();
        assert_eq!(labels[row], i64::from(task.labels[person]));
        assert_eq!(t.failure[row], labels[row] != preds[row]);
        assert_eq!(sex.value(row), gc.group("sex").unwrap().values[person]);
    }
    assert_eq!(t.system_of(0), "gc/logistic/fixed/scale=10/d0/m0");

    // H of one trial, recomputed here from its failure-table rows:
    // observed = share of people failed by both tasks, expected = product of failure rates.
    let system = "gc/logistic/disjoint/scale=2/d0/m1";
    let mut fails: std::collections::HashMap<&str, [bool; 2]> = Default::default();
    for row in (0..t.len()).filter(|&r| t.system_of(r) == system) {
        let i = usize::from(t.deployment.value(row) != "bad_loan");
        fails.entry(t.example_id.value(row)).or_default()[i] = t.failure[row];
    }
    assert_eq!(fails.len(), 200);
    let n = fails.len() as f64;
    let rate = |i: usize| fails.values().filter(|f| f[i]).count() as f64 / n;
    let observed = fails.values().filter(|f| f[0] && f[1]).count() as f64 / n;
    let h = observed / (rate(0) * rate(1));
    let csv = std::fs::read_to_string(dir.path().join("measurements.csv")).unwrap();
    let line = csv
        .lines()
        .find(|l| l.starts_with(system) && l.contains(",individual,h_individual,"))
        .unwrap();
    let value: f64 = line.split(',').nth(9).unwrap().parse().unwrap();
    assert!((value - h).abs() < 1e-12, "{value} vs {h}");

    // results.csv aggregates over the two model seeds.
    let results = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    assert!(results.starts_with("dataset,learner,setting,scale,grouping,metric,mean,sd,n,"));
    assert!(results
        .lines()
        .any(|l| l.starts_with("gc,gbm,disjoint,2,sex,h_worst,")));
    // With one data seed the report gives each scale's paired difference but no interval.
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("| fixed − disjoint [95% CI] |"), "{report}");
    let rows = report
        .lines()
        .filter(|l| l.starts_with("| 10 | 80 |") || l.starts_with("| 2 | 400 |"))
        .filter(|l| l.contains("(not testable: one data seed)"))
        .count();
    assert_eq!(rows, 4, "{report}");
    for learner in ["logistic", "gbm"] {
        let line = format!("- {learner}: not testable at 2 of 2 scales");
        assert!(report.contains(&line), "{line}\n{report}");
    }
    // comparison.csv: fixed − disjoint paired by model seed and averaged, recomputed here
    // from measurements.csv.
    let value = |setting: &str, model_seed: u64| -> f64 {
        let system = format!("gc/gbm/{setting}/scale=2/d0/m{model_seed},");
        let line = csv
            .lines()
            .find(|l| l.starts_with(&system) && l.contains(",sex,h_avg,"))
            .unwrap();
        line.split(',').nth(9).unwrap().parse().unwrap()
    };
    let want = ((value("fixed", 0) - value("disjoint", 0))
        + (value("fixed", 1) - value("disjoint", 1)))
        / 2.0;
    let comparison = std::fs::read_to_string(dir.path().join("comparison.csv")).unwrap();
    assert!(comparison.starts_with(
        "dataset,learner,scale,grouping,metric,difference,ci_lo,ci_hi,n_data_seeds,verdict\n"
    ));
    let row: Vec<&str> = comparison
        .lines()
        .find(|l| l.starts_with("gc,gbm,2,sex,h_avg,"))
        .unwrap()
        .split(',')
        .collect();
    let got: f64 = row[5].parse().unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert_eq!(&row[6..], ["", "", "1", "not testable"]);
    for f in [
        "gc_logistic.svg",
        "gc_logistic.png",
        "gc_gbm.svg",
        "gc_gbm.png",
    ] {
        assert!(dir.path().join("figures").join(f).metadata().unwrap().len() > 1000);
    }
    // Each figure has the panel of the paired difference next to the headline's.
    let svg = std::fs::read_to_string(dir.path().join("figures/gc_gbm.svg")).unwrap();
    assert!(svg.contains("gbm: h_individual, fixed − disjoint"));
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(manifest.contains("b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871"));
}

#[test]
fn seeds_reproduce_the_same_predictions() {
    let config = Config::parse(SMALL, Path::new("small.toml")).unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&a, &b] {
        datasharing::run(
            &config,
            SMALL,
            Some(d.path()),
            RunOptions {
                quiet: true,
                threads: None,
            },
        )
        .unwrap();
    }
    let read = |d: &tempfile::TempDir| read_table(&d.path().join("failures/gbm.parquet")).unwrap();
    assert_eq!(read(&a).prediction, read(&b).prediction);
}

fn homogen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn unknown_learner_in_a_config_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, SMALL.replace("\"gbm\"", "\"xgboost\"")).unwrap();
    let out = homogen(&["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("protocol.learners"), "{err}");
    assert!(err.contains("unknown learner `xgboost`"), "{err}");
}

#[test]
fn missing_config_file_exits_2() {
    let out = homogen(&["run", "no/such/config.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no/such/config.toml: no such config file"),
        "{err}"
    );
    // A folder where the config file should be is a wrong path too (was exit 1).
    let dir = tempfile::tempdir().unwrap();
    let out = homogen(&["run", dir.path().to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a folder; expected a file"), "{err}");
}

#[test]
fn bad_configs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            SMALL.replace("scales = [10, 2]", "scales = [10, 1]"),
            "key `protocol.scales`: disjoint training sets for 2 tasks need at least 2 blocks",
        ),
        (
            SMALL.replace("scales = [10, 2]", "scales = [10, 0]"),
            "use 1 <= scale <= 800 (and 2 <= scale for disjoint training sets)",
        ),
        (
            SMALL.replace("groupings = [\"sex\"]", "groupings = [\"race\"]"),
            "key `protocol.groupings`: dataset `gc` has no grouping `race`",
        ),
        (
            SMALL.replace("scales = [10, 2]", "scales = [10, 2, 10]"),
            "key `protocol.scales`: `10` is listed twice",
        ),
        (
            SMALL.replace("kind = \"datasharing\"", "kind = \"datashare\""),
            "key `experiment.kind`: unknown experiment kind `datashare`",
        ),
        (SMALL.replace("model_seeds", "model_sedes"), "model_sedes"),
        (SMALL.replace("german_credit", "acs"), "need `path`"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = homogen(&[
            "run",
            path.to_str().unwrap(),
            "--quiet",
            "-o",
            dir.path().to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(want), "case {i}: {err}");
        // Every error names the config file.
        assert!(err.contains(&format!("c{i}.toml")), "case {i}: {err}");
    }
}

#[test]
fn acs_and_lsac_fixtures_run_through_the_protocol() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular");
    // LSAC fixture: 4 students kept → 1 test (round(0.2 · 4)), 3 train; scale 2 gives each of
    // the 2 tasks a block of 1 (a single class: the constant prediction).
    let text = format!(
        "[experiment]\nkind = \"datasharing\"\nout = \"x\"\n[data]\ndataset = \"lsac\"\npath = \"{}\"\n\
         [protocol]\nlearners = [\"logistic\"]\nscales = [2]\ndata_seeds = [0]\nmodel_seeds = [0]\n\
         groupings = [\"race\"]\n",
        fixtures.join("lsac/law_data.csv").display()
    );
    let config = Config::parse(&text, Path::new("lsac.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = datasharing::run(
        &config,
        &text,
        Some(dir.path()),
        RunOptions {
            quiet: true,
            threads: None,
        },
    )
    .unwrap();
    assert_eq!(s.n_trials, 2);
    let t = read_table(&dir.path().join("failures/logistic.parquet")).unwrap();
    // 2 trials × 2 tasks × 1 test student (round(0.2 · 4) = 1).
    assert_eq!(t.len(), 4);
    let deployments: std::collections::BTreeSet<&str> =
        (0..t.len()).map(|r| t.deployment.value(r)).collect();
    assert_eq!(
        deployments.into_iter().collect::<Vec<_>>(),
        vec!["pass_bar", "zfya_above_mean"]
    );

    // ACS fixture: 4 people → 1 test, 3 train; 3 tasks need scale ≥ 3 for disjoint blocks.
    let text = text
        .replace("\"lsac\"", "\"acs\"")
        .replace("lsac/law_data.csv", "acs/psam_p06.csv")
        .replace("scales = [2]", "scales = [3]");
    let config = Config::parse(&text, Path::new("acs.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    datasharing::run(
        &config,
        &text,
        Some(dir.path()),
        RunOptions {
            quiet: true,
            threads: None,
        },
    )
    .unwrap();
    let t = read_table(&dir.path().join("failures/logistic.parquet")).unwrap();
    // 2 trials × 3 tasks × 1 test person, grouped by race.
    assert_eq!(t.len(), 6);
    assert!(t.extra_column("race").is_some());
}

#[test]
fn shipped_configs_parse() {
    use homogen::data::tabular::german::Encoding;
    use homogen::experiment::config::DatasetKind;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let codes = Config::load(&dir.join("datasharing-gc-integer-codes.toml")).unwrap();
    assert_eq!(codes.data.encoding, Encoding::IntegerCodes);
    let acs = Config::load(&dir.join("datasharing-acs.toml")).unwrap();
    assert_eq!(acs.data.dataset, DatasetKind::Acs);
    // The authors' ACS scales, 25000 down to 10; the path is relative to the config.
    assert_eq!(acs.protocol.scales.first(), Some(&25000));
    let acs_path = acs.data.path.unwrap();
    assert!(acs_path.starts_with(&dir));
    // ... and it is where `homogen fetch dataset acs --state CA` writes (default root data/acs).
    let fetched = homogen::data::tabular::fetch::person_file_path(Path::new("data/acs"), "ca");
    assert!(acs_path.ends_with(&fetched), "{}", acs_path.display());
    let lsac = Config::load(&dir.join("datasharing-lsac.toml")).unwrap();
    // range(30, 5, -1): 30 down to 6, 25 scales.
    assert_eq!(lsac.protocol.scales.len(), 25);
    assert_eq!(lsac.protocol.groupings, vec!["race", "sex"]);
}

/// The default run, exactly as `homogen run` with no argument does it (2,200 trials), offline:
/// it finishes, and its report gives the paired difference fixed − disjoint with a verdict at
/// every scale for every learner.
/// Slow in debug (minutes), so it runs the real binary once and checks everything on that run.
#[test]
fn the_default_run_completes_offline_and_reports_every_scale() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("default");
    let run = Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args(["run", "--quiet", "-o", out.to_str().unwrap()])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let scales = [20, 16, 10, 9, 8, 7, 6, 5, 4, 3, 2];
    let verdicts = ["higher", "lower", "no clear difference"];
    for learner in ["logistic", "svm", "gbm", "mlp"] {
        let summary = report
            .lines()
            .find(|l| l.starts_with(&format!("- {learner}: ")))
            .unwrap_or_else(|| panic!("no verdict for {learner}"));
        assert!(summary.ends_with(" of 11 scales"), "{summary}");
        let section = report
            .split(&format!("## {learner}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no section for {learner}"));
        for scale in scales {
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| {scale} |")))
                .unwrap_or_else(|| panic!("{learner}: no row for scale {scale}"));
            assert!(
                verdicts.iter().any(|v| row.contains(&format!("] {v} |"))),
                "{learner} scale {scale}: {row}"
            );
        }
    }
    // One comparison recomputed from measurements.csv: per data seed the mean over model
    // seeds of fixed − disjoint, then the mean over the 5 data seeds and its t interval
    // (t(0.975, 4 df) = 2.7764451051977987).
    let measurements = std::fs::read_to_string(out.join("measurements.csv")).unwrap();
    let h = |setting: &str, d: u64, m: u64| -> f64 {
        let system = format!("gc/mlp/{setting}/scale=4/d{d}/m{m},");
        let line = measurements
            .lines()
            .find(|l| l.starts_with(&system) && l.contains(",individual,h_individual,"))
            .unwrap();
        line.split(',').nth(9).unwrap().parse().unwrap()
    };
    let per_seed: Vec<f64> = (0..5)
        .map(|d| {
            (0..5)
                .map(|m| h("fixed", d, m) - h("disjoint", d, m))
                .sum::<f64>()
                / 5.0
        })
        .collect();
    let mean = per_seed.iter().sum::<f64>() / 5.0;
    let sd = (per_seed.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    let half = 2.7764451051977987 * sd / 5f64.sqrt();
    let comparison = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    let row: Vec<f64> = comparison
        .lines()
        .find(|l| l.starts_with("gc,mlp,4,individual,h_individual,"))
        .unwrap()
        .split(',')
        .skip(5)
        .take(3)
        .map(|v| v.parse().unwrap())
        .collect();
    for (got, want) in row.iter().zip([mean, mean - half, mean + half]) {
        assert!((got - want).abs() < 1e-9, "{row:?} vs {mean} ± {half}");
    }
    for learner in ["logistic", "svm", "gbm", "mlp"] {
        let table = read_table(&out.join(format!("failures/{learner}.parquet"))).unwrap();
        // 2 settings x 11 scales x 25 trials x 2 tasks x 200 test people.
        assert_eq!(table.len(), 2 * 11 * 25 * 2 * 200, "{learner}");
    }
}
