//! Reading and writing failure tables: files written by other tools, round trips, and the
//! validation errors a user sees (file, row, column, what was expected).

use std::path::{Path, PathBuf};

use homogen::failures::{self, read_table, write_table, Categorical, FailureTable};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/failures")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn levels(c: &Categorical) -> Vec<String> {
    (0..c.len()).map(|r| c.value(r).to_string()).collect()
}

#[test]
fn reads_a_pandas_parquet_file() {
    // scripts/make_failure_fixtures.py: integer ids, integral float predictions, a categorical
    // group column, float32 loss, no `failure` column (derived from label != prediction).
    let want = &expected()["pandas.parquet"];
    let t = read_table(&fixture("pandas.parquet")).unwrap();
    assert!(t.system.is_none());
    assert_eq!(levels(&t.deployment), strings(&want["deployments"]));
    assert_eq!(levels(&t.example_id), strings(&want["example_ids"]));
    let failure: Vec<bool> = want["failure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect();
    assert_eq!(t.failure, failure);
    let prediction: Vec<i64> = want["prediction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(t.prediction.as_ref().unwrap(), &prediction);
    let loss: Vec<f64> = want["loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(t.loss.as_ref().unwrap(), &loss);
    assert_eq!(
        levels(t.extra_column("hair").unwrap()),
        strings(&want["hair"])
    );
    assert_eq!(
        levels(t.extra_column("seed").unwrap()),
        strings(&want["seed"])
    );
}

#[test]
fn reads_large_string_and_dictionary_columns_from_pyarrow() {
    let want = &expected()["pyarrow.parquet"];
    let t = read_table(&fixture("pyarrow.parquet")).unwrap();
    assert_eq!(
        levels(t.system.as_ref().unwrap()),
        strings(&want["systems"])
    );
    assert_eq!(levels(&t.deployment), strings(&want["deployments"]));
    let systems = failures::systems(&t, &[]).unwrap();
    assert_eq!(systems.len(), 2);
    // s1: person p failed by x, not by y; s2 the reverse.
    assert_eq!(systems[0].outcomes, vec![failures::FAILED, failures::OK]);
    assert_eq!(systems[1].outcomes, vec![failures::OK, failures::FAILED]);
}

fn sample_table() -> FailureTable {
    let mut t = FailureTable::new();
    let mut system = Categorical::new("system");
    let mut group = Categorical::new("sex");
    let rows = [
        ("s", "task1", "0", 1, 1, 0.25, "female"),
        ("s", "task1", "1", 0, 1, 1.5, "male"),
        ("s", "task2", "0", 2, 0, 3.0e-17, "female"),
        ("s", "task2", "1", 0, 0, 0.1, "male"),
    ];
    let (mut label, mut prediction, mut loss) = (vec![], vec![], vec![]);
    for (s, d, id, l, p, x, g) in rows {
        system.push(s);
        t.deployment.push(d);
        t.example_id.push(id);
        label.push(l);
        prediction.push(p);
        t.failure.push(l != p);
        loss.push(x);
        group.push(g);
    }
    t.system = Some(system);
    t.label = Some(label);
    t.prediction = Some(prediction);
    t.loss = Some(loss);
    t.float_extra = vec![("prob".to_string(), vec![0.9, 0.6, 0.75, 0.5])];
    t.extra = vec![group];
    t
}

#[test]
fn parquet_and_csv_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample_table();
    for name in ["t.parquet", "t.csv"] {
        let path = dir.path().join(name);
        write_table(&path, &original).unwrap();
        let mut back = read_table(&path).unwrap();
        // `prob` comes back as a text attribute column from either format; compare the rest.
        let prob = back.extra.iter().position(|c| c.name == "prob").unwrap();
        let prob = back.extra.remove(prob);
        assert_eq!(levels(&prob), vec!["0.9", "0.6", "0.75", "0.5"], "{name}");
        back.origins.clear();
        let mut want = original.clone();
        want.float_extra.clear();
        assert_eq!(back, want, "{name}");
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}

#[test]
fn writing_the_same_table_twice_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write_table(&a, &sample_table()).unwrap();
    write_table(&b, &sample_table()).unwrap();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

/// A table written in parts, one part in memory at a time, reads back as the parts appended;
/// parts with other columns, and no parts at all, are errors that leave no file.
#[test]
fn parquet_written_in_parts_reads_back_as_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts.parquet");
    let mut second = sample_table();
    second.system = Some({
        let mut c = Categorical::new("system");
        (0..4).for_each(|_| c.push("t"));
        c
    });
    failures::write_parquet_parts(&path, [Ok(sample_table()), Ok(second.clone())]).unwrap();
    let mut whole = sample_table();
    whole.append(second);
    let mut back = read_table(&path).unwrap();
    back.origins.clear();
    let prob = back.extra.iter().position(|c| c.name == "prob").unwrap();
    back.extra.remove(prob);
    whole.float_extra.clear();
    assert_eq!(back, whole);
    assert_eq!(back.example_id.len(), 8);

    let other = dir.path().join("other.parquet");
    let mut no_loss = sample_table();
    no_loss.loss = None;
    let e = failures::write_parquet_parts(&other, [Ok(sample_table()), Ok(no_loss)]).unwrap_err();
    assert!(e.to_string().contains("columns differ"), "{e}");
    assert!(!other.exists());
    let e = failures::write_parquet_parts(&other, std::iter::empty()).unwrap_err();
    assert!(e.to_string().contains("no rows"), "{e}");
    assert!(!other.exists());
}

/// Writes `content` to a CSV in a temporary folder and reads it, returning the error text.
fn csv_error(content: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, content).unwrap();
    let e = read_table(&path)
        .and_then(|t| failures::systems(&t, &[]).map(|_| ()))
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    e.to_string()
}

#[test]
fn csv_validation_names_file_row_and_column() {
    let e = csv_error(b"deployment,label,prediction\na,1,1\n");
    assert!(
        e.contains("bad.csv") && e.contains("missing required column `example_id`"),
        "{e}"
    );

    let e = csv_error(b"deployment,example_id,failure\na,p1,1\na,p2,maybe\n");
    assert!(
        e.contains("row 2, column `failure`: expected 0, 1, true or false, found `maybe`"),
        "{e}"
    );

    let e = csv_error(b"deployment,example_id,label\na,p1,1\n");
    assert!(
        e.contains("no failure column (`failure`) and `prediction` is absent"),
        "{e}"
    );

    let e = csv_error(b"deployment,example_id\na,p1\n");
    assert!(
        e.contains("`label` and `prediction` are both absent"),
        "{e}"
    );

    let e = csv_error(b"deployment,example_id,label,prediction\na,p1,1,x\na,p2,0, \n");
    assert!(
        e.contains("row 2, column `prediction`: empty value; expected a class"),
        "{e}"
    );

    let e = csv_error(b"deployment,example_id,failure\na,p1,1\nb,p1,0\na,p1,0\n");
    assert!(
        e.contains("row 3") && e.contains("duplicate row") && e.contains("first seen at"),
        "{e}"
    );
    assert!(e.contains("row 1"), "the first occurrence is named: {e}");

    let e = csv_error(b"");
    assert!(e.contains("the file is empty"), "{e}");

    let e = csv_error(b"deployment,example_id,failure\n");
    assert!(e.contains("no data rows"), "{e}");

    let e = csv_error(b"deployment,example_id,failure\na,,1\n");
    assert!(e.contains("row 1, column `example_id`: empty value"), "{e}");

    let e = csv_error(b"deployment,example_id,failure\na,p\xff1,1\n");
    assert!(e.contains("row 1") && e.contains("not valid UTF-8"), "{e}");

    let e = csv_error(b"system,deployment,example_id,failure\ns1,a,p1,1\ns1,b,p1,1\ns2,a,p1,0\n");
    assert!(
        e.contains("system `s2` has no rows for deployment `b`"),
        "{e}"
    );

    let e = csv_error(b"deployment,example_id,failure\na,p1,1,extra\n");
    assert!(
        e.contains("row 1: the row has 4 fields but the header has 3"),
        "{e}"
    );

    // Rows are records, not lines: a quoted field spanning two lines is still one row.
    let e = csv_error(b"deployment,example_id,failure\n\"a\nb\",p1,1\na,p2,1,extra\n");
    assert!(
        e.contains("row 2: the row has 4 fields but the header has 3"),
        "{e}"
    );
    let e = csv_error(b"deployment,example_id,failure\n\"a\nb\",p1,1\na,p\xff2,1\n");
    assert!(e.contains("row 2") && e.contains("not valid UTF-8"), "{e}");

    // A quote left open swallows the following lines into one field: the error says so.
    let e = csv_error(b"deployment,example_id,failure\na,p1,0\n\"b,p2,1\na,p3,1\n");
    assert!(
        e.contains("row 2: the row has 1 field but the header has 3")
            && e.contains("is a quote (\") not closed?"),
        "{e}"
    );
    // A short row without one gets no such hint.
    let e = csv_error(b"deployment,example_id,failure\na,p1\n");
    assert!(
        e.contains("row 1: the row has 2 fields") && !e.contains("quote"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_parquet_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.parquet");
    std::fs::write(&path, b"PAR1 this is not really parquet").unwrap();
    let e = read_table(&path).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("broken.parquet")
            && e.to_string().contains("cannot read as Parquet"),
        "{e}"
    );

    let e = read_table(&dir.path().join("absent.csv")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("absent.csv: no such file"), "{e}");
}

#[test]
fn parquet_nulls_and_fractional_labels_are_located() {
    use arrow_array::{Float64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, batch: RecordBatch| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    };
    let batch = RecordBatch::try_from_iter([
        (
            "deployment",
            Arc::new(StringArray::from(vec![Some("a"), None])) as _,
        ),
        (
            "example_id",
            Arc::new(StringArray::from(vec!["p1", "p2"])) as _,
        ),
        ("failure", Arc::new(StringArray::from(vec!["1", "0"])) as _),
    ])
    .unwrap();
    let e = read_table(&write("nulls.parquet", batch))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nulls.parquet, row 2, column `deployment`: missing value"),
        "{e}"
    );

    let batch = RecordBatch::try_from_iter([
        (
            "deployment",
            Arc::new(StringArray::from(vec!["a", "a"])) as _,
        ),
        (
            "example_id",
            Arc::new(StringArray::from(vec!["p1", "p2"])) as _,
        ),
        ("label", Arc::new(Float64Array::from(vec![1.0, 0.5])) as _),
        (
            "prediction",
            Arc::new(Float64Array::from(vec![1.0, 1.0])) as _,
        ),
    ])
    .unwrap();
    let e = read_table(&write("frac.parquet", batch))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("frac.parquet, row 2, column `label`: expected an integer class, found 0.5"),
        "{e}"
    );

    // Values that cannot be the class they seem: a uint64 beyond i64 (the cast gives null), a
    // float beyond 2^53 (1e300 and 1e301 would both become i64::MAX).
    let ids = || Arc::new(StringArray::from(vec!["p1", "p2"])) as arrow_array::ArrayRef;
    let deployments = || Arc::new(StringArray::from(vec!["a", "a"])) as arrow_array::ArrayRef;
    let with_label = |label: arrow_array::ArrayRef| {
        RecordBatch::try_from_iter([
            ("deployment", deployments()),
            ("example_id", ids()),
            ("label", label),
            (
                "prediction",
                Arc::new(Float64Array::from(vec![1.0, 1.0])) as _,
            ),
        ])
        .unwrap()
    };
    let big = with_label(Arc::new(arrow_array::UInt64Array::from(vec![1, u64::MAX])));
    let e = read_table(&write("big.parquet", big))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "big.parquet, row 2, column `label`: the class 18446744073709551615 does not fit"
        ),
        "{e}"
    );
    let huge = with_label(Arc::new(Float64Array::from(vec![1.0, 1e300])));
    let e = read_table(&write("huge.parquet", huge))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("huge.parquet, row 2, column `label`: expected an integer class, found 1e300"),
        "{e}"
    );

    // A column of Arrow's Null type (pyarrow's type for an all-missing column) is missing
    // values, not a group named "".
    let batch = RecordBatch::try_from_iter_with_nullable([
        ("deployment", deployments(), false),
        ("example_id", ids(), false),
        (
            "failure",
            Arc::new(StringArray::from(vec!["1", "0"])) as _,
            false,
        ),
        ("hair", Arc::new(arrow_array::NullArray::new(2)) as _, true),
    ])
    .unwrap();
    let e = read_table(&write("nullhair.parquet", batch))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nullhair.parquet, row 1, column `hair`: missing value (null)"),
        "{e}"
    );

    // A boolean loss is not a loss.
    let batch = RecordBatch::try_from_iter([
        ("deployment", deployments()),
        ("example_id", ids()),
        ("failure", Arc::new(StringArray::from(vec!["1", "0"])) as _),
        (
            "loss",
            Arc::new(arrow_array::BooleanArray::from(vec![true, false])) as _,
        ),
    ])
    .unwrap();
    let e = read_table(&write("boolloss.parquet", batch))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("boolloss.parquet, column `loss`: expected numbers, found a boolean column"),
        "{e}"
    );
}

