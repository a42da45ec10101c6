//! Model-sharing configs: bad ones exit 2 naming the key; `homogen plan` writes one
//! content-hashed job a cell and a job-array script; `--task-index` runs one cell idempotently.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_homogen");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The smoke config with absolute fixture paths, edited by `edit`, written into `dir`.
fn config(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("configs/smoke-vision.toml"))
        .unwrap()
        .replace("../tests/", &format!("{}/tests/", root().display()));
    let path = dir.join("c.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn homogen(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An edit of the config's text.
type Edit = Box<dyn Fn(String) -> String>;

#[test]
fn bad_configs_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Edit); 17] = [
        (
            "key `tasks[0].dataset.max_train`: must be at least 1",
            Box::new(|t| t.replacen("official\" }", "official\", max_train = 0 }", 1)),
        ),
        (
            "key `tasks[1].dataset.test_fraction`: must be in [0, 1)",
            Box::new(|t| {
                let first = t.find("official\" }").unwrap() + 1;
                let (a, b) = t.split_at(first);
                format!("{a}{}", b.replacen("official\" }", "official\", test_fraction = 1.5 }", 1))
            }),
        ),
        (
            "colour",
            Box::new(|t| t.replace("[train]\n", "[train]\ncolour = 3\n")),
        ),
        // Values are checked when the config loads, named by where they are set, not once per
        // cell at run time.
        (
            "key `methods[1].lr`: invalid type: string \"fast\", expected f64",
            Box::new(|t| t.replace("lr = 1e-2", "lr = \"fast\"")),
        ),
        (
            "key `methods[0].lr`: must be a positive number, got NaN",
            Box::new(|t| t.replace("lr = 3e-3", "lr = nan")),
        ),
        (
            "key `train.epochs`: must be at least 1",
            Box::new(|t| t.replace("epochs = 2", "epochs = 0")),
        ),
        (
            "key `train.optimizer`: unknown optimizer `adam`",
            Box::new(|t| t.replace("optimizer = \"sgd\"", "optimizer = \"adam\"")),
        ),
        (
            "key `train.dtype`: unknown dtype `f16`",
            Box::new(|t| t.replace("[train]\n", "[train]\ndtype = \"f16\"\n")),
        ),
        (
            "key `seeds.values`: seed 1 is listed twice",
            Box::new(|t| t.replace("values = [0, 1, 2]", "values = [0, 1, 1]")),
        ),
        (
            "key `experiment.groupings`: task `Wearing_Earrings` (dataset celeba) has no grouping `hari`",
            Box::new(|t| t.replace("[\"hair\", \"beard\"]", "[\"hari\"]")),
        ),
        (
            "key `experiment.kind`: unknown experiment kind `modelsharin`",
            Box::new(|t| t.replace("kind = \"modelsharing\"", "kind = \"modelsharin\"")),
        ),
        (
            "key `experiment.kind`: missing: [experiment] needs `kind`",
            Box::new(|t| t.replace("kind = \"modelsharing\"\n", "")),
        ),
        (
            "key `slurm.cpus`: must be at least 1",
            Box::new(|t| t.replace("[slurm]\n", "[slurm]\ncpus = 0\n")),
        ),
        (
            "unknown field `epoch`",
            Box::new(|t| t.replace("devices = [\"cpu\"]", "devices = [\"cpu\"]\nepoch = 3")),
        ),
        (
            "tasks[0].dataset.name",
            Box::new(|t| t.replacen("name = \"celeba\"", "name = \"mnist\"", 1)),
        ),
        (
            "methods[1].name",
            Box::new(|t| t.replace("name = \"probe\"", "name = \"prompting\"")),
        ),
        (
            "model.id",
            Box::new(|t| t.replace("models/clip", "models/no-such-model")),
        ),
    ];
    for (needle, edit) in cases {
        let c = config(dir.path(), edit);
        // `run` checks the Slurm section only through `plan`.
        let commands: &[&str] = match needle.contains("slurm.") {
            true => &["plan"],
            false => &["run", "plan"],
        };
        for &cmd in commands {
            let (code, _, err) = homogen(&[cmd, c.to_str().unwrap()]);
            assert_eq!(code, 2, "{cmd} {needle}: {err}");
            assert!(err.contains(needle), "{cmd}: `{needle}` not in: {err}");
            assert!(err.contains("c.toml"), "{err}");
        }
    }
}

