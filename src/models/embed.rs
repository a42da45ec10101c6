//! Features of texts or images from a backbone, written as a safetensors file (`homogen embed`,
//! DESIGN.md §4): tensor `features` [n, hidden] in input order — the first token's final hidden
//! state for text encoders, the pooled output for CLIP.

use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

use super::config::ModelConfig;
use super::hub::{resolve, ResolveOptions};
use super::layers::Ctx;
use super::params::candle_err;
use super::preprocess::{load_image, preprocess, to_tensor, Resize};
use super::tokenize::{length_order, TextTokenizer};
use super::{map_batches, Backbone, Batch, Model, RowsInInputOrder};
use crate::error::{Error, InputError, Result};

/// What to embed.
#[derive(Debug, Clone)]
pub enum EmbedInput {
    /// A text file, one text per line.
    Texts(PathBuf),
    /// A folder of images (png, jpg, jpeg), in file-name order, CLIP-preprocessed.
    Images(PathBuf),
    /// A safetensors file holding `pixel_values` [n, 3, size, size], already preprocessed.
    Pixels(PathBuf),
}

/// Options of [`embed`].
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// A model folder or Hub id.
    pub model: String,
    /// Hub revision.
    pub revision: Option<String>,
    /// Accept a pickle checkpoint.
    pub allow_pickle: bool,
    /// The input.
    pub input: EmbedInput,
    /// Output safetensors file.
    pub out: PathBuf,
    /// Compute device.
    pub device: Device,
    /// Compute dtype (features are written as f32).
    pub dtype: DType,
    /// Inputs per forward pass (on the CPU, one batch per thread runs at once).
    pub batch_size: usize,
    /// Hide the progress bar.
    pub quiet: bool,
}

/// Computes and writes the features; returns their shape (n, hidden).
pub fn embed(opts: &EmbedOptions) -> Result<(usize, usize)> {
    if opts.batch_size == 0 {
        return Err(InputError::new("must be at least 1")
            .at_key("--batch-size")
            .into());
    }
    refuse_overwriting_input(opts)?;
    let files = resolve(
        &opts.model,
        &ResolveOptions {
            revision: opts.revision.clone(),
            allow_pickle: opts.allow_pickle,
            progress: !opts.quiet,
        },
    )?;
    let (model, report) = Model::load(&files, None, &opts.device, opts.dtype, 0)?;
    // Nothing trains here: frozen parameters build no graph in the forward pass.
    model.store.set_trainable(|_| false);
    if !opts.quiet && !report.unexpected.is_empty() {
        eprintln!(
            "note: {} checkpoint tensors not used by the backbone (e.g. `{}`)",
            report.unexpected.len(),
            report.unexpected[0]
        );
    }
    // On the CPU the batches run concurrently (the same bits, see `map_batches`).
    let concurrent = opts.device.is_cpu();
    // Inputs are prepared on the host (on a helper thread, one batch ahead, when the batches
    // run one after another) and moved to the device for the pass; each batch's features go
    // straight to their inputs' rows, so the features are held once.
    let features_of =
        |(inputs, batch): (Vec<usize>, Batch), rows: &RowsInInputOrder, bar: &ProgressBar| {
            let f = batch
                .to_device(&opts.device)
                .and_then(|b| model.host_features(&b, &Ctx::eval()))
                .map_err(candle_err)?;
            rows.place(&inputs, &f)?;
            bar.inc(inputs.len() as u64);
            Ok(())
        };
    let features = match (&opts.input, &model.backbone) {
        (EmbedInput::Texts(path), Backbone::Text(enc)) => {
            let texts = read_texts(path)?;
            let tok_file = files.tokenizer.as_deref().ok_or_else(|| {
                InputError::new("the model has no tokenizer.json").in_file(&files.config)
            })?;
            let cfg = enc.config();
            let tok = TextTokenizer::from_files(
                tok_file,
                files.tokenizer_config.as_deref(),
                cfg.max_tokens(),
                cfg.pad_id() as u32,
            )?;
            let all: Vec<&str> = texts.iter().map(String::as_str).collect();
            // Shortest first, so that each batch pads little.
            let order = length_order(&tok.lengths(&all)?);
            let rows = RowsInInputOrder::new(&order)?;
            let bar = progress(texts.len(), opts.quiet);
            map_batches(
                &order,
                opts.batch_size,
                concurrent,
                |chunk| {
                    let refs: Vec<&str> = chunk.iter().map(|&i| all[i]).collect();
                    let input = tok.encode(&refs)?.to_input(&Device::Cpu);
                    Ok((chunk.to_vec(), Batch::Text(input.map_err(candle_err)?)))
                },
                |job| features_of(job, &rows, &bar),
            )?;
            bar.finish_and_clear();
            rows.finish()?
        }
        (EmbedInput::Images(dir), Backbone::Vision(v)) => {
            let paths = image_files(dir)?;
            let size = v.config().image_size;
            let order: Vec<usize> = (0..paths.len()).collect();
            let rows = RowsInInputOrder::new(&order)?;
            let bar = progress(paths.len(), opts.quiet);
            map_batches(
                &order,
                opts.batch_size,
                concurrent,
                |chunk| {
                    let mut pixels = Vec::with_capacity(chunk.len());
                    for &i in chunk {
                        pixels.push(preprocess(
                            &load_image(&paths[i])?,
                            Resize::Clip,
                            size as u32,
                        ));
                    }
                    let batch = to_tensor(&pixels, size, &Device::Cpu).map_err(candle_err)?;
                    Ok((chunk.to_vec(), Batch::Pixels(batch)))
                },
                |job| features_of(job, &rows, &bar),
            )?;
            bar.finish_and_clear();
            rows.finish()?
        }
        (EmbedInput::Pixels(path), Backbone::Vision(v)) => {
            let pixels = read_pixels(path, v.config().image_size)?;
            let n = pixels.dim(0).map_err(candle_err)?;
            let order: Vec<usize> = (0..n).collect();
            let rows = RowsInInputOrder::new(&order)?;
            let bar = progress(n, opts.quiet);
            map_batches(
                &order,
                opts.batch_size,
                concurrent,
                |chunk| {
                    let batch = pixels
                        .narrow(0, chunk[0], chunk.len())
                        .map_err(candle_err)?;
                    Ok((chunk.to_vec(), Batch::Pixels(batch)))
                },
                |job| features_of(job, &rows, &bar),
            )?;
            bar.finish_and_clear();
            rows.finish()?
        }
        (input, _) => {
            let kind = match model.config {
                ModelConfig::Text(_) => "a text encoder: use --texts",
                ModelConfig::Vision(_) => "a vision tower: use --images or --pixels",
            };
            let path = match input {
                EmbedInput::Texts(p) | EmbedInput::Images(p) | EmbedInput::Pixels(p) => p,
            };
            return Err(
                InputError::new(format!("input does not fit the model, which is {kind}"))
                    .in_file(path)
                    .into(),
            );
        }
    };
    let hidden = model.config.hidden_size();
    let features = match features.dim(0).map_err(candle_err)? {
        // No inputs: no batch told the width.
        0 => Tensor::zeros((0, hidden), DType::F32, &Device::Cpu).map_err(candle_err)?,
        _ => features,
    };
    let n = features.dim(0).map_err(candle_err)?;
    write_features(&features, &opts.out)?;
    Ok((n, hidden))
}

