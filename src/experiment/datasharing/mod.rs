//! The data-sharing study's runner (issue 6): every trial of the grid in parallel, one failure
//! table per learner (every trial's rows, told apart by `system`), one measurement per trial,
//! and the aggregate results, report and figures.
//!
//! Output folder:
//! - `failures/<learner>.parquet` — DESIGN.md §3 failure tables, columns `system` (e.g.
//!   `gc/logistic/fixed/scale=5/d0/m0`), `deployment` (the task), `example_id` (person row),
//!   `label`, `prediction`, `failure`, the group columns, `learner`, `setting`, `scale`,
//!   `data_seed`, `model_seed`;
//! - `measurements.csv` — one row per trial, grouping and metric;
//! - `results.csv` — mean, sd and n over data seeds (each the mean over its model seeds) per
//!   learner, setting, scale, grouping, metric, with `single_class_fits`: how many of the fits
//!   behind the row trained on a block holding one class (see [`report::ResultRow`]);
//! - `comparison.csv` — the paired difference fixed − disjoint per learner, scale, grouping and
//!   metric, with its 95% interval over data seeds and a verdict ([`compare`]);
//! - `report.md`, `figures/*.svg|png`, `manifest.json`.

pub mod compare;
pub mod measure;
pub mod plot;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Axis};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::config::{Config, DatasetKind};
use super::learners::{self, fit};
use super::protocol::{self, Split, Trial};
use crate::data::tabular::{acs, german, lsac, TabularDataset};
use crate::error::{Error, Result};
use crate::failures::{self, Categorical, FailureTable};
use measure::MetricRow;

/// Extra columns every failure-table row carries after the group columns.
pub const TRIAL_COLUMNS: [&str; 5] = ["learner", "setting", "scale", "data_seed", "model_seed"];

/// How a run shows progress and how many threads it uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// No progress bar.
    pub quiet: bool,
    /// Trials run at once (one thread each); all available cores when `None`.
    pub threads: Option<usize>,
}

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The output folder.
    pub out: PathBuf,
    /// The report's path.
    pub report: PathBuf,
    /// Number of trials run.
    pub n_trials: usize,
    /// Aggregated results (what `results.csv` holds).
    pub results: Vec<report::ResultRow>,
    /// Paired fixed − disjoint differences (what `comparison.csv` holds).
    pub comparisons: Vec<compare::Comparison>,
    /// Fits whose training block held a single class, per (learner, setting, scale, task).
    pub single_class: report::SingleClassFits,
    /// Wall time of the trials, in seconds.
    pub seconds: f64,
}

