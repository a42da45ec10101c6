//! LSAC: the layout is told from the header. The SEAPHE layout (`bar_pass_prediction.csv`, a CSV
//! export of `lsac.sas7bdat`) loads, with every race or the authors' white and Black students;
//! Kusner et al.'s `law_data.csv`, whose `first_pf` is first-year pass/fail, is refused, renamed
//! or not; any other file names what it lacks. Fixtures: tests/fixtures/tabular/lsac/ (invented
//! rows under the real headers, see its README).

use std::path::{Path, PathBuf};

use homogen::data::tabular::lsac::{self, LsacOptions, Population};
use homogen::error::Error;
use homogen::experiment::config::Config;
use homogen::experiment::datasharing::{self, RunOptions};
use homogen::failures::read_table;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tabular/lsac")
        .join(name)
}

const AUTHORS: LsacOptions = LsacOptions {
    population: Population::Authors,
};

fn input_error(r: homogen::error::Result<(impl Sized, lsac::LsacCounts)>) -> String {
    match r {
        Err(e @ Error::Input(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        Err(e) => panic!("expected an input error, got {e}"),
        Ok(_) => panic!("expected an input error, got a dataset"),
    }
}

#[test]
fn seaphe_layout_gives_both_tasks_on_the_same_students() {
    let (ds, counts) = lsac::load(&fixture("bar_pass_prediction.csv")).unwrap();
    assert_eq!(counts.outside_population, 0);
    assert_eq!(ds.feature_names, ["lsat", "ugpa"]);
    assert_eq!(ds.n_people(), 4);
    let tasks: Vec<&str> = ds.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tasks, [lsac::PASS_BAR, lsac::ZFYA_ABOVE_MEAN]);
    // Groups come from the string columns race1 and gender, not the numeric race and sex.
    assert_eq!(
        ds.group("sex").unwrap().values,
        ["female", "male", "male", "male"]
    );
    assert_eq!(ds.features[[0, 1]], 3.1);
    assert!(ds.notes[0].contains("all races"), "{}", ds.notes[0]);
}

#[test]
fn authors_population_keeps_white_and_black_students_only() {
    let (ds, counts) = lsac::load_with(&fixture("bar_pass_prediction.csv"), &AUTHORS).unwrap();
    // 105 (hisp) and 106 (asian) are outside; 103 lacks zfygpa, 107 lacks gender.
    assert_eq!(counts.rows, 7);
    assert_eq!(counts.outside_population, 2);
    assert_eq!(counts.missing_target, 1);
    assert_eq!(counts.missing_feature, 1);
    assert_eq!(ds.ids, ["0", "1", "3"]);
    assert_eq!(
        ds.group("race").unwrap().values,
        ["white", "white", "black"]
    );
    assert_eq!(ds.task(lsac::PASS_BAR).unwrap().labels, [1, 1, 0]);
    // zfygpa -0.98, 0.09, 0.88: mean -0.0033 → above: 0, 1, 1.
    assert_eq!(ds.task(lsac::ZFYA_ABOVE_MEAN).unwrap().labels, [0, 1, 1]);
    assert!(
        ds.notes[0].contains("white and Black students only") && ds.notes[0].contains("2 outside"),
        "{}",
        ds.notes[0]
    );
    assert_eq!(Population::parse("authors"), Some(Population::Authors));
    assert_eq!(Population::parse("all"), Some(Population::All));
    assert_eq!(Population::parse("white"), None);
    assert!(Population::default().is_all() && !Population::Authors.is_all());
}

#[test]
fn kusner_law_data_is_refused_because_first_pf_is_not_bar_passage() {
    let path = fixture("law_data.csv");
    let msg = input_error(lsac::load(&path));
    assert!(
        msg.starts_with(&format!("{}, column `pass_bar`: ", path.display())),
        "{msg}"
    );
    assert!(msg.contains("found `first_pf`"), "{msg}");
    assert!(
        msg.contains("first-year pass/fail, not bar passage"),
        "{msg}"
    );
    assert!(msg.contains("bar_pass_prediction.csv"), "{msg}");
    assert!(msg.contains("lsac.sas7bdat"), "{msg}");
    // Same with the authors' population: the layout is checked before any row.
    input_error(lsac::load_with(&path, &AUTHORS));
}

#[test]
fn kusner_law_data_with_first_pf_renamed_pass_bar_is_refused() {
    let csv = "\"\",race,sex,LSAT,UGPA,region_first,ZFYA,sander_index,pass_bar\n\
               \"1\",\"White\",1,38,3.2,\"GL\",-0.51,0.78,1\n";
    let msg = input_error(lsac::parse(csv.as_bytes(), Path::new("renamed.csv")));
    assert!(msg.starts_with("renamed.csv, column `pass_bar`: "), "{msg}");
    assert!(msg.contains("renamed `first_pf`"), "{msg}");
}

#[test]
fn unknown_layout_names_the_file_the_column_and_what_was_found() {
    let csv = "id,LSAT,UGPA,passed\n1,39,3.1,1\n";
    let msg = input_error(lsac::parse(csv.as_bytes(), Path::new("other.csv")));
    assert!(msg.starts_with("other.csv, column `zfygpa`: "), "{msg}");
    assert!(
        msg.contains("missing zfygpa, pass_bar, race1, gender"),
        "{msg}"
    );
    assert!(
        msg.contains("found `id`, `LSAT`, `UGPA`, `passed`"),
        "{msg}"
    );
}

#[test]
fn sas_export_with_bytes_strings_float_outcomes_and_an_index_column_loads() {
    // pandas.read_sas(..).to_csv(..) without an encoding: bytes reprs, floats, an index column.
    let csv = ",lsat,ugpa,zfygpa,pass_bar,race1,gender,Dropout\n\
               0,39.0,3.1,-0.5,1.0,b'white',b'female',b'NO'\n\
               1,31.0,2.9,0.5,0.0,b'black',b'male',b'NO'\n\
               2,35.0,3.0,,1.0,b'white',b'male',b'NO'\n\
               3,33.0,3.3,0.1,1.0,b'hisp',b'male',b'NO'\n";
    let (ds, counts) = lsac::parse_with(csv.as_bytes(), Path::new("lsac.csv"), &AUTHORS).unwrap();
    assert_eq!(counts.outside_population, 1);
    assert_eq!(counts.missing_target, 1);
    assert_eq!(ds.ids, ["0", "1"]);
    assert_eq!(ds.group("race").unwrap().values, ["white", "black"]);
    assert_eq!(ds.group("sex").unwrap().values, ["female", "male"]);
    assert_eq!(ds.task(lsac::PASS_BAR).unwrap().labels, [1, 0]);
}

#[test]
fn bad_values_name_the_row_and_column() {
    let csv = "lsat,ugpa,zfygpa,pass_bar,race1,gender\n39,3.1,0.2,2,white,male\n";
    let msg = input_error(lsac::parse(csv.as_bytes(), Path::new("b.csv")));
    assert!(
        msg.starts_with("b.csv, row 1, column `pass_bar`: expected pass_bar 0 or 1, found `2`"),
        "{msg}"
    );
    let csv = "lsat,ugpa,zfygpa,pass_bar,race1,gender\nhigh,3.1,0.2,1,white,male\n";
    let msg = input_error(lsac::parse(csv.as_bytes(), Path::new("b.csv")));
    assert!(msg.starts_with("b.csv, row 1, column `lsat`"), "{msg}");
    // Nobody left in the population.
    let csv = "lsat,ugpa,zfygpa,pass_bar,race1,gender\n39,3.1,0.2,1,asian,male\n";
    let msg = input_error(lsac::parse_with(
        csv.as_bytes(),
        Path::new("b.csv"),
        &AUTHORS,
    ));
    assert!(msg.contains("no usable rows"), "{msg}");
    assert!(msg.contains("1 outside the population"), "{msg}");
}

/// The SEAPHE fixture runs through the data-sharing protocol: 4 students → 1 test student
/// (round(0.2 · 4)); scale 2 gives each task a training block of 1.
#[test]
fn seaphe_fixture_runs_through_the_protocol() {
    let text = format!(
        "[experiment]\nkind = \"datasharing\"\nout = \"x\"\n[data]\ndataset = \"lsac\"\npath = \"{}\"\n\
         [protocol]\nlearners = [\"logistic\"]\nscales = [2]\ndata_seeds = [0]\nmodel_seeds = [0]\n\
         groupings = [\"race\", \"sex\"]\n",
        fixture("bar_pass_prediction.csv").display()
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
    // 2 trials × 2 tasks × 1 test student.
    assert_eq!(t.len(), 4);
    assert!(t.extra_column("race").is_some());
    assert!(t.extra_column("sex").is_some());

    // Kusner's file stops the run with exit 2, naming it.
    let text = text.replace("bar_pass_prediction.csv", "law_data.csv");
    let config = Config::parse(&text, Path::new("lsac.toml")).unwrap();
    let e = datasharing::run(
        &config,
        &text,
        Some(dir.path()),
        RunOptions {
            quiet: true,
            threads: None,
        },
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("law_data.csv"), "{e}");
}
