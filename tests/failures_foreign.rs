//! Failure tables as other people write them: class names instead of integer labels, columns
//! under other names (`--column ROLE=NAME`), one file per deployment (`--deployment-per-file`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int64Array, RecordBatch, StringArray};
use homogen::failures::{
    read_table, read_tables, read_tables_with, systems, write_table, ColumnMap, FailureTable,
    ReadOptions, Wide,
};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn write_parquet(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>) -> PathBuf {
    let path = dir.join(name);
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path
}

/// Each row's (label, prediction) as class names.
fn classes(t: &FailureTable) -> Vec<(String, String)> {
    let (l, p) = (t.label.as_ref().unwrap(), t.prediction.as_ref().unwrap());
    (0..t.len())
        .map(|r| (t.class_name(l[r]), t.class_name(p[r])))
        .collect()
}

fn options(settings: &[&str], per_file: bool) -> ReadOptions {
    let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    ReadOptions {
        columns: ColumnMap::parse(&settings).unwrap(),
        deployment_per_file: per_file,
        wide: None,
    }
}

#[test]
fn class_names_are_compared_as_names_and_integers_as_integers() {
    let dir = tempfile::tempdir().unwrap();
    // Integers first, then a name (in row 3's prediction, after its label was read as an
    // integer): the integers read so far become classes `1` and `0`, and `1.0` (pandas' float)
    // is the class `1`, not a class of its own.
    let path = write(
        dir.path(),
        "t.csv",
        "deployment,example_id,label,prediction\n\
         a,p1,1,1.0\n\
         a,p2,0,1\n\
         a,p3,1,World\n\
         a,p4,World,World\n\
         a,p5,Sports,World\n\
         a,p6, Sports ,Sports\n",
    );
    let t = read_table(&path).unwrap();
    assert_eq!(t.failure, [false, true, true, false, true, false]);
    let names = t.class_names.as_ref().unwrap();
    assert_eq!(names, &["1", "0", "World", "Sports"]);
    let want: Vec<(String, String)> = [
        ("1", "1"),
        ("0", "1"),
        ("1", "World"),
        ("World", "World"),
        ("Sports", "World"),
        ("Sports", "Sports"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(classes(&t), want);

    // Only integers: no class names, the integers themselves (as before).
    let path = write(
        dir.path(),
        "ints.csv",
        "deployment,example_id,label,prediction\na,p1,3,3.0\na,p2,2,1\n",
    );
    let t = read_table(&path).unwrap();
    assert_eq!(t.class_names, None);
    assert_eq!(t.label.as_deref(), Some(&[3, 2][..]));
    assert_eq!(t.prediction.as_deref(), Some(&[3, 1][..]));
    assert_eq!(t.failure, [false, true]);
}

#[test]
fn parquet_text_and_dictionary_class_columns() {
    let dir = tempfile::tempdir().unwrap();
    // A pandas categorical is a dictionary column; the prediction a plain string column.
    let label: DictionaryArray<Int32Type> =
        vec!["spam", "ham", "ham", "spam"].into_iter().collect();
    let path = write_parquet(
        dir.path(),
        "t.parquet",
        vec![
            ("deployment", Arc::new(StringArray::from(vec!["a"; 4])) as _),
            (
                "example_id",
                Arc::new(StringArray::from(vec!["p1", "p2", "p3", "p4"])) as _,
            ),
            ("label", Arc::new(label) as _),
            (
                "prediction",
                Arc::new(StringArray::from(vec!["spam", "spam", "ham", "ham"])) as _,
            ),
        ],
    );
    let t = read_table(&path).unwrap();
    assert_eq!(t.failure, [false, true, false, true]);
    assert_eq!(t.class_name(t.label.as_ref().unwrap()[1]), "ham");

    // An integer label column with a text prediction column holding integers: integers.
    let path = write_parquet(
        dir.path(),
        "mixed.parquet",
        vec![
            ("deployment", Arc::new(StringArray::from(vec!["a"; 2])) as _),
            (
                "example_id",
                Arc::new(StringArray::from(vec!["p1", "p2"])) as _,
            ),
            ("label", Arc::new(Int64Array::from(vec![4, 5])) as _),
            (
                "prediction",
                Arc::new(StringArray::from(vec!["4", "4"])) as _,
            ),
        ],
    );
    let t = read_table(&path).unwrap();
    assert_eq!(t.class_names, None);
    assert_eq!(t.failure, [false, true]);
}

#[test]
fn files_with_integer_and_named_classes_concatenate_into_one_codebook() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        "deployment,example_id,label,prediction\na,p1,1,0\na,p2,0,0\n",
    );
    let b = write(
        dir.path(),
        "b.csv",
        "deployment,example_id,label,prediction\nb,p1,yes,no\nb,p2,no,no\n",
    );
    let c = write(
        dir.path(),
        "c.csv",
        "deployment,example_id,label,prediction\nc,p1,no,yes\nc,p2,0,1\n",
    );
    let t = read_tables(&[a, b, c]).unwrap();
    assert_eq!(t.failure, [true, false, true, false, true, true]);
    let named: Vec<String> = classes(&t).into_iter().map(|(l, _)| l).collect();
    assert_eq!(named, ["1", "0", "yes", "no", "no", "0"]);
    assert_eq!(t.class_names.as_ref().unwrap().len(), 4);
}

