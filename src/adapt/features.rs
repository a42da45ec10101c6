//! A frozen backbone's features for a cell's splits, through the probe feature
//! [`cache`](super::cache): the examples of all splits as one [`ExampleUnion`], keyed by the
//! model's files, the preprocessing and the examples' ids and inputs, computed once in
//! evaluation mode, and cut back into one tensor per split.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::Tensor;

use super::cache::{CacheKey, ExampleUnion, FeatureCache, Filled, FEATURE_BATCH};
use super::cell::{FeatureKind, TrainSpec};
use super::pipeline::Pipeline;
use super::tensor_error;
use crate::data::{Example, ImageRef, Input};
use crate::error::Result;
use crate::models::hub::{ModelFiles, WeightFiles};
use crate::models::layers::Ctx;
use crate::models::Model;

/// A frozen backbone's features of a cell's splits, and how they were obtained.
pub(super) struct FrozenFeatures {
    /// [n, hidden] per split, rows in the split's order.
    pub splits: Vec<Tensor>,
    /// Whether the cache had them, another process filled them meanwhile, or they were computed.
    pub filled: Filled,
    /// The distinct examples of all splits (rows of the cache file).
    pub examples: usize,
    /// The cache file.
    pub file: PathBuf,
    /// Seconds spent getting them.
    pub seconds: f64,
}

impl FrozenFeatures {
    /// One line for the run's log: how many examples, where from, and how long it took.
    pub fn describe(&self) -> String {
        let how = match self.filled {
            Filled::Computed => "computed and cached",
            Filled::Read => "read from the cache",
            Filled::ByAnotherProcess => "read from the cache after another process filled it",
        };
        format!(
            "frozen features of {} examples {how} in {:.1} s ({})",
            self.examples,
            self.seconds,
            self.file.display()
        )
    }
}

