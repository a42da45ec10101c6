//! The one training loop for every method and both backbones ([`train_cell`]).
//!
//! Per epoch: a seeded shuffle of the training split, batches of `batch_size` (text tokenized;
//! images preprocessed with seeded augmentation), a forward pass in training mode (seeded
//! dropout), mean cross-entropy, backward, gradient-norm clipping, an optimiser step on the
//! method's trainable parameters every `grad_accum` batches with the schedule's learning rate;
//! then evaluation on the validation split when there is one, `metrics.jsonl` and a checkpoint.
//! Finally the test split is predicted into `failures.parquet`. Each batch's input is prepared
//! on the host by a helper thread while the model runs the batch before
//! ([`crate::models::for_each_prefetched`]), so that a GPU does not wait for decoding.
//!
//! A probe's backbone is frozen, so its features come from the [`super::cache`] (computed once,
//! in evaluation mode, from the deterministic preprocessing) and only the head runs per step.
//!
//! Every random draw derives from the spec's seed and the (epoch, step) position, which is what
//! makes a resumed run byte-identical to an uninterrupted one.
//!
//! **Test hook**: when the environment variable `HOMOGEN_TEST_ABORT_AFTER_STEPS=N` is set, the
//! process exits with code 137 right after its N-th optimiser step (as if killed), so tests can
//! check resuming. It has no other effect.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, D};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cache::FeatureCache;
use super::cell::{CellOutcome, FeatureKind, RunOptions, TrainSpec};
use super::checkpoint::{self, CheckpointState};
use super::clip::{clip_coefficient, grad_norm};
use super::features::{frozen_features, model_key, FrozenFeatures};
use super::manifest::{append_metrics, truncate_metrics, EpochMetrics, Manifest};
use super::method::{self, HeadKind, Method};
use super::optim::NamedVars;
use super::pipeline::{mix, Pipeline};
use super::progress;
use super::tensor_error;
use crate::data::{self, Dataset, Example, Split};
use crate::device::{parse_device, parse_dtype, Precision};
use crate::error::{Error, InputError, Result};
use crate::failures::{write_parquet, Categorical, FailureTable};
use crate::models::config::ModelConfig;
use crate::models::heads::HeadKind as ModelHead;
use crate::models::hub::{resolve, ModelFiles, ResolveOptions};
use crate::models::layers::Ctx;
use crate::models::{for_each_prefetched, Batch, HeadSpec, Model};

/// The environment variable of the abort test hook (see the module docs).
pub const ABORT_AFTER_STEPS_ENV: &str = "HOMOGEN_TEST_ABORT_AFTER_STEPS";