/// The sha256 (hex) of a file's bytes, read in pieces.
fn file_sha256(p: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(p).map_err(|e| Error::reading(p, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Loads the dataset a config names, and a fingerprint of its bytes (sha256 hex): of the file,
/// or, for several ACS person files, of the lines `<sha256>  <file name>` (as `sha256sum`
/// prints them) in the order the files were concatenated.
pub fn load_dataset(config: &Config) -> Result<(TabularDataset, String)> {
    let fingerprint = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let d = &config.data;
    let paths = d.paths();
    let one = || -> Result<&Path> {
        match paths.as_slice() {
            [p] => Ok(p.as_path()),
            _ => Err(Error::input(
                "the German Credit and LSAC datasets read one file (`data.path`)",
            )),
        }
    };
    Ok(match (d.dataset, paths.is_empty()) {
        (DatasetKind::GermanCredit, true) => (
            german::load_bundled(d.encoding)?,
            fingerprint(german::GERMAN_DATA.as_bytes()),
        ),
        (DatasetKind::GermanCredit, false) => {
            let p = one()?;
            (german::load_file(p, d.encoding)?, file_sha256(p)?)
        }
        (DatasetKind::Acs, false) => {
            let (ds, files) = acs::load_paths(&paths, d.state_codes().as_deref())
                .map_err(|e| config.locate(e))?;
            let print = match files.as_slice() {
                [f] => file_sha256(f)?,
                _ => {
                    let mut lines = String::new();
                    for f in &files {
                        let name = f
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        lines.push_str(&format!("{}  {name}\n", file_sha256(f)?));
                    }
                    fingerprint(lines.as_bytes())
                }
            };
            (ds, print)
        }
        (DatasetKind::Lsac, false) => {
            let p = one()?;
            let options = lsac::LsacOptions {
                population: config.data.population,
            };
            (lsac::load_with(p, &options)?.0, file_sha256(p)?)
        }
        (_, true) => {
            return Err(Error::input(
                "the ACS and LSAC datasets need `data.path` in the config",
            ))
        }
    })
}

/// One trial's test predictions: per task, one 0/1 prediction per test person.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialOutput {
    /// The trial.
    pub trial: Trial,
    /// Predictions per task (same order as the dataset's tasks), on `split.test`.
    pub predictions: Vec<Vec<u8>>,
    /// Per task, `Some(class)` when its training block held that class alone, so that no model
    /// was fitted and every prediction is `class` ([`learners::Fit::single_class`]).
    pub single_class: Vec<Option<u8>>,
}

fn rows(x: &Array2<f64>, people: &[usize], columns: &[usize]) -> Array2<f64> {
    x.select(Axis(0), people).select(Axis(1), columns)
}

/// Trains one model per task for `trial` and predicts the test people.
pub fn run_trial(ds: &TabularDataset, split: &Split, trial: &Trial) -> Result<TrialOutput> {
    let learner = learners::by_name(&trial.learner)?;
    let sets = protocol::training_sets(
        split,
        ds.tasks.len(),
        trial.scale,
        trial.setting,
        trial.data_seed,
    )?;
    let mut predictions = Vec::with_capacity(ds.tasks.len());
    let mut single_class = Vec::with_capacity(ds.tasks.len());
    for (task, train) in ds.tasks.iter().zip(&sets) {
        let x_train = rows(&ds.features, train, &task.feature_columns);
        let x_test = rows(&ds.features, &split.test, &task.feature_columns);
        let y: Vec<u8> = train.iter().map(|&i| task.labels[i]).collect();
        let f = fit(learner.as_ref(), &x_train, &y, &x_test, trial.model_seed)?;
        predictions.push(f.predictions);
        single_class.push(f.single_class);
    }
    Ok(TrialOutput {
        trial: trial.clone(),
        predictions,
        single_class,
    })
}

/// The failure table of one trial: one row per (task, test person).
pub fn trial_table(ds: &TabularDataset, split: &Split, out: &TrialOutput) -> FailureTable {
    let t = &out.trial;
    let system = t.system_name(&ds.name);
    let n = split.test.len() * ds.tasks.len();
    let mut table = FailureTable::new();
    let mut sys = Categorical::new(failures::columns::SYSTEM);
    let mut labels = Vec::with_capacity(n);
    let mut preds = Vec::with_capacity(n);
    let mut groups: Vec<Categorical> = ds
        .groups
        .iter()
        .map(|g| Categorical::new(g.name.clone()))
        .collect();
    let scale = t.scale.to_string();
    let (d, m) = (t.data_seed.to_string(), t.model_seed.to_string());
    let attrs = [t.learner.as_str(), t.setting.as_str(), &scale, &d, &m];
    let mut trial_cols: Vec<Categorical> =
        TRIAL_COLUMNS.iter().map(|c| Categorical::new(*c)).collect();
    for (task, pred) in ds.tasks.iter().zip(&out.predictions) {
        for (&person, &p) in split.test.iter().zip(pred) {
            sys.push(&system);
            table.deployment.push(&task.name);
            table.example_id.push(&ds.ids[person]);
            let y = task.labels[person];
            labels.push(i64::from(y));
            preds.push(i64::from(p));
            table.failure.push(y != p);
            for (col, g) in groups.iter_mut().zip(&ds.groups) {
                col.push(&g.values[person]);
            }
            for (col, v) in trial_cols.iter_mut().zip(attrs) {
                col.push(v);
            }
        }
    }
    table.system = Some(sys);
    table.label = Some(labels);
    table.prediction = Some(preds);
    table.extra = groups;
    table.extra.extend(trial_cols);
    table
}

/// Counts, per (learner, setting, scale, task), the fits of `outputs` and those whose training
/// block held a single class.
pub fn single_class_fits(ds: &TabularDataset, outputs: &[TrialOutput]) -> report::SingleClassFits {
    let mut counts = report::SingleClassFits::new();
    for o in outputs {
        let t = &o.trial;
        for (task, class) in ds.tasks.iter().zip(&o.single_class) {
            let c = counts
                .entry((t.learner.clone(), t.setting, t.scale, task.name.clone()))
                .or_default();
            c.fits += 1;
            if let Some(class) = class {
                c.by_class[usize::from(*class > 0)] += 1;
            }
        }
    }
    counts
}

/// The run-time warning for the first trial found with a single-class training block.
fn first_single_class_warning(
    ds: &TabularDataset,
    o: &TrialOutput,
    split: &Split,
    t: &Trial,
) -> String {
    let tasks: Vec<String> = ds
        .tasks
        .iter()
        .zip(&o.single_class)
        .filter_map(|(task, c)| c.map(|c| format!("{} (all {c})", task.name)))
        .collect();
    format!(
        "{}: the training data ({} people) of {} held a single class, so no model was fitted and \
         each predicts that class for everyone (scikit-learn would refuse to fit); every such fit \
         is counted in results.csv (`single_class_fits`) and report.md",
        t.system_name(&ds.name),
        split.train.len() / t.scale.max(1),
        tasks.join(", ")
    )
}

/// Runs a data-sharing config into its output folder (or `out` when given).
pub fn run(
    config: &Config,
    config_text: &str,
    out: Option<&Path>,
    options: RunOptions,
) -> Result<RunSummary> {
    let out = out.map_or_else(|| config.experiment.out.clone(), Path::to_path_buf);
    crate::experiment::config::check_run_folder(&out, "datasharing")?;
    let (ds, fingerprint) = load_dataset(config)?;
    let p = &config.protocol;
    for g in &p.groupings {
        if ds.group(g).is_none() {
            return Err(crate::error::InputError::new(format!(
                "dataset `{}` has no grouping `{g}` (it has: {})",
                ds.name,
                ds.groups
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .at_key("protocol.groupings")
            .into())
            .map_err(|e| config.locate(e));
        }
    }
    let splits: Vec<(u64, Split)> = p
        .data_seeds
        .iter()
        .map(|&s| (s, protocol::split(ds.n_people(), s)))
        .collect();
    // Check every scale against every setting before any training starts.
    for (seed, split) in &splits {
        for &scale in &p.scales {
            for setting in protocol::Setting::ALL {
                protocol::training_sets(split, ds.tasks.len(), scale, setting, *seed)
                    .map_err(|e| config.locate(e))?;
            }
        }
    }
    let trials = protocol::trials(&p.learners, &p.scales, &p.data_seeds, &p.model_seeds);
    let split_of = |seed: u64| -> &Split {
        &splits
            .iter()
            .find(|(s, _)| *s == seed)
            .expect("split for every data seed")
            .1
    };

    let bar = if options.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(trials.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} trials, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let start = Instant::now();
    let measurements = Mutex::new(Vec::<(Trial, Vec<MetricRow>)>::new());
    let warned = std::sync::atomic::AtomicBool::new(false);
    let threads = options.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Runtime(format!("starting {threads} worker threads: {e}")))?;
    let outputs: Vec<TrialOutput> = pool.install(|| {
        trials
            .par_iter()
            .map(|t| {
                let split = split_of(t.data_seed);
                let o = run_trial(&ds, split, t)?;
                if o.single_class.iter().any(Option::is_some)
                    && !warned.swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    let line = first_single_class_warning(&ds, &o, split, t);
                    bar.suspend(|| eprintln!("warning: {line}"));
                }
                let table = trial_table(&ds, split, &o);
                let systems = failures::systems(&table, &p.groupings)?;
                let mut rows = Vec::new();
                for s in &systems {
                    rows.extend(measure::measure(s)?);
                }
                measurements
                    .lock()
                    .map_err(|_| Error::Runtime("a trial panicked".into()))?
                    .push((t.clone(), rows));
                bar.inc(1);
                Ok(o)
            })
            .collect::<Result<_>>()
    })?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();

    // One failure table per learner, trials in grid order, built and written one trial at a
    // time (a run on all states' people holds billions of rows in all).
    for learner in &p.learners {
        let trials = outputs.iter().filter(|o| &o.trial.learner == learner);
        failures::write_parquet_parts(
            &out.join("failures").join(format!("{learner}.parquet")),
            trials.map(|o| Ok(trial_table(&ds, split_of(o.trial.data_seed), o))),
        )?;
    }
    let mut measurements = measurements
        .into_inner()
        .map_err(|_| Error::Runtime("a trial panicked".into()))?;
    measurements.sort_by(|a, b| a.0.cmp(&b.0));
    let mut results = report::aggregate(&measurements);
    let single_class = single_class_fits(&ds, &outputs);
    report::set_single_class_fits(&mut results, &single_class);
    if let Some(line) = report::single_class_summary(&single_class) {
        eprintln!("warning: {line}");
    }
    let comparisons = compare::compare(&measurements);
    report::write_measurements(&out.join("measurements.csv"), &ds.name, &measurements)?;
    report::write_results(&out.join("results.csv"), &ds.name, &results)?;
    report::write_comparisons(&out.join("comparison.csv"), &ds.name, &comparisons)?;
    let n_train = splits[0].1.train.len();
    let figures = plot::figures(
        &out.join("figures"),
        &ds.name,
        n_train,
        &results,
        &comparisons,
    )?;
    let report_path = out.join("report.md");
    report::write_report(
        &report_path,
        &report::ReportInput {
            config,
            dataset: &ds,
            n_train,
            n_test: splits[0].1.test.len(),
            n_trials: trials.len(),
            seconds,
            results: &results,
            comparisons: &comparisons,
            figures: &figures,
            single_class: &single_class,
        },
    )?;
    report::write_manifest(
        &out.join("manifest.json"),
        config,
        config_text,
        &fingerprint,
        &trials,
    )?;
    Ok(RunSummary {
        out,
        report: report_path,
        n_trials: trials.len(),
        results,
        comparisons,
        single_class,
        seconds,
    })
}
