//! Loading German Credit (bundled), ACS PUMS and LSAC, on the real file and on tiny fixtures in
//! the real column layouts (tests/fixtures/tabular/).

use std::path::Path;

use homogen::data::tabular::german::Encoding;
use homogen::data::tabular::{acs, german, lsac};

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tabular")
        .join(rel)
}

/// Counts straight from the raw text: good/bad from the last field, credit amount from the
/// fifth, female from the ninth (A92, A95).
fn raw_counts() -> (usize, usize, usize, usize, usize) {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/german_credit/german.data"
    ))
    .unwrap();
    let rows: Vec<Vec<&str>> = raw.lines().map(|l| l.split(' ').collect()).collect();
    let good = rows.iter().filter(|r| r[20] == "1").count();
    let bad = rows.iter().filter(|r| r[20] == "2").count();
    let high = rows
        .iter()
        .filter(|r| r[4].parse::<u32>().unwrap() > 2000)
        .count();
    let female = rows
        .iter()
        .filter(|r| r[8] == "A92" || r[8] == "A95")
        .count();
    (rows.len(), good, bad, high, female)
}

#[test]
fn german_credit_has_the_papers_counts() {
    let (n, good, bad, high, female) = raw_counts();
    // The numbers, confirmed against the raw file above.
    assert_eq!((n, good, bad, high, female), (1000, 700, 300, 568, 310));
    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    assert_eq!(gc.n_people(), 1000);
    let bad_loan = gc.task(german::BAD_LOAN).unwrap();
    assert_eq!(bad_loan.labels.iter().filter(|&&y| y == 1).count(), 300);
    let amount = gc.task(german::CREDIT_GT_2000).unwrap();
    assert_eq!(amount.labels.iter().filter(|&&y| y == 1).count(), 568);
    let sex = gc.group("sex").unwrap();
    assert_eq!(sex.values.iter().filter(|s| *s == "female").count(), 310);
    assert_eq!(sex.values.iter().filter(|s| *s == "male").count(), 690);
    // Row 0 is `A11 6 A34 A43 1169 ... A93 ... 1`: a good loan, 1169 DM, male.
    assert_eq!((bad_loan.labels[0], amount.labels[0]), (0, 0));
    assert_eq!(sex.values[0], "male");
    // Row 1 is `A12 48 A32 A43 5951 ... A92 ... 2`: bad, 5951 DM, female.
    assert_eq!((bad_loan.labels[1], amount.labels[1]), (1, 1));
    assert_eq!(sex.values[1], "female");
}

#[test]
fn german_credit_features_leave_out_credit_amount() {
    let gc = german::load_bundled(Encoding::OneHot).unwrap();
    // 6 numerics + one-hot levels 4+5+10+5+5+2+3+4+3+3+4+2+2 = 52 (personal status reduced
    // to sex, as the authors did) → 58 columns.
    assert_eq!(gc.n_features(), 58);
    assert!(!gc.feature_names.iter().any(|n| n.contains("credit_amount")));
    // Each categorical's indicators sum to 1 per person: 13 categoricals.
    let cat_sum: f64 = gc
        .feature_names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.contains('='))
        .map(|(j, _)| gc.features[[0, j]])
        .sum();
    assert_eq!(cat_sum, 13.0);
    // Standardised numerics: mean 0, sample sd 1.
    let j = gc.feature_names.iter().position(|n| n == "age").unwrap();
    let col = gc.features.column(j);
    let mean = col.sum() / 1000.0;
    let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 999.0).sqrt();
    assert!(mean.abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);

    let codes = german::load_bundled(Encoding::IntegerCodes).unwrap();
    // 6 numerics + 13 categoricals as one code each.
    assert_eq!(codes.n_features(), 19);
    let sex = codes
        .feature_names
        .iter()
        .position(|n| n == "personal_status_sex")
        .unwrap();
    // Authors' order of first appearance: row 0 male (A93) → 0, row 1 female (A92) → 1.
    assert_eq!(codes.features[[0, sex]], 0.0);
    assert_eq!(codes.features[[1, sex]], 1.0);
}

