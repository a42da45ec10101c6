//! `homogen measure` end to end: the tidy CSV contract exactly, JSON and table output, `-o`,
//! reproducible seeds, `--by`/`--correlations`, and every bad-input case (exit code 2, a message
//! naming the problem, never a panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn homogen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args(args)
        .output()
        .expect("the homogen binary runs")
}

/// Checks that a run exited 0, showing its error output when not.
fn succeeded(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The paper's appendix A.2 scenario 2: both deployments fail Alice and Bob.
const SCENARIO_2: &str = "deployment,example_id,label,prediction,group
h1,alice,1,0,A
h1,angelique,1,1,A
h1,bob,0,1,B
h1,bernardo,0,0,B
h2,alice,1,0,A
h2,angelique,0,0,A
h2,bob,1,0,B
h2,bernardo,1,1,B
";

/// The fields of the CSV row of `text` that starts with `prefix` (panics showing `text` when
/// there is none).
fn csv_row<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no row {prefix}... in\n{text}"))
        .split(',')
        .collect()
}

#[test]
fn csv_output_is_the_tidy_contract_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let table = write(dir.path(), "s2.csv", SCENARIO_2.as_bytes());
    let out = homogen(&[
        "measure",
        table.to_str().unwrap(),
        "--group",
        "group",
        "--format",
        "csv",
    ]);
    succeeded(&out);
    // FAIL = 1/2 twice; observed 1/2, expected 1/4, H = 2. k-of-n: >=1 observed 1/2, expected
    // 1 - 1/4 = 3/4, ratio 2/3; >=2 observed 1/2, expected 1/4, ratio 2. Pair: P(both) 1/2,
    // cov 1/2 - 1/4 = 1/4, PMI ln 2, phi (1/4)/(1/4) = 1, kappa: agreement 1, chance 1/2 -> 1.
    // Groups: A and B each 1/2 * 1/2 = 1/4 -> H_avg = H_unif = H_worst = 1, unfairness 0.
    let want = "system,grouping,metric,value,ci_lo,ci_hi,p_value,note
all,individual,h_individual,2,,,,
all,individual,systemic_failure_observed,0.5,,,,
all,individual,systemic_failure_expected,0.25,,,,
all,individual,failure_rate:h1,0.5,,,,
all,individual,failure_rate:h2,0.5,,,,
all,individual,at_least_1_observed,0.5,,,,
all,individual,at_least_1_expected,0.75,,,,
all,individual,at_least_1_ratio,0.6666666666666666,,,,
all,individual,at_least_2_observed,0.5,,,,
all,individual,at_least_2_expected,0.25,,,,
all,individual,at_least_2_ratio,2,,,,
all,individual,covariance:h1|h2,0.25,,,,
all,individual,pmi:h1|h2,0.6931471805599453,,,,
all,individual,phi:h1|h2,1,,,,
all,individual,kappa:h1|h2,1,,,,
all,group,h_avg,1,,,,
all,group,h_unif,1,,,,
all,group,h_worst,1,,,,worst group: A (tied with B)
all,group,unfairness,0,,,,
all,group,failure_rate_product:A,0.25,,,,
all,group,failure_rate_product:B,0.25,,,,
";
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);

    // -o writes the same bytes to a file.
    let target = dir.path().join("out/metrics.csv");
    let out = homogen(&[
        "measure",
        table.to_str().unwrap(),
        "--group",
        "group",
        "--format",
        "csv",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), want);
}