/// Where a batch's logits come from: the whole model, or the head on cached features.
enum Source<'a> {
    Model(&'a Pipeline),
    Cached(&'a Tensor),
}

/// A batch's input on the host, prepared on a helper thread while the model runs the batch
/// before ([`for_each_prefetched`]): the model's input, or the batch's rows of cached features.
enum HostInput {
    Model(Batch),
    Features(Tensor),
}

/// The host input of `examples`, which are rows `rows` of the split `source` covers.
fn prepare(
    source: &Source,
    examples: &[&Example],
    rows: &[usize],
    augment_seed: Option<u64>,
) -> Result<HostInput> {
    Ok(match source {
        Source::Model(p) => HostInput::Model(p.host_batch(examples, augment_seed)?),
        Source::Cached(features) => {
            let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
            let idx = Tensor::new(idx.as_slice(), &Device::Cpu).map_err(tensor_error)?;
            HostInput::Features(features.index_select(&idx, 0).map_err(tensor_error)?)
        }
    })
}

/// The logits [batch, classes] (f32) of a prepared batch, on the model's device.
fn logits(model: &Model, input: HostInput, ctx: &Ctx) -> Result<Tensor> {
    let dev = model.store.device();
    let out = match input {
        HostInput::Model(batch) => batch
            .to_device(dev)
            .and_then(|b| model.logits(&b, ctx))
            .map_err(tensor_error)?,
        HostInput::Features(features) => {
            let f = features
                .to_device(dev)
                .and_then(|f| f.to_dtype(model.store.dtype()))
                .map_err(tensor_error)?;
            let head = model
                .head
                .as_ref()
                .ok_or_else(|| Error::Runtime("the model has no head".into()))?;
            head.forward(&f, ctx).map_err(tensor_error)?
        }
    };
    out.to_dtype(DType::F32).map_err(tensor_error)
}

fn targets(examples: &[&Example], task: usize, dev: &Device) -> Result<Tensor> {
    let t: Vec<u32> = examples.iter().map(|e| e.labels[task] as u32).collect();
    Tensor::new(t.as_slice(), dev).map_err(tensor_error)
}

/// Per-example predictions: predicted class, its probability, cross-entropy of the true class.
struct Predictions {
    prediction: Vec<i64>,
    prob: Vec<f64>,
    loss: Vec<f64>,
}

impl Predictions {
    /// Records the log-probabilities [batch, classes] of examples `rows`.
    fn record(
        &mut self,
        log_probs: &[Vec<f32>],
        rows: &[usize],
        examples: &[&Example],
        task: usize,
    ) {
        for (row, &i) in log_probs.iter().zip(rows) {
            let (best, &lbest) =
                row.iter().enumerate().fold(
                    (0, &f32::NEG_INFINITY),
                    |a, b| if b.1 > a.1 { b } else { a },
                );
            self.prediction[i] = best as i64;
            self.prob[i] = f64::from(lbest).exp();
            self.loss[i] = -f64::from(row[examples[i].labels[task] as usize]);
        }
    }
}

fn predict(
    model: &Model,
    source: &Source,
    examples: &[&Example],
    task: usize,
    batch: usize,
) -> Result<Predictions> {
    // No graph: nothing here is differentiated (half the memory of a tracked pass, measured).
    model
        .store
        .without_gradients(|| predict_batches(model, source, examples, task, batch))
}

fn predict_batches(
    model: &Model,
    source: &Source,
    examples: &[&Example],
    task: usize,
    batch: usize,
) -> Result<Predictions> {
    let ctx = Ctx::eval();
    let n = examples.len();
    let mut p = Predictions {
        prediction: vec![0; n],
        prob: vec![0.0; n],
        loss: vec![0.0; n],
    };
    // Texts through the model shortest first (each batch pads little); cached features in
    // order. Every result goes to its example's place.
    let order = match source {
        Source::Model(pipeline) => pipeline.pass_order(examples)?,
        Source::Cached(_) => (0..n).collect(),
    };
    let chunks: Vec<&[usize]> = order.chunks(batch.max(1)).collect();
    let examples_of =
        |rows: &[usize]| -> Vec<&Example> { rows.iter().map(|&i| examples[i]).collect() };
    for_each_prefetched(
        &chunks,
        |_, rows| prepare(source, &examples_of(rows), rows, None),
        |b, input| {
            let lp = candle_nn::ops::log_softmax(&logits(model, input, &ctx)?, D::Minus1)
                .and_then(|l| l.to_device(&Device::Cpu))
                .and_then(|l| l.to_vec2::<f32>())
                .map_err(tensor_error)?;
            p.record(&lp, chunks[b], examples, task);
            Ok(())
        },
    )?;
    Ok(p)
}

fn accuracy(p: &Predictions, examples: &[&Example], task: usize) -> f64 {
    let right = p
        .prediction
        .iter()
        .zip(examples)
        .filter(|(p, e)| **p == e.labels[task])
        .count();
    right as f64 / examples.len().max(1) as f64
}

/// The training losses of an epoch. On a GPU, reading a loss back to the host waits for the
/// device, so the losses stay there and are read [`LossLog::READ_EVERY_ON_DEVICE`] at a time
/// (one wait instead of one per step); on the CPU each is read at once.
struct LossLog {
    read: Vec<f64>,
    pending: Vec<Tensor>,
    read_every: usize,
}

impl LossLog {
    /// Losses kept on a device before one read back.
    const READ_EVERY_ON_DEVICE: usize = 32;

    fn new(device: &Device) -> Self {
        LossLog {
            read: Vec::new(),
            pending: Vec::new(),
            read_every: if device.is_cpu() {
                1
            } else {
                Self::READ_EVERY_ON_DEVICE
            },
        }
    }

    /// Records a scalar loss (detached: the graph is not kept alive).
    fn push(&mut self, loss: &Tensor) -> Result<()> {
        self.pending.push(loss.detach());
        if self.pending.len() >= self.read_every {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let values = Tensor::stack(&self.pending, 0)
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(tensor_error)?;
        self.read.extend(values.into_iter().map(f64::from));
        self.pending.clear();
        Ok(())
    }

    /// The most recent loss read back so far (for the progress bar).
    fn last_read(&self) -> Option<f64> {
        self.read.last().copied()
    }

    /// Every loss of the epoch, in order.
    fn finish(mut self) -> Result<Vec<f64>> {
        self.flush()?;
        Ok(self.read)
    }
}

/// An error when a training loss of the epoch is not finite (NaN or infinite): the run has
/// diverged, and its predictions would be measured as if it had trained. `first_step` is the
/// optimizer step the epoch started at; `grad_accum` micro-batches make one step.
fn check_diverged(losses: &[f64], epoch: usize, first_step: u64, spec: &TrainSpec) -> Result<()> {
    let Some((i, loss)) = losses.iter().enumerate().find(|(_, l)| !l.is_finite()) else {
        return Ok(());
    };
    Err(Error::Runtime(format!(
        "training diverged: the loss is {loss} at optimizer step {} (epoch {}, batch {}) with \
         learning rate {:e}; lower `lr` and run again",
        first_step + (i / spec.grad_accum) as u64,
        epoch + 1,
        i + 1,
        spec.lr
    )))
}

/// An error when a test prediction's loss is not finite (the weights hold NaN or infinity).
fn check_finite_predictions(p: &Predictions, spec: &TrainSpec) -> Result<()> {
    match p.loss.iter().position(|l| !l.is_finite()) {
        Some(i) => Err(Error::Runtime(format!(
            "training diverged: the trained model's loss on test example {} is {} (its weights \
             are no longer finite) after training with learning rate {:e}; lower `lr` and run \
             again",
            i + 1,
            p.loss[i],
            spec.lr
        ))),
        None => Ok(()),
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The examples of one split, or an input error when it has none and `required`.
fn split_of(ds: &Dataset, split: Split, required: bool) -> Result<Vec<&Example>> {
    let v: Vec<&Example> = ds.split(split).collect();
    if v.is_empty() && required {
        return Err(InputError::new(format!(
            "dataset `{}` has no {split} examples; training needs train and test splits",
            ds.name
        ))
        .at_key("dataset")
        .into());
    }
    Ok(v)
}

/// Trains one cell and writes `failures.parquet`, `manifest.json`, `metrics.jsonl` and
/// checkpoints into `spec.out`. A cell whose manifest says finished for the same spec hash is
/// skipped; one with a checkpoint for the same hash resumes after its last completed epoch.
pub fn train_cell(spec: &TrainSpec, opts: &RunOptions) -> Result<CellOutcome> {
    spec.validate()?;
    crate::failures::check_output_folder(&spec.out)?;
    let method = spec.method()?;
    let hash = spec.hash();
    let out = spec.out.as_path();
    let manifest_path = out.join("manifest.json");
    let metrics_path = out.join("metrics.jsonl");
    let failures_path = out.join("failures.parquet");
    if let Some(m) = Manifest::read(&manifest_path) {
        if m.status == "finished" && m.config_hash == hash && failures_path.exists() {
            match crate::failures::read_table(&failures_path) {
                Ok(_) => {
                    if let Some(mut o) = m.outcome {
                        o.skipped = true;
                        return Ok(o);
                    }
                }
                // A finished cell whose table cannot be read is predicted again (from its last
                // checkpoint when there is one), the damaged table kept beside it.
                Err(e) => {
                    let aside = crate::failures::write::move_aside(&failures_path)?;
                    progress::warn(
                        opts.progress.as_ref(),
                        &format!(
                            "{e}; it was moved to {} and the cell is trained again",
                            aside.display()
                        ),
                    );
                }
            }
        }
    }
    let ds = data::load(&spec.dataset, true)?;
    let CellInputs {
        task,
        task_name,
        train,
        valid,
        test,
        files,
        model,
        pipeline,
    } = load_inputs(spec, opts, &method, &ds)?;
    // Names the cell in log lines and bars (several cells may share a terminal).
    let cell_label = format!("{method} / seed {} / {}/{task_name}", spec.seed, ds.name);
    model.store.set_trainable(|n| method.trains(n));
    let counts = method.count(model.store.iter().map(|p| (p.name(), p.var().elem_count())));
    // Scratch has nothing pretrained to keep: its share is reported as 0.
    let pretrained = if method.random_init() {
        Vec::new()
    } else {
        snapshot_backbone(&model)?
    };
    let params: NamedVars = model.store.trainable_vars();
    let mut opt = spec.optimizer_config()?.build(params.clone());
    let base_lr = spec.optimizer_config()?.base_lr();
    if !opts.quiet {
        let line = format!(
            "{method} on {}/{task_name}, seed {}: {} of {} parameters train ({:.4}%)",
            ds.name,
            spec.seed,
            counts.trainable,
            counts.total,
            100.0 * counts.trainable as f64 / counts.total.max(1) as f64
        );
        progress::log_line(opts.progress.as_ref(), &line);
    }

    let cached = if spec.reads_cached_features()? {
        let frozen = cached_features(
            spec,
            opts,
            &model,
            &files,
            &pipeline,
            [&train, &valid, &test],
        )?;
        if !opts.quiet {
            let line = format!("{cell_label}: {}", frozen.describe());
            progress::log_line(opts.progress.as_ref(), &line);
        }
        let file = frozen
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        Some((frozen.splits, file))
    } else {
        None
    };
    let source_for = |i: usize| match &cached {
        Some((f, _)) => Source::Cached(&f[i]),
        None => Source::Model(&pipeline),
    };

    std::fs::create_dir_all(out)
        .map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let mut manifest = Manifest {
        program: "homogen".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        config: spec.clone(),
        config_hash: hash.clone(),
        seed: spec.seed,
        model_revision: files.revision.clone(),
        dataset_fingerprint: ds.fingerprint(),
        dataset_revision: data::resolve_root(&spec.dataset)
            .ok()
            .and_then(|root| data::hub::snapshot_commit(&root)),
        feature_cache: cached.as_ref().and_then(|(_, file)| file.clone()),
        status: "running".into(),
        outcome: None,
    };
    manifest.write(&manifest_path)?;

    let batches_per_epoch = train.len().div_ceil(spec.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(spec.grad_accum) as u64;
    let schedule = spec.schedule(steps_per_epoch)?;
    let (mut epochs_done, mut step) = (0, 0u64);
    // A damaged checkpoint, or one that does not fit the model, is moved aside with a warning.
    match checkpoint::resume(
        out,
        &hash,
        &model.store,
        opt.as_mut(),
        opts.progress.as_ref(),
    )? {
        Some(st) => {
            truncate_metrics(&metrics_path, st.epochs_done)?;
            (epochs_done, step) = (st.epochs_done, st.step);
        }
        None => {
            // A fresh start: drop metrics and checkpoints of any earlier, different spec.
            let _ = std::fs::remove_file(&metrics_path);
            let _ = std::fs::remove_dir_all(checkpoint::dir(out));
        }
    }
    let abort_after: Option<u64> = std::env::var(ABORT_AFTER_STEPS_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let mut steps_here = 0u64;
    let dev = model.store.device().clone();

    for epoch in epochs_done..spec.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(&[
            spec.seed,
            epoch as u64,
            1,
        ])));
        let bar = progress::epoch_bar(
            train.len(),
            epoch + 1,
            spec.epochs,
            &cell_label,
            opts.quiet,
            opts.progress.as_ref(),
        );
        let started = Instant::now();
        let mut losses = LossLog::new(&dev);
        let first_step = step;
        let mut last_lr = 0.0;
        let batches: Vec<&[usize]> = order.chunks(spec.batch_size).collect();
        let accum = spec.grad_accum;
        // Batch b is micro-batch b % accum of the epoch's (b / accum)-th optimiser step; its
        // dropout and augmentation draw from a seed of that position.
        let seed_of = |b: usize| {
            mix(&[
                spec.seed,
                first_step + (b / accum) as u64,
                (b % accum) as u64,
                2,
            ])
        };
        let examples_of =
            |rows: &[usize]| -> Vec<&Example> { rows.iter().map(|&r| train[r]).collect() };
        let train_source = source_for(0);
        let mut total: Option<Tensor> = None;
        // The next batch is tokenized or decoded on a helper thread while this one trains.
        for_each_prefetched(
            &batches,
            |b, rows| {
                let augment_seed = spec.augment.then(|| seed_of(b));
                prepare(&train_source, &examples_of(rows), rows, augment_seed)
            },
            |b, input| {
                debug_assert_eq!(step, first_step + (b / accum) as u64, "seed_of's position");
                let rows = batches[b];
                let group_start = b - b % accum;
                let group_len = accum.min(batches.len() - group_start);
                let lg = logits(&model, input, &Ctx::train(seed_of(b)))?;
                let loss =
                    candle_nn::loss::cross_entropy(&lg, &targets(&examples_of(rows), task, &dev)?)
                        .map_err(tensor_error)?;
                losses.push(&loss)?;
                let scaled = (loss / group_len as f64).map_err(tensor_error)?;
                total = Some(match total.take() {
                    Some(t) => (t + scaled).map_err(tensor_error)?,
                    None => scaled,
                });
                bar.inc(rows.len() as u64);
                if b + 1 < group_start + group_len {
                    return Ok(());
                }
                let Some(total) = total.take() else {
                    return Ok(());
                };
                let grads = total.backward().map_err(tensor_error)?;
                let coef = match spec.clip_norm {
                    Some(max) => clip_coefficient(grad_norm(&params, &grads)?, max),
                    None => 1.0,
                };
                last_lr = schedule.lr(base_lr, step);
                opt.set_lr(last_lr);
                opt.step_scaled(&grads, coef)?;
                step += 1;
                steps_here += 1;
                if let Some(last) = losses.last_read() {
                    bar.set_message(format!("loss {last:.4}"));
                }
                if abort_after == Some(steps_here) {
                    std::process::exit(137);
                }
                Ok(())
            },
        )?;
        bar.finish_and_clear();
        let epoch_losses = losses.finish()?;
        check_diverged(&epoch_losses, epoch, first_step, spec)?;
        let elapsed = started.elapsed().as_secs_f64();
        let (valid_loss, valid_accuracy) = if valid.is_empty() {
            (None, None)
        } else {
            let p = predict(&model, &source_for(1), &valid, task, spec.batch_size)?;
            (Some(mean(&p.loss)), Some(accuracy(&p, &valid, task)))
        };
        let m = EpochMetrics {
            epoch: epoch + 1,
            step,
            train_loss: mean(&epoch_losses),
            lr: last_lr,
            valid_loss,
            valid_accuracy,
            examples_per_s: train.len() as f64 / elapsed.max(1e-9),
        };
        if !opts.quiet {
            let line = format!(
                "{cell_label}: epoch {}/{}: train loss {:.4}{}",
                epoch + 1,
                spec.epochs,
                m.train_loss,
                valid_accuracy.map_or(String::new(), |a| format!(", valid accuracy {a:.4}"))
            );
            progress::log_line(opts.progress.as_ref(), &line);
        }
        append_metrics(&metrics_path, &m)?;
        let state = CheckpointState {
            epochs_done: epoch + 1,
            step,
            spec_hash: hash.clone(),
        };
        checkpoint::save(out, &state, &model.store, opt.as_ref())?;
    }

    let p = predict(&model, &source_for(2), &test, task, spec.batch_size)?;
    check_finite_predictions(&p, spec)?;
    let table = failure_table(&ds, &test, task, &task_name, &p, spec, &method);
    write_parquet(&failures_path, &table)?;
    let identical = identical_share(&model, &pretrained)?;
    if !opts.quiet {
        let line = format!(
            "{cell_label}: test accuracy {:.4}; backbone parameters bit-identical to \
             pretrained: {:.4}%",
            accuracy(&p, &test, task),
            100.0 * identical
        );
        progress::log_line(opts.progress.as_ref(), &line);
    }
    let outcome = CellOutcome {
        failures: failures_path,
        manifest: manifest_path.clone(),
        metrics: metrics_path,
        skipped: false,
        test_accuracy: accuracy(&p, &test, task),
        test_loss: mean(&p.loss),
        trainable_params: counts.trainable,
        total_params: counts.total,
        backbone_identical_share: identical,
    };
    manifest.status = "finished".into();
    manifest.outcome = Some(outcome.clone());
    manifest.write(&manifest_path)?;
    Ok(outcome)
}

/// What a cell reads before it trains: its task and splits of the dataset, the model
/// (pretrained or from scratch, with its head) on the spec's device, and the input pipeline.
struct CellInputs<'d> {
    task: usize,
    task_name: String,
    train: Vec<&'d Example>,
    valid: Vec<&'d Example>,
    test: Vec<&'d Example>,
    files: ModelFiles,
    model: Model,
    pipeline: Pipeline,
}

/// Checks `spec` against `ds` and the model's config and loads the model: what training and a
/// feature fill ([`fill_cell_features`]) share.
fn load_inputs<'d>(
    spec: &TrainSpec,
    opts: &RunOptions,
    method: &Method,
    ds: &'d Dataset,
) -> Result<CellInputs<'d>> {
    let device = parse_device(&spec.device)?;
    // Mixed precision under bf16: f32 master weights, bf16 compute.
    let precision = Precision::training(parse_dtype(&spec.dtype)?);

    let task = match &spec.task {
        Some(t) => ds.task_index(t).ok_or_else(|| {
            let names: Vec<_> = ds.tasks.iter().map(|t| t.name.as_str()).collect();
            InputError::new(format!(
                "dataset `{}` has no task `{t}`; its tasks: {}",
                ds.name,
                names.join(", ")
            ))
            .at_key("task")
        })?,
        None if ds.tasks.is_empty() => {
            return Err(Error::input(format!("dataset `{}` has no task", ds.name)))
        }
        None => 0,
    };
    let task_name = ds.tasks[task].name.clone();
    let classes = ds.tasks[task].classes.len();
    if let Some(n) = spec.num_labels {
        if n != classes {
            return Err(InputError::new(format!(
                "the head has {n} outputs but task `{task_name}` of `{}` has {classes} classes",
                ds.name
            ))
            .at_key("num_labels")
            .into());
        }
    }
    let train = split_of(ds, Split::Train, true)?;
    let valid = split_of(ds, Split::Valid, false)?;
    let test = split_of(ds, Split::Test, true)?;
    if let Some(e) = ds
        .examples
        .iter()
        .find(|e| e.labels[task] < 0 || e.labels[task] as usize >= classes)
    {
        return Err(Error::input(format!(
            "example `{}` has label {} outside 0..{classes}",
            e.example_id, e.labels[task]
        )));
    }

    let files = resolve(
        &spec.model,
        &ResolveOptions {
            revision: spec.revision.clone(),
            allow_pickle: opts.allow_pickle,
            progress: !opts.quiet,
        },
    )?;
    let head = HeadSpec {
        kind: match spec.head_kind()? {
            HeadKind::Linear => ModelHead::Linear,
            HeadKind::Mlp => ModelHead::Mlp,
        },
        classes,
    };
    let mut config = ModelConfig::from_file(&files.config)?;
    spec.check_options_fit(&config)?;
    super::cell::check_dataset_fits(ds, &config)?;
    if spec.features == FeatureKind::Projected {
        config = config.with_projected_features()?;
    }
    let model = if method.random_init() {
        Model::scratch_as(
            &config,
            Some(head),
            &device,
            precision,
            spec.seed,
            spec.init,
        )?
    } else {
        let (seed, init) = (spec.seed, spec.init);
        Model::load_as(&config, &files, Some(head), &device, precision, seed, init)?.0
    };
    let pipeline = Pipeline::new(&model, &files, spec)?;
    Ok(CellInputs {
        task,
        task_name,
        train,
        valid,
        test,
        files,
        model,
        pipeline,
    })
}

