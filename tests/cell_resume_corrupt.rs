//! Resuming a cell whose files are damaged: a checkpoint or a `manifest.json` that cannot be
//! read is moved aside (`checkpoint.corrupt`, `manifest.json.corrupt`, `failures.parquet.corrupt`)
//! with a warning naming the file and what is wrong, and the cell trains again to the very bytes
//! of an uninterrupted run (the same seed on the CPU gives the same bytes); `homogen report`
//! names such cells. Also: a file replaced atomically keeps its permission bits.
//!
//! Fixtures as in `tests/adapt_train.rs` and `tests/experiments_smoke.rs`: the tiny BERT and
//! RoBERTa fixtures (random weights, hidden 32) on the IMDB and AG News fixtures (20 and 16
//! training texts: 3 and 2 optimiser steps an epoch at batch 8), BitFit, 3 epochs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_homogen");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn homogen(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn train_args(out: &Path, cache: &Path) -> Vec<String> {
    let data = root().join("tests/fixtures/data/imdb/csv");
    let model = root().join("tests/fixtures/models/bert");
    [
        "--quiet",
        "train",
        "--model",
        model.to_str().unwrap(),
        "--method",
        "bitfit",
        "--dataset",
        "imdb",
        "--data-root",
        data.to_str().unwrap(),
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Trains the cell in `out` to the end and checks that it succeeded.
fn train(out: &Path, cache: &Path) -> Output {
    let o = homogen(&train_args(out, cache));
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// Trains the cell in `out` and kills it (the trainer's test hook) after `steps` optimiser
/// steps.
fn train_killed(out: &Path, cache: &Path, steps: u32) {
    let st = Command::new(BIN)
        .args(train_args(out, cache))
        .env("HOMOGEN_TEST_ABORT_AFTER_STEPS", steps.to_string())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(137));
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The training loss of every epoch in a `metrics.jsonl` (its other fields include timings).
fn train_losses(metrics: &Path) -> Vec<f64> {
    std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// `path`, a safetensors file, rewritten with `edit` applied to each (name, shape).
fn rewrite_safetensors(path: &Path, edit: impl Fn(&str, &[usize]) -> (String, Vec<usize>)) {
    let data = bytes(path);
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    let mut views: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let (name, shape) = edit(&name, t.shape());
            let view = safetensors::tensor::TensorView::new(t.dtype(), shape, t.data()).unwrap();
            (name, view)
        })
        .collect();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// What a damage does: the file it damages, relative to the cell, and how.
type Damage = fn(&Path);

/// A damaged checkpoint of a cell killed in its second epoch is moved aside whole, with a
/// warning naming the damaged file and what is wrong, and the cell trains from the start to the
/// bytes of an uninterrupted run. Each kind of damage on its own copy of the killed cell.
#[test]
fn a_damaged_checkpoint_is_set_aside_and_the_cell_trains_from_the_start() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let whole = work.path().join("whole");
    train(&whole, &cache);
    let expected = bytes(&whole.join("failures.parquet"));
    let expected_losses = train_losses(&whole.join("metrics.jsonl"));

    // 3 steps an epoch: killed after step 4, in epoch 2, with epoch 1's checkpoint.
    let killed = work.path().join("killed");
    train_killed(&killed, &cache, 4);
    assert!(killed
        .join("checkpoint/epoch-1/params.safetensors")
        .is_file());

    let cases: [(&str, &str, &str, Damage); 8] = [
        (
            "params truncated",
            "checkpoint/epoch-1/params.safetensors",
            "truncated",
            |f| {
                let b = bytes(f);
                std::fs::write(f, &b[..b.len() / 2]).unwrap();
            },
        ),
        (
            "params' data cut by one byte",
            "checkpoint/epoch-1/params.safetensors",
            "truncated or damaged",
            |f| {
                let b = bytes(f);
                std::fs::write(f, &b[..b.len() - 1]).unwrap();
            },
        ),
        (
            "optimizer state too short for a header",
            "checkpoint/epoch-1/optimizer.safetensors",
            "truncated",
            |f| std::fs::write(f, b"\x10\0\0").unwrap(),
        ),
        (
            "state not JSON",
            "checkpoint/state.json",
            "not a checkpoint state",
            |f| std::fs::write(f, "{\"epochs_done\": 1, \"st").unwrap(),
        ),
        (
            "state not UTF-8",
            "checkpoint/state.json",
            "not a checkpoint state",
            |f| std::fs::write(f, b"\xff\xfe\x00\x01").unwrap(),
        ),
        (
            "a parameter renamed",
            "checkpoint/epoch-1/params.safetensors",
            "lacks parameter `classifier.bias`",
            |f| {
                rewrite_safetensors(f, |name, shape| {
                    let name = match name {
                        "classifier.bias" => "classifier.bias_renamed",
                        n => n,
                    };
                    (name.to_string(), shape.to_vec())
                })
            },
        ),
        (
            "a parameter reshaped",
            "checkpoint/epoch-1/params.safetensors",
            "expected shape",
            |f| {
                rewrite_safetensors(f, |name, shape| match (name, shape) {
                    ("classifier.weight", [a, b]) => (name.to_string(), vec![*b, *a]),
                    _ => (name.to_string(), shape.to_vec()),
                })
            },
        ),
        (
            "the epoch's folder gone",
            "checkpoint/epoch-1/params.safetensors",
            "missing",
            |f| std::fs::remove_dir_all(f.parent().unwrap()).unwrap(),
        ),
    ];
    for (i, (case, file, reason, damage)) in cases.iter().enumerate() {
        let cell = work.path().join(format!("case-{i}"));
        copy_dir(&killed, &cell);
        if i == 0 {
            // A checkpoint set aside earlier stays as it is; this one gets the next name.
            std::fs::create_dir(cell.join("checkpoint.corrupt")).unwrap();
            std::fs::write(cell.join("checkpoint.corrupt/earlier"), "x").unwrap();
        }
        let damaged = cell.join(file);
        damage(&damaged);
        let before: Vec<(PathBuf, Vec<u8>)> = ["state.json", "epoch-1/params.safetensors"]
            .iter()
            .map(|f| cell.join("checkpoint").join(f))
            .filter(|p| p.is_file())
            .map(|p| (p.clone(), bytes(&p)))
            .collect();

        let o = train(&cell, &cache);
        let err = stderr(&o);
        let aside = cell.join(match i {
            0 => "checkpoint.corrupt-2",
            _ => "checkpoint.corrupt",
        });
        for needle in [
            "warning: cannot resume from the checkpoint in",
            &damaged.display().to_string(),
            reason,
            &format!("it was moved to {}", aside.display()),
            "trains from the start",
        ] {
            assert!(err.contains(needle), "{case}: no `{needle}` in: {err}");
        }
        // Every file of the damaged checkpoint is kept, byte for byte.
        for (p, b) in &before {
            let kept = aside.join(p.strip_prefix(cell.join("checkpoint")).unwrap());
            assert_eq!(&bytes(&kept), b, "{case}: {}", kept.display());
        }
        if i == 0 {
            assert_eq!(bytes(&cell.join("checkpoint.corrupt/earlier")), b"x");
        }
        assert_eq!(
            bytes(&cell.join("failures.parquet")),
            expected,
            "{case}: the retrained table differs from the uninterrupted run's"
        );
        assert_eq!(
            train_losses(&cell.join("metrics.jsonl")),
            expected_losses,
            "{case}"
        );
        // Trained through: the new checkpoint is the last epoch's and reads back.
        let state = std::fs::read_to_string(cell.join("checkpoint/state.json")).unwrap();
        assert!(state.contains("\"epochs_done\": 3"), "{case}: {state}");
    }

    // The killed cell itself, undamaged, resumes without a warning.
    let o = train(&killed, &cache);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(bytes(&killed.join("failures.parquet")), expected);
    assert!(!killed.join("checkpoint.corrupt").exists());
}

/// A finished cell whose `manifest.json` is damaged: the manifest and the failure table it can
/// no longer vouch for are moved aside with a warning, and the cell is trained again (resumed
/// from its checkpoint, or from the start without one) to the same bytes.
#[test]
fn a_damaged_manifest_is_set_aside_with_its_table_and_the_cell_trains_again() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let whole = work.path().join("whole");
    train(&whole, &cache);
    let table = bytes(&whole.join("failures.parquet"));
    let manifest = bytes(&whole.join("manifest.json"));

    for (case, keep_checkpoint) in [("with its checkpoint", true), ("without", false)] {
        let cell = work.path().join(format!("cell-{keep_checkpoint}"));
        copy_dir(&whole, &cell);
        if !keep_checkpoint {
            std::fs::remove_dir_all(cell.join("checkpoint")).unwrap();
        }
        let broken = &manifest[..manifest.len() / 2];
        std::fs::write(cell.join("manifest.json"), broken).unwrap();

        let o = train(&cell, &cache);
        let err = stderr(&o);
        let m = cell.join("manifest.json");
        for needle in [
            format!("warning: {}: not a cell manifest", m.display()),
            "EOF while parsing".to_string(),
            format!("moved {} to {}.corrupt", m.display(), m.display()),
            format!(
                "{} to {}.corrupt",
                cell.join("failures.parquet").display(),
                cell.join("failures.parquet").display()
            ),
            "the cell is trained again".to_string(),
        ] {
            assert!(err.contains(&needle), "{case}: no `{needle}` in: {err}");
        }
        assert!(
            !err.contains("already finished"),
            "{case}: the cell was skipped: {err}"
        );
        assert_eq!(bytes(&cell.join("manifest.json.corrupt")), broken, "{case}");
        assert_eq!(
            bytes(&cell.join("failures.parquet.corrupt")),
            table,
            "{case}"
        );
        assert_eq!(bytes(&cell.join("failures.parquet")), table, "{case}");
        let now: serde_json::Value = serde_json::from_slice(&bytes(&m)).unwrap();
        assert_eq!(now["status"], "finished", "{case}");
        // Finished again: the same command now skips it.
        let o = train(&cell, &cache);
        assert!(stderr(&o).is_empty(), "{case}: {}", stderr(&o));
    }

    // A cell with a damaged manifest whose checkpoint is another spec's (another seed): refused
    // as a readable manifest of another spec is, without --overwrite; nothing moves.
    let other = work.path().join("other");
    copy_dir(&whole, &other);
    std::fs::write(other.join("manifest.json"), "[]").unwrap();
    let mut args = train_args(&other, &cache);
    let seed = args.iter().position(|a| a == "--seed").unwrap() + 1;
    args[seed] = "4".into();
    let o = homogen(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for needle in [
        "option `--out`",
        &other.join("manifest.json").display().to_string(),
        "its checkpoint belongs to another spec",
        "--overwrite",
    ] {
        assert!(err.contains(needle), "no `{needle}` in: {err}");
    }
    assert_eq!(bytes(&other.join("manifest.json")), b"[]");
    assert_eq!(bytes(&other.join("failures.parquet")), table);
    assert!(!other.join("manifest.json.corrupt").exists());

    // A folder whose only file is a damaged manifest.json is not known to be a cell: refused
    // (exit 2), naming the file and what is wrong, and left alone.
    let lone = work.path().join("lone");
    std::fs::create_dir(&lone).unwrap();
    std::fs::write(lone.join("manifest.json"), "{").unwrap();
    let o = homogen(&train_args(&lone, &cache));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for needle in [
        "option `--out`",
        &lone.join("manifest.json").display().to_string(),
        "not a cell manifest",
        "cannot be read",
    ] {
        assert!(err.contains(needle), "no `{needle}` in: {err}");
    }
    assert_eq!(bytes(&lone.join("manifest.json")), b"{");
    assert_eq!(std::fs::read_dir(&lone).unwrap().count(), 1);
}

fn grid_config(dir: &Path) -> PathBuf {
    let fixtures = root().join("tests/fixtures");
    let text = format!(
        r#"[experiment]
kind = "modelsharing"
out = "unused"
groupings = ["gender"]
devices = ["cpu"]

[model]
id = "{model}"

[train]
lr = 1e-3
epochs = 3
batch_size = 8
max_length = 64

[[tasks]]
name = "imdb"
dataset = {{ name = "imdb", root = "{data}/imdb/hub", groupings = ["gender"] }}

[[tasks]]
name = "ag_news"
dataset = {{ name = "ag_news", root = "{data}/ag_news/hub", groupings = ["gender"] }}

[[methods]]
name = "bitfit"

[seeds]
values = [1, 2]
"#,
        model = fixtures.join("models/roberta").display(),
        data = fixtures.join("data").display(),
    );
    let path = dir.join("grid.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The grid runner and `homogen report` over a run folder with a killed cell whose checkpoint
/// is damaged and a trained cell (no DONE marker: killed before it) whose manifest is damaged:
/// the report names both cells and their files; the next run warns, moves the files aside,
/// trains both again and gives the uninterrupted run's results byte for byte.
#[test]
fn grid_cells_with_damaged_files_are_named_by_the_report_and_trained_again() {
    let work = tempfile::tempdir().unwrap();
    let config = s(&grid_config(work.path()));
    let whole = work.path().join("whole");
    let o = homogen(&[
        "run".into(),
        config.clone(),
        "--out".into(),
        s(&whole),
        "--quiet".into(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results = bytes(&whole.join("results.csv"));
    let cell =
        |run: &Path, seed: u32, task: &str| run.join(format!("cells/bitfit/seed-{seed}/{task}"));

    // Cells 0..2 trained one by one, cell 3 (seed 2, ag_news: 2 steps an epoch) killed in its
    // second epoch.
    let run = work.path().join("run");
    let task = |i: usize| -> Vec<String> {
        vec![
            "--quiet".into(),
            "run".into(),
            config.clone(),
            "--out".into(),
            s(&run),
            "--task-index".into(),
            i.to_string(),
        ]
    };
    for i in 0..3 {
        let o = homogen(&task(i));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let st = Command::new(BIN)
        .args(task(3))
        .env("HOMOGEN_TEST_ABORT_AFTER_STEPS", "3")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(137));
    let killed = cell(&run, 2, "ag_news");
    let opt = killed.join("checkpoint/epoch-1/optimizer.safetensors");
    let opt_bytes = bytes(&opt);
    std::fs::write(&opt, &opt_bytes[..opt_bytes.len() - 7]).unwrap();
    // Cell 2 (seed 2, imdb) trained but killed before its DONE marker, manifest damaged.
    let unmarked = cell(&run, 2, "imdb");
    std::fs::remove_file(unmarked.join("DONE")).unwrap();
    std::fs::write(unmarked.join("manifest.json"), "{\"program\": \"homogen\"").unwrap();

    let o = homogen(&["report".into(), s(&run)]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    for text in [&err, &report] {
        for needle in [
            "bitfit / seed 2 / ag_news: its checkpoint cannot be resumed from",
            &s(&opt),
            "truncated",
            "bitfit / seed 2 / imdb",
            &s(&unmarked.join("manifest.json")),
            "not a cell manifest",
            "the next `homogen run` trains it again",
        ] {
            assert!(text.contains(needle), "no `{needle}` in: {text}");
        }
    }
    assert!(report.contains("## Cells with damaged files"), "{report}");
    assert!(err.contains("warning: bitfit / seed 2 / ag_news"), "{err}");

    let o = homogen(&[
        "run".into(),
        config.clone(),
        "--out".into(),
        s(&run),
        "--quiet".into(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("4 cells: 2 trained, 2 skipped"), "{out}");
    for needle in [
        format!(
            "warning: cannot resume from the checkpoint in {}",
            s(&killed.join("checkpoint"))
        ),
        s(&opt),
        format!(
            "warning: {}: not a cell manifest",
            s(&unmarked.join("manifest.json"))
        ),
    ] {
        assert!(err.contains(&needle), "no `{needle}` in: {err}");
    }
    assert_eq!(
        bytes(&killed.join("checkpoint.corrupt/epoch-1/optimizer.safetensors")),
        &opt_bytes[..opt_bytes.len() - 7]
    );
    assert_eq!(
        bytes(&unmarked.join("manifest.json.corrupt")),
        b"{\"program\": \"homogen\""
    );
    assert_eq!(
        bytes(&unmarked.join("failures.parquet.corrupt")),
        bytes(&cell(&whole, 2, "imdb").join("failures.parquet"))
    );
    for (seed, task) in [(1, "imdb"), (1, "ag_news"), (2, "imdb"), (2, "ag_news")] {
        assert_eq!(
            bytes(&cell(&run, seed, task).join("failures.parquet")),
            bytes(&cell(&whole, seed, task).join("failures.parquet")),
            "seed {seed} / {task}"
        );
    }
    assert_eq!(bytes(&run.join("results.csv")), results);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(!report.contains("damaged"), "{report}");
}

/// A finished cell whose `failures.parquet` cannot be read is not skipped: `train` moves the
/// table aside with a warning naming it and predicts again from the last checkpoint, to the
/// same bytes; in a grid, `report` names the cell and leaves it out, and the next `run`
/// retrains it to the uninterrupted run's `results.csv`.
#[test]
fn a_finished_cell_with_a_damaged_table_is_trained_again() {
    let work = tempfile::tempdir().unwrap();
    let (out, cache) = (work.path().join("cell"), work.path().join("cache"));
    train(&out, &cache);
    let table = out.join("failures.parquet");
    let good = bytes(&table);
    std::fs::write(&table, &good[..good.len() / 2]).unwrap();
    let err = stderr(&train(&out, &cache));
    assert!(
        err.contains(&format!("warning: {}", s(&table))) && err.contains("trained again"),
        "{err}"
    );
    assert_eq!(bytes(&table), good);
    assert_eq!(
        bytes(&out.join("failures.parquet.corrupt")),
        &good[..good.len() / 2]
    );

    let config = s(&grid_config(work.path()));
    let run = work.path().join("run");
    let run_args = || -> Vec<String> {
        vec![
            "run".into(),
            config.clone(),
            "--out".into(),
            s(&run),
            "--quiet".into(),
        ]
    };
    let o = homogen(&run_args());
    assert!(o.status.success(), "{}", stderr(&o));
    let results = bytes(&run.join("results.csv"));
    let table = run.join("cells/bitfit/seed-1/imdb/failures.parquet");
    let good = bytes(&table);
    std::fs::write(&table, b"PAR1 not a table").unwrap();
    let o = homogen(&["report".into(), s(&run)]);
    let err = stderr(&o);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    for text in [&err, &report] {
        for needle in [
            "bitfit / seed 1 / imdb: its failure table cannot be read",
            &s(&table),
            "the next `homogen run` trains it again",
        ] {
            assert!(text.contains(needle), "no `{needle}` in: {text}");
        }
    }
    let o = homogen(&run_args());
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("4 cells: 1 trained, 3 skipped"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains(&format!("warning: {}", s(&table))), "{err}");
    assert_eq!(bytes(&table), good);
    assert_eq!(bytes(&run.join("results.csv")), results);
}

/// A file replaced through a temporary file and a rename keeps the old file's permission bits;
/// a new file gets the usual ones.
#[cfg(unix)]
#[test]
fn a_replaced_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let write = |p: &Path, text: &str| {
        homogen::failures::write_atomically(p, |w| {
            std::io::Write::write_all(w, text.as_bytes())
                .map_err(|e| homogen::error::Error::io("writing", e))
        })
        .unwrap()
    };
    for old in [0o444, 0o600, 0o640, 0o755] {
        let p = dir.path().join(format!("f{old:o}.txt"));
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(old)).unwrap();
        write(&p, "new");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(mode(&p), old, "{}", p.display());
    }
    let fresh = dir.path().join("fresh.txt");
    write(&fresh, "x");
    assert_eq!(mode(&fresh) & 0o600, 0o600);

    // Through the command line: `homogen measure -o` over a read-only result.
    let out = dir.path().join("result.csv");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o444)).unwrap();
    let o = homogen(&[
        "measure".into(),
        s(&root().join("data/example/failures.csv")),
        "--format".into(),
        "csv".into(),
        "-o".into(),
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("h_individual"));
    assert_eq!(mode(&out), 0o444);
}