#[test]
fn many_files_concatenate_and_keep_their_origins() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    std::fs::write(
        &a,
        "deployment,example_id,failure,g\nd1,p1,1,x\nd1,p2,0,y\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "deployment,example_id,failure,g\nd2,p1,1,x\nd2,p1,0,x\n",
    )
    .unwrap();
    let t = failures::read_tables(&[a, b.clone()]).unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(
        levels(t.extra_column("g").unwrap()),
        vec!["x", "y", "x", "x"]
    );
    // The duplicate is in b.csv's second data row, not in row 4 of the concatenation.
    let e = failures::systems(&t, &[]).unwrap_err().to_string();
    assert!(e.contains(&format!("{}, row 2", b.display())), "{e}");
}

/// Several workers of one run may write the same destination at once (two cells needing the same
/// cached features): every write must succeed and the file must end whole, one writer's bytes.
#[test]
fn concurrent_atomic_writes_to_one_path_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.bin");
    let writers: Vec<_> = (0..8u8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    failures::write_atomically(&path, |w| {
                        std::io::Write::write_all(w, &[i; 4096])
                            .map_err(|e| homogen::error::Error::io("test write", e))
                    })?;
                }
                Ok::<_, homogen::error::Error>(())
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap().unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 4096);
    assert!(bytes.iter().all(|&b| b == bytes[0]));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "shared.bin")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// An output path that is a folder is bad input, refused before anything is written (it was a
