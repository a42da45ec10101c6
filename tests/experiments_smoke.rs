//! The model-sharing pipeline end to end on the smoke config (tiny random CLIP fixture, 12-image
//! CelebA fixture): every cell trains, the report and figures exist and parse, `results.csv`
//! agrees with `homogen measure` on the joined failure table and with H computed by hand, and a
//! run killed during the grid resumes to byte-identical results without retraining.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use homogen::failures::read_table;

mod common;
use common::feature_files;

const BIN: &str = env!("CARGO_BIN_EXE_homogen");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn smoke() -> PathBuf {
    root().join("configs/smoke-vision.toml")
}

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "homogen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (system, grouping, metric) -> value text, from a CSV whose columns include those four.
fn values(csv_text: &str) -> BTreeMap<(String, String, String), String> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (s, g, m, v) = (col("system"), col("grouping"), col("metric"), col("value"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                (rec[s].to_string(), rec[g].to_string(), rec[m].to_string()),
                rec[v].to_string(),
            )
        })
        .collect()
}

fn done_cells(out: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(out.join("jobs.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|c| PathBuf::from(c["out"].as_str().unwrap()))
        .filter(|d| d.join("DONE").is_file())
        .collect()
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn smoke_vision_end_to_end_then_killed_run_resumes_identically() {
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    let a_s = a.to_str().unwrap();
    let stdout = run_ok(&["run", smoke().to_str().unwrap(), "--out", a_s, "--quiet"]);
    // 3 methods x 3 seeds x 2 tasks.
    assert!(
        stdout.contains("18 cells: 18 trained, 0 skipped"),
        "{stdout}"
    );
    assert_eq!(done_cells(&a).len(), 18);

    // Report and figures exist and parse.
    let report = std::fs::read_to_string(a.join("report.md")).unwrap();
    for needle in [
        "### hair",
        "### beard",
        "| probe |",
        "majority class",
        "figure3",
    ] {
        assert!(report.contains(needle), "report.md lacks {needle}");
    }
    // The header names the folder given with --out, not the config's `out`.
    assert!(report.starts_with("# Model-sharing run: a\n"), "{report}");
    for stem in [
        "figure3_homogenization",
        "table1_correlations",
        "kofn_curves",
    ] {
        let png = image::open(a.join(format!("figures/{stem}.png"))).unwrap();
        assert!(png.width() > 300 && png.height() > 300);
        let svg = std::fs::read_to_string(a.join(format!("figures/{stem}.svg"))).unwrap();
        assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        assert!(
            svg.contains("<text"),
            "{stem}.svg has no text (title, labels)"
        );
    }

    // results.csv agrees with `homogen measure` on the joined failure table, row for row.
    let results = std::fs::read_to_string(a.join("results.csv")).unwrap();
    assert!(results.starts_with("method,system,grouping,metric,value,ci_lo,ci_hi,p_value,note\n"));
    let ours = values(&results);
    let measured = run_ok(&[
        "measure",
        a.join("failures.parquet").to_str().unwrap(),
        "--group",
        "hair",
        "--group",
        "beard",
        "--format",
        "csv",
    ]);
    let theirs = values(&measured);
    assert!(theirs.len() > 100);
    for (k, v) in &theirs {
        assert_eq!(ours.get(k), Some(v), "{k:?}");
    }

    // H_individual of probe/seed-1 by hand from the joined table: observed = share of people
    // failed by both tasks, expected = product of the two failure rates.
    let t = read_table(&a.join("failures.parquet")).unwrap();
    let sys = t.system.as_ref().unwrap();
    let mut fails: BTreeMap<String, [Option<bool>; 2]> = BTreeMap::new();
    for row in 0..t.len() {
        if sys.value(row) != "probe/seed-1" {
            continue;
        }
        let d = usize::from(t.deployment.value(row) == "Wearing_Necklace");
        fails
            .entry(t.example_id.value(row).to_string())
            .or_default()[d] = Some(t.failure[row]);
    }
    let n = fails.len() as f64;
    let both = fails
        .values()
        .filter(|f| f[0] == Some(true) && f[1] == Some(true))
        .count() as f64;
    let rate = |d: usize| fails.values().filter(|f| f[d] == Some(true)).count() as f64 / n;
    let expected = rate(0) * rate(1);
    let key = |m: &str| {
        (
            "probe/seed-1".to_string(),
            "individual".to_string(),
            m.to_string(),
        )
    };
    let obs: f64 = ours[&key("systemic_failure_observed")].parse().unwrap();
    assert!((obs - both / n).abs() < 1e-12);
    if expected > 0.0 {
        let h: f64 = ours[&key("h_individual")].parse().unwrap();
        assert!((h - both / n / expected).abs() < 1e-12);
    }
    // Per-method means over the three seeds, by hand.
    let hs: Vec<f64> = (0..3)
        .filter_map(|s| {
            ours.get(&(
                format!("scratch/seed-{s}"),
                "individual".into(),
                "h_individual".into(),
            ))
            .and_then(|v| v.parse().ok())
        })
        .collect();
    let mean: f64 = ours[&(
        "method=scratch".to_string(),
        "individual".to_string(),
        "mean:h_individual".to_string(),
    )]
        .parse()
        .unwrap();
    assert!((mean - hs.iter().sum::<f64>() / hs.len() as f64).abs() < 1e-12);

    // comparison.csv: scratch − probe on H_individual is the difference of the per-seed means
    // (Welch's interval itself is checked against scipy in the metrics' unit tests).
    let seeds = |method: &str| -> Vec<f64> {
        (0..3)
            .filter_map(|s| {
                let key = (
                    format!("{method}/seed-{s}"),
                    "individual".to_string(),
                    "h_individual".to_string(),
                );
                ours.get(&key).and_then(|v| v.parse().ok())
            })
            .collect()
    };
    let mean_of = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let (scratch, probe) = (seeds("scratch"), seeds("probe"));
    let comparison = std::fs::read_to_string(a.join("comparison.csv")).unwrap();
    assert!(comparison
        .starts_with("grouping,metric,method_a,method_b,difference,ci_lo,ci_hi,n_a,n_b,verdict\n"));
    let row: Vec<&str> = comparison
        .lines()
        .find(|l| l.starts_with("individual,h_individual,scratch,probe,"))
        .unwrap()
        .split(',')
        .collect();
    let difference: f64 = row[4].parse().unwrap();
    assert!((difference - (mean_of(&scratch) - mean_of(&probe))).abs() < 1e-12);
    assert_eq!(
        row[7..9],
        [scratch.len().to_string(), probe.len().to_string()]
    );
    let (lo, hi): (f64, f64) = (row[5].parse().unwrap(), row[6].parse().unwrap());
    assert!(lo <= difference && difference <= hi);
    let verdict = if lo > 0.0 {
        "higher"
    } else if hi < 0.0 {
        "lower"
    } else {
        "no clear difference"
    };
    assert_eq!(row[9], verdict);
    assert!(report.contains("## Differences between methods"));
    assert!(report.contains("| scratch − probe | "), "{report}");

    // Two workers (`--devices cpu,cpu`, one thread each) give the same results.
    let c = work.path().join("c");
    let stdout = run_ok(&[
        "run",
        smoke().to_str().unwrap(),
        "--out",
        c.to_str().unwrap(),
        "--devices",
        "cpu,cpu",
        "--quiet",
    ]);
    assert!(stdout.contains("18 trained"), "{stdout}");
    assert_eq!(
        std::fs::read(c.join("results.csv")).unwrap(),
        results.as_bytes(),
        "two concurrent workers changed results.csv"
    );

    // Kill a second run during the grid, once a few cells have finished.
    let b = work.path().join("b");
    let b_s = b.to_str().unwrap();
    let mut child = Command::new(BIN)
        .args(["run", smoke().to_str().unwrap(), "--out", b_s, "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while done_cells(&b).len() < 5 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = done_cells(&b);
    assert!(
        (5..18).contains(&finished.len()),
        "killed after {} cells",
        finished.len()
    );
    let before: Vec<(SystemTime, SystemTime)> = finished
        .iter()
        .map(|d| (mtime(&d.join("DONE")), mtime(&d.join("failures.parquet"))))
        .collect();
    let stdout = run_ok(&["run", smoke().to_str().unwrap(), "--out", b_s, "--quiet"]);
    assert!(
        stdout.contains(&format!(
            "{} trained, {} skipped",
            18 - finished.len(),
            finished.len()
        )),
        "{stdout}"
    );
    for (d, t0) in finished.iter().zip(&before) {
        assert_eq!(
            (mtime(&d.join("DONE")), mtime(&d.join("failures.parquet"))),
            *t0,
            "{} was retrained",
            d.display()
        );
    }
    assert_eq!(
        std::fs::read(b.join("results.csv")).unwrap(),
        results.as_bytes(),
        "resumed results.csv differs from the uninterrupted run"
    );

    // A run folder that was moved reports its own cells (jobs.jsonl holds absolute folders).
    let moved = work.path().join("moved");
    std::fs::rename(&b, &moved).unwrap();
    let stdout = run_ok(&["report", moved.to_str().unwrap()]);
    assert!(stdout.contains("18 of 18 cells"), "{stdout}");
    assert_eq!(
        std::fs::read(moved.join("results.csv")).unwrap(),
        results.as_bytes(),
        "the moved run folder's report differs"
    );
}

#[test]
fn smoke_language_from_a_cold_feature_cache_runs_every_cell() {
    // The four text sets hold different people, so no person meets two deployments: eq. 10
    // would give H_individual = mean_j F(x_j) / mean_j FAIL(h^{d(j)}) = 1 whatever the models
    // do (the numerator and denominator are the same average, grouped differently), so it is
    // undefined with the reason, and the report says so once; the group-level metrics carry the
    // comparison. This run also computes every probe feature from scratch, which once failed on
    // a single-batch split (strided features).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = root().join("configs/smoke-language.toml");
    let stdout = run_ok(&[
        "run",
        config.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        stdout.contains("36 trained, 0 skipped (already finished), 0 failed"),
        "{stdout}"
    );
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let v = values(&results);
    let mut systems = 0;
    for ((system, grouping, metric), value) in &v {
        if grouping == "individual" && metric == "h_individual" && system.contains("/seed-") {
            assert_eq!(value, "", "{system}");
            systems += 1;
        }
    }
    assert_eq!(systems, 9, "3 methods x 3 seeds");
    let undefined = results
        .lines()
        .filter(|l| l.contains(",individual,h_individual,,") && l.contains("no person met two"))
        .count();
    assert_eq!(undefined, 9, "{results}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("`h_individual` is undefined in every system: no person met two"),
        "{report}"
    );
    // Figure 3 keeps the defined panels; no k-of-n curves (nobody met two deployments).
    assert!(out.join("figures/figure3_homogenization.svg").is_file());
    assert!(!out.join("figures/kofn_curves.svg").exists());
    assert!(v
        .iter()
        .any(|((_, g, m), value)| g == "gender" && m == "h_avg" && !value.is_empty()));
}

/// `split_seed = "seed"` gives each training seed its own HateSpeech18 train/test cut (the
/// authors drew an unseeded one per run): the seed-s cell tests on exactly the examples
/// `data::load` holds out with `split_seed = s`, the cells of another seed on others, and the
/// report measures the systems. Any other string is refused, naming the key.
#[test]
fn hate_speech_cut_per_training_seed() {
    use homogen::data::{DatasetSpec, Split};
    let dir = tempfile::tempdir().unwrap();
    let fixture = "tests/fixtures/data/hate_speech18/parquet";
    let config = |split_seed: &str| {
        let text = std::fs::read_to_string(root().join("configs/smoke-language.toml"))
            .unwrap()
            .replace("../tests/", &format!("{}/tests/", root().display()))
            .replace(
                "parquet\", groupings = [\"gender\"] }",
                &format!("parquet\", groupings = [\"gender\"], split_seed = {split_seed} }}"),
            )
            .replace("[[methods]]\nname = \"bitfit\"\n\n", "")
            .replace("[[methods]]\nname = \"finetune\"\n\n", "")
            .replace("values = [1, 2, 3]", "values = [1, 2]");
        assert!(text.contains("split_seed") && !text.contains("name = \"bitfit\""));
        let path = dir.path().join(format!("c{}.toml", split_seed.len()));
        std::fs::write(&path, text).unwrap();
        path
    };
    let out = dir.path().join("run");
    let stdout = run_ok(&[
        "run",
        config("\"seed\"").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(stdout.contains("8 trained"), "{stdout}");
    let held_out = |seed: u64| {
        let mut spec = DatasetSpec::named("hate_speech18");
        spec.root = Some(root().join(fixture));
        spec.split_seed = seed;
        let ds = homogen::data::load(&spec, false).unwrap();
        let mut ids: Vec<String> = ds
            .split(Split::Test)
            .map(|e| e.example_id.clone())
            .collect();
        ids.sort();
        ids
    };
    let tested = |seed: u64| {
        let cell = out.join(format!(
            "cells/probe/seed-{seed}/hate_speech18/failures.parquet"
        ));
        let t = read_table(&cell).unwrap();
        let mut ids: Vec<String> = (0..t.len())
            .map(|r| t.example_id.value(r).to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_ne!(held_out(1), held_out(2), "the fixture's cuts should differ");
    assert_eq!(tested(1), held_out(1));
    assert_eq!(tested(2), held_out(2));
    // The probe's features: one file per task's examples, the two seeds' cuts of HateSpeech18
    // included (they cut the same examples).
    assert_eq!(
        feature_files(&out.join(".feature-cache")),
        4,
        "one feature file per task"
    );
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    for seed in [1, 2] {
        let key = (
            format!("probe/seed-{seed}"),
            "gender".to_string(),
            "h_avg".to_string(),
        );
        assert!(
            values(&results).get(&key).is_some_and(|v| !v.is_empty()),
            "{key:?} in\n{results}"
        );
    }

    let bad = Command::new(BIN)
        .args(["run", config("\"each\"").to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(
        err.contains("tasks[3].dataset.split_seed") && err.contains("\"seed\""),
        "{err}"
    );
}

/// Two runs pointed at one feature cache folder (`--feature-cache`, or the config's
/// `experiment.feature_cache`) share their probes' frozen features: the first run computes them
/// once for its six probe cells (3 seeds x 2 CelebA tasks over the same images), the second
/// computes nothing, the results agree byte for byte, and neither run folder gets a cache of
/// its own. A file where the folder should be is refused, naming the key.
#[test]
fn runs_share_a_feature_cache_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared-cache");
    let text = std::fs::read_to_string(smoke())
        .unwrap()
        .replace("../tests/", &format!("{}/tests/", root().display()));
    let with_key = |folder: &Path| {
        let keyed = text.replace(
            "devices = [\"cpu\"]",
            &format!(
                "devices = [\"cpu\"]\nfeature_cache = {:?}",
                folder.display().to_string()
            ),
        );
        assert!(keyed.contains("feature_cache"));
        let path = dir.path().join("keyed.toml");
        std::fs::write(&path, keyed).unwrap();
        path
    };
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, &text).unwrap();
    let run = |config: &Path, out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let o = Command::new(BIN)
            .args(["run", config.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{log}");
        let said = |what: &str| log.matches(what).count();
        let counts = (said("computed and cached"), said("read from the cache"));
        assert!(!out.join(".feature-cache").exists());
        (counts, std::fs::read(out.join("results.csv")).unwrap())
    };
    let (first, results_first) = run(&plain, "a", &["--feature-cache", cache.to_str().unwrap()]);
    assert_eq!(first, (1, 5), "one fill, five reads");
    let (second, results_second) = run(&with_key(&cache), "b", &[]);
    assert_eq!(second, (0, 6), "the second run computes nothing");
    assert!(results_first == results_second);

    let not_a_folder = dir.path().join("a-file");
    std::fs::write(&not_a_folder, "").unwrap();
    let bad = Command::new(BIN)
        .args(["run", with_key(&not_a_folder).to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.contains("experiment.feature_cache"), "{err}");
}