#[test]
fn class_names_round_trip_through_parquet_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.csv",
        "deployment,example_id,label,prediction,hair\n\
         a,p1,cat,dog,dark\n\
         a,p2,dog,dog,blond\n\
         a,p3,7,cat,dark\n",
    );
    let t = read_table(&path).unwrap();
    for name in ["back.parquet", "back.csv"] {
        let out = dir.path().join(name);
        write_table(&out, &t).unwrap();
        let back = read_table(&out).unwrap();
        assert_eq!(classes(&back), classes(&t), "{name}");
        assert_eq!(back.failure, t.failure, "{name}");
        assert_eq!(back.failure, [true, false, true], "{name}");
    }
}

#[test]
fn renamed_columns_read_as_the_schema_would() {
    let dir = tempfile::tempdir().unwrap();
    let canonical = write(
        dir.path(),
        "canonical.csv",
        "deployment,example_id,label,prediction,hair\n\
         m1,p1,1,0,dark\nm1,p2,0,0,blond\nm2,p1,1,1,dark\nm2,p2,0,1,blond\n",
    );
    // Someone else's file: other names, a stale `label` column of names the renaming displaces,
    // and a column named `prediction` that is really the model.
    let foreign = write(
        dir.path(),
        "foreign.csv",
        "prediction,person,truth,guess,hair,label\n\
         m1,p1,1,0,dark,pos\nm1,p2,0,0,blond,neg\nm2,p1,1,1,dark,pos\nm2,p2,0,1,blond,neg\n",
    );
    let want = read_table(&canonical).unwrap();
    let settings = [
        "deployment=prediction",
        "example_id=person",
        "label=truth",
        "prediction=guess",
    ];
    let got = read_tables_with(std::slice::from_ref(&foreign), &options(&settings, false)).unwrap();
    assert_eq!(got.deployment, want.deployment);
    assert_eq!(got.example_id, want.example_id);
    assert_eq!(got.label, want.label);
    assert_eq!(got.prediction, want.prediction);
    assert_eq!(got.failure, want.failure);
    // `label` is displaced by label=truth and left out; `hair` stays a group column.
    let extra: Vec<&str> = got.extra.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(extra, ["hair"]);

    // Errors name the file's column and the setting that pointed there.
    let e = read_tables_with(
        std::slice::from_ref(&foreign),
        &options(
            &["deployment=prediction", "example_id=id", "prediction=guess"],
            false,
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("missing required column `id` (example_id, from --column example_id=id)"),
        "{e}"
    );
    let e = read_tables_with(
        &[foreign],
        &options(
            &[
                "deployment=prediction",
                "example_id=person",
                "prediction=guess",
                "failure=truth",
                "loss=hair",
            ],
            false,
        ),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .contains("row 1, column `hair`: expected a number, found `dark`"),
        "{e}"
    );
}

#[test]
fn one_deployment_per_file_named_by_the_shortest_separating_path() {
    let dir = tempfile::tempdir().unwrap();
    let body = |fails: [u8; 3]| {
        let mut s = "example_id,failure\n".to_string();
        for (i, f) in fails.iter().enumerate() {
            s.push_str(&format!("p{i},{f}\n"));
        }
        s
    };
    let x = write(dir.path(), "runs/x/preds.csv", &body([1, 1, 0]));
    let y = write(dir.path(), "runs/y/preds.csv", &body([1, 0, 0]));
    let z = write(dir.path(), "z.csv", &body([0, 1, 0]));
    let t = read_tables_with(&[x.clone(), y, z], &options(&[], true)).unwrap();
    assert_eq!(t.deployment.levels, ["x/preds", "y/preds", "z"]);
    assert_eq!(
        t.failure,
        [true, true, false, true, false, false, false, true, false]
    );

    // Without the option the deployment column is required, and the message says how else.
    let e = read_table(&x).unwrap_err().to_string();
    assert!(
        e.contains("missing required column `deployment`") && e.contains("--deployment-per-file"),
        "{e}"
    );
    // A file that has a deployment column as well is a contradiction.
    let w = write(
        dir.path(),
        "w.csv",
        "deployment,example_id,failure\na,p0,1\n",
    );
    let e = read_tables_with(&[x, w], &options(&[], true))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("w.csv, column `deployment`: the file has a deployment column"),
        "{e}"
    );
}

