//! The input pipeline of the trainer: examples to model input ([`Pipeline`]) — texts
//! tokenized, images decoded and preprocessed (seeded augmentation while training) — and the
//! order in which to push examples through a model when the order does not matter.

use rayon::prelude::*;

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cell::{ResizeMode, TrainSpec};
use super::tensor_error;
use crate::data::{Example, Input};
use crate::error::{Error, InputError, Result};
use crate::models::hub::ModelFiles;
use crate::models::preprocess::{augment, preprocess, to_tensor, Resize};
use crate::models::tokenize::{length_order, TextTokenizer};
use crate::models::{Backbone, Batch, Model};

/// Mixes numbers into one seed (splitmix64 steps), so each (seed, epoch, step, ...) position has
/// its own generator.
pub(super) fn mix(parts: &[u64]) -> u64 {
    let mut z: u64 = 0x9E37_79B9_7F4A_7C15;
    for &p in parts {
        z = z.wrapping_add(p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// Turns examples into model input.
pub(super) struct Pipeline {
    tokenizer: Option<TextTokenizer>,
    image_size: usize,
    /// How images are resized (evaluation, cached features, and training without augmentation).
    resize: Resize,
}

impl Pipeline {
    pub(super) fn new(model: &Model, files: &ModelFiles, spec: &TrainSpec) -> Result<Self> {
        let (tokenizer, image_size) = match &model.backbone {
            Backbone::Text(enc) => {
                let tok_file = files.tokenizer.as_deref().ok_or_else(|| {
                    InputError::new("the model has no tokenizer.json").in_file(&files.config)
                })?;
                let cfg = enc.config();
                let max = spec
                    .max_length
                    .map_or(cfg.max_tokens(), |m| m.min(cfg.max_tokens()));
                let tok = TextTokenizer::from_files(
                    tok_file,
                    files.tokenizer_config.as_deref(),
                    max,
                    cfg.pad_id() as u32,
                )?;
                (Some(tok), 0)
            }
            Backbone::Vision(v) => (None, v.config().image_size),
        };
        Ok(Pipeline {
            tokenizer,
            image_size,
            resize: match spec.resize {
                ResizeMode::Clip => Resize::Clip,
                ResizeMode::Stretch => Resize::Stretch,
            },
        })
    }

    /// A description of the deterministic preprocessing, for cache keys.
    pub(super) fn describe(&self) -> String {
        if let Some(t) = &self.tokenizer {
            return format!("text max_len={}", t.max_len());
        }
        let resize = match self.resize {
            Resize::Clip => "clip-resize-centre-crop",
            Resize::Stretch => "bilinear-stretch",
        };
        // The resampler is named: another one rounds some pixels differently.
        format!(
            "image {resize} size={} resampler=fast_image_resize-u8",
            self.image_size
        )
    }

    /// The order in which to run `examples` through the model where the order does not
    /// matter (filling the feature cache, predictions): texts shortest first, so that each
    /// pass pads little (a split of reviews from 20 to 512 tokens otherwise pads most batches
    /// to nearly the longest); images as they come (all one size).
    pub(super) fn pass_order(&self, examples: &[&Example]) -> Result<Vec<usize>> {
        let Some(tok) = &self.tokenizer else {
            return Ok((0..examples.len()).collect());
        };
        let texts: Vec<&str> = examples
            .iter()
            .map(|e| e.input.text().unwrap_or(""))
            .collect();
        Ok(length_order(&tok.lengths(&texts)?))
    }

    /// The batch of `examples` on the host (the CPU; [`Batch::to_device`] moves it to the
    /// model's device), so that it can be prepared on another thread than the one running the
    /// model; `augment_seed` turns on seeded image augmentation.
    pub(super) fn host_batch(
        &self,
        examples: &[&Example],
        augment_seed: Option<u64>,
    ) -> Result<Batch> {
        let dev = &Device::Cpu;
        if let Some(tok) = &self.tokenizer {
            let texts = examples
                .iter()
                .map(|e| {
                    e.input.text().ok_or_else(|| {
                        Error::input(format!(
                            "example `{}` has no text but the model is a text encoder",
                            e.example_id
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let input = tok.encode(&texts)?.to_input(dev).map_err(tensor_error)?;
            return Ok(Batch::Text(input));
        }
        // Decode and preprocess the batch's images in parallel; each image's augmentation draws
        // from its own seeded generator, so the result does not depend on the thread count.
        let size = self.image_size as u32;
        let pixels = examples
            .par_iter()
            .enumerate()
            .map(|(i, e)| {
                let Input::Image(img) = &e.input else {
                    return Err(Error::input(format!(
                        "example `{}` has no image but the model is a vision tower",
                        e.example_id
                    )));
                };
                let rgb = img.decode()?.to_rgb8();
                Ok(match augment_seed {
                    Some(s) => augment(
                        &rgb,
                        size,
                        &mut ChaCha8Rng::seed_from_u64(mix(&[s, i as u64])),
                    ),
                    None => preprocess(&rgb, self.resize, size),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Batch::Pixels(
            to_tensor(&pixels, self.image_size, dev).map_err(tensor_error)?,
        ))
    }
}