/// The frozen backbone's features of `splits` (train, valid, test), from the cache folder of
/// `opts` (default: `.feature-cache` beside the cell's folder) or computed into it.
fn cached_features(
    spec: &TrainSpec,
    opts: &RunOptions,
    model: &Model,
    files: &ModelFiles,
    pipeline: &Pipeline,
    splits: [&[&Example]; 3],
) -> Result<FrozenFeatures> {
    let dir = opts.cache_dir.clone().unwrap_or_else(|| {
        spec.out
            .parent()
            .unwrap_or(Path::new("."))
            .join(".feature-cache")
    });
    let cache = FeatureCache::new(dir).with_concurrent_batches(model.store.device().is_cpu());
    let key = model_key(files, spec, pipeline)?;
    frozen_features(&cache, key, model, pipeline, &splits)
}

/// Fills the probe feature cache with the frozen features that `spec`'s cell will read, and
/// trains nothing: the first stage of a Slurm run (`homogen run --features-only`), so that the
/// cells sharing those features do not hold a GPU each while one of them computes them.
/// Returns the line describing the fill (computed, or already cached), or `None` when the
/// method trains its backbone and so reads no cached features.
pub fn fill_cell_features(spec: &TrainSpec, opts: &RunOptions) -> Result<Option<String>> {
    spec.validate()?;
    if !spec.reads_cached_features()? {
        return Ok(None);
    }
    let method = spec.method()?;
    let ds = data::load(&spec.dataset, true)?;
    let cell = load_inputs(spec, opts, &method, &ds)?;
    let splits = [&cell.train[..], &cell.valid[..], &cell.test[..]];
    let frozen = cached_features(spec, opts, &cell.model, &cell.files, &cell.pipeline, splits)?;
    Ok(Some(frozen.describe()))
}