#[test]
fn german_credit_bad_line_names_file_and_row() {
    let text = "A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1\n\
                A12 48 A32 A43 lots A61 A73 2 A92 A101 2 A121 22 A143 A152 1 A173 1 A191 A201 2\n";
    let e = german::parse(text, Path::new("g.data"), Encoding::OneHot).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.contains("g.data, row 2, column `4 (credit_amount)`"),
        "{msg}"
    );
}

#[test]
fn acs_fixture_builds_folktables_tasks_on_the_same_people() {
    let ds = acs::load(&fixture("acs/psam_p06.csv")).unwrap();
    assert_eq!(ds.n_people(), 4);
    let labels = |name: &str| ds.task(name).unwrap().labels.clone();
    // ESR = 1, 6, missing, 1 → employed 1, 0, 0 (NaN == 1 is false), 1.
    assert_eq!(labels("employment"), vec![1, 0, 0, 1]);
    // POVPIP = 180, missing, 333, 40 → below 250: 1, 0, 0, 1.
    assert_eq!(labels("income_poverty"), vec![1, 0, 0, 1]);
    // HINS2 = 2, 1, 1, 2 → 0, 1, 1, 0.
    assert_eq!(labels("health_insurance"), vec![0, 1, 1, 0]);
    let race = &ds.group("race").unwrap().values;
    assert_eq!(race[0], "White alone");
    assert_eq!(race[1], "Black or African American alone");
    assert_eq!(race[2], "Asian alone");
    assert_eq!(race[3], "Two or More Races");
    // Feature lists as folktables: 16, 20 and 25 columns.
    let width = |name: &str| ds.task(name).unwrap().feature_columns.len();
    assert_eq!(
        (
            width("employment"),
            width("income_poverty"),
            width("health_insurance")
        ),
        (16, 20, 25)
    );
    // Missing ANC (person 0) becomes 0; person 1's ANC is 2.
    let anc = ds.feature_names.iter().position(|n| n == "ANC").unwrap();
    assert_eq!((ds.features[[0, anc]], ds.features[[1, anc]]), (0.0, 2.0));
    // ESR is a feature of income_poverty: person 2's missing ESR is 0 there.
    let esr = ds.feature_names.iter().position(|n| n == "ESR").unwrap();
    assert!(ds
        .task("income_poverty")
        .unwrap()
        .feature_columns
        .contains(&esr));
    assert_eq!(ds.features[[2, esr]], 0.0);
    // The missing values are counted in the notes: ESP is empty in all 4 rows.
    assert!(
        ds.notes
            .iter()
            .any(|n| n.starts_with("ESP: 4 missing values")),
        "{:?}",
        ds.notes
    );
}

/// A data file that is not there is bad input that says how to get it.
#[test]
fn missing_acs_and_lsac_files_say_how_to_get_them() {
    for path in ["no/such/csv_pca.zip", "no/such/psam_p06.csv"] {
        let e = acs::load(Path::new(path)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with(&format!("{path}: no such file; `homogen fetch dataset acs")),
            "{e}"
        );
    }
    let e = lsac::load(Path::new("no/such/law_data.csv")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("no such file; put the LSAC"), "{e}");
}

