//! The Slurm scripts of a planned grid: the training array, one task per cell, each running
//! `homogen run CONFIG --out DIR --task-index $SLURM_ARRAY_TASK_ID` (idempotent; a failing
//! cell writes its `FAILED` marker and exits non-zero); the array that fills the probe feature
//! cache first, one task per distinct set of frozen features; and `submit.sh`, which submits
//! both with a dependency between them.

use std::path::Path;

use super::config::SlurmSection;

/// Resources of the array's tasks (config `[slurm]`, overridden by `homogen plan` flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmRequest {
    /// `--partition`.
    pub partition: Option<String>,
    /// GPUs per task (`--gres=gpu:N` when above 0).
    pub gpus: u32,
    /// `--time`.
    pub time: Option<String>,
    /// Concurrent tasks at most (`%K`); unlimited when absent.
    pub max_parallel: Option<usize>,
    /// `--cpus-per-task`.
    pub cpus: Option<u32>,
}

impl SlurmRequest {
    /// The config's `[slurm]` defaults.
    pub fn from_config(s: &SlurmSection) -> Self {
        SlurmRequest {
            partition: s.partition.clone(),
            gpus: s.gpus.unwrap_or(0),
            time: s.time.clone(),
            max_parallel: s.max_parallel,
            cpus: s.cpus,
        }
    }
}