fn wide(setting: &str, renames: &[&str]) -> ReadOptions {
    ReadOptions {
        wide: Some(Wide::parse(setting).unwrap()),
        ..options(renames, false)
    }
}

/// The error reading `text` as a CSV with `options`.
fn wide_error(text: &str, options: &ReadOptions) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "w.csv", text);
    let e = read_tables_with(&[path], options)
        .and_then(|t| systems(&t, &[]).map(|_| ()))
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    e.to_string()
}

#[test]
fn a_wide_table_reads_as_its_long_form() {
    let dir = tempfile::tempdir().unwrap();
    let long = write(
        dir.path(),
        "long.csv",
        "deployment,example_id,label,prediction,hair\n\
         m1,p1,yes,no,dark\nm2,p1,yes,yes,dark\nm1,p2,no,no,blond\nm2,p2,no,yes,blond\n",
    );
    let wide_csv = write(
        dir.path(),
        "wide.csv",
        "person,label,m1,m2,hair\np1,yes,no,yes,dark\np2,no,no,yes,blond\n",
    );
    let want = read_table(&long).unwrap();
    let got = read_tables_with(
        std::slice::from_ref(&wide_csv),
        &wide("prediction=m1, m2", &["example_id=person"]),
    )
    .unwrap();
    assert_eq!(got.deployment, want.deployment);
    assert_eq!(got.example_id, want.example_id);
    assert_eq!(classes(&got), classes(&want));
    assert_eq!(got.failure, [true, false, false, true]);
    assert_eq!(got.extra, want.extra);

    // The same as Parquet, with failure flags instead of predictions.
    let path = write_parquet(
        dir.path(),
        "wide.parquet",
        vec![
            (
                "example_id",
                Arc::new(StringArray::from(vec!["p1", "p2"])) as _,
            ),
            (
                "m1",
                Arc::new(arrow_array::BooleanArray::from(vec![true, false])) as _,
            ),
            ("m2", Arc::new(StringArray::from(vec!["0", "1"])) as _),
            (
                "hair",
                Arc::new(StringArray::from(vec!["dark", "blond"])) as _,
            ),
        ],
    );
    let got = read_tables_with(&[path], &wide("failure=m1,m2", &[])).unwrap();
    assert_eq!(got.failure, [true, false, false, true]);
    assert_eq!(got.deployment, want.deployment);
    assert_eq!(got.extra, want.extra);
    assert_eq!(got.label, None);

    // Parquet with predictions: an integer column and a text one, against integer labels.
    let path = write_parquet(
        dir.path(),
        "wide-predictions.parquet",
        vec![
            (
                "example_id",
                Arc::new(StringArray::from(vec!["p1", "p2"])) as _,
            ),
            ("label", Arc::new(Int64Array::from(vec![1, 0])) as _),
            ("m1", Arc::new(Int64Array::from(vec![0, 0])) as _),
            ("m2", Arc::new(StringArray::from(vec!["1", "1"])) as _),
        ],
    );
    let got = read_tables_with(&[path], &wide("prediction=m1,m2", &[])).unwrap();
    assert_eq!(got.failure, [true, false, false, true]);
    assert_eq!(got.prediction.as_deref(), Some(&[0, 1, 0, 1][..]));
    assert_eq!(got.label.as_deref(), Some(&[1, 1, 0, 0][..]));
}