/// temporary file in the folder's parent, then a failed rename).
#[test]
fn writing_onto_a_folder_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    std::fs::create_dir(&target).unwrap();
    let e = failures::write_atomically(&target, |_| Ok(())).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .ends_with("out: is a folder; expected the name of a file to write"),
        "{e}"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the folder itself");
}

/// Parquet in every codec writers use (zstd is polars' default; `homogen` read only snappy and
/// uncompressed files before): each holds the bundled example table, row for row
/// (`scripts/make_compressed_parquet.py`).
#[test]
fn reads_parquet_in_every_codec() {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/example/failures.csv");
    let want = read_table(&csv).unwrap();
    assert_eq!(want.len(), 3600);
    for codec in ["zstd", "gzip", "lz4", "brotli"] {
        let t = read_table(&fixture(&format!("compressed/{codec}.parquet")))
            .unwrap_or_else(|e| panic!("{codec}: {e}"));
        assert_eq!(t.len(), want.len(), "{codec}");
        assert_eq!(levels(&t.example_id), levels(&want.example_id), "{codec}");
        assert_eq!(levels(&t.deployment), levels(&want.deployment), "{codec}");
        assert_eq!(t.failure, want.failure, "{codec}");
        let region =
            |t: &FailureTable| levels(t.extra.iter().find(|c| c.name == "region").unwrap());
        assert_eq!(region(&t), region(&want), "{codec}");
    }
}