/// The bits of every backbone parameter before training.
fn snapshot_backbone(model: &Model) -> Result<Vec<(String, Vec<u32>)>> {
    model
        .store
        .iter()
        .filter(|p| !method::is_head(p.name()))
        .map(|p| Ok((p.name().to_string(), bits(p.var().as_tensor())?)))
        .collect()
}

fn bits(t: &Tensor) -> Result<Vec<u32>> {
    let v = t
        .flatten_all()
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(tensor_error)?;
    Ok(v.into_iter().map(f32::to_bits).collect())
}

/// The share of backbone elements whose bits equal the pretrained ones (0 for scratch).
fn identical_share(model: &Model, pretrained: &[(String, Vec<u32>)]) -> Result<f64> {
    let (mut same, mut total) = (0usize, 0usize);
    for (name, before) in pretrained {
        let Some(p) = model.store.get(name) else {
            continue;
        };
        let after = bits(p.var().as_tensor())?;
        same += before.iter().zip(&after).filter(|(a, b)| a == b).count();
        total += before.len();
    }
    Ok(if total == 0 {
        0.0
    } else {
        same as f64 / total as f64
    })
}

/// The test predictions as a failure table (DESIGN.md §3 plus `prob` and run attributes).
fn failure_table(
    ds: &Dataset,
    test: &[&Example],
    task: usize,
    task_name: &str,
    p: &Predictions,
    spec: &TrainSpec,
    method: &Method,
) -> FailureTable {
    let n = test.len();
    let mut t = FailureTable::new();
    for e in test {
        t.deployment.push(task_name);
        t.example_id.push(&e.example_id);
    }
    let labels: Vec<i64> = test.iter().map(|e| e.labels[task]).collect();
    t.failure = labels
        .iter()
        .zip(&p.prediction)
        .map(|(l, q)| l != q)
        .collect();
    t.label = Some(labels);
    t.prediction = Some(p.prediction.clone());
    t.loss = Some(p.loss.clone());
    t.float_extra = vec![("prob".into(), p.prob.clone())];
    for (g, name) in ds.groupings.iter().enumerate() {
        let values: Vec<&str> = test.iter().map(|e| e.groups[g].as_str()).collect();
        t.extra.push(Categorical::from_values(name, &values));
    }
    let constant = |name: &str, value: &str| Categorical::from_values(name, &vec![value; n]);
    t.extra.push(constant("method", &method.to_string()));
    t.extra.push(constant("seed", &spec.seed.to_string()));
    t.extra.push(constant("model", &spec.model));
    t.extra.push(constant("split", Split::Test.as_str()));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deferred read-back (as on a GPU): losses come back in order, in batches, and all of them
    /// by the end of the epoch.
    #[test]
    fn loss_log_reads_back_in_batches_and_in_order() {
        let mut log = LossLog::new(&Device::Cpu);
        log.read_every = 3;
        let values = [0.5f32, 1.25, 2.0, 0.75, 3.5];
        for (i, v) in values.iter().enumerate() {
            log.push(&Tensor::new(*v, &Device::Cpu).unwrap()).unwrap();
            let expected = if i >= 2 { Some(2.0) } else { None };
            assert_eq!(log.last_read(), expected, "after {} losses", i + 1);
        }
        let all = log.finish().unwrap();
        assert_eq!(
            all,
            values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()
        );
    }
}