#[test]
fn wide_tables_refuse_contradictions_and_name_the_file_row() {
    let opts = wide("prediction=a,b", &[]);
    // A person listed twice is named by the file's row, not the table's, and by the file's
    // column.
    let e = wide_error(
        "person,label,a,b\np1,1,1,0\np2,0,0,0\np1,1,1,1\n",
        &wide("prediction=a,b", &["example_id=person"]),
    );
    assert!(
        e.contains("w.csv, row 3, column `person`: duplicate row"),
        "{e}"
    );
    assert!(e.contains("row 1"), "{e}");
    let e = wide_error("example_id,label,a\np1,1,1\n", &opts);
    assert!(
        e.contains("column `b`, option `--wide`: no such column"),
        "{e}"
    );
    let e = wide_error("example_id,label,a,b\np1,1,1,\n", &opts);
    assert!(
        e.contains("row 1, column `b`: empty value; expected a class"),
        "{e}"
    );
    let e = wide_error("example_id,label,a,b,failure\np1,1,1,1,0\n", &opts);
    assert!(
        e.contains("column `failure`: a failure column (`failure`) next to --wide prediction"),
        "{e}"
    );
    let e = wide_error("deployment,example_id,label,a,b\nx,p1,1,1,1\n", &opts);
    assert!(e.contains("has a deployment column"), "{e}");
    let e = wide_error(
        "example_id,label,a,b\np1,1,1,1\n",
        &wide("prediction=a,label", &[]),
    );
    assert!(e.contains("`label` is the label column"), "{e}");
    let e = wide_error("example_id,a,b\np1,1,1\n", &opts);
    assert!(e.contains("`label` is absent"), "{e}");
    let e = wide_error("example_id,a,b\np1,1,maybe\n", &wide("failure=a,b", &[]));
    assert!(
        e.contains("row 1, column `b`: expected 0, 1, true or false, found `maybe`"),
        "{e}"
    );

    for (setting, message) in [
        ("a,b", "expected prediction=COL,COL..."),
        ("label=a,b", "hold `prediction` or `failure`, not `label`"),
        ("failure=a,,b", "found an empty one"),
        ("failure=a,b,a", "column `a` is listed twice"),
    ] {
        let e = Wide::parse(setting).unwrap_err().to_string();
        assert!(e.starts_with("option `--wide`: "), "{e}");
        assert!(e.contains(message), "{setting}: {e}");
    }
}