impl SlurmRequest {
    /// The device a task trains on: its first GPU when it requests GPUs, else the CPU.
    pub fn device(&self) -> &'static str {
        if self.gpus > 0 {
            "cuda:0"
        } else {
            "cpu"
        }
    }

    /// Checks what goes into the script's `#SBATCH` lines: a time limit in one of Slurm's
    /// formats, a partition name (list) without spaces or line breaks, at least one task at a
    /// time. An error names the field (`time`, `partition`, `max_parallel`) and what was expected.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(t) = self.time.as_deref().filter(|t| !is_slurm_time(t)) {
            return Err((
                "time",
                format!(
                    "`{t}` is not a Slurm time limit: expected minutes, MM:SS, HH:MM:SS, D-HH, \
                     D-HH:MM, D-HH:MM:SS or UNLIMITED"
                ),
            ));
        }
        if let Some(p) = self.partition.as_deref().filter(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ','))
        }) {
            return Err((
                "partition",
                format!(
                    "`{p}` is not a partition name: expected letters, digits, `_`, `-`, `.` \
                     (several separated by `,`)"
                ),
            ));
        }
        if self.max_parallel == Some(0) {
            return Err(("max_parallel", "must be at least 1".into()));
        }
        if self.cpus == Some(0) {
            return Err(("cpus", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Whether `t` is a time limit `sbatch --time` accepts: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`,
/// `D-H:M:S` (all parts digits) or `UNLIMITED`/`INFINITE`.
pub fn is_slurm_time(t: &str) -> bool {
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(digits) && parts.iter().all(|p| digits(p)) && (1..=3).contains(&parts.len())
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

/// The `sbatch` script that trains `n_cells` cells (`--array=0-(n-1)%K`), one a task.
pub fn script(
    name: &str,
    n_cells: usize,
    req: &SlurmRequest,
    homogen: &Path,
    config: &Path,
    out: &Path,
) -> String {
    let array = format!("0-{}", n_cells.saturating_sub(1));
    let job = format!("homogen-{name}");
    array_script(&job, &array, req, [homogen, config, out], "")
}

/// The `sbatch` script that fills the probe feature cache before the cells train: one task
/// per cell of `fills` ([`super::grid::feature_fills`]; `--array=i,j,...%K`), each running
/// `homogen run ... --task-index I --features-only` on the resources of a training task, so
/// that the fill's cache key (device included) is the one the cells will look up.
pub fn features_script(
    name: &str,
    fills: &[usize],
    req: &SlurmRequest,
    homogen: &Path,
    config: &Path,
    out: &Path,
) -> String {
    let array: Vec<String> = fills.iter().map(usize::to_string).collect();
    let job = format!("homogen-{name}-features");
    array_script(
        &job,
        &array.join(","),
        req,
        [homogen, config, out],
        " --features-only",
    )
}

/// An array script: `#SBATCH` lines for `array` and `req`, then each task's `homogen run
/// CONFIG --out DIR --task-index $SLURM_ARRAY_TASK_ID` on the task's device
/// ([`SlurmRequest::device`]) with `flags` added; `paths` are homogen, the config and the run
/// folder.
fn array_script(
    job: &str,
    array: &str,
    req: &SlurmRequest,
    paths: [&Path; 3],
    flags: &str,
) -> String {
    let [homogen, config, out] = paths;
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name={job}\n"));
    match req.max_parallel {
        Some(k) => s.push_str(&format!("#SBATCH --array={array}%{k}\n")),
        None => s.push_str(&format!("#SBATCH --array={array}\n")),
    }
    s.push_str(&format!(
        "#SBATCH --output={}/slurm/%A_%a.out\n",
        out.to_string_lossy()
    ));
    if let Some(p) = &req.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if req.gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{}\n", req.gpus));
    }
    if let Some(t) = &req.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(c) = req.cpus {
        s.push_str(&format!("#SBATCH --cpus-per-task={c}\n"));
    }
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!(
        "exec {} run {} --out {} --task-index \"$SLURM_ARRAY_TASK_ID\" --devices {}{flags} \
         --quiet\n",
        quote(homogen),
        quote(config),
        quote(out),
        req.device()
    ));
    s
}

/// `submit.sh`: submits the run. With a features script (`features` is its path), that array
/// first, then the training array `train` with `--dependency=afterany` on it, so that no
/// training task holds a GPU while another computes the features it will read; `afterany`
/// rather than `afterok`, so that a failed fill leaves its error to the cells that need the
/// features (each marks itself failed) instead of a training array pending for ever. Its
/// arguments go to both `sbatch` calls (an account, a QOS...), except `--wait` and `--quiet`,
/// which only the training array's gets (the fills' job id is read from `sbatch --parsable`).
pub fn submit_script(features: Option<&Path>, train: &Path) -> String {
    let mut s = String::from(
        "#!/bin/bash\n\
         # Submits the run's Slurm arrays (written by `homogen plan`); arguments go to sbatch,\n\
         # e.g. `bash submit.sh --wait` returns when every cell ended.\n\
         set -euo pipefail\n",
    );
    match features {
        Some(f) => {
            s.push_str(&format!(
                "# The probe feature cache is filled first; the cells train once every fill ended.\n\
                 fill_args=()\n\
                 for a in \"$@\"; do\n\
                 \x20 case \"$a\" in --wait|-W|--quiet|-Q) ;; *) fill_args+=(\"$a\") ;; esac\n\
                 done\n\
                 fills=$(sbatch --parsable ${{fill_args[@]+\"${{fill_args[@]}}\"}} {})\n\
                 fills=${{fills%%;*}}\n\
                 echo \"feature fills: job $fills\" >&2\n\
                 exec sbatch --dependency=afterany:\"$fills\" \"$@\" {}\n",
                quote(f),
                quote(train)
            ));
        }
        None => s.push_str(&format!("exec sbatch \"$@\" {}\n", quote(train))),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formats of `sbatch --time` (Slurm's documentation of the option).
    #[test]
    fn slurm_time_limits() {
        for ok in [
            "30",
            "30:00",
            "01:30:00",
            "2-0",
            "2-12",
            "2-12:30",
            "2-12:30:00",
            "UNLIMITED",
        ] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "1h",
            "1:2:3:4",
            "-1",
            "2-",
            "1.5",
            "2-1:2:3:4",
            "01:30 ",
        ] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
    }

    /// The fills array runs `--features-only` on the cells given, `%K` at most at once; the
    /// training array runs every cell.
    #[test]
    fn features_and_training_arrays() {
        let req = SlurmRequest {
            gpus: 1,
            max_parallel: Some(3),
            ..SlurmRequest::default()
        };
        let (exe, config, out) = (
            Path::new("/bin/homogen"),
            Path::new("/c.toml"),
            Path::new("/r"),
        );
        let fills = features_script("x", &[4, 9], &req, exe, config, out);
        assert!(fills.contains("#SBATCH --array=4,9%3\n"), "{fills}");
        assert!(
            fills.contains("#SBATCH --job-name=homogen-x-features\n"),
            "{fills}"
        );
        assert!(fills.contains("#SBATCH --gres=gpu:1\n"), "{fills}");
        assert!(
            fills.contains("--devices cuda:0 --features-only --quiet\n"),
            "{fills}"
        );
        let train = script("x", 12, &req, exe, config, out);
        assert!(train.contains("#SBATCH --array=0-11%3\n"), "{train}");
        assert!(!train.contains("--features-only"), "{train}");
    }

    /// `submit.sh` run by bash against a stand-in `sbatch` that logs its arguments: the fills
    /// go first, without `--wait`/`--quiet`; the training array then depends on the fills'
    /// job id (the part of `--parsable`'s `id;cluster` before the `;`) and gets every argument.
    #[cfg(unix)]
    #[test]
    fn submit_script_chains_the_arrays() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let sbatch = dir.path().join("sbatch");
        std::fs::write(
            &sbatch,
            format!(
                "#!/bin/bash\necho \"$*\" >> '{}'\necho '4711;cluster'\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (features, train) = (dir.path().join("f it.sbatch"), dir.path().join("t.sbatch"));
        let run = |script: String, args: &[&str]| {
            std::fs::remove_file(&log).ok();
            let path = dir.path().join("submit.sh");
            std::fs::write(&path, script).unwrap();
            let o = std::process::Command::new("bash")
                .arg(&path)
                .args(args)
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        dir.path().display(),
                        std::env::var("PATH").unwrap()
                    ),
                )
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            std::fs::read_to_string(&log).unwrap()
        };
        let calls = run(
            submit_script(Some(&features), &train),
            &["--wait", "--account=a b", "--quiet"],
        );
        assert_eq!(
            calls,
            format!(
                "--parsable --account=a b {}\n--dependency=afterany:4711 --wait --account=a b \
                 --quiet {}\n",
                features.display(),
                train.display()
            )
        );
        let calls = run(submit_script(Some(&features), &train), &[]);
        assert!(calls.starts_with("--parsable /"), "{calls}");
        let calls = run(submit_script(None, &train), &["--wait"]);
        assert_eq!(calls, format!("--wait {}\n", train.display()));
    }
}