#[test]
fn acs_file_missing_a_feature_column_is_bad_input() {
    let e = acs::load(&fixture("acs/psam_p06_missing_schl.csv")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(msg.contains("psam_p06_missing_schl.csv"), "{msg}");
    assert!(msg.contains("column `SCHL`"), "{msg}");
}

#[test]
fn lsac_filters_missing_targets_and_keeps_the_same_students() {
    let (ds, counts) = lsac::load(&fixture("lsac/bar_pass_prediction.csv")).unwrap();
    // Row 2 lacks zfygpa, row 4 lacks pass_bar, row 6 lacks gender: 7 rows, 4 kept.
    assert_eq!(counts.rows, 7);
    assert_eq!(counts.missing_target, 2);
    assert_eq!(counts.missing_feature, 1);
    assert_eq!(ds.ids, vec!["0", "1", "3", "5"]);
    assert_eq!(ds.task(lsac::PASS_BAR).unwrap().labels, vec![1, 1, 0, 1]);
    // Kept zfygpa: -0.98, 0.09, 0.88, -0.24; mean = -0.25/4 = -0.0625 → above: 0, 1, 1, 0.
    assert_eq!(
        ds.task(lsac::ZFYA_ABOVE_MEAN).unwrap().labels,
        vec![0, 1, 1, 0]
    );
    assert_eq!(
        ds.group("race").unwrap().values,
        vec!["white", "white", "black", "asian"]
    );
    assert_eq!(ds.features[[3, 0]], 41.0);
    assert!(
        ds.notes[0].contains("2 dropped for a missing target"),
        "{}",
        ds.notes[0]
    );
}

#[test]
fn lsac_without_pass_bar_column_is_bad_input() {
    let csv = "race1,gender,lsat,ugpa,zfygpa\nwhite,female,39,3.1,0.5\n";
    let e = lsac::parse(csv.as_bytes(), Path::new("law.csv")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("law.csv, column `pass_bar`"), "{e}");
}

#[test]
fn acs_reads_folktables_zip_archives() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("csv_pca.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file(
        "psam_p06.csv",
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated),
    )
    .unwrap();
    zip.write_all(&std::fs::read(fixture("acs/psam_p06.csv")).unwrap())
        .unwrap();
    zip.finish().unwrap();
    let from_zip = acs::load(&path).unwrap();
    let from_csv = acs::load(&fixture("acs/psam_p06.csv")).unwrap();
    assert_eq!(from_zip.tasks, from_csv.tasks);
    assert_eq!(from_zip.features, from_csv.features);
}

/// The two-state fixture's folder (folktables' `ROOT/2018/1-Year/`): Alabama's psam_p01.csv
/// (3 people) and Alaska's psam_p02.csv (2 people), made with folktables' own loading by
/// scripts/make_acs_states_fixture.py.
fn two_states() -> std::path::PathBuf {
    fixture("acs/folktables/2018/1-Year")
}

fn codes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Zips `src` as `dest` (one entry named like the Census Bureau's: psam_pNN.csv).
fn zip_to(src: &Path, dest: &Path) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dest).unwrap());
    zip.start_file(
        src.file_name().unwrap().to_str().unwrap(),
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated),
    )
    .unwrap();
    zip.write_all(&std::fs::read(src).unwrap()).unwrap();
    zip.finish().unwrap();
}

