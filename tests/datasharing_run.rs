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
    // Blocks of 80 and 400 applicants always hold both classes of both tasks (300 bad loans
    // and 568 amounts above 2000 of 1000): no single-class fit, and the report says so.
    let header: Vec<&str> = results.lines().next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"single_class_fits"));
    assert!(results.lines().skip(1).all(|l| l.ends_with(",0")));
    assert!(summary.single_class.values().all(|c| c.single() == 0));
    // 16 trials x 2 tasks.
    assert_eq!(
        summary.single_class.values().map(|c| c.fits).sum::<usize>(),
        32
    );
    // With one data seed the report gives each scale's paired difference but no interval.
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.contains(
            "- Single-class training blocks: none; every one of the 32 fits trained on both \
             classes of its task."
        ),
        "{report}"
    );
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
        (
            SMALL.replace(
                "dataset = \"german_credit\"",
                "dataset = \"german_credit\"\nstates = \"all\"",
            ),
            "key `data.states`: `states` is for the ACS dataset only",
        ),
        (
            SMALL.replace(
                "dataset = \"german_credit\"",
                "dataset = \"german_credit\"\npath = [\"a.data\", \"b.data\"]",
            ),
            "key `data.path`: a list of files is for the ACS dataset",
        ),
        (
            SMALL.replace(
                "dataset = \"german_credit\"",
                "dataset = \"acs\"\npath = \"d\"\nstates = [\"CA\", \"XX\"]",
            ),
            "key `data.states`: unknown state `XX`",
        ),
        (
            SMALL.replace(
                "dataset = \"german_credit\"",
                "dataset = \"acs\"\npath = [\"a.csv\", \"a.csv\"]",
            ),
            "each person file must appear once",
        ),
        (
            SMALL.replace(
                "dataset = \"german_credit\"",
                "dataset = \"acs\"\npath = [\"a.csv\", \"b.csv\"]\nstates = [\"CA\"]",
            ),
            "key `data.states`: `states` picks the person files of a folder",
        ),
        (
            SMALL.replace("dataset = \"german_credit\"", "dataset = \"acs\"\npath = 3"),
            "expected a string or a list of strings",
        ),
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
        fixtures.join("lsac/bar_pass_prediction.csv").display()
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
        .replace("lsac/bar_pass_prediction.csv", "acs/psam_p06.csv")
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

/// `population = "authors"` reaches the LSAC loader (white and Black students only, as the
/// authors' tempeh loader kept) and the manifest; other datasets refuse the key.
#[test]
fn lsac_population_key_selects_the_authors_students() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular");
    let csv = fixtures.join("lsac/bar_pass_prediction.csv");
    let text = format!(
        "[experiment]\nkind = \"datasharing\"\nout = \"x\"\n[data]\ndataset = \"lsac\"\npath = \"{}\"\n\
         population = \"authors\"\n[protocol]\nlearners = [\"logistic\"]\nscales = [2]\n\
         data_seeds = [0, 1, 2]\nmodel_seeds = [0]\ngroupings = [\"race\"]\n",
        csv.display()
    );
    let config = Config::parse(&text, Path::new("lsac.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        quiet: true,
        threads: None,
    };
    datasharing::run(&config, &text, Some(dir.path()), opts).unwrap();
    let t = read_table(&dir.path().join("failures/logistic.parquet")).unwrap();
    let race = t.extra_column("race").unwrap();
    for r in 0..t.len() {
        assert!(
            ["white", "black"].contains(&race.value(r)),
            "{}",
            race.value(r)
        );
    }
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"population\": \"authors\""),
        "{manifest}"
    );

    let german = text.replace("dataset = \"lsac\"", "dataset = \"german_credit\"");
    let e = Config::parse(&german, Path::new("g.toml")).unwrap_err();
    assert!(e.to_string().contains("data.population"), "{e}");
}

