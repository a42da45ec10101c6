//! The Slurm path on a real local cluster (started by `.ci/run` through tools/slurm): `plan` +
//! `submit.sh --wait` (the probe feature fills, then the cells) + `report` gives the same
//! `results.csv` as a local run, and a failing cell
//! marks itself failed, makes `sbatch` fail and is named by `report`. Skips (with a message)
//! where `sbatch` is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_homogen");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `sbatch` is installed and a controller answers (`sinfo` lists a node).
fn sbatch_available() -> bool {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
    };
    // A config must exist (else sinfo spends a minute on configless look-ups); `timeout` bounds
    // the wait for a controller that does not answer.
    let conf = std::env::var_os("SLURM_CONF")
        .map_or(PathBuf::from("/etc/slurm/slurm.conf"), PathBuf::from);
    conf.is_file()
        && ok("sbatch", &["--version"])
        && ok("timeout", &["15", "sinfo", "-h", "-o", "%N %t"])
}

/// A small grid (probe and scratch, seeds 0 and 1, both tasks: 8 cells) with absolute paths;
/// `extra` is appended (e.g. a task that cannot load).
fn config(dir: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("configs/smoke-vision.toml"))
        .unwrap()
        .replace("../tests/", &format!("{}/tests/", root().display()))
        .replace("values = [0, 1, 2]", "values = [0, 1]")
        .replace("[[methods]]\nname = \"finetune\"\nlr = 3e-6\n", "");
    let path = dir.join("c.toml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

fn homogen(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Submits a planned run with its `submit.sh` (the fills array, then the training array after
/// it) and waits for the training array.
fn submit_wait(run: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(run.join("submit.sh"))
        .args(["--wait", "--quiet"])
        .output()
        .unwrap()
}

#[test]
fn slurm_array_matches_local_run_and_names_failed_cells() {
    if !sbatch_available() {
        eprintln!(
            "SKIPPED: `sbatch` is not available or no Slurm controller answers (start a local cluster with \
             tools/slurm/start-slurm.sh and source its slurm.env, as .ci/run does)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), "");
    let local = dir.path().join("local");
    let o = homogen(&[
        "run",
        c.to_str().unwrap(),
        "--out",
        local.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cluster = dir.path().join("cluster");
    let o = homogen(&[
        "plan",
        c.to_str().unwrap(),
        "--out",
        cluster.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = std::fs::read_to_string(cluster.join("submit.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-7%4"), "{script}");
    // The probe cells (4..=7) read one set of CelebA features: one fill, by cell 4.
    let fills = std::fs::read_to_string(cluster.join("features.sbatch")).unwrap();
    assert!(fills.contains("#SBATCH --array=4%4\n"), "{fills}");
    let o = submit_wait(&cluster);
    assert!(
        o.status.success(),
        "submit.sh: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The fill computed the features before any cell trained, under the very key the probe
    // cells looked up: no cell computed another file.
    let logs: String = std::fs::read_dir(cluster.join("slurm"))
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(
        logs.contains("cell 4 (probe / seed 0 / Wearing_Earrings): frozen features of 12 examples computed and cached"),
        "{logs}"
    );
    assert_eq!(common::feature_files(&cluster.join(".feature-cache")), 1);
    let o = homogen(&["report", cluster.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("8 of 8 cells finished"));
    assert_eq!(
        std::fs::read(cluster.join("results.csv")).unwrap(),
        std::fs::read(local.join("results.csv")).unwrap(),
        "results.csv from the Slurm array differs from the local run"
    );

    // A task whose dataset is there when planned (plan checks it) and gone when the array runs:
    // its cells fail on the cluster.
    let moved = dir.path().join("celeba-moved");
    copy_dir(&root().join("tests/fixtures/data/celeba/official"), &moved);
    let bad = config(
        dir.path(),
        &format!(
            "[[tasks]]\nname = \"Broken\"\ntask = \"Wearing_Earrings\"\n\
             dataset = {{ name = \"celeba\", root = \"{}\" }}\n",
            moved.display()
        ),
    );
    let run = dir.path().join("bad");
    let o = homogen(&[
        "plan",
        bad.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&moved).unwrap();
    // Its fill (cell 8, probe / seed 0 / Broken) fails too; the cells train after it anyway.
    let fills = std::fs::read_to_string(run.join("features.sbatch")).unwrap();
    assert!(fills.contains("#SBATCH --array=6,8%4\n"), "{fills}");
    let o = submit_wait(&run);
    assert!(
        !o.status.success(),
        "sbatch --wait must report the failed tasks"
    );
    // Cells are method-major, seed, task: index 2 is scratch / seed 0 / Broken.
    let failed = run.join("cells/scratch/seed-0/Broken/FAILED");
    assert!(failed.is_file(), "no FAILED marker at {}", failed.display());
    assert!(!std::fs::read_to_string(&failed).unwrap().trim().is_empty());
    let o = homogen(&["report", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("8 of 12 cells finished"), "{stdout}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    for name in ["scratch / seed 0 / Broken", "probe / seed 1 / Broken"] {
        assert!(
            report.contains(name),
            "report.md does not name {name}:\n{report}"
        );
    }
}