#[test]
fn undefined_values_are_empty_with_the_reason_and_json_has_nulls() {
    let dir = tempfile::tempdir().unwrap();
    // Deployment b fails nobody: H_individual is undefined.
    let table = write(
        dir.path(),
        "t.csv",
        b"deployment,example_id,failure\na,p1,1\na,p2,0\nb,p1,0\nb,p2,0\n",
    );
    let out = homogen(&["measure", table.to_str().unwrap(), "--format", "csv"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("all,individual,h_individual,"))
        .unwrap();
    assert_eq!(
        line,
        "all,individual,h_individual,,,,,undefined: expected systemic failure is 0 (no failures in deployment b)"
    );
    let out = homogen(&["measure", table.to_str().unwrap(), "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "h_individual")
        .unwrap();
    assert!(h["value"].is_null() && h["ci_lo"].is_null() && h["p_value"].is_null());
    assert_eq!(h["system"], "all");
    let rate = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "failure_rate:a")
        .unwrap();
    assert_eq!(rate["value"].as_f64(), Some(0.5));
}

#[test]
fn bootstrap_and_permutations_fill_the_interval_and_p_value_reproducibly() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/example/failures.csv");
    let args = [
        "measure",
        example.to_str().unwrap(),
        "--group",
        "region",
        "--format",
        "csv",
        "--bootstrap",
        "50",
        "--permutations",
        "99",
        "--seed",
        "3",
    ];
    let a = homogen(&args);
    succeeded(&a);
    let b = homogen(&args);
    assert_eq!(a.stdout, b.stdout, "the same seed gives the same bytes");
    let text = String::from_utf8(a.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if rec[2] == *"h_individual" {
            let (v, lo, hi): (f64, f64, f64) = (
                rec[3].parse().unwrap(),
                rec[4].parse().unwrap(),
                rec[5].parse().unwrap(),
            );
            assert!(lo <= v && v <= hi, "{v} [{lo}, {hi}]");
            let p: f64 = rec[6].parse().unwrap();
            // p = (1 + #)/(1 + 99) lies on the grid k/100.
            assert!((p * 100.0 - (p * 100.0).round()).abs() < 1e-9 && p > 0.0 && p <= 1.0);
        }
    }
    let other_seed = homogen(&[&args[..args.len() - 1], &["4"]].concat());
    assert_ne!(text.as_bytes(), &other_seed.stdout[..]);
}

#[test]
fn table_output_is_aligned_blocks_with_intervals() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/example/failures.csv");
    let out = homogen(&[
        "measure",
        example.to_str().unwrap(),
        "--group",
        "region",
        "--bootstrap",
        "20",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("system shared — individual\n"), "{text}");
    assert!(text.contains("system shared — region\n"), "{text}");
    let h = text
        .lines()
        .find(|l| l.trim_start().starts_with("h_individual"))
        .unwrap();
    // `17.4 [13.5, 23.7]`-style: a value then a bracketed interval.
    let after = h
        .trim_start()
        .trim_start_matches("h_individual")
        .trim_start();
    assert!(
        after.contains(" [") && after.contains(", ") && after.contains(']'),
        "{h}"
    );
}

#[test]
fn by_and_correlations_add_their_rows() {
    let systems = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/systems.csv");
    let out = homogen(&[
        "measure",
        systems.to_str().unwrap(),
        "--group",
        "group",
        "--by",
        "method",
        "--correlations",
        "--format",
        "csv",
    ]);
    succeeded(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\nmethod=probe,individual,mean:h_individual,"));
    assert!(text.contains("\nmethod=finetune,group,n:h_avg,3,"));
    assert!(text.contains("\nacross_systems,group,pearson_r2:h_individual|h_avg,"));
}

#[test]
fn compare_gives_welch_differences_between_the_by_groups() {
    // Five systems of two deployments over four people: method a fails 1, 2, 3 of them in d1,
    // method b 3 and 4, so failure_rate:d1 is [0.25, 0.5, 0.75] against [0.75, 1]. scipy:
    // ttest_ind(a, b, equal_var=False).confidence_interval() = (-0.99693..., 0.24693...).
    let mut text = "system,method,deployment,example_id,failure\n".to_string();
    for (system, method, failed) in [
        ("s1", "a", 1),
        ("s2", "a", 2),
        ("s3", "a", 3),
        ("s4", "b", 3),
        ("s5", "b", 4),
    ] {
        for p in 0..4 {
            text.push_str(&format!(
                "{system},{method},d1,p{p},{}\n",
                u8::from(p < failed)
            ));
            text.push_str(&format!("{system},{method},d2,p{p},{}\n", u8::from(p == 0)));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "systems.csv", text.as_bytes());
    let out = homogen(&[
        "measure",
        path.to_str().unwrap(),
        "--by",
        "method",
        "--compare",
        "--format",
        "csv",
    ]);
    succeeded(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let row = csv_row(
        &text,
        "method=a − method=b,individual,difference:failure_rate:d1,",
    );
    let number = |i: usize| row[i].parse::<f64>().unwrap();
    assert!((number(3) + 0.375).abs() < 1e-12);
    assert!((number(4) + 0.9969334495513456).abs() < 1e-9, "{row:?}");
    assert!((number(5) - 0.24693344955134555).abs() < 1e-9, "{row:?}");
    assert_eq!(row[7], "no clear difference; Welch over 3 and 2 systems");
    // failure_rate:d2 is 0.25 in every system of both sides: Welch's t interval is undefined
    // (scipy's is nan), so no interval and no verdict, with the reason.
    let row = csv_row(
        &text,
        "method=a − method=b,individual,difference:failure_rate:d2,",
    );
    assert_eq!(row[3..7], ["0", "", "", ""], "{row:?}");
    assert_eq!(
        row[7],
        "not testable: both samples are constant; Welch over 3 and 2 systems"
    );
}

/// The repro of the biased permutation test: 100 people, deployment a fails people
/// 0..49 (50), b fails 0..23 and 50..74 (49), 24 failed by both. The exact p-value is
/// P(X >= 24) for X ~ Hypergeometric(N = 100, K = 49, n = 50) =
/// scipy.stats.hypergeom(100, 49, 50).sf(23) = 0.655339 (Python's exact integers: the sum of
/// comb(49, x) comb(51, 50 - x) / comb(100, 50) over x >= 24). rand_distr 0.4's sampler gave
/// 0.6037 here; with 200,000 permutations the Monte Carlo sd is 0.0011.
#[test]
fn permutation_p_value_matches_the_exact_hypergeometric_tail() {
    let mut text = "deployment,example_id,failure\n".to_string();
    for p in 0..100 {
        let a = p < 50;
        let b = p < 24 || (50..75).contains(&p);
        text.push_str(&format!("a,{p},{}\nb,{p},{}\n", u8::from(a), u8::from(b)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "perm.csv", text.as_bytes());
    let out = homogen(&[
        "measure",
        path.to_str().unwrap(),
        "--permutations",
        "200000",
        "--seed",
        "3",
        "--format",
        "csv",
    ]);
    succeeded(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let row = csv_row(&text, "all,individual,h_individual,");
    let p: f64 = row[6].parse().unwrap();
    let exact = 0.655_338_802_292_843_2;
    let z = (p - exact) / (exact * (1.0 - exact) / 200_000.0f64).sqrt();
    assert!(z.abs() < 4.0, "p = {p}, exact {exact}, z = {z:.1}");
}

/// Losses of 1e200 made both products of loss-H overflow (inf / inf = NaN) and the note claim a
/// zero mean loss. By hand: means 1e200 and 2e200, E[prod] = (1e400 + 3e400) / 2 = 2e400 =
/// prod of means, so loss-H = 1; E[min] = 1e200 = the smallest mean, MinExp = 1; ExpExp =
/// 1e200 / 1.5e200 = 2/3. The same at 1e-200 (where the products underflowed to 0 / 0).
#[test]
fn loss_metrics_of_extreme_losses_are_defined() {
    for (scale, name) in [("e200", "big.csv"), ("e-200", "tiny.csv")] {
        let text = format!(
            "deployment,example_id,failure,loss\na,1,1,1{scale}\na,2,0,1{scale}\nb,1,1,1{scale}\n\
             b,2,0,3{scale}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), name, text.as_bytes());
        let out = homogen(&["measure", path.to_str().unwrap(), "--format", "csv"]);
        succeeded(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        for (metric, want) in [("loss_h", 1.0), ("min_exp", 1.0), ("exp_exp", 2.0 / 3.0)] {
            let row = csv_row(&text, &format!("all,individual,{metric},"));
            let got: f64 = row[3]
                .parse()
                .unwrap_or_else(|_| panic!("{scale} {metric}: {row:?}"));
            assert!(
                (got - want).abs() < 1e-12,
                "{scale} {metric}: {got} vs {want}"
            );
            assert!(!row[7].contains("mean loss is 0"), "{row:?}");
        }
    }
}

/// Runs `measure` on a bad file and checks exit code 2, the message, and no panic.
fn rejects(name: &str, bytes: &[u8], extra: &[&str], message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    let mut args = vec!["measure", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = homogen(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    assert!(
        stderr.contains(message),
        "{name}: expected `{message}` in: {stderr}"
    );
    // Problems in a file name the file.
    assert!(
        stderr.contains(name),
        "{name}: the file is not named: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    rejects(
        "nocol.csv",
        b"deployment,failure\na,1\n",
        &[],
        "missing required column `example_id`",
    );
    rejects(
        "badfail.csv",
        b"deployment,example_id,failure\na,p1,maybe\n",
        &[],
        "row 1, column `failure`: expected 0, 1, true or false, found `maybe`",
    );
    rejects(
        "nolabel.csv",
        b"deployment,example_id,group\na,p1,x\n",
        &[],
        "`label` and `prediction` are both absent",
    );
    rejects(
        "dup.csv",
        b"deployment,example_id,failure\na,p1,1\na,p1,0\n",
        &[],
        "row 2, column `example_id`: duplicate row",
    );
    rejects(
        "header.csv",
        b"deployment,example_id,failure\n",
        &[],
        "no data rows",
    );
    rejects("empty.csv", b"", &[], "the file is empty");
    rejects(
        "missdep.csv",
        b"system,deployment,example_id,failure\ns1,a,p1,1\ns1,b,p1,0\ns2,a,p1,1\n",
        &[],
        "system `s2` has no rows for deployment `b`",
    );
    rejects(
        "utf.csv",
        b"deployment,example_id,failure\na,p\xff1,1\n",
        &[],
        "not valid UTF-8",
    );
    rejects(
        "utfheader.csv",
        b"deployment,example_id,fail\xffure\na,p1,1\n",
        &[],
        "utfheader.csv: the header row (the column names) is not valid UTF-8 (field 3)",
    );
    rejects(
        "nogroup.csv",
        b"deployment,example_id,failure\na,p1,1\n",
        &["--group", "hair"],
        "no group column `hair`",
    );
    // Losses must be finite and not negative (loss-H and MinExp are ratios of means).
    for (loss, says) in [
        ("-1", "expected a finite loss of 0 or more, found -1"),
        ("nan", "expected a finite loss of 0 or more, found NaN"),
        (
            "inf",
            "expected a finite loss of 0 or more, found inf (an infinite log loss",
        ),
    ] {
        rejects(
            "loss.csv",
            format!("deployment,example_id,failure,loss\na,p1,1,0.5\nb,p1,0,{loss}\n").as_bytes(),
            &[],
            &format!("row 2, column `loss`: {says}"),
        );
    }
    // pandas writes a missing group as an empty field.
    rejects(
        "emptygroup.csv",
        b"deployment,example_id,failure,hair\na,p1,1,red\na,p2,0,\n",
        &["--group", "hair"],
        "row 2, column `hair`: empty group value",
    );
    rejects(
        "grouplabel.csv",
        b"deployment,example_id,label,prediction\na,p1,1,0\n",
        &["--group", "label"],
        "`label` is a column of the failure table's schema, not a group column",
    );
    // What is not CSV or Parquet says what it is and what to do.
    rejects(
        "preds.csv.gz",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
        &[],
        "the file is gzip-compressed; expected a CSV or Parquet file: decompress it first",
    );
    rejects(
        "preds.feather",
        b"ARROW1\x00\x00rest",
        &[],
        "the file is Arrow IPC (Feather)",
    );
    rejects(
        "preds.json",
        b" [{\"deployment\": \"a\"}]",
        &[],
        "the file looks like JSON",
    );
    rejects(
        "preds.parquet",
        b"deployment,example_id,failure\na,p1,1\n",
        &[],
        "named as Parquet but does not start with Parquet's `PAR1`",
    );
    // CSV columns are typed as Parquet's: an all-number prediction column holds integer
    // classes (as a Parquet float column), so a fraction is refused, not read as a class name.
    rejects(
        "frac.csv",
        b"deployment,example_id,label,prediction\na,p1,1,1\na,p2,0,0.5\n",
        &[],
        "row 2, column `prediction`: expected an integer class, found `0.5`",
    );
    rejects(
        "nanid.csv",
        b"deployment,example_id,failure\na,1,1\na,NaN,0\n",
        &[],
        "row 2, column `example_id`: missing value (NaN)",
    );
    // `|` joins the deployments of a pairwise metric's name (`covariance:<a>|<b>`).
    rejects(
        "pipe.csv",
        b"deployment,example_id,failure\na,p1,1\nb|c,p1,0\n",
        &[],
        "row 2, column `deployment`: the deployment name `b|c` contains `|`",
    );
    rejects(
        "noby.csv",
        b"deployment,example_id,failure\na,p1,1\n",
        &["--by", "method"],
        "noby.csv: no attribute column for --by `method` (group or attribute columns present: \
         none)",
    );
    // --by is checked before measuring, and a value that varies within a system names both rows.
    rejects(
        "byvaries.csv",
        b"system,deployment,example_id,failure,method\ns,a,p1,1,probe\ns,a,p2,0,probe\n\
          s,a,p3,1,finetune\n",
        &["--by", "method", "--bootstrap", "1000000"],
        "byvaries.csv, row 3, column `method`: --by method: system `s` has more than one value of \
         `method`: `finetune` here and `probe` at ",
    );
    rejects(
        "bygroup.csv",
        b"deployment,example_id,failure,hair\na,p1,1,red\n",
        &["--by", "hair", "--group", "hair"],
        "`hair` is a group column here (--group)",
    );
    rejects(
        "bysystem.csv",
        b"system,deployment,example_id,failure\ns,a,p1,1\n",
        &["--by", "system"],
        "--by system: `system` is a column of the failure table's schema",
    );
    // A CSV file without its header row reads its first row as the names.
    rejects(
        "noheader.csv",
        b"a,p1,1,1\na,p2,0,1\n",
        &[],
        "column `1`: the column name appears twice in the header (the header holds numbers: is \
         it a row of data?",
    );
    rejects(
        "noheader2.csv",
        b"a,p1,0,1\na,p2,0,1\n",
        &[],
        "(columns found: a, p1, 0, 1) (the header holds numbers: is it a row of data?",
    );
    // `nan` and `inf` are column names, not numbers: no hint about a missing header.
    rejects(
        "nanheader.csv",
        b"deployment,example_id,nan\na,p1,1\n",
        &[],
        "(columns found: deployment, example_id, nan)\n",
    );
    // An id of spaces is as empty as an empty one.
    rejects(
        "blankid.csv",
        b"deployment,example_id,failure\na,p1,1\na,  ,0\n",
        &[],
        "row 2, column `example_id`: empty value",
    );
}

/// With several files, a group column missing from one of them names that file (the table of
/// all files keeps only the columns every file has); a Parquet file read under a `.csv` name
/// is read as Parquet (its first bytes decide).
#[test]
fn a_group_column_missing_from_one_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let with = write(
        dir.path(),
        "with.csv",
        b"deployment,example_id,failure,hair\na,p1,1,red\n",
    );
    let without = write(
        dir.path(),
        "without.csv",
        b"deployment,example_id,failure\nb,p1,0\n",
    );
    let out = homogen(&[
        "measure",
        with.to_str().unwrap(),
        without.to_str().unwrap(),
        "--group",
        "hair",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("without.csv: no group column `hair` (group or attribute columns present: none); every file must have the column"),
        "{stderr}"
    );
    // Before the error, the warning that the concatenation dropped the column.
    assert!(
        stderr.contains(&format!(
            "warning: column `hair` is in {} but not in {}: it is dropped",
            with.display(),
            without.display()
        )),
        "{stderr}"
    );
}

/// A `loss` column in only some files is dropped with a warning naming a file with it and one
/// without: the loss metrics are missing from the output, which says why.
#[test]
fn a_loss_column_in_only_some_files_is_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let with = write(
        dir.path(),
        "with.csv",
        b"deployment,example_id,failure,loss\na,p1,1,0.7\na,p2,0,0.1\n",
    );
    let without = write(
        dir.path(),
        "without.csv",
        b"deployment,example_id,failure\nb,p1,1\nb,p2,0\n",
    );
    let args = ["--format", "csv"];
    let both = homogen(&[&["measure", with.to_str().unwrap()], &args[..]].concat());
    succeeded(&both);
    assert!(String::from_utf8_lossy(&both.stdout).contains("loss"));
    let out = homogen(
        &[
            &["measure", with.to_str().unwrap(), without.to_str().unwrap()],
            &args[..],
        ]
        .concat(),
    );
    succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: column `loss` is in {} but not in {}: the loss metrics are left out",
            with.display(),
            without.display()
        )),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("loss"));
}

/// A wide layout's deployment column given as a group or `--by` attribute is refused before
/// any file is read (it named no column at all before: the column had become a deployment).
#[test]
fn a_wide_deployment_column_is_not_a_group_or_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "wide.csv",
        b"example_id,label,m1,m2,g\np1,0,0,1,a\np2,1,1,1,b\n",
    );
    let file = path.to_str().unwrap();
    for (args, message) in [
        (
            &["--wide", "prediction=m1,g", "--group", "g"][..],
            "option `--group`: `g` is one of the deployment columns of `--wide prediction=m1,g`",
        ),
        (
            &["--wide", "failure=m1,m2", "--by", "m2"][..],
            "option `--by`: `m2` is one of the deployment columns of `--wide failure=m1,m2`",
        ),
    ] {
        let out = homogen(&[&["measure", file][..], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    // A column outside the list is a group as usual.
    let out = homogen(&[
        "measure",
        file,
        "--wide",
        "prediction=m1,m2",
        "--group",
        "g",
    ]);
    succeeded(&out);
}

/// Rows of a file without the `system` column that other files have form the system `all`,
/// and the user is told so.
#[test]
fn a_file_without_the_system_column_gets_system_all_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let with = write(
        dir.path(),
        "with.csv",
        b"system,deployment,example_id,failure\ns1,a,p1,1\ns1,a,p2,0\n",
    );
    let without = write(
        dir.path(),
        "without.csv",
        b"deployment,example_id,failure\na,p1,1\na,p2,0\n",
    );
    let out = homogen(&[
        "measure",
        with.to_str().unwrap(),
        without.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: column `system` is in {} but not in {}: the rows of each file without it \
             belong to one system named `all`",
            with.display(),
            without.display()
        )),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let systems: std::collections::BTreeSet<&str> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(systems, ["all", "s1"].into_iter().collect(), "{stdout}");
    // Files that agree draw no warning.
    let alone = homogen(&["measure", without.to_str().unwrap()]);
    succeeded(&alone);
    assert!(!String::from_utf8_lossy(&alone.stderr).contains("warning"));
}

#[test]
fn bad_usage_exits_2() {
    let out = homogen(&["measure", "x.csv", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'xml'"));
    let out = homogen(&["measure", "x.csv", "--compat", "authors"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn several_files_are_concatenated() {
    // Scenario 2 split into one file per deployment gives the same rows as the single file.
    let dir = tempfile::tempdir().unwrap();
    let whole = write(dir.path(), "whole.csv", SCENARIO_2.as_bytes());
    let mut lines = SCENARIO_2.lines();
    let header = lines.next().unwrap();
    let (h1, h2): (Vec<&str>, Vec<&str>) = lines.partition(|l| l.starts_with("h1,"));
    let one = write(
        dir.path(),
        "h1.csv",
        format!("{header}\n{}\n", h1.join("\n")).as_bytes(),
    );
    let two = write(
        dir.path(),
        "h2.csv",
        format!("{header}\n{}\n", h2.join("\n")).as_bytes(),
    );
    let a = homogen(&[
        "measure",
        whole.to_str().unwrap(),
        "--group",
        "group",
        "--format",
        "csv",
    ]);
    let b = homogen(&[
        "measure",
        one.to_str().unwrap(),
        two.to_str().unwrap(),
        "--group",
        "group",
        "--format",
        "csv",
    ]);
    succeeded(&b);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn predictions_as_others_write_them_measure_as_the_schema_does() {
    // Scenario 2 as one file of predictions per model, with the model's own column names and
    // class names for labels (1 = approve, 0 = deny): the same metrics as the schema's file
    // (whose values are checked by hand in csv_output_is_the_tidy_contract_exactly).
    let dir = tempfile::tempdir().unwrap();
    let canonical = write(dir.path(), "s2.csv", SCENARIO_2.as_bytes());
    let name = |v: &str| if v == "1" { "approve" } else { "deny" };
    for model in ["h1", "h2"] {
        let mut text = "applicant,truth,decision,group\n".to_string();
        for line in SCENARIO_2.lines().skip(1).filter(|l| l.starts_with(model)) {
            let f: Vec<&str> = line.split(',').collect();
            text.push_str(&format!(
                "{},{},{},{}\n",
                f[1],
                name(f[2]),
                name(f[3]),
                f[4]
            ));
        }
        write(
            dir.path(),
            &format!("{model}/predictions.csv"),
            text.as_bytes(),
        );
    }
    let want = homogen(&[
        "measure",
        canonical.to_str().unwrap(),
        "--group",
        "group",
        "--format",
        "csv",
    ]);
    let path = |m: &str| dir.path().join(m).join("predictions.csv");
    let (h1, h2) = (path("h1"), path("h2"));
    let got = homogen(&[
        "measure",
        h1.to_str().unwrap(),
        h2.to_str().unwrap(),
        "--deployment-per-file",
        "--column",
        "example_id=applicant",
        "--column",
        "label=truth",
        "--column",
        "prediction=decision",
        "--group",
        "group",
        "--format",
        "csv",
    ]);
    succeeded(&got);
    // Deployments are named after the files' folders (their stems are the same).
    let got = String::from_utf8(got.stdout)
        .unwrap()
        .replace("h1/predictions", "h1")
        .replace("h2/predictions", "h2");
    let want = String::from_utf8(want.stdout).unwrap();
    assert_eq!(got, want);
    assert!(got.contains("all,individual,h_individual,2,"));

    // The same predictions as one wide file: one row per applicant, one column per model.
    let mut wide = "applicant,h1,h2,group\n".to_string();
    for person in ["alice", "angelique", "bob", "bernardo"] {
        let row = |model: &str| -> Vec<String> {
            let line = SCENARIO_2
                .lines()
                .find(|l| l.starts_with(&format!("{model},{person},")))
                .unwrap();
            line.split(',').map(str::to_string).collect()
        };
        let (one, two) = (row("h1"), row("h2"));
        // Scenario 2's labels differ between the two deployments (two tasks), which one wide
        // file cannot hold; the failures are what matter, so give each its failure flag.
        let fails = |f: &[String]| u8::from(f[2] != f[3]);
        wide.push_str(&format!(
            "{person},{},{},{}\n",
            fails(&one),
            fails(&two),
            one[4]
        ));
    }
    let wide = write(dir.path(), "wide.csv", wide.as_bytes());
    let got = homogen(&[
        "measure",
        wide.to_str().unwrap(),
        "--wide",
        "failure=h1,h2",
        "--column",
        "example_id=applicant",
        "--group",
        "group",
        "--format",
        "csv",
    ]);
    succeeded(&got);
    assert_eq!(String::from_utf8(got.stdout).unwrap(), want);

    let out = homogen(&["measure", h1.to_str().unwrap(), "--column", "person"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("option `--column`: `person`: expected ROLE=NAME"),
        "{stderr}"
    );
}

/// `-o` never destroys what it should not: an input named as the output is refused (the data
/// stays), a symbolic link keeps pointing at the file it names, and a named pipe is written in
/// place, not replaced by a regular file.
#[test]
fn output_spares_inputs_links_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "s2.csv", SCENARIO_2.as_bytes());
    let expected = homogen(&["measure", input.to_str().unwrap(), "--format", "csv"]);
    succeeded(&expected);

    // The input itself, directly and through a link.
    let link_to_input = dir.path().join("link-to-input.csv");
    std::os::unix::fs::symlink(&input, &link_to_input).unwrap();
    for output in [&input, &link_to_input] {
        let out = homogen(&[
            "measure",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("the output file is also an input"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&input).unwrap(), SCENARIO_2.as_bytes());
    }

    // The tidy CSV of the input, written with -o to `output`.
    let measure_to = |output: &Path| {
        let out = homogen(&[
            "measure",
            input.to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            output.to_str().unwrap(),
        ]);
        succeeded(&out);
    };

    // A link to another file: the file gets the result, the link stays a link.
    let target = write(dir.path(), "results/target.csv", b"old");
    let link = dir.path().join("results.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    measure_to(&link);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), expected.stdout);

    // A named pipe: a reader gets the result and the pipe is still a pipe.
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping the named-pipe case: mkfifo is not available");
        return;
    }
    // The read end opens without blocking (O_NONBLOCK, 0o4000 on Linux), so a regression that
    // replaces the pipe fails the test instead of hanging it; the result (a few hundred bytes)
    // fits the pipe's buffer.
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(&fifo)
        .unwrap();
    measure_to(&fifo);
    let mut received = Vec::new();
    let _ = reader.read_to_end(&mut received);
    assert_eq!(received, expected.stdout);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// The same people written by pandas as integers (CSV), as floats (CSV `1.0`) and with float
/// labels are one set of people, and a deployment name may hold `:`. Deployment a fails people
/// 1 and 2, deployment `b:v2` fails 1 and 2 (labels 1.0 against 0.0): by hand, observed
/// systemic failure 2/4, expected 1/2 * 1/2, H = 2 (as 8 people met by one deployment each, H
/// would be 1 by eq. 10).
#[test]
fn pandas_floats_in_csv_name_the_same_people_and_classes() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        b"deployment,example_id,label,prediction\na,1,1,0\na,2,0,1\na,3,1,1\na,4,0,0\n",
    );
    let b = write(
        dir.path(),
        "b.csv",
        b"deployment,example_id,label,prediction\n\
          b:v2,1.0,1.0,0.0\nb:v2,2.0,1.0,0.0\nb:v2,3.0,0.0,0.0\nb:v2,4.0,1.0,1e0\n",
    );
    let out = homogen(&[
        "measure",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    succeeded(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv_row(&text, "all,individual,h_individual,")[3], "2");
    assert_eq!(
        csv_row(&text, "all,individual,systemic_failure_observed,")[3],
        "0.5"
    );
    assert_eq!(
        csv_row(&text, "all,individual,failure_rate:b:v2,")[3],
        "0.5"
    );
    // Covariance by hand: P(both) - P(a) P(b) = 1/2 - 1/4.
    assert_eq!(
        csv_row(&text, "all,individual,covariance:a|b:v2,")[3],
        "0.25"
    );
}