#[test]
fn shipped_configs_parse() {
    use homogen::data::tabular::german::Encoding;
    use homogen::experiment::config::DatasetKind;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let codes = Config::load(&dir.join("datasharing-gc-integer-codes.toml")).unwrap();
    assert_eq!(codes.data.encoding, Encoding::IntegerCodes);
    // The paper's population: folktables' data folder, every state of folktables' list.
    let acs = Config::load(&dir.join("datasharing-acs.toml")).unwrap();
    assert_eq!(acs.data.dataset, DatasetKind::Acs);
    // The authors' ACS scales, 25000 down to 10; the path is relative to the config.
    assert_eq!(acs.protocol.scales.first(), Some(&25000));
    assert_eq!(acs.protocol.scales.len(), 12);
    let acs_paths = acs.data.paths();
    assert_eq!(acs_paths.len(), 1);
    assert!(acs_paths[0].starts_with(&dir));
    // ... the folder `homogen fetch dataset acs --state all` writes to (default root data/acs).
    let fetched = homogen::data::tabular::fetch::person_file_path(Path::new("data/acs"), "al");
    assert!(
        acs_paths[0].ends_with(fetched.parent().unwrap()),
        "{}",
        acs_paths[0].display()
    );
    assert_eq!(acs.data.state_codes(), None, "all of folktables' states");
    assert!(acs.data.states.is_some());
    // California alone, at the same scales.
    let ca = Config::load(&dir.join("datasharing-acs-ca.toml")).unwrap();
    assert_eq!(ca.protocol.scales, acs.protocol.scales);
    let fetched = homogen::data::tabular::fetch::person_file_path(Path::new("data/acs"), "ca");
    assert!(ca.data.paths()[0].ends_with(&fetched));
    assert_eq!(ca.data.states, None);
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

/// The ACS person-file layout (the fixture's header) with `rows` of (column, value) pairs; every
/// other field empty.
fn person_file(path: &Path, rows: &[Vec<(&str, String)>]) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular/acs/psam_p06.csv");
    let text = std::fs::read_to_string(fixture).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let mut out = header.join(",") + "\n";
    for row in rows {
        let fields: Vec<String> = header
            .iter()
            .map(|h| {
                row.iter()
                    .find(|(k, _)| k == h)
                    .map_or(String::new(), |(_, v)| v.clone())
            })
            .collect();
        out += &(fields.join(",") + "\n");
    }
    std::fs::write(path, out).unwrap();
}

/// Person `i` of a generated state: employed when i is even (ESR 1, else 6), in poverty when i
/// is a multiple of 3 (POVPIP 100, else 400), never with HINS2 == 1 (HINS2 2): every
/// health_insurance training block holds one class, label 0.
fn generated_person(st: u32, i: usize) -> Vec<(&'static str, String)> {
    vec![
        ("RT", "P".into()),
        ("ST", format!("{st:02}")),
        ("AGEP", (20 + i).to_string()),
        ("SCHL", (16 + i % 5).to_string()),
        ("SEX", (1 + i % 2).to_string()),
        ("RAC1P", (1 + (i + st as usize) % 3).to_string()),
        ("WKHP", (10 * (i % 5)).to_string()),
        ("ESR", if i.is_multiple_of(2) { "1" } else { "6" }.into()),
        (
            "POVPIP",
            if i.is_multiple_of(3) { "100" } else { "400" }.into(),
        ),
        ("HINS2", "2".into()),
    ]
}

/// Labels (employment, income_poverty, health_insurance) of generated person `i`.
fn generated_labels(i: usize) -> [u8; 3] {
    [
        u8::from(i.is_multiple_of(2)),
        u8::from(i.is_multiple_of(3)),
        0,
    ]
}

