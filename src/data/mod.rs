//! Datasets and groupings: CelebA and the paper's four text sets (and, in [`tabular`], the
//! data-sharing study's German Credit, ACS PUMS and LSAC), from the Hugging Face cache or
//! a local copy in any of their real layouts, with the paper's groupings.
//!
//! [`DatasetSpec`] says what to load (it is also the `[dataset]` table of a config);
//! [`load`] returns a [`Dataset`] of [`Example`]s — id, split, labels per task, groups per
//! grouping, text or lazily decoded image — after HateSpeech18's seeded 80/20 cut and the
//! seeded stratified `max_train`/`max_test` subsets. [`SplitRecord::of`] lists the ids kept.
//!
//! Order of work in [`load`]: read the files; HateSpeech18 only: cut 80/20 (seeded by
//! `split_seed`, stratified by label); compute groupings (`length` bins per split, over the
//! whole split); then subset train/test (seeded by `subset_seed`, stratified by the labels of
//! every task). A person's groups therefore never depend on the subset drawn.

pub mod celeba;
pub mod describe;
pub mod example;
pub mod groupings;
pub mod hub;
pub mod read;
pub mod split;
pub mod tabular;
pub mod text;

use std::path::{Path, PathBuf};

pub use example::{decode_images, Dataset, Example, ImageRef, Input, Split, Task};
pub use split::SplitRecord;

use crate::error::{Error, InputError, Result};
use groupings::GenderWords;
use text::TextSet;

fn default_length_bins() -> usize {
    4
}
fn default_test_fraction() -> f64 {
    0.2
}

/// What to load: a dataset by name, where from, which tasks and groupings, and subsets.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// `celeba`, `imdb`, `ag_news`, `yahoo_answers_topics` or `hate_speech18` (Hub ids such as
    /// `stanfordnlp/imdb` are accepted too).
    pub name: String,
    /// A local folder in any supported layout; absent: the Hugging Face cache.
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// The Hub revision to look up in the cache (default: the dataset's pinned one, or `main`).
    #[serde(default)]
    pub revision: Option<String>,
    /// CelebA tasks (attribute names); default `Wearing_Earrings`, `Wearing_Necklace`.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Groupings to compute; default every grouping the dataset has.
    #[serde(default)]
    pub groupings: Option<Vec<String>>,
    /// Text column override (e.g. Yahoo's `question_content`).
    #[serde(default)]
    pub text_field: Option<String>,
    /// Number of `length` bins.
    #[serde(default = "default_length_bins")]
    pub length_bins: usize,
    /// A TOML file with `male = [..]`, `female = [..]` replacing the paper's gender words.
    #[serde(default)]
    pub gender_words: Option<PathBuf>,
    /// Keep at most this many training examples (seeded, stratified).
    #[serde(default)]
    pub max_train: Option<usize>,
    /// Keep at most this many test examples (seeded, stratified).
    #[serde(default)]
    pub max_test: Option<usize>,
    /// Seed of the subsets.
    #[serde(default)]
    pub subset_seed: u64,
    /// Seed of HateSpeech18's train/test cut (a model-sharing config's `split_seed = "seed"`
    /// sets it to each cell's training seed).
    #[serde(default)]
    pub split_seed: u64,
    /// Share of HateSpeech18 held out as test.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
}

impl DatasetSpec {
    /// Checks the values that need no data (the key is named in the error): `max_train` /
    /// `max_test` of 0 would keep no examples, and `test_fraction` must be in [0, 1).
    pub fn check_subsets(&self) -> Result<()> {
        for (key, value) in [("max_train", self.max_train), ("max_test", self.max_test)] {
            if value == Some(0) {
                return Err(InputError::new(
                    "must be at least 1 (it keeps at most this many examples; leave it out to keep \
                     them all)",
                )
                .at_key(key)
                .into());
            }
        }
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err(InputError::new(format!(
                "must be in [0, 1) (the share of a one-split dataset held out for testing), \
                 found {}",
                self.test_fraction
            ))
            .at_key("test_fraction")
            .into());
        }
        Ok(())
    }

    /// A spec with every default for the named dataset.
    pub fn named(name: &str) -> Self {
        DatasetSpec {
            name: name.to_string(),
            root: None,
            revision: None,
            tasks: Vec::new(),
            groupings: None,
            text_field: None,
            length_bins: default_length_bins(),
            gender_words: None,
            max_train: None,
            max_test: None,
            subset_seed: 0,
            split_seed: 0,
            test_fraction: default_test_fraction(),
        }
    }
}

/// The group columns a dataset spec provides: its `groupings`, or the dataset's defaults
/// (CelebA's [`celeba::GROUPINGS`], the text sets' [`TEXT_GROUPINGS`]).
pub fn grouping_columns(spec: &DatasetSpec) -> Vec<String> {
    if let Some(g) = &spec.groupings {
        return g.clone();
    }
    let defaults: &[&str] = match hub::is_celeba(&spec.name) {
        true => &celeba::GROUPINGS,
        false => &TEXT_GROUPINGS,
    };
    defaults.iter().map(|s| s.to_string()).collect()
}

/// The groupings text sets provide.
pub const TEXT_GROUPINGS: [&str; 2] = ["gender", "length"];