#[test]
fn acs_states_concatenate_in_folktables_order_as_folktables_loads_them() {
    let dir = two_states();
    // Asked for in the other order: folktables' order (AL before AK) decides.
    let (ds, files) =
        acs::load_paths(std::slice::from_ref(&dir), Some(&codes(&["AK", "AL"]))).unwrap();
    assert_eq!(
        files,
        vec![dir.join("psam_p01.csv"), dir.join("psam_p02.csv")]
    );
    // By hand from the fixture rows: AL's 3 people, then AK's 2.
    assert_eq!(ds.n_people(), 5);
    let col = |name: &str| ds.feature_names.iter().position(|n| n == name).unwrap();
    let st: Vec<f64> = ds.features.column(col("ST")).to_vec();
    assert_eq!(st, vec![1.0, 1.0, 1.0, 2.0, 2.0]);
    let labels = |name: &str| ds.task(name).unwrap().labels.clone();
    // ESR 1, 6, missing, 3, 1; POVPIP 412, 133, 95, missing, 501; HINS2 2, 1, 2, 1, 2.
    assert_eq!(labels("employment"), vec![1, 0, 0, 0, 1]);
    assert_eq!(labels("income_poverty"), vec![0, 1, 1, 0, 0]);
    assert_eq!(labels("health_insurance"), vec![0, 1, 0, 1, 0]);
    // Alaska's first person: 45 years old, OCCP 4720, FER 2; Alabama's third has no PINCP (0).
    assert_eq!(ds.features[[3, col("AGEP")]], 45.0);
    assert_eq!(ds.features[[3, col("OCCP")]], 4720.0);
    assert_eq!(ds.features[[3, col("FER")]], 2.0);
    assert_eq!(ds.features[[2, col("PINCP")]], 0.0);
    assert_eq!(ds.features[[4, col("PINCP")]], 91000.0);
    let race = &ds.group("race").unwrap().values;
    assert_eq!(race[2], "Two or More Races");
    assert_eq!(race[4], "Alaska Native alone");
    assert_eq!(ds.ids, vec!["0", "1", "2", "3", "4"]);
    assert!(
        ds.notes[0].contains("5 people from 2 person files")
            && ds.notes[0].contains("folktables' state order (AL, AK)"),
        "{:?}",
        ds.notes
    );
    assert!(
        ds.notes
            .iter()
            .any(|n| n.starts_with("States: 2 of the 51")),
        "{:?}",
        ds.notes
    );

    // What folktables' get_data() + df_to_numpy make of the same folder: every feature,
    // label and group of every task, in the same row order.
    let text = std::fs::read_to_string(fixture("acs/folktables_expected.json")).unwrap();
    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(want["n"], 5);
    for task in &ds.tasks {
        let t = &want["tasks"][task.name.as_str()];
        let names: Vec<&str> = task
            .feature_columns
            .iter()
            .map(|&j| ds.feature_names[j].as_str())
            .collect();
        let want_names: Vec<&str> = t["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, want_names, "{}", task.name);
        for (r, row) in t["x"].as_array().unwrap().iter().enumerate() {
            for (c, v) in row.as_array().unwrap().iter().enumerate() {
                let got = ds.features[[r, task.feature_columns[c]]];
                assert_eq!(
                    got,
                    v.as_f64().unwrap(),
                    "{} row {r} {}",
                    task.name,
                    names[c]
                );
            }
        }
        let y: Vec<u8> = t["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(task.labels, y, "{}", task.name);
        let groups: Vec<&str> = t["group"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| acs::RACE_NAMES[v.as_u64().unwrap() as usize - 1])
            .collect();
        assert_eq!(race, &groups);
    }

    // The same files listed in the other order load the same population.
    let (listed, order) =
        acs::load_paths(&[dir.join("psam_p02.csv"), dir.join("psam_p01.csv")], None).unwrap();
    assert_eq!(order, files);
    assert_eq!(
        (&listed.features, &listed.tasks, &listed.groups),
        (&ds.features, &ds.tasks, &ds.groups)
    );

    // As the Census Bureau's zips (what `homogen fetch` keeps): csv_pal.zip and csv_pak.zip
    // sort AK first by name, but folktables' order is AL first, in a folder and in a list.
    let tmp = tempfile::tempdir().unwrap();
    zip_to(&dir.join("psam_p01.csv"), &tmp.path().join("csv_pal.zip"));
    zip_to(&dir.join("psam_p02.csv"), &tmp.path().join("csv_pak.zip"));
    let (zipped, order) =
        acs::load_paths(&[tmp.path().to_path_buf()], Some(&codes(&["AK", "AL"]))).unwrap();
    assert_eq!(
        order,
        vec![
            tmp.path().join("csv_pal.zip"),
            tmp.path().join("csv_pak.zip")
        ]
    );
    assert_eq!((&zipped.features, &zipped.tasks), (&ds.features, &ds.tasks));
    let (zipped, _) = acs::load_paths(
        &[
            tmp.path().join("csv_pak.zip"),
            tmp.path().join("csv_pal.zip"),
        ],
        None,
    )
    .unwrap();
    assert_eq!((&zipped.features, &zipped.tasks), (&ds.features, &ds.tasks));
}

#[test]
fn acs_one_state_says_st_is_constant() {
    let ds = acs::load(&fixture("acs/psam_p06.csv")).unwrap();
    assert!(
        ds.notes[0].starts_with("ACS PUMS: 4 people from psam_p06.csv (CA)"),
        "{:?}",
        ds.notes
    );
    assert!(
        ds.notes
            .iter()
            .any(|n| n.starts_with("ST (a health_insurance feature) is 6 for everyone")),
        "{:?}",
        ds.notes
    );
    let two = acs::load_paths(&[two_states()], Some(&codes(&["AL", "AK"])))
        .unwrap()
        .0;
    assert!(!two.notes.iter().any(|n| n.starts_with("ST ")));
}

#[test]
fn acs_folder_without_states_reads_folktables_51_and_names_the_missing_ones() {
    // AL and AK are there; AZ (04) is the first of folktables' list that is not.
    let e = acs::load(&two_states()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: no person file for 49 of folktables' 51 states",
            two_states().display()
        )),
        "{msg}"
    );
    assert!(msg.contains("AZ (psam_p04.csv or csv_paz.zip)"), "{msg}");
    assert!(msg.contains("and 44 more"), "{msg}");
    assert!(
        msg.contains("homogen fetch dataset acs --state all"),
        "{msg}"
    );
    // folktables' root_dir instead of its data folder: said so.
    let root = fixture("acs/folktables");
    let e = acs::load(&root).unwrap_err();
    assert!(
        e.to_string().contains("point `path` at") && e.to_string().contains("2018/1-Year"),
        "{e}"
    );
    // An unknown state.
    let e = acs::load_paths(&[two_states()], Some(&codes(&["XX"]))).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("unknown state `XX`"), "{e}");
}