/// Attribute columns of types Arrow cannot cast to text no longer make a file unreadable: a
/// pandas `datetime64[ns, UTC]` column (a zone name needs a time-zone database Arrow is built
/// without here; the instants print in UTC) and a struct column (printed as Arrow prints it).
/// Both were "cannot read ... values as text" errors before.
#[test]
fn reads_zoned_timestamps_and_structs_as_attribute_text() {
    use arrow_array::{ArrayRef, Int64Array, StringArray, StructArray, TimestampNanosecondArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let strings = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
    let ints = |v: &[i64]| -> ArrayRef { Arc::new(Int64Array::from(v.to_vec())) };
    // 2024-01-01T00:00:00Z and one hour later, in nanoseconds.
    let t0 = 1_704_067_200_000_000_000i64;
    let ts: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(vec![t0, t0 + 3_600_000_000_000]).with_timezone("UTC"),
    );
    let meta: ArrayRef = Arc::new(StructArray::from(vec![
        (
            Arc::new(arrow_schema::Field::new(
                "a",
                arrow_schema::DataType::Int64,
                false,
            )),
            ints(&[1, 2]),
        ),
        (
            Arc::new(arrow_schema::Field::new(
                "b",
                arrow_schema::DataType::Utf8,
                false,
            )),
            strings(&["x", "y"]),
        ),
    ]));
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        ("deployment", strings(&["m", "m"])),
        ("example_id", strings(&["1", "2"])),
        ("label", ints(&[0, 1])),
        ("prediction", ints(&[1, 1])),
        ("ts", ts),
        ("meta", meta),
    ])
    .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let t = read_table(&path).unwrap();
    let column = |name: &str| levels(t.extra.iter().find(|c| c.name == name).unwrap());
    assert_eq!(column("ts"), ["2024-01-01T00:00:00", "2024-01-01T01:00:00"]);
    assert_eq!(column("meta"), ["{a: 1, b: x}", "{a: 2, b: y}"]);
    assert_eq!(t.failure, [true, false]);
}