/// Where the data is: the spec's folder, or the dataset's snapshot in the Hugging Face cache.
pub fn resolve_root(spec: &DatasetSpec) -> Result<PathBuf> {
    if let Some(root) = &spec.root {
        return Ok(root.clone());
    }
    let d = hub::hub_dataset(&spec.name)?;
    let rev = spec.revision.as_deref().unwrap_or(d.revision);
    hub::cached_snapshot(
        &hub::cache_from_env(),
        hf_hub::RepoType::Dataset,
        d.repo,
        rev,
    )
}

/// Makes sure a Hub dataset is in the cache before it is loaded: downloads its data files when
/// the cache lacks them or holds an incomplete set of shards (with a progress bar when
/// `progress`), unless `HF_HUB_OFFLINE` is set, where that stays an error. A spec with a
/// `root`, or a dataset already cached whole, contacts nothing. Returns what was downloaded.
pub fn fetch_if_missing(spec: &DatasetSpec, progress: bool) -> Result<Option<hub::Fetched>> {
    if spec.root.is_some() {
        return Ok(None);
    }
    let cached = resolve_root(spec).and_then(|root| read::find_split_files(&root));
    match cached {
        Ok(_) => Ok(None),
        Err(e) if hub::offline() => Err(e),
        Err(_) => hub::fetch_dataset(&spec.name, spec.revision.as_deref(), progress).map(Some),
    }
}

/// Loads a dataset. `load_images: false` reads annotations only (Parquet image bytes are
/// skipped), as `data describe` does.
pub fn load(spec: &DatasetSpec, load_images: bool) -> Result<Dataset> {
    let root = resolve_root(spec)?;
    let mut ds = if hub::is_celeba(&spec.name) {
        load_celeba(spec, &root, load_images)?
    } else {
        let set = TextSet::parse(&spec.name).ok_or_else(|| hub::unknown_dataset(&spec.name))?;
        load_text(spec, set, &root)?
    };
    if let Some(max) = spec.max_train {
        split::subset_split(&mut ds, Split::Train, max, spec.subset_seed);
    }
    if let Some(max) = spec.max_test {
        split::subset_split(&mut ds, Split::Test, max, spec.subset_seed);
    }
    Ok(ds)
}

fn load_celeba(spec: &DatasetSpec, root: &Path, load_images: bool) -> Result<Dataset> {
    let text_only = [
        ("text_field", spec.text_field.is_some()),
        ("gender_words", spec.gender_words.is_some()),
    ];
    if let Some((key, _)) = text_only.iter().find(|(_, set)| *set) {
        return Err(
            InputError::new(format!("`{key}` applies to the text sets, not to celeba"))
                .at_key(*key)
                .into(),
        );
    }
    let mut options = celeba::CelebaOptions {
        load_images,
        ..Default::default()
    };
    if !spec.tasks.is_empty() {
        options.tasks = spec.tasks.clone();
    }
    if let Some(g) = &spec.groupings {
        options.groupings = g.clone();
    }
    if celeba::is_official(root) {
        celeba::load_official(root, &options)
    } else {
        celeba::load_parquet(root, &options)
    }
}

fn load_text(spec: &DatasetSpec, set: TextSet, root: &Path) -> Result<Dataset> {
    if !spec.tasks.is_empty() && spec.tasks != [set.hub_label_column()] {
        return Err(Error::input(format!(
            "{} has one task, `{}`; found tasks {:?}",
            set.name(),
            set.hub_label_column(),
            spec.tasks
        )));
    }
    if !(0.0..1.0).contains(&spec.test_fraction) {
        return Err(Error::input(format!(
            "test_fraction must be in [0, 1), found {}",
            spec.test_fraction
        )));
    }
    let raw = text::read_folder(set, root, spec.text_field.as_deref())?;
    let mut ds = text::to_dataset(set, raw)?;
    let only_train = ds.splits() == [Split::Train];
    if set == TextSet::HateSpeech18 && only_train {
        split::holdout_split(
            &mut ds,
            Split::Train,
            Split::Test,
            spec.test_fraction,
            spec.split_seed,
        );
    }
    let groupings = grouping_columns(spec);
    let words = match &spec.gender_words {
        Some(p) => GenderWords::from_file(p)?,
        None => GenderWords::paper(),
    };
    for g in &groupings {
        match g.as_str() {
            "gender" => {
                for e in &mut ds.examples {
                    let group = words.group(e.input.text().unwrap_or(""));
                    e.groups.push(group.to_string());
                }
            }
            "length" => {
                if spec.length_bins == 0 {
                    return Err(Error::input("length_bins must be at least 1"));
                }
                // Bins are computed per split over the whole split, before any subset, as the
                // authors binned each split they evaluated.
                for s in ds.splits() {
                    let idx: Vec<usize> = (0..ds.examples.len())
                        .filter(|&i| ds.examples[i].split == s)
                        .collect();
                    let lengths: Vec<usize> = idx
                        .iter()
                        .map(|&i| {
                            groupings::word_tokens(ds.examples[i].input.text().unwrap_or("")).len()
                        })
                        .collect();
                    let bins = groupings::length_bins(&lengths, spec.length_bins);
                    for (&i, b) in idx.iter().zip(bins) {
                        ds.examples[i].groups.push(groupings::length_label(b));
                    }
                }
            }
            other => {
                return Err(InputError::new(format!(
                    "unknown text grouping `{other}`; expected one of: {}",
                    TEXT_GROUPINGS.join(", ")
                ))
                .at_key("groupings")
                .into())
            }
        }
    }
    ds.groupings = groupings;
    Ok(ds)
}