#[test]
fn acs_bad_person_files_name_the_file() {
    let dir = two_states();
    let al = dir.join("psam_p01.csv");
    let tmp = tempfile::tempdir().unwrap();
    let err = |paths: &[std::path::PathBuf]| {
        let e = acs::load_paths(paths, None).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    };

    // A file of the list that is not there.
    let missing = tmp.path().join("psam_p05.csv");
    let msg = err(&[al.clone(), missing.clone()]);
    assert!(
        msg.starts_with(&format!(
            "{}: no such file; `homogen fetch dataset acs",
            missing.display()
        )),
        "{msg}"
    );

    // Alaska's file with one column renamed: its header differs from Alabama's.
    let text = std::fs::read_to_string(dir.join("psam_p02.csv")).unwrap();
    let renamed = tmp.path().join("psam_p02.csv");
    std::fs::write(&renamed, text.replacen("ADJINC", "ADJUST", 1)).unwrap();
    let msg = err(&[al.clone(), renamed.clone()]);
    assert!(
        msg.starts_with(&format!(
            "{}: its header differs from that of",
            renamed.display()
        )),
        "{msg}"
    );
    assert!(
        msg.contains("column 8 is `ADJUST` here and `ADJINC` there"),
        "{msg}"
    );
    // ... whatever order the list gives (Alabama is first in folktables' order either way).
    let msg = err(&[renamed.clone(), al.clone()]);
    assert!(msg.starts_with(&renamed.display().to_string()), "{msg}");

    // An extra column at the end.
    let extra = tmp.path().join("csv_pak.csv");
    let wider: String = text
        .lines()
        .map(|l| format!("{l},{}\n", if l.starts_with("RT,") { "EXTRA" } else { "" }))
        .collect();
    std::fs::write(&extra, wider).unwrap();
    let msg = err(&[al.clone(), extra.clone()]);
    assert!(
        msg.starts_with(&format!("{}: its header differs", extra.display()))
            && msg.contains("(122 columns here, 121 there"),
        "{msg}"
    );

    // The same state twice (a copy of Alabama under another name).
    let copy = tmp.path().join("alabama.csv");
    std::fs::copy(&al, &copy).unwrap();
    let msg = err(&[al.clone(), copy.clone()]);
    assert!(
        msg.starts_with(&copy.display().to_string()) && msg.contains("holds state 01 (AL)"),
        "{msg}"
    );

    // A name that says another state than the rows.
    let misnamed = tmp.path().join("psam_p06.csv");
    std::fs::copy(&al, &misnamed).unwrap();
    let msg = err(std::slice::from_ref(&misnamed));
    assert!(
        msg.starts_with(&format!("{}, row 1, column `ST`", misnamed.display()))
            && msg.contains("says state 06 (CA)"),
        "{msg}"
    );

    // A bad value deep in the second file names that file and its own row.
    let bad = tmp.path().join("psam_p02.csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen(",28,", ",twenty-eight,", 1);
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let msg = err(&[bad.clone(), al.clone()]);
    assert!(
        msg.starts_with(&format!("{}, row 2, column `AGEP`", bad.display())),
        "{msg}"
    );

    // `states` applies to a folder, not to files named one by one.
    let e = acs::load_paths(
        &[al.clone(), dir.join("psam_p02.csv")],
        Some(&codes(&["AL"])),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .contains("`states` picks the files of a folder"),
        "{e}"
    );
}