#[test]
fn acs_states_run_counts_single_class_fits_and_says_where() {
    use homogen::experiment::protocol::{training_sets, Setting};
    let dir = tempfile::tempdir().unwrap();
    // Alabama (ST 01) and Alaska (ST 02), 15 people each, listed Alaska first.
    let al = dir.path().join("psam_p01.csv");
    let ak = dir.path().join("psam_p02.csv");
    let people = |st: u32| (0..15).map(|i| generated_person(st, i)).collect::<Vec<_>>();
    person_file(&al, &people(1));
    person_file(&ak, &people(2));
    let config = dir.path().join("acs.toml");
    let text = "[experiment]\nkind = \"datasharing\"\nout = \"x\"\n[data]\ndataset = \"acs\"\n\
         path = [\"psam_p02.csv\", \"psam_p01.csv\"]\n[protocol]\nlearners = [\"logistic\"]\n\
         scales = [5, 3]\ndata_seeds = [0, 1]\nmodel_seeds = [0]\ngroupings = [\"race\"]\n";
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("run");
    let run = Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--quiet",
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // Warned at run time: the first such fit as it happens, and the count at the end.
    assert!(
        stderr.contains("warning: acs/logistic/")
            && stderr.contains("health_insurance (all 0) held a single class"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fits trained on a block holding a single class"),
        "{stderr}"
    );

    // The population is Alabama's 15 people then Alaska's 15 (folktables' order), whatever
    // order the config lists them in: person 15 is Alaska's first.
    let table = read_table(&out.join("failures/logistic.parquet")).unwrap();
    let race = table.extra_column("race").unwrap();
    let names = homogen::data::tabular::acs::RACE_NAMES;
    for row in 0..table.len() {
        let person: usize = table.example_id.value(row).parse().unwrap();
        let (st, i) = if person < 15 {
            (1, person)
        } else {
            (2, person - 15)
        };
        assert_eq!(race.value(row), names[(i + st) % 3], "person {person}");
        let task = ["employment", "income_poverty", "health_insurance"]
            .iter()
            .position(|t| *t == table.deployment.value(row))
            .unwrap();
        let label = table.label.as_ref().unwrap()[row];
        assert_eq!(
            label,
            i64::from(generated_labels(i)[task]),
            "person {person}"
        );
    }

    // Expected counts: health_insurance is single-class in every fit (by construction); for
    // the other two, each block drawn by the protocol is looked at here.
    let label_of = |person: usize, task: usize| generated_labels(person % 15)[task];
    let mut want = std::collections::BTreeMap::new();
    for setting in [Setting::Fixed, Setting::Disjoint] {
        for scale in [5usize, 3] {
            let mut per_task = [0usize; 3];
            for seed in [0u64, 1] {
                let s = split(30, seed);
                let sets = training_sets(&s, 3, scale, setting, seed).unwrap();
                for (task, block) in sets.iter().enumerate() {
                    let first = label_of(block[0], task);
                    if block.iter().all(|&p| label_of(p, task) == first) {
                        per_task[task] += 1;
                    }
                }
            }
            assert_eq!(per_task[2], 2, "health_insurance: every fit");
            want.insert((setting.as_str(), scale), per_task);
        }
    }
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header: Vec<&str> = results.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut seen = 0;
    for line in results.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let per_task = want[&(f[at("setting")], f[at("scale")].parse::<usize>().unwrap())];
        let metric = f[at("metric")];
        let expected = match metric.strip_prefix("failure_rate:") {
            Some("employment") => per_task[0],
            Some("income_poverty") => per_task[1],
            Some("health_insurance") => per_task[2],
            Some(other) => panic!("{other}"),
            None => per_task.iter().sum(),
        };
        let got: usize = f[at("single_class_fits")].parse().unwrap();
        assert_eq!(got, expected, "{line}");
        seen += 1;
    }
    assert!(seen > 20, "{results}");

    // The report names where it happened.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let total: usize = want.values().map(|t| t.iter().sum::<usize>()).sum();
    assert!(
        report.contains(&format!(
            "- **Single-class training blocks**: {total} of the 24 fits trained on a block \
             holding one class of its task"
        )),
        "{report}"
    );
    for setting in ["fixed", "disjoint"] {
        for scale in [3, 5] {
            let place =
                format!("logistic, {setting}, scale {scale}: health_insurance 2 of 2 fits (all 0)");
            assert!(report.contains(&place), "{place}\n{report}");
        }
    }
    assert!(
        report.contains(
            "ACS PUMS: 30 people from 2 person files concatenated in folktables' \
             state order (AL, AK)"
        ),
        "{report}"
    );

    // The dataset fingerprint: sha256 of the files' `sha256  name` lines, in that order.
    use sha2::Digest;
    let sha = |bytes: &[u8]| hex_string(&sha2::Sha256::digest(bytes));
    let lines = format!(
        "{}  psam_p01.csv\n{}  psam_p02.csv\n",
        sha(&std::fs::read(&al).unwrap()),
        sha(&std::fs::read(&ak).unwrap())
    );
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!(
            "\"dataset_sha256\": \"{}\"",
            sha(lines.as_bytes())
        )),
        "{manifest}"
    );
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn acs_bad_person_files_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let al = dir.path().join("psam_p01.csv");
    person_file(&al, &[generated_person(1, 0), generated_person(1, 1)]);
    // Alaska's file with an extra column: not the same survey layout.
    let ak = dir.path().join("psam_p02.csv");
    person_file(&ak, &[generated_person(2, 0)]);
    let wider: String = std::fs::read_to_string(&ak)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}\n", if i == 0 { "EXTRA" } else { "" }))
        .collect();
    std::fs::write(&ak, wider).unwrap();
    let cases = [
        ("[\"psam_p01.csv\", \"psam_p04.csv\"]", "psam_p04.csv: no such file; `homogen fetch dataset acs"),
        ("[\"psam_p01.csv\", \"psam_p02.csv\"]", "psam_p02.csv: its header differs from that of"),
        ("\".\"\nstates = [\"AL\", \"AZ\"]", "no person file for 1 of the 2 states of `data.states`: AZ (psam_p04.csv or csv_paz.zip)"),
    ];
    for (i, (path, want)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("c{i}.toml"));
        std::fs::write(
            &config,
            format!(
                "[experiment]\nkind = \"datasharing\"\nout = \"x\"\n[data]\ndataset = \"acs\"\n\
                 path = {path}\n[protocol]\nlearners = [\"logistic\"]\nscales = [3]\n\
                 data_seeds = [0]\nmodel_seeds = [0]\n"
            ),
        )
        .unwrap();
        let out = homogen(&[
            "run",
            config.to_str().unwrap(),
            "--quiet",
            "-o",
            dir.path().join(format!("out{i}")).to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(want), "case {i}: {err}");
    }
}