/// pandas stores an integer id column that has a missing value as floats: person `1.0` in such
/// a Parquet file is person `1` of a CSV file (not a person of its own), and a float group
/// column's NaN (pandas' missing value) is refused like a null, naming the row.
#[test]
fn float_ids_that_are_whole_numbers_name_the_same_people() {
    use arrow_array::Float64Array;
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "a.csv",
        "deployment,example_id,label,prediction\na,1,0,1\na,2,1,0\na,3,0,0\n",
    );
    let ints = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let parquet = write_parquet(
        dir.path(),
        "b.parquet",
        vec![
            ("deployment", Arc::new(StringArray::from(vec!["b"; 3])) as _),
            (
                "example_id",
                Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as _,
            ),
            ("label", ints(vec![0, 1, 0])),
            ("prediction", ints(vec![1, 1, 0])),
        ],
    );
    let t = read_tables(&[csv, parquet]).unwrap();
    let s = systems(&t, &[]).unwrap();
    assert_eq!(s[0].n_people(), 3, "ids 1.0, 2.0, 3.0 are people 1, 2, 3");
    // Fractional floats keep their digits; NaN is a missing value.
    let group = |g: Vec<f64>| {
        write_parquet(
            dir.path(),
            "g.parquet",
            vec![
                ("deployment", Arc::new(StringArray::from(vec!["b"; 2])) as _),
                (
                    "example_id",
                    Arc::new(StringArray::from(vec!["1", "2"])) as _,
                ),
                ("label", ints(vec![0, 1])),
                ("prediction", ints(vec![1, 1])),
                ("region", Arc::new(Float64Array::from(g)) as _),
            ],
        )
    };
    let t = read_table(&group(vec![1.5, 2.0])).unwrap();
    let region = t.extra_column("region").unwrap();
    assert_eq!(
        (0..2)
            .map(|r| region.value(r).to_string())
            .collect::<Vec<_>>(),
        ["1.5", "2"]
    );
    let e = read_table(&group(vec![1.0, f64::NAN]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("region") && e.contains("NaN") && e.contains('2'),
        "{e}"
    );
}

/// The error of reading `paths` with `options` (bad input, exit code 2).
fn read_error(paths: &[PathBuf], options: &ReadOptions) -> String {
    let e = read_tables_with(paths, options)
        .and_then(|t| systems(&t, &[]).map(|_| ()))
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    e.to_string()
}

