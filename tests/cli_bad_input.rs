//! Bad input to the `homogen` commands found by an audit: each case exits 2 with a message
//! naming the file, key, option or column and what was expected, and leaves what was already
//! written untouched.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary under test (`HOMOGEN_BIN` overrides it, to check an older build against the
/// same cases).
fn bin() -> String {
    std::env::var("HOMOGEN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_homogen").to_string())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary; (exit code, stdout, stderr).
fn homogen(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The vision smoke config with absolute fixture paths, edited by `edit`, written into `dir`.
fn config(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("configs/smoke-vision.toml"))
        .unwrap()
        .replace("../tests/", &format!("{}/tests/", root().display()));
    let path = dir.join("c.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Method labels and task names become folders of the run: one that would leave the run
/// folder, or put several cells in one folder, is refused when the config loads.
#[test]
fn folder_names_from_the_config_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a/b/run");
    let cases: [(&str, &str, &str); 9] = [
        (
            "name = \"probe\"",
            "name = \"probe\"\nlabel = \"../../escape\"",
            "methods[1].label",
        ),
        (
            "name = \"probe\"",
            "name = \"probe\"\nlabel = \"/tmp/abs\"",
            "methods[1].label",
        ),
        (
            "name = \"probe\"",
            "name = \"probe\"\nlabel = \"\"",
            "methods[1].label",
        ),
        (
            "name = \"probe\"",
            "name = \"probe\"\nlabel = \".\"",
            "methods[1].label",
        ),
        (
            "name = \"Wearing_Earrings\"",
            "name = \"../../../x\"",
            "tasks[0].name",
        ),
        (
            "name = \"Wearing_Earrings\"",
            "name = \"\"",
            "tasks[0].name",
        ),
        (
            "name = \"Wearing_Earrings\"",
            "name = \"..\"",
            "tasks[0].name",
        ),
        (
            "name = \"Wearing_Earrings\"",
            "name = \"a\\tb\"",
            "tasks[0].name",
        ),
        // Task names are deployments, which may not hold the pairwise metrics' separator.
        (
            "name = \"Wearing_Earrings\"",
            "name = \"Earrings|Necklace\"",
            "tasks[0].name",
        ),
    ];
    for (from, to, key) in cases {
        let c = config(dir.path(), |t| t.replacen(from, to, 1));
        for cmd in ["plan", "run"] {
            let (code, _, err) = homogen(&[cmd, s(&c), "--out", s(&out), "--quiet"]);
            assert_eq!(code, 2, "{cmd} {to}: {err}");
            assert!(err.contains(&format!("key `{key}`")), "{cmd} {to}: {err}");
            assert!(err.contains("c.toml"), "{err}");
        }
        assert!(!out.exists(), "{to}: the run folder was written");
        assert!(!dir.path().join("escape").exists());
        assert!(!dir.path().join("x").exists());
    }
}

fn models() -> PathBuf {
    root().join("tests/fixtures/models")
}

fn save_pixels(path: &Path, t: candle_core::Tensor) {
    let map: std::collections::HashMap<String, candle_core::Tensor> =
        [("pixel_values".to_string(), t)].into();
    candle_core::safetensors::save(&map, path).unwrap();
}

/// `--out` naming the `--texts` file, the `--pixels` file or an image of the `--images` folder
/// is refused before anything is written: the input is kept.
#[test]
fn embed_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let texts = dir.path().join("texts.txt");
    std::fs::write(&texts, "one\ntwo\n").unwrap();
    let roberta = models().join("roberta");
    let (code, _, err) = homogen(&[
        "embed",
        "--model",
        s(&roberta),
        "--texts",
        s(&texts),
        "--out",
        s(&texts),
        "--quiet",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("option `--out`") && err.contains("also an input"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&texts).unwrap(), "one\ntwo\n");

    let clip = models().join("clip");
    let px = dir.path().join("px.safetensors");
    save_pixels(
        &px,
        candle_core::Tensor::zeros(
            (2, 3, 32, 32),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap(),
    );
    let before = std::fs::read(&px).unwrap();
    let (code, _, err) = homogen(&[
        "embed",
        "--model",
        s(&clip),
        "--pixels",
        s(&px),
        "--out",
        s(&px),
        "--quiet",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("also an input"), "{err}");
    assert_eq!(std::fs::read(&px).unwrap(), before);

    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for f in ["clip_ref0.png", "clip_ref1.png"] {
        std::fs::copy(models().join("images").join(f), images.join(f)).unwrap();
    }
    let first = images.join("clip_ref0.png");
    let before = std::fs::read(&first).unwrap();
    let (code, _, err) = homogen(&[
        "embed",
        "--model",
        s(&clip),
        "--images",
        s(&images),
        "--out",
        s(&first),
        "--quiet",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("also an input"), "{err}");
    assert_eq!(std::fs::read(&first).unwrap(), before);
    // Another file in the folder is not an input.
    let out = images.join("features.safetensors");
    let (code, _, err) = homogen(&[
        "embed",
        "--model",
        s(&clip),
        "--images",
        s(&images),
        "--out",
        s(&out),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
}

/// `--pixels` must hold finite, preprocessed (float) pixel values of at least one image.
#[test]
fn embed_refuses_raw_non_finite_or_empty_pixels() {
    use candle_core::{DType, Device, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let clip = models().join("clip");
    let out = dir.path().join("f.safetensors");
    let px = dir.path().join("px.safetensors");
    let mut v = vec![0f32; 3 * 3 * 32 * 32];
    v[3 * 32 * 32 + 7] = f32::NAN; // image 2
    let cases: [(Tensor, &str); 4] = [
        (
            Tensor::from_vec(v, (3, 3, 32, 32), &Device::Cpu).unwrap(),
            "image 2",
        ),
        (
            Tensor::zeros((2, 3, 32, 32), DType::U8, &Device::Cpu).unwrap(),
            "preprocessed",
        ),
        (
            Tensor::zeros((0, 3, 32, 32), DType::F32, &Device::Cpu).unwrap(),
            "no images",
        ),
        (
            Tensor::full(f32::INFINITY, (1, 3, 32, 32), &Device::Cpu).unwrap(),
            "image 1",
        ),
    ];
    for (t, needle) in cases {
        save_pixels(&px, t);
        let (code, _, err) = homogen(&[
            "embed",
            "--model",
            s(&clip),
            "--pixels",
            s(&px),
            "--out",
            s(&out),
            "--quiet",
        ]);
        assert_eq!(code, 2, "{needle}: {err}");
        assert!(
            err.contains(needle) && err.contains("px.safetensors"),
            "{needle}: {err}"
        );
        assert!(!out.exists(), "{needle}: features were written");
    }
}

/// `homogen train` arguments for a one-epoch probe of the tiny RoBERTa on the IMDB fixture.
fn train_args(out: &Path, seed: &str) -> Vec<String> {
    let model = models().join("roberta");
    let data = root().join("tests/fixtures/data/imdb/hub");
    [
        "train",
        "--quiet",
        "--model",
        s(&model),
        "--method",
        "probe",
        "--dataset",
        "imdb",
        "--data-root",
        s(&data),
        "--epochs",
        "1",
        "--max-train",
        "16",
        "--max-test",
        "8",
        "--seed",
        seed,
        "--out",
        s(out),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn homogen_owned(args: &[String]) -> (i32, String, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    homogen(&refs)
}

fn manifest_seed(cell: &Path) -> u64 {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cell.join("manifest.json")).unwrap())
            .unwrap();
    m["seed"].as_u64().unwrap()
}

/// `train --out` refuses a non-empty folder that is not a cell, and a cell trained with
/// another spec unless `--overwrite` is given; the same spec resumes or skips as before.
#[test]
fn train_refuses_an_out_folder_that_is_not_this_cell() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("dataset-root");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.csv"), "a,b\n").unwrap();
    let (code, _, err) = homogen_owned(&train_args(&other, "1"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("option `--out`") && err.contains("manifest.json"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&other).unwrap().count(),
        1,
        "something was written"
    );

    let cell = dir.path().join("cell");
    let (code, _, err) = homogen_owned(&train_args(&cell, "1"));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = homogen_owned(&train_args(&cell, "1"));
    assert_eq!(code, 0, "the same spec is skipped: {err}");
    let (code, _, err) = homogen_owned(&train_args(&cell, "2"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("another spec") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(manifest_seed(&cell), 1);
    let mut args = train_args(&cell, "2");
    args.push("--overwrite".into());
    let (code, _, err) = homogen_owned(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(manifest_seed(&cell), 2);
}

/// `train --config F --out X` where F's `[train]` has no `out`: `--out` fills it.
#[test]
fn train_config_without_out_takes_the_out_option() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cell.toml");
    std::fs::write(
        &cfg,
        format!(
            "[train]\nmodel = {:?}\nmethod = \"probe\"\nepochs = 1\n\n[train.dataset]\n\
             name = \"imdb\"\nroot = {:?}\nmax_train = 16\nmax_test = 8\n",
            s(&models().join("roberta")),
            s(&root().join("tests/fixtures/data/imdb/hub")),
        ),
    )
    .unwrap();
    let cell = dir.path().join("cell");
    let (code, _, err) = homogen(&["train", "--quiet", "--config", s(&cfg), "--out", s(&cell)]);
    assert_eq!(code, 0, "{err}");
    assert!(cell.join("failures.parquet").is_file());
    // Without --out the missing key is still named.
    let (code, _, err) = homogen(&["train", "--quiet", "--config", s(&cfg)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("out"), "{err}");
}

/// Options for the other kind of input (image options for a text model, `--max-length` for an
/// image model) would train without what the command says: they are refused, naming the
/// option, before anything is written.
#[test]
fn train_refuses_options_for_the_other_kind_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cell");
    for (extra, option) in [
        (&["--augment"][..], "option `--augment`: an image option"),
        (
            &["--resize", "stretch"][..],
            "option `--resize`: an image option",
        ),
    ] {
        let mut args = train_args(&out, "0");
        args.extend(extra.iter().map(|a| a.to_string()));
        let (code, _, err) = homogen_owned(&args);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(option) && err.contains("text encoder (roberta)"),
            "{err}"
        );
        assert!(!out.exists(), "wrote {}", out.display());
    }
    let clip = models().join("clip");
    let celeba = root().join("tests/fixtures/data/celeba/official");
    let (code, _, err) = homogen(&[
        "train",
        "--quiet",
        "--model",
        s(&clip),
        "--method",
        "probe",
        "--dataset",
        "celeba",
        "--data-root",
        s(&celeba),
        "--max-length",
        "32",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("option `--max-length`: a text option") && err.contains("image encoder"),
        "{err}"
    );
    assert!(!out.exists(), "wrote {}", out.display());

    // A dataset of the other kind of input is named with the model's kind.
    let (code, _, err) = homogen(&[
        "train",
        "--quiet",
        "--model",
        s(&clip),
        "--method",
        "probe",
        "--dataset",
        "imdb",
        "--data-root",
        s(&root().join("tests/fixtures/data/imdb/hub")),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "option `--dataset`: dataset `imdb` holds texts, but the model is an image \
                      encoder"
        ),
        "{err}"
    );
    let mut args = train_args(&out, "0");
    let i = args.iter().position(|a| a == "imdb").unwrap();
    args[i] = "celeba".into();
    args[i + 2] = celeba.display().to_string();
    let (code, _, err) = homogen_owned(&args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("dataset `celeba` holds images, but the model is a text encoder (roberta)"),
        "{err}"
    );
    assert!(!out.exists(), "wrote {}", out.display());
}

/// The vision smoke config cut to one method (probe) and one seed: two cells.
fn small_config(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    config(dir, |t| {
        edit(
            t.replace("values = [0, 1, 2]", "values = [0]")
                .replace("[[methods]]\nname = \"scratch\"\nlr = 3e-3\n", "")
                .replace("[[methods]]\nname = \"finetune\"\nlr = 3e-6\n", ""),
        )
    })
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// `report` on a run folder without `cells/`, or with no finished cell, exits 2 and keeps the
/// report and results already there.
#[test]
fn report_without_finished_cells_keeps_the_old_report() {
    let dir = tempfile::tempdir().unwrap();
    let c = small_config(dir.path(), |t| t);
    let out = dir.path().join("run");
    let (code, stdout, err) = homogen(&["run", s(&c), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{stdout}{err}");
    let files = ["report.md", "results.csv", "comparison.csv"].map(|f| out.join(f));
    let before: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();

    std::fs::rename(out.join("cells"), dir.path().join("cells-away")).unwrap();
    let (code, _, err) = homogen(&["report", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cells") && err.contains("no such folder"),
        "{err}"
    );
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&read(f), b, "{} changed", f.display());
    }

    std::fs::rename(dir.path().join("cells-away"), out.join("cells")).unwrap();
    for task in ["Wearing_Earrings", "Wearing_Necklace"] {
        std::fs::remove_file(out.join("cells/probe/seed-0").join(task).join("DONE")).unwrap();
    }
    let (code, _, err) = homogen(&["report", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("none of the 2 cells"), "{err}");
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&read(f), b, "{} changed", f.display());
    }
}

/// Settings only training would reject are checked before any cell starts, by `run` and by
/// `plan` (before it writes the job list): a `num_labels` that is not the task's class count, a
/// `max_length` of 0 or for an image model, a task the dataset does not have, a model that
/// cannot read the dataset's inputs.
#[test]
fn run_and_plan_check_num_labels_and_max_length_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let clip = models().join("clip").display().to_string();
    let roberta = models().join("roberta").display().to_string();
    // (text replaced, its replacement, the key named, what the message says)
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "[train]\n",
            "[train]\nnum_labels = 3\n",
            "train.num_labels",
            "the head would have 3 outputs",
        ),
        (
            "name = \"probe\"\n",
            "name = \"probe\"\nnum_labels = 5\n",
            "methods[0].num_labels",
            "the head would have 5 outputs",
        ),
        (
            "[train]\n",
            "[train]\nmax_length = 0\n",
            "train.max_length",
            "must be at least 1",
        ),
        (
            "task = \"Wearing_Necklace\"",
            "task = \"Wearing_Cape\"",
            "tasks[1].task",
            "has no task `Wearing_Cape`",
        ),
        // A text option for an image model would be silently ignored.
        (
            "[train]\n",
            "[train]\nmax_length = 16\n",
            "train.max_length",
            "a text option (tokens per text), but this model is an image encoder",
        ),
        (
            "name = \"probe\"\n",
            "name = \"probe\"\nmax_length = 16\n",
            "methods[0].max_length",
            "a text option (tokens per text), but this model is an image encoder",
        ),
        // A model that cannot read the task's inputs.
        (
            &clip,
            &roberta,
            "tasks[0].dataset",
            "holds images, but the model is a text encoder (roberta)",
        ),
    ];
    for (from, to, key, message) in cases {
        let c = small_config(dir.path(), |t| {
            assert!(t.contains(from), "{from}");
            t.replacen(from, to, 1)
        });
        for command in ["run", "plan"] {
            let (code, stdout, err) = homogen(&[command, s(&c), "--out", s(&out), "--quiet"]);
            assert_eq!(code, 2, "{command} {to}: {stdout}{err}");
            assert!(
                err.contains(&format!("key `{key}`"))
                    && err.contains("c.toml")
                    && err.contains(message),
                "{command}: {err}"
            );
            assert!(!out.exists(), "{command} {to}: wrote {}", out.display());
        }
    }
}

/// Cells that all fail with bad input (images that are not images) make `run` exit 2, and a
/// report from an earlier good run in the same folder is kept.
#[test]
fn run_whose_cells_all_fail_with_bad_input_exits_2_and_keeps_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let good = small_config(dir.path(), |t| t);
    let (code, stdout, err) = homogen(&["run", s(&good), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{stdout}{err}");
    let report = read(&out.join("report.md"));
    let results = read(&out.join("results.csv"));

    let broken = common::broken_celeba(dir.path());
    let fixture = root().join("tests/fixtures/data/celeba/official");
    let fixture_root = fixture.display().to_string();
    let bad = small_config(dir.path(), |t| {
        t.replace(&fixture_root, &broken.display().to_string())
    });
    let (code, stdout, err) = homogen(&["run", s(&bad), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 2, "{stdout}{err}");
    assert!(err.contains("2 cells failed, each with bad input"), "{err}");
    assert!(stdout.contains("was left as it was"), "{stdout}");
    assert_eq!(read(&out.join("report.md")), report);
    assert_eq!(read(&out.join("results.csv")), results);
}

/// Planning (or running) a changed config over a run folder warns, naming the finished cells
/// it makes stale; the same config again says nothing.
#[test]
fn plan_over_a_run_with_another_config_names_the_stale_cells() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let c = small_config(dir.path(), |t| t);
    let (code, stdout, err) = homogen(&["run", s(&c), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{stdout}{err}");
    let (code, _, err) = homogen(&["plan", s(&c), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    // Another lr for probe, and the second task gone.
    let changed = small_config(dir.path(), |t| {
        let cut = t.find("[[tasks]]\nname = \"Wearing_Necklace\"").unwrap();
        let end = cut + t[cut..].find("[[methods]]").unwrap();
        format!("{}{}", &t[..cut], &t[end..]).replace("lr = 1e-2", "lr = 5e-2")
    });
    let (code, _, err) = homogen(&["plan", s(&changed), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: the config differs"), "{err}");
    assert!(
        err.contains("1 finished cells were trained with another spec and will be trained again (probe / seed 0 / Wearing_Earrings)"),
        "{err}"
    );
    assert!(
        err.contains("1 finished cells are no longer in the grid and leave the report (probe / seed 0 / Wearing_Necklace)"),
        "{err}"
    );
}

fn write_parquet(path: &Path, columns: Vec<(&str, arrow_array::ArrayRef)>) {
    let batch = arrow_array::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Labels as class names against predictions as integers (or the reverse), with no class in
/// common, would make every row a failure: exit 2 naming both columns with examples. Values of
/// one kind that happen not to overlap are measured as before.
#[test]
fn measure_refuses_labels_and_predictions_of_different_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let names_vs_ints = dir.path().join("a.csv");
    std::fs::write(
        &names_vs_ints,
        "deployment,example_id,label,prediction\na,1,neg,0\na,2,pos,1\nb,1,neg,1\nb,2,pos,0\n",
    )
    .unwrap();
    let (code, _, err) = homogen(&["measure", s(&names_vs_ints)]);
    assert_eq!(code, 2, "{err}");
    for needle in ["a.csv", "`label`", "`prediction`", "neg, pos", "0, 1"] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let ints_vs_names = dir.path().join("b.parquet");
    use std::sync::Arc;
    write_parquet(
        &ints_vs_names,
        vec![
            (
                "deployment",
                Arc::new(arrow_array::StringArray::from(vec!["a", "a", "b", "b"])) as _,
            ),
            (
                "example_id",
                Arc::new(arrow_array::StringArray::from(vec!["1", "2", "1", "2"])) as _,
            ),
            (
                "label",
                Arc::new(arrow_array::Int64Array::from(vec![0, 1, 0, 1])) as _,
            ),
            (
                "prediction",
                Arc::new(arrow_array::StringArray::from(vec![
                    "no", "yes", "yes", "no",
                ])) as _,
            ),
        ],
    );
    let (code, _, err) = homogen(&["measure", s(&ints_vs_names)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("b.parquet") && err.contains("yes"), "{err}");
    // Names that never match are a legitimate (if bad) classifier; so is a failure column.
    let same_kind = dir.path().join("c.csv");
    std::fs::write(
        &same_kind,
        "deployment,example_id,label,prediction\na,1,neg,yes\na,2,pos,no\nb,1,neg,no\nb,2,pos,yes\n",
    )
    .unwrap();
    let (code, _, err) = homogen(&["measure", s(&same_kind)]);
    assert_eq!(code, 0, "{err}");
    let with_failure = dir.path().join("d.csv");
    std::fs::write(
        &with_failure,
        "deployment,example_id,label,prediction,failure\na,1,neg,0,0\na,2,pos,1,1\nb,1,neg,1,0\nb,2,pos,0,1\n",
    )
    .unwrap();
    let (code, _, err) = homogen(&["measure", s(&with_failure)]);
    assert_eq!(code, 0, "{err}");
}

/// A Parquet label or prediction of a type that holds no classes (dates, timestamps,
/// durations, binary) exits 2 naming the column and its Arrow type.
#[test]
fn measure_refuses_parquet_classes_of_other_types() {
    use arrow_array::{
        ArrayRef, BinaryArray, Date32Array, DurationSecondArray, StringArray,
        TimestampMillisecondArray,
    };
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, ArrayRef, &str); 4] = [
        ("label", Arc::new(Date32Array::from(vec![1, 2])), "Date32"),
        (
            "prediction",
            Arc::new(TimestampMillisecondArray::from(vec![1, 2])),
            "Timestamp",
        ),
        (
            "label",
            Arc::new(DurationSecondArray::from(vec![1, 2])),
            "Duration",
        ),
        (
            "prediction",
            Arc::new(BinaryArray::from(vec![&b"0"[..], &b"1"[..]])),
            "Binary",
        ),
    ];
    for (column, array, type_name) in cases {
        let path = dir.path().join("t.parquet");
        let ints: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![0, 1]));
        let (label, prediction) = match column {
            "label" => (array, ints),
            _ => (ints, array),
        };
        write_parquet(
            &path,
            vec![
                (
                    "deployment",
                    Arc::new(StringArray::from(vec!["a", "a"])) as _,
                ),
                (
                    "example_id",
                    Arc::new(StringArray::from(vec!["1", "2"])) as _,
                ),
                ("label", label),
                ("prediction", prediction),
            ],
        );
        let (code, _, err) = homogen(&["measure", s(&path)]);
        assert_eq!(code, 2, "{type_name}: {err}");
        assert!(err.contains(&format!("column `{column}`")), "{err}");
        assert!(
            err.contains(type_name) && err.contains("t.parquet"),
            "{err}"
        );
    }
}

/// Runs `script` with `sh -c`, `$BIN` set to the binary; (exit code, stdout, stderr).
fn shell(script: &str) -> (i32, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("BIN", bin())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A table from a pipe, `/dev/stdin`, process substitution or a named pipe is measured as the
/// file itself is (CSV and Parquet).
#[test]
fn measure_reads_pipes_and_standard_input() {
    let csv = root().join("data/example/failures.csv");
    let (code, want, err) = homogen(&["measure", s(&csv), "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let parquet = root().join("tests/fixtures/failures/pyarrow.parquet");
    let (code, want_parquet, err) = homogen(&["measure", s(&parquet), "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let fifo = dir.path().join("fifo");
    let scripts = [
        (
            format!("cat {} | \"$BIN\" measure /dev/stdin --format csv", s(&csv)),
            &want,
        ),
        (
            format!("\"$BIN\" measure <(cat {}) --format csv", s(&csv)),
            &want,
        ),
        (
            format!("\"$BIN\" measure /dev/stdin --format csv < {}", s(&csv)),
            &want,
        ),
        (
            format!(
                "cat {} | \"$BIN\" measure /dev/stdin --format csv",
                s(&parquet)
            ),
            &want_parquet,
        ),
        (
            format!(
                "mkfifo {f}; (cat {} > {f} &); timeout 60 \"$BIN\" measure {f} --format csv",
                s(&csv),
                f = s(&fifo)
            ),
            &want,
        ),
    ];
    for (script, want) in scripts {
        let (code, out, err) = shell(&script);
        assert_eq!(code, 0, "{script}: {err}");
        assert_eq!(&out, want, "{script}");
    }
}

/// `-o` below a file, or naming a folder, is bad input naming the option; a folder that cannot
/// be created is a runtime failure whose message names the option and the path.
#[test]
fn measure_output_errors_name_the_option() {
    let csv = root().join("data/example/failures.csv");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.csv");
    std::fs::write(&file, "x").unwrap();
    let below = file.join("x.csv");
    let (code, _, err) = homogen(&["measure", s(&csv), "-o", s(&below)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("option `--output`") && err.contains("file.csv"),
        "{err}"
    );
    let (code, _, err) = homogen(&["measure", s(&csv), "-o", s(dir.path())]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("option `--output`") && err.contains("is a folder"),
        "{err}"
    );
    let (code, _, err) = homogen(&["measure", s(&csv), "-o", "/proc/nope/x.csv"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`--output` /proc/nope/x.csv"), "{err}");
}

/// An empty model id is named as such, not looked up.
#[test]
fn empty_model_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), |t| {
        let start = t.find("id = \"").unwrap();
        let end = start + t[start..].find('\n').unwrap();
        format!("{}id = \"\"{}", &t[..start], &t[end..])
    });
    let (code, _, err) = homogen(&["plan", s(&c), "--out", s(&dir.path().join("run"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `model.id`: model.id is empty"), "{err}");
    let (code, _, err) = homogen(&["fetch", "model", ""]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("empty model id"), "{err}");
}

/// Parquet files damaged so that the arrow/parquet readers panic while decoding their pages
/// (found by byte-flip fuzzing; `scripts/make_damaged_parquet.py`) exit 2 naming the file,
/// without a panic message.
#[test]
fn measure_refuses_damaged_parquet_without_panicking() {
    for name in ["bitchunk", "colstart", "dict_decoder"] {
        let path = root()
            .join("tests/fixtures/failures/damaged")
            .join(format!("{name}.parquet"));
        let (code, _, err) = homogen(&["measure", s(&path)]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.contains(&format!("{name}.parquet")) && err.contains("the file is damaged"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Replicate and permutation counts beyond the documented limits are usage errors (they
/// overflowed an allocation, exit 101, or aborted, before).
#[test]
fn measure_caps_bootstrap_and_permutations() {
    let table = root().join("data/example/failures.csv");
    for (option, too_many, limit) in [
        ("--bootstrap", "1000001", "0..=1000000"),
        ("--permutations", "18446744073709551615", "0..=100000000"),
    ] {
        let (code, _, err) = homogen(&["measure", s(&table), option, too_many]);
        assert_eq!(code, 2, "{option}: {err}");
        assert!(err.contains(option) && err.contains(limit), "{err}");
    }
    let (code, out, err) = homogen(&["measure", s(&table), "--bootstrap", "1000000", "--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1,000,000"), "{out}");
}

/// `--column ROLE=NAME` naming a column the file lacks is an error for every role: an optional
/// role (failure, loss, system, label, prediction) was silently read as absent before, which
/// changed the results (failures from label != prediction, no loss metrics, one system). A
/// file given twice is named as such (it was reported as a duplicate row).
#[test]
fn measure_refuses_a_column_option_naming_a_missing_column() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.csv");
    std::fs::write(
        &table,
        "deployment,example_id,label,prediction,bad_outcome,logloss,sys\n\
         a,1,0,0,1,0.1,s\na,2,1,1,0,0.2,s\nb,1,0,0,1,0.3,s\nb,2,1,1,0,0.4,s\n",
    )
    .unwrap();
    let (code, out, err) = homogen(&[
        "measure",
        s(&table),
        "--column",
        "failure=bad_outcome",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("all,individual,h_individual,2,"), "{out}");
    for (role, typo) in [
        ("failure", "bad_outcom"),
        ("loss", "log_loss"),
        ("system", "system_id"),
        ("label", "y_true"),
        ("prediction", "y_pred"),
    ] {
        let mapping = format!("{role}={typo}");
        let (code, _, err) = homogen(&["measure", s(&table), "--column", &mapping]);
        assert_eq!(code, 2, "{mapping}: {err}");
        assert!(
            err.contains("t.csv")
                && err.contains(&format!("no column `{typo}`"))
                && err.contains(&format!("--column {mapping}"))
                && err.contains("columns found: deployment, example_id"),
            "{err}"
        );
    }
    // The same file twice (every row a duplicate) is said to be that.
    let again = dir.path().join(".").join("t.csv");
    let (code, _, err) = homogen(&["measure", s(&table), s(&again)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the same file is given twice"), "{err}");
}

/// With `--wide`, one `loss` per person cannot be each deployment's loss: refused (it was
/// copied to every deployment, so MinExp and ExpExp always came out 1).
#[test]
fn measure_refuses_a_per_person_loss_with_wide() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wide.csv");
    std::fs::write(&table, "id,label,m1,m2,loss\n1,0,0,1,0.5\n2,1,0,1,0.7\n").unwrap();
    let args = [
        "measure",
        s(&table),
        "--wide",
        "prediction=m1,m2",
        "--column",
        "example_id=id",
    ];
    let (code, _, err) = homogen(&args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("wide.csv") && err.contains("column `loss`") && err.contains("--wide"),
        "{err}"
    );
}

/// `report` reads and checks every finished cell before it writes anything, and its errors name
/// the cell's file: a person whose group differs between a system's deployments, a cell whose
/// table lacks a grouping of the config, a cell listed twice in `jobs.jsonl`. Each exits 2 and
/// leaves the earlier `failures.parquet`, report, results and comparison byte for byte (the
/// joined `failures.parquet` was rewritten before the check).
#[test]
fn report_checks_the_cells_before_writing_and_names_their_files() {
    use homogen::failures::{read_table, write_parquet, Categorical};
    let dir = tempfile::tempdir().unwrap();
    let c = small_config(dir.path(), |t| t);
    let out = dir.path().join("run");
    let (code, stdout, err) = homogen(&["run", s(&c), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{stdout}{err}");
    let files = [
        "failures.parquet",
        "report.md",
        "results.csv",
        "comparison.csv",
    ]
    .map(|f| out.join(f));
    let before: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();
    let unchanged = || {
        for (f, b) in files.iter().zip(&before) {
            assert_eq!(&read(f), b, "{} changed", f.display());
        }
    };
    let cell = out.join("cells/probe/seed-0/Wearing_Necklace/failures.parquet");
    let original = read(&cell);
    let rewrite = |edit: &dyn Fn(&mut homogen::failures::FailureTable)| {
        let mut t = read_table(&cell).unwrap();
        edit(&mut t);
        write_parquet(&cell, &t).unwrap();
    };

    // A person in another hair group in this deployment than in the other.
    rewrite(&|t| {
        let hair = t.extra.iter_mut().find(|c| c.name == "hair").unwrap();
        let mut values: Vec<String> = (0..hair.len()).map(|r| hair.value(r).to_string()).collect();
        values[0].push_str("_changed");
        *hair = Categorical::from_values("hair", &values);
    });
    let (code, _, err) = homogen(&["report", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Wearing_Necklace/failures.parquet, row 1, column `hair`")
            && err.contains("Wearing_Earrings/failures.parquet row 1"),
        "{err}"
    );
    unchanged();

    // A table without the config's `beard` grouping.
    std::fs::write(&cell, &original).unwrap();
    rewrite(&|t| t.extra.retain(|c| c.name != "beard"));
    let (code, _, err) = homogen(&["report", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Wearing_Necklace/failures.parquet")
            && err.contains("no column `beard`")
            && err.contains("experiment.groupings"),
        "{err}"
    );
    unchanged();

    // A cell listed twice.
    std::fs::write(&cell, &original).unwrap();
    let jobs = out.join("jobs.jsonl");
    let listed = std::fs::read_to_string(&jobs).unwrap();
    let first = listed.lines().next().unwrap();
    std::fs::write(&jobs, format!("{listed}{first}\n")).unwrap();
    let (code, _, err) = homogen(&["report", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("jobs.jsonl, row 3") && err.contains("listed twice (also at row 1)"),
        "{err}"
    );
    unchanged();

    // No jobs.jsonl, or a file given as the run folder: bad input (exit 2; 1 before).
    std::fs::remove_file(&jobs).unwrap();
    let (code, _, err) = homogen(&["report", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("jobs.jsonl: no such file"), "{err}");
    let (code, _, err) = homogen(&["report", s(&c)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is a file; expected a model-sharing run folder"),
        "{err}"
    );
    unchanged();
}