/// An input error (naming `--out`) when the output file is the input file, or one of the
/// images of an `--images` folder: writing the features there would destroy the input.
fn refuse_overwriting_input(opts: &EmbedOptions) -> Result<()> {
    let inputs = match &opts.input {
        EmbedInput::Texts(p) | EmbedInput::Pixels(p) => vec![p.clone()],
        // A missing folder is reported when the images are read.
        EmbedInput::Images(dir) => image_files(dir).unwrap_or_default(),
    };
    crate::failures::refuse_overwriting_inputs(&opts.out, &inputs).map_err(|e| match e {
        Error::Input(ie) => InputError {
            key: Some("--out".into()),
            ..*ie
        }
        .into(),
        other => other,
    })
}

fn progress(n: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) =
        ProgressStyle::with_template("embed {bar:30} {pos}/{len} [{elapsed}<{eta}, {per_sec}]")
    {
        bar.set_style(style);
    }
    bar
}

fn read_texts(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::reading(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let row = crate::error::line_at(e.as_bytes(), e.utf8_error().valid_up_to());
        InputError::new("not valid UTF-8").in_file(path).at_row(row)
    })?;
    let texts: Vec<String> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    if texts.is_empty() {
        return Err(
            InputError::new("the file is empty; expected one text per line")
                .in_file(path)
                .into(),
        );
    }
    Ok(texts)
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => InputError::new("no such folder").in_file(dir).into(),
        std::io::ErrorKind::NotADirectory => {
            InputError::new("not a folder; --images takes a folder of images")
                .in_file(dir)
                .into()
        }
        _ => Error::io(format!("listing {}", dir.display()), e),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(InputError::new("no .png, .jpg or .jpeg images")
            .in_file(dir)
            .into());
    }
    Ok(paths)
}

fn read_pixels(path: &Path, size: usize) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::reading(path, e))?;
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| InputError::new(format!("not a valid safetensors file: {e}")).in_file(path))?;
    let px = tensors
        .remove("pixel_values")
        .ok_or_else(|| InputError::new("no tensor `pixel_values`").in_file(path))?;
    let ok = matches!(px.dims(), [_, 3, h, w] if *h == size && *w == size);
    if !ok {
        return Err(InputError::new(format!(
            "`pixel_values` has shape {:?}, expected [n, 3, {size}, {size}]",
            px.dims()
        ))
        .in_file(path)
        .into());
    }
    if !px.dtype().is_float() {
        return Err(InputError::new(format!(
            "`pixel_values` holds {:?} values; expected floats already preprocessed (resized, \
             scaled and normalized as the model's image processor does), not raw pixels",
            px.dtype()
        ))
        .in_file(path)
        .into());
    }
    let n = px.dim(0).map_err(candle_err)?;
    if n == 0 {
        return Err(InputError::new(
            "`pixel_values` holds no images (shape [0, ...]); expected at least one",
        )
        .in_file(path)
        .into());
    }
    let px = px.to_dtype(DType::F32).map_err(candle_err)?;
    let values = px
        .flatten_all()
        .and_then(|v| v.to_vec1::<f32>())
        .map_err(candle_err)?;
    let per_image = values.len() / n;
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        return Err(InputError::new(format!(
            "`pixel_values` holds a non-finite value ({}) in image {} (0-based index {}); \
             expected finite preprocessed pixel values",
            values[at],
            at / per_image + 1,
            at / per_image
        ))
        .in_file(path)
        .at_row(at / per_image + 1)
        .into());
    }
    Ok(px)
}

/// Writes `features` to `out` through a temporary file and a rename.
fn write_features(features: &Tensor, out: &Path) -> Result<()> {
    crate::failures::write_safetensors(&[("features", features)], out)
}