/// CSV has no column types, so a label or prediction column is typed from its values as pandas
/// types it and then read as Parquet reads that type: every value a number, the column is
/// numeric and holds integer classes (`1.0` = `1` = `1e0`; a fraction is an error naming the
/// file, row, column and value, as in a Parquet float column); any other value, class names.
#[test]
fn csv_class_columns_are_typed_as_parquet_columns_are() {
    use arrow_array::Float64Array;
    let dir = tempfile::tempdir().unwrap();
    // Probabilities passed as predictions: an error, in CSV as in Parquet.
    let csv = write(
        dir.path(),
        "probs.csv",
        "deployment,example_id,label,prediction\na,p1,1,1\na,p2,0,0\na,p3,1,0.73\n",
    );
    let e = read_error(&[csv], &ReadOptions::default());
    assert!(
        e.contains(
            "probs.csv, row 3, column `prediction`: expected an integer class, found `0.73`"
        ),
        "{e}"
    );
    let parquet = write_parquet(
        dir.path(),
        "probs.parquet",
        vec![
            ("deployment", Arc::new(StringArray::from(vec!["a"; 3])) as _),
            (
                "example_id",
                Arc::new(StringArray::from(vec!["p1", "p2", "p3"])) as _,
            ),
            ("label", Arc::new(Int64Array::from(vec![1, 0, 1])) as _),
            (
                "prediction",
                Arc::new(Float64Array::from(vec![1.0, 0.0, 0.73])) as _,
            ),
        ],
    );
    let e = read_error(&[parquet], &ReadOptions::default());
    assert!(
        e.contains(
            "probs.parquet, row 3, column `prediction`: expected an integer class, found 0.73"
        ),
        "{e}"
    );
    // In the label column too, and NaN (pandas' missing value) and 2^53 written as a float.
    for (value, says) in [
        ("1.5", "found `1.5`"),
        ("nan", "found `nan`"),
        (
            "1e16",
            "found `1e16`: a float holds integers exactly only below 2^53",
        ),
        (
            "99999999999999999999",
            "found `99999999999999999999`: it does not fit a 64-bit signed integer",
        ),
    ] {
        let csv = write(
            dir.path(),
            "label.csv",
            &format!("deployment,example_id,label,prediction\na,p1,1,1\na,p2,{value},1\n"),
        );
        let e = read_error(&[csv], &ReadOptions::default());
        assert!(
            e.contains("label.csv, row 2, column `label`: expected an integer class, ")
                && e.contains(says),
            "{value}: {e}"
        );
    }
    // A `--wide` prediction column is a column of its own.
    let csv = write(
        dir.path(),
        "wide.csv",
        "example_id,label,m1,m2\np1,1,1,1\np2,0,0,0.5\n",
    );
    let e = read_error(&[csv], &wide("prediction=m1,m2", &[]));
    assert!(
        e.contains("wide.csv, row 2, column `m2`: expected an integer class, found `0.5`"),
        "{e}"
    );

    // Whole numbers however written are the integer classes: label 1 against predictions
    // 1.0, 1e0 and +1 is no failure; 0.0 against 1 is one (failures by hand: F F T F T).
    let csv = write(
        dir.path(),
        "whole.csv",
        "deployment,example_id,label,prediction\n\
         a,p1,1,1.0\na,p2,1,1e0\na,p3,0.0,1\na,p4,1,+1\na,p5,2.0,0\n",
    );
    let t = read_tables(&[csv]).unwrap();
    assert_eq!(t.failure, [false, false, true, false, true]);
    assert_eq!(t.class_names, None);
    assert_eq!(t.label.as_deref(), Some(&[1, 1, 0, 1, 2][..]));

    // A column with any value that is not a number holds names: `1.5` is then a class name,
    // the same class in the label and the prediction column (by hand: T F F T).
    let csv = write(
        dir.path(),
        "names.csv",
        "deployment,example_id,label,prediction\n\
         a,p1,cat,dog\na,p2,1.5,1.5\na,p3,1,1.0\na,p4,dog,1.5\n",
    );
    let t = read_tables(&[csv]).unwrap();
    assert_eq!(t.failure, [true, false, false, true]);
    let mut names = t.class_names.clone().unwrap();
    names.sort();
    assert_eq!(names, ["1", "1.5", "cat", "dog"]);
}

/// An id column whose every value is a number reads alike from CSV and Parquet: pandas writes
/// a float id column as `1.0` to CSV and as the float 1.0 to Parquet, and both are person `1`
/// of an integer column. Integers are kept as written, and a column with any other id is text.
#[test]
fn numeric_csv_ids_name_the_same_people_as_parquet_ids() {
    use arrow_array::Float64Array;
    let dir = tempfile::tempdir().unwrap();
    let ints = write(
        dir.path(),
        "ints.csv",
        "deployment,example_id,failure\na,1,1\na,2,1\na,3,0\na,4,0\n",
    );
    let floats = write(
        dir.path(),
        "floats.csv",
        "deployment,example_id,failure\nb,1.0,1\nb,2.0,0\nb,3.0,1\nb,4.0,0\n",
    );
    let parquet = write_parquet(
        dir.path(),
        "floats.parquet",
        vec![
            ("deployment", Arc::new(StringArray::from(vec!["c"; 4])) as _),
            (
                "example_id",
                Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0])) as _,
            ),
            (
                "failure",
                Arc::new(arrow_array::BooleanArray::from(vec![
                    true, false, false, true,
                ])) as _,
            ),
        ],
    );
    let t = read_tables(&[ints, floats, parquet]).unwrap();
    let s = systems(&t, &[]).unwrap();
    assert_eq!(s[0].people, ["1", "2", "3", "4"], "4 people, not 8 or 12");
    // Person 1 is failed by all three deployments (a: 1 1 0 0, b: 1 0 1 0, c: 1 0 0 1).
    assert_eq!(s[0].person(0), [1, 1, 1]);

    // Fractions keep their value in Parquet's spelling; integers keep theirs; NaN is missing.
    let csv = write(
        dir.path(),
        "mixed.csv",
        "deployment,example_id,failure,region\na,007,1,2.50\na,2.5e0,0,1.0\na,12345678901234567891,0,3\n",
    );
    let t = read_tables(&[csv]).unwrap();
    assert_eq!(t.example_id.levels, ["007", "2.5", "12345678901234567891"]);
    let region = t.extra_column("region").unwrap();
    assert_eq!(region.levels, ["2.5", "1", "3"]);
    let csv = write(
        dir.path(),
        "nan.csv",
        "deployment,example_id,failure\na,1,1\na,NaN,0\n",
    );
    let e = read_error(&[csv], &ReadOptions::default());
    assert!(
        e.contains("nan.csv, row 2, column `example_id`: missing value (NaN)"),
        "{e}"
    );
    // Text ids stay as written: `1.0` is not person `1` in a column of names.
    let csv = write(
        dir.path(),
        "text.csv",
        "deployment,example_id,failure\na,p1,1\na,1.0,0\na,1,0\n",
    );
    let t = read_tables(&[csv]).unwrap();
    assert_eq!(t.example_id.levels, ["p1", "1.0", "1"]);
}

