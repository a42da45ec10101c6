//! The common example type every loader produces and the trainer consumes.
//!
//! A [`Dataset`] is a list of [`Example`]s plus the names of its tasks and groupings. An example
//! is one person: a stable `example_id` (the same id in two deployments is the same person), the
//! split it belongs to, one integer label per task (in [`Dataset::tasks`] order), one group value
//! per grouping (in [`Dataset::groupings`] order) and its input — a text, or a reference to an
//! image that is decoded only when asked for ([`ImageRef::decode`], [`decode_images`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::DynamicImage;
use rayon::prelude::*;

use crate::error::{Error, InputError, Result};

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training examples.
    Train,
    /// Validation examples (CelebA's partition 1).
    Valid,
    /// Test examples: the people homogenization is measured on.
    Test,
}

impl Split {
    /// Every split, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// The split's name as written in files and reports: `train`, `valid`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    /// Parses a split name; `validation`, `val` and `dev` mean [`Split::Valid`].
    pub fn parse(name: &str) -> Option<Split> {
        match name.to_ascii_lowercase().as_str() {
            "train" => Some(Split::Train),
            "valid" | "validation" | "val" | "dev" => Some(Split::Valid),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an image's encoded bytes are; nothing is decoded until [`ImageRef::decode`].
#[derive(Debug, Clone)]
pub enum ImageRef {
    /// An image file on disk (CelebA's `img_align_celeba/*.jpg`).
    File(PathBuf),
    /// Encoded bytes embedded in a Parquet file (the Hub mirrors' `image.bytes`).
    Embedded {
        /// The Parquet file the bytes came from, for error messages.
        source: PathBuf,
        /// The image's name (`image.path`) or, when absent, the example id.
        name: String,
        /// The encoded image (JPEG or PNG).
        bytes: Arc<[u8]>,
    },
    /// The image was not loaded: the dataset was read for its annotations only.
    NotLoaded {
        /// The image's name.
        name: String,
    },
}

impl ImageRef {
    /// The image's name as a user would look for it: the file path or the embedded name.
    pub fn describe(&self) -> String {
        match self {
            ImageRef::File(p) => p.display().to_string(),
            ImageRef::Embedded { source, name, .. } => {
                format!("{} (in {})", name, source.display())
            }
            ImageRef::NotLoaded { name } => name.clone(),
        }
    }

    /// The image's name: the file name, or the embedded name.
    pub fn name(&self) -> String {
        match self {
            ImageRef::File(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ImageRef::Embedded { name, .. } | ImageRef::NotLoaded { name } => name.clone(),
        }
    }

    /// Decodes the image; a missing or corrupt image is an input error naming the file.
    pub fn decode(&self) -> Result<DynamicImage> {
        match self {
            ImageRef::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    InputError::new(format!("cannot read image: {e}")).in_file(path)
                })?;
                decode_bytes(&bytes, path, None)
            }
            ImageRef::Embedded {
                source,
                name,
                bytes,
            } => decode_bytes(bytes, source, Some(name)),
            ImageRef::NotLoaded { name } => Err(Error::input(format!(
                "image `{name}` was not loaded: the dataset was read for its annotations only"
            ))),
        }
    }
}

fn decode_bytes(bytes: &[u8], file: &Path, name: Option<&str>) -> Result<DynamicImage> {
    image::load_from_memory(bytes).map_err(|e| {
        let what = match name {
            Some(n) => format!("image `{n}` is missing or corrupt: {e}"),
            None => format!("the image is corrupt or not a JPEG/PNG: {e}"),
        };
        InputError::new(what).in_file(file).into()
    })
}

/// Decodes many images in parallel (rayon), in order; the first failure is returned.
pub fn decode_images(images: &[&ImageRef]) -> Result<Vec<DynamicImage>> {
    images.par_iter().map(|i| i.decode()).collect()
}

/// An example's input.
#[derive(Debug, Clone)]
pub enum Input {
    /// A text (the language datasets).
    Text(String),
    /// An image, decoded lazily (CelebA).
    Image(ImageRef),
}

impl Input {
    /// The text, for a text input.
    pub fn text(&self) -> Option<&str> {
        match self {
            Input::Text(t) => Some(t),
            Input::Image(_) => None,
        }
    }