/// Before any cell trains, `run` loads each task's dataset (annotations only): a wrong task
/// or dataset folder is one error naming the task, not one failed cell per method and seed.
/// Output folders are checked too: a file, or a folder holding another kind of run.
#[test]
fn run_checks_datasets_and_the_output_folder_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let c = config(dir.path(), |t| {
        t.replacen(
            "task = \"Wearing_Necklace\"",
            "task = \"Wearing_Neckless\"",
            1,
        )
    });
    let (code, _, err) = homogen(&["run", c.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "c.toml, key `tasks[1].task`: dataset `celeba` has no task `Wearing_Neckless`"
        ),
        "{err}"
    );
    assert!(!out.join("cells").exists(), "no cell ran");
    let c = config(dir.path(), |t| {
        t.replacen("data/celeba/official\" }", "data/celeba/nowhere\" }", 1)
    });
    let (code, _, err) = homogen(&["run", c.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("task `Wearing_Earrings` (tasks[0].dataset)"),
        "{err}"
    );

    // An output that is a file; a folder that holds a data-sharing run.
    let c = config(dir.path(), |t| t);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = homogen(&["run", c.to_str().unwrap(), "-o", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a-file: exists and is not a folder"), "{err}");
    let other = dir.path().join("datasharing");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("manifest.json"),
        r#"{"config": {"experiment": {"kind": "datasharing"}}}"#,
    )
    .unwrap();
    let (code, _, err) = homogen(&["run", c.to_str().unwrap(), "-o", other.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds a datasharing run"), "{err}");
    // A device this build cannot open, before any cell trains.
    if cfg!(not(feature = "cuda")) {
        let fresh = dir.path().join("fresh");
        let (code, _, err) = homogen(&[
            "run",
            c.to_str().unwrap(),
            "-o",
            fresh.to_str().unwrap(),
            "--devices",
            "cuda:0",
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("option `--devices`: cuda:0 requested but this build has no CUDA"),
            "{err}"
        );
        assert!(!fresh.join("cells").exists());
    }
    // A data-sharing config given to `plan`.
    let (code, _, err) = homogen(&[
        "plan",
        root().join("configs/default.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("this is a datasharing config"), "{err}");
    // A model-sharing option given with a data-sharing config.
    let (code, _, err) = homogen(&[
        "run",
        root().join("configs/default.toml").to_str().unwrap(),
        "--feature-cache",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--feature-cache apply to model-sharing configs"),
        "{err}"
    );
}

/// Slurm resources are checked before anything is written; a flag is named as such, a config
/// value by its key and file.
#[test]
fn plan_refuses_bad_slurm_resources_naming_flag_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let c = config(dir.path(), |t| t);
    for (flag, value, says) in [
        (
            "--time",
            "ten minutes",
            "option `--time`: `ten minutes` is not a Slurm time limit",
        ),
        (
            "--partition",
            "gpu\n#SBATCH --mem=1",
            "option `--partition`: `gpu",
        ),
        (
            "--max-parallel",
            "0",
            "option `--max-parallel`: must be at least 1",
        ),
    ] {
        let (code, _, err) = homogen(&[
            "plan",
            c.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            flag,
            value,
        ]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(err.contains(says), "{flag}: {err}");
        assert!(!out.exists(), "{flag}: nothing written");
    }
    let c = config(dir.path(), |t| t.replace("00:10:00", "10 min"));
    let (code, _, err) = homogen(&["plan", c.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("c.toml, key `slurm.time`: `10 min`"), "{err}");
}

#[test]
fn plan_writes_hashed_jobs_and_an_array_script_and_task_index_runs_one_cell() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), |t| t);
    let out = dir.path().join("run");
    let (code, _, err) = homogen(&[
        "plan",
        c.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--partition",
        "gpu",
        "--gpus",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let jobs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("jobs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 3 methods x 3 seeds x 2 tasks, method-major then seed then task.
    assert_eq!(jobs.len(), 18);
    assert_eq!(jobs[0]["method"], "scratch");
    assert_eq!(jobs[1]["task"], "Wearing_Necklace");
    assert_eq!(jobs[2]["seed"], 1);
    assert_eq!(jobs[17]["method"], "finetune");
    assert_eq!(jobs[6]["spec"]["lr"], 1e-2); // probe's override of [train]
    assert_eq!(jobs[6]["spec"]["momentum"], 0.9); // inherited from [train]
    let mut hashes: Vec<&str> = jobs.iter().map(|j| j["hash"].as_str().unwrap()).collect();
    assert!(hashes.iter().all(|h| h.len() == 64));
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 18, "cell hashes must differ");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seeds"], serde_json::json!([0, 1, 2]));
    assert_eq!(manifest["cells"][5]["hash"], jobs[5]["hash"]);
    let script = std::fs::read_to_string(out.join("submit.sbatch")).unwrap();
    // [slurm] max_parallel = 4 in the config; flags override partition and GPUs.
    for line in [
        "#SBATCH --array=0-17%4",
        "#SBATCH --partition=gpu",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --time=00:10:00",
        "--task-index \"$SLURM_ARRAY_TASK_ID\" --devices cuda:0",
    ] {
        assert!(script.contains(line), "{line} not in:\n{script}");
    }

    // One cell by index, twice: trained, then skipped.
    let o = out.to_str().unwrap();
    let (code, stdout, err) = homogen(&[
        "run",
        c.to_str().unwrap(),
        "--out",
        o,
        "--task-index",
        "7",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("Trained"), "{stdout}");
    let cell = PathBuf::from(jobs[7]["out"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(cell.join("DONE")).unwrap(),
        jobs[7]["hash"].as_str().unwrap()
    );
    assert!(cell.join("failures.parquet").is_file());
    let (_, stdout, _) = homogen(&[
        "run",
        c.to_str().unwrap(),
        "--out",
        o,
        "--task-index",
        "7",
        "--quiet",
    ]);
    assert!(stdout.contains("Skipped"), "{stdout}");
    let (code, _, err) = homogen(&["run", c.to_str().unwrap(), "--out", o, "--task-index", "18"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--task-index"), "{err}");
}

#[test]
fn a_failing_cell_is_marked_named_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of the CelebA fixture whose images are not images: the annotations load (so the
    // check before training passes), the cell fails when it decodes them.
    let broken = common::broken_celeba(dir.path());
    // Probe only, seeds 0 and 1, plus a task on the broken copy.
    let c = config(dir.path(), |t| {
        let t = t
            .replace("values = [0, 1, 2]", "values = [0, 1]")
            .replace("[[methods]]\nname = \"scratch\"\nlr = 3e-3\n", "")
            .replace("[[methods]]\nname = \"finetune\"\nlr = 3e-6\n", "");
        format!(
            "{t}\n[[tasks]]\nname = \"Broken\"\ntask = \"Wearing_Hat\"\n\
             dataset = {{ name = \"celeba\", root = {:?}, tasks = [\"Wearing_Hat\"] }}\n",
            broken.display().to_string()
        )
    });
    let out = dir.path().join("run");
    let (code, stdout, err) = homogen(&[
        "run",
        c.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    // Every failure is bad input (images that do not decode): exit 2.
    assert_eq!(code, 2, "{stdout}{err}");
    assert!(err.contains("2 cells failed, each with bad input"), "{err}");
    assert!(
        stdout.contains("6 cells: 4 trained, 0 skipped (already finished), 2 failed"),
        "{stdout}"
    );
    assert!(err.contains("failed: probe / seed 0 / Broken"), "{err}");
    let marker = out.join("cells/probe/seed-1/Broken/FAILED");
    assert!(!std::fs::read_to_string(&marker).unwrap().trim().is_empty());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Failed cells"), "{report}");
    assert!(report.contains("- probe / seed 1 / Broken: "), "{report}");
    // Every system lacks the Broken deployment, so both are measured over the two tasks.
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(results.contains("probe,probe/seed-1,individual,h_individual,"));
    assert!(!results.contains("failure_rate:Broken"));
}

/// A cell's hash names what it trains, not how the config's path was typed: the shipped config
/// read as `/abs/configs/x.toml` and as `/abs/configs/../configs/x.toml` expands to the same
/// hashes (so a rerun from another folder skips finished cells), and the model path is absolute.
#[test]
fn cell_hashes_do_not_depend_on_the_config_path_spelling() {
    use homogen::experiment::modelsharing::{config::ModelSharingConfig, grid::expand};
    let plain = root().join("configs/smoke-language.toml");
    let detour = root().join("configs/../configs/smoke-language.toml");
    let out = Path::new("runs/x");
    let a = expand(&ModelSharingConfig::load(&plain).unwrap(), out).unwrap();
    let b = expand(&ModelSharingConfig::load(&detour).unwrap(), out).unwrap();
    assert!(!a.is_empty());
    let hashes = |cells: &[homogen::experiment::modelsharing::grid::Cell]| {
        cells.iter().map(|c| c.hash.clone()).collect::<Vec<_>>()
    };
    assert_eq!(hashes(&a), hashes(&b));
    let model = a[0].spec["model"].as_str().unwrap();
    assert!(Path::new(model).is_absolute(), "{model}");
    assert!(!model.contains(".."), "{model}");
}