/// Pairwise metrics are named `covariance:<a>|<b>`: a deployment name holding `|` would make
/// those names ambiguous (deployments `a|b`, `c` and `a`, `b|c` both give `a|b|c`), so it is
/// refused wherever the name comes from, naming the file, row and column or option.
#[test]
fn deployment_names_with_the_pair_separator_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "pipe.csv",
        "deployment,example_id,failure\nc,p1,1\na|b,p1,0\n",
    );
    let e = read_error(&[csv], &ReadOptions::default());
    assert!(
        e.contains("pipe.csv, row 2, column `deployment`: the deployment name `a|b` contains `|`"),
        "{e}"
    );
    let parquet = write_parquet(
        dir.path(),
        "pipe.parquet",
        vec![
            ("model", Arc::new(StringArray::from(vec!["c", "a|b"])) as _),
            (
                "example_id",
                Arc::new(StringArray::from(vec!["p1", "p1"])) as _,
            ),
            ("failure", Arc::new(Int64Array::from(vec![1, 0])) as _),
        ],
    );
    let e = read_error(&[parquet], &options(&["deployment=model"], false));
    assert!(
        e.contains("pipe.parquet, row 2, column `model`: the deployment name `a|b`"),
        "{e}"
    );
    // Named after the file.
    let file = write(dir.path(), "x|y.csv", "example_id,failure\np1,1\n");
    let other = write(dir.path(), "z.csv", "example_id,failure\np1,1\n");
    let e = read_error(&[other, file], &options(&[], true));
    assert!(
        e.contains("x|y.csv: the deployment name `x|y` contains `|`")
            && e.contains("--deployment-per-file"),
        "{e}"
    );
    // A `--wide` column.
    let csv = write(
        dir.path(),
        "wide.csv",
        "example_id,label,m|1,m2\np1,1,1,0\n",
    );
    let e = read_error(&[csv], &wide("prediction=m|1,m2", &[]));
    assert!(
        e.contains("wide.csv, column `m|1`") && e.contains("the deployment name `m|1`"),
        "{e}"
    );
    // A table built in memory is checked when split into systems.
    let mut t = FailureTable::new();
    t.deployment = homogen::failures::Categorical::from_values("deployment", &["a", "b|c"]);
    t.example_id = homogen::failures::Categorical::from_values("example_id", &["p1", "p1"]);
    t.failure = vec![true, false];
    let e = systems(&t, &[]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .contains("row 2, column `deployment`: the deployment name `b|c`"),
        "{e}"
    );
    // `:` is allowed: the metric's name ends at the first `:`.
    let csv = write(
        dir.path(),
        "colon.csv",
        "deployment,example_id,failure\nmodel:v2,p1,1\nother,p1,0\n",
    );
    let t = read_tables(&[csv]).unwrap();
    assert_eq!(
        systems(&t, &[]).unwrap()[0].deployments,
        ["model:v2", "other"]
    );
}