    /// The image reference, for an image input.
    pub fn image(&self) -> Option<&ImageRef> {
        match self {
            Input::Image(i) => Some(i),
            Input::Text(_) => None,
        }
    }
}

/// One person: id, split, labels per task, groups per grouping and input.
#[derive(Debug, Clone)]
pub struct Example {
    /// Stable id: the dataset's own id where it has one, else `<dataset>:<split>:<row>`.
    pub example_id: String,
    /// The split the example belongs to.
    pub split: Split,
    /// One label per task, in [`Dataset::tasks`] order; a class index into [`Task::classes`].
    pub labels: Vec<i64>,
    /// One group value per grouping, in [`Dataset::groupings`] order.
    pub groups: Vec<String>,
    /// The text or image.
    pub input: Input,
}

/// A prediction task: its name and its classes (label `i` is `classes[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task's name: a CelebA attribute (`Wearing_Earrings`) or a text set's label column.
    pub name: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
}

/// A loaded dataset: examples with their labels and groups.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset's short name (`celeba`, `imdb`, `ag_news`, `yahoo_answers_topics`,
    /// `hate_speech18`).
    pub name: String,
    /// The tasks, in the order of [`Example::labels`].
    pub tasks: Vec<Task>,
    /// The grouping names, in the order of [`Example::groups`].
    pub groupings: Vec<String>,
    /// The examples, in file order within each split.
    pub examples: Vec<Example>,
}

impl Dataset {
    /// The examples of one split, in order.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Example> {
        self.examples.iter().filter(move |e| e.split == split)
    }

    /// The splits that have at least one example, in [`Split::ALL`] order.
    pub fn splits(&self) -> Vec<Split> {
        Split::ALL
            .into_iter()
            .filter(|s| self.examples.iter().any(|e| e.split == *s))
            .collect()
    }

    /// The position of a task by name.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }

    /// The position of a grouping by name.
    pub fn grouping_index(&self, name: &str) -> Option<usize> {
        self.groupings.iter().position(|g| g == name)
    }

    /// The example ids of one split, in order.
    pub fn ids(&self, split: Split) -> Vec<&str> {
        self.split(split).map(|e| e.example_id.as_str()).collect()
    }

    /// The labels of task `task` (an index into [`Dataset::tasks`]) on one split, in order.
    pub fn labels(&self, split: Split, task: usize) -> Vec<i64> {
        self.split(split).map(|e| e.labels[task]).collect()
    }

    /// The groups of grouping `grouping` (an index into [`Dataset::groupings`]) on one split.
    pub fn groups(&self, split: Split, grouping: usize) -> Vec<&str> {
        self.split(split)
            .map(|e| e.groups[grouping].as_str())
            .collect()
    }

    /// A SHA-256 fingerprint (hex) of the dataset as loaded: name, tasks, groupings and every
    /// example's id, split, labels, groups and input (text, or image name) — for run manifests.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        field(&self.name);
        for t in &self.tasks {
            field(&t.name);
            field(&t.classes.join("\u{1f}"));
        }
        field(&self.groupings.join("\u{1f}"));
        for e in &self.examples {
            field(&e.example_id);
            field(e.split.as_str());
            for l in &e.labels {
                field(&l.to_string());
            }
            for g in &e.groups {
                field(g);
            }
            match &e.input {
                Input::Text(t) => field(t),
                Input::Image(i) => field(&i.name()),
            }
        }
        hex::encode(h.finalize())
    }

    /// Checks that every example id is unique; a repeated id is an input error naming it.
    pub fn check_unique_ids(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(self.examples.len());
        for e in &self.examples {
            if !seen.insert(e.example_id.as_str()) {
                return Err(Error::input(format!(
                    "dataset `{}`: example id `{}` appears twice; ids must be unique",
                    self.name, e.example_id
                )));
            }
        }
        Ok(())
    }
}