/// The features of each of `splits`' examples under `model`'s frozen backbone: read from
/// `cache` under `model_key` plus the examples, or computed (each distinct example once,
/// [`FEATURE_BATCH`] at a time, shortest text first) and written there.
pub(super) fn frozen_features(
    cache: &FeatureCache,
    mut model_key: CacheKey,
    model: &Model,
    pipeline: &Pipeline,
    splits: &[&[&Example]],
) -> Result<FrozenFeatures> {
    let start = Instant::now();
    let identities: Vec<Vec<Identity>> = splits
        .iter()
        .map(|ex| ex.iter().map(|e| example_identity(e)).collect())
        .collect();
    let union = ExampleUnion::new(&identities);
    let members: Vec<&Example> = union.members.iter().map(|&(s, i)| splits[s][i]).collect();
    for &(s, i) in &union.members {
        let (id, kind, input, bytes) = &identities[s][i];
        model_key.part("id", id.as_bytes());
        model_key.part(kind, input.as_bytes());
        if !bytes.is_empty() {
            model_key.part("bytes", bytes);
        }
    }
    drop(identities);
    let key = model_key.finish();
    let (all, filled) = cache.fill_in_stages(
        &key,
        members.len(),
        FEATURE_BATCH,
        || pipeline.pass_order(&members),
        |indices| {
            let picked: Vec<&Example> = indices.iter().map(|&i| members[i]).collect();
            pipeline.host_batch(&picked, None)
        },
        |batch| {
            batch
                .to_device(model.store.device())
                .and_then(|b| model.host_features(&b, &Ctx::eval()))
                .map_err(tensor_error)
        },
    )?;
    let splits = (0..splits.len())
        .map(|s| union.split_rows(&all, s))
        .collect::<Result<Vec<_>>>()?;
    Ok(FrozenFeatures {
        splits,
        filled,
        examples: members.len(),
        file: cache.path(&key),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What decides an example's features: its id, its input's kind and the input — the text; for
/// an image file its path, size and modification time; for an image embedded in a Parquet file
/// its name and (the last part) its encoded bytes. Not its split or labels, which do not change
/// the features. An image rewritten in place therefore gets new features, not stale ones.
type Identity<'a> = (&'a str, &'static str, Cow<'a, str>, &'a [u8]);

/// An example's [`Identity`].
fn example_identity(e: &Example) -> Identity<'_> {
    let id = e.example_id.as_str();
    match &e.input {
        Input::Text(t) => (id, "text", Cow::Borrowed(t.as_str()), &[]),
        Input::Image(ImageRef::File(path)) => {
            let stamp = std::fs::metadata(path).map_or_else(
                |e| format!("unreadable ({})", e.kind()),
                |m| {
                    let modified = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    format!("{} bytes, modified {modified} ns", m.len())
                },
            );
            let input = format!("{} ({stamp})", path.display());
            (id, "image", Cow::Owned(input), &[])
        }
        Input::Image(image @ ImageRef::Embedded { bytes, .. }) => {
            (id, "image", Cow::Owned(image.describe()), bytes)
        }
        Input::Image(image) => (id, "image", Cow::Owned(image.describe()), &[]),
    }
}

/// The cache key part shared by every example: the model's files, the spec's revision, dtype and
/// device, the preprocessing, and the batch the features are computed in.
pub(super) fn model_key(
    files: &ModelFiles,
    spec: &TrainSpec,
    pipeline: &Pipeline,
) -> Result<CacheKey> {
    let mut key = CacheKey::new();
    key.file("config", &files.config)?;
    match &files.weights {
        WeightFiles::Safetensors(paths) => {
            for p in paths {
                key.file("weights", p)?;
            }
        }
        WeightFiles::Pickle(p) => {
            key.file("weights", p)?;
        }
    }
    if let Some(t) = &files.tokenizer {
        key.file("tokenizer", t)?;
    }
    if let Some(t) = &files.tokenizer_config {
        key.file("tokenizer_config", t)?;
    }
    key.part(
        "revision",
        files.revision.as_deref().unwrap_or("").as_bytes(),
    );
    key.part("dtype", spec.dtype.as_bytes());
    if spec.dtype != "f32" {
        // Mixed precision's residual stream became f32 (autocast's); features computed before
        // differ in rounding.
        key.part("residual", b"f32");
    }
    key.part("device", spec.device.as_bytes());
    key.part("preprocess", pipeline.describe().as_bytes());
    if spec.features == FeatureKind::Projected {
        key.part("features", b"projected");
    }
    key.part("feature_batch", FEATURE_BATCH.to_string().as_bytes());
    key.part("fill_order", b"shortest-first");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use std::sync::Arc;

    fn example(input: Input) -> Example {
        Example {
            example_id: "e1".into(),
            split: Split::Train,
            input,
            labels: vec![0],
            groups: Vec::new(),
        }
    }

    /// An image rewritten in place, or embedded bytes that differ, make another identity (so
    /// another cache key); the same image and the same bytes make the same one; a text is
    /// itself.
    #[test]
    fn an_image_identity_follows_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.jpg");
        std::fs::write(&path, b"first image").unwrap();
        let file = example(Input::Image(ImageRef::File(path.clone())));
        let before = example_identity(&file);
        assert_eq!(example_identity(&file), before);
        std::fs::write(&path, b"second, longer image").unwrap();
        let after = example_identity(&file);
        assert_ne!(after, before);
        assert!(after.2.contains("20 bytes"), "{after:?}");

        let embedded = |bytes: &[u8]| {
            example(Input::Image(ImageRef::Embedded {
                source: dir.path().join("train.parquet"),
                name: "000001.jpg".into(),
                bytes: Arc::from(bytes),
            }))
        };
        let (a, b, a_again) = (embedded(b"aaa"), embedded(b"aab"), embedded(b"aaa"));
        assert_ne!(example_identity(&a), example_identity(&b));
        assert_eq!(example_identity(&a), example_identity(&a_again));

        let text = example(Input::Text("a review".into()));
        assert_eq!(
            example_identity(&text),
            ("e1", "text", Cow::Borrowed("a review"), &[][..])
        );
    }
}
