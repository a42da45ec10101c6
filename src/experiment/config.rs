//! Data-sharing experiment configs (TOML): which dataset, which learners, scales and seeds, and
//! where the run goes. `configs/default.toml` is the built-in default run and is embedded in the
//! binary.
//!
//! ```toml
//! [experiment]
//! kind = "datasharing"
//! out = "runs/default"
//!
//! [data]
//! dataset = "german_credit"   # german_credit | acs | lsac
//! # path = "bar_pass_prediction.csv"  (acs, lsac; relative to the config file)
//! # path = ["psam_p01.csv", "psam_p02.csv"]  (acs: several person files)
//! # path = "../data/acs/2018/1-Year"         (acs: a folder of per-state person files)
//! # states = "all"             (acs with a folder: "all", folktables' 51, or ["CA", "TX"])
//! encoding = "one-hot"         # german_credit only: one-hot | integer-codes
//!
//! [protocol]
//! learners = ["logistic", "svm", "gbm", "mlp"]
//! scales = [20, 16, 10, 9, 8, 7, 6, 5, 4, 3, 2]
//! data_seeds = [0, 1, 2, 3, 4]
//! model_seeds = [0, 1, 2, 3, 4]
//! groupings = ["sex"]
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::learners;
use crate::data::tabular::fetch;
use crate::data::tabular::german::Encoding;
use crate::error::{Error, InputError, Result};

/// The built-in default experiment (German Credit, all four learners, 5 × 5 seeds).
pub const DEFAULT_CONFIG: &str = include_str!("../../configs/default.toml");

/// A whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What kind of experiment and where it writes.
    pub experiment: ExperimentSection,
    /// The dataset.
    pub data: DataSection,
    /// The protocol's grid.
    pub protocol: ProtocolSection,
    /// The file the config was read from, for errors found after parsing (not part of the
    /// config: never serialized).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// `[experiment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Must be `datasharing` for this runner.
    pub kind: String,
    /// Output folder of the run (relative paths are relative to the working directory).
    pub out: PathBuf,
}

/// Which tabular dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// The bundled German Credit data.
    GermanCredit,
    /// ACS PUMS person files (`psam_pNN.csv` or `csv_pxx.zip`; one, a list, or a folder of
    /// per-state files).
    Acs,
    /// An LSAC CSV in the SEAPHE layout (`bar_pass_prediction.csv` or an `lsac.sas7bdat`
    /// export; Kusner et al.'s `law_data.csv` is refused: its `first_pf` is not bar passage).
    Lsac,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// The dataset.
    pub dataset: DatasetKind,
    /// What to read (ACS, LSAC; optional for German Credit, which is bundled): one file; for
    /// ACS also a list of person files, or a folder of per-state person files (folktables'
    /// `ROOT/2018/1-Year/`), concatenated in folktables' state order
    /// ([`crate::data::tabular::acs::load_paths`]). Relative paths are relative to the config.
    #[serde(default)]
    pub path: Option<OneOrMany<PathBuf>>,
    /// ACS with a folder `path`: the states to read, `"all"` (folktables' 51: the 50 states
    /// and Puerto Rico, no DC; the default) or a list of postal codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<OneOrMany<String>>,
    /// German Credit's categorical encoding.
    #[serde(default)]
    pub encoding: Encoding,
    /// LSAC only: `all` (default) or `authors` (white and Black students only, as the authors'
    /// `tempeh` loader kept).
    #[serde(
        default,
        skip_serializing_if = "crate::data::tabular::lsac::Population::is_all"
    )]
    pub population: crate::data::tabular::lsac::Population,
}

impl DataSection {
    /// The paths `path` names (none when absent).
    pub fn paths(&self) -> Vec<PathBuf> {
        match &self.path {
            None => Vec::new(),
            Some(OneOrMany::One(p)) => vec![p.clone()],
            Some(OneOrMany::Many(ps)) => ps.clone(),
        }
    }

    /// The ACS states `states` names as postal codes (`None` when absent or `"all"`: every
    /// state of folktables' list).
    pub fn state_codes(&self) -> Option<Vec<String>> {
        match &self.states {
            None => None,
            Some(OneOrMany::One(s)) if s.eq_ignore_ascii_case("all") => None,
            Some(OneOrMany::One(s)) => Some(vec![s.to_ascii_uppercase()]),
            Some(OneOrMany::Many(list)) => {
                Some(list.iter().map(|s| s.to_ascii_uppercase()).collect())
            }
        }
    }
}

/// A config value that is one item or a list of them (`path = "a.csv"` or
/// `path = ["a.csv", "b.csv"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One item.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{value::SeqAccessDeserializer, IntoDeserializer, SeqAccess, Visitor};
        struct OneOrList<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrList<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
        }
        d.deserialize_any(OneOrList(std::marker::PhantomData))
    }
}

/// `[protocol]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSection {
    /// Learner names (`logistic`, `svm`, `gbm`, `mlp`).
    pub learners: Vec<String>,
    /// Numbers of blocks the training people are cut into.
    pub scales: Vec<usize>,
    /// Seeds of the split and the blocks.
    pub data_seeds: Vec<u64>,
    /// Seeds of the models.
    pub model_seeds: Vec<u64>,
    /// Group columns to measure group-level homogenization over (besides the individual level).
    #[serde(default)]
    pub groupings: Vec<String>,
}

impl Config {
    /// Parses a config's text; `origin` names the file in errors. Relative data paths are
    /// resolved against `origin`'s folder.
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        check_kind_first(text, origin, "datasharing")?;
        let mut config: Config = crate::tomlfile::parse(text, origin, "invalid config")?;
        if let Some(dir) = origin.parent().filter(|d| !d.as_os_str().is_empty()) {
            let resolve = |p: &mut PathBuf| {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            };
            match config.data.path.as_mut() {
                Some(OneOrMany::One(p)) => resolve(p),
                Some(OneOrMany::Many(ps)) => ps.iter_mut().for_each(resolve),
                None => {}
            }
        }
        config.validate(origin)?;
        config.origin = Some(origin.to_path_buf());
        Ok(config)
    }

    /// An input error found after parsing (a scale too large for the data, a grouping the
    /// dataset lacks), located in the config file when it has no file yet.
    pub fn locate(&self, e: Error) -> Error {
        match (e, &self.origin) {
            (Error::Input(mut ie), Some(origin)) if ie.file.is_none() => {
                ie.file = Some(origin.clone());
                Error::Input(ie)
            }
            (e, _) => e,
        }
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config> {
        Config::parse(&Config::read_text(path)?, path)
    }

    /// Reads a config file's text; a file that does not exist, or a folder, is bad input (a
    /// wrong path).
    pub fn read_text(path: &Path) -> Result<String> {
        std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                InputError::new("no such config file").in_file(path).into()
            }
            std::io::ErrorKind::InvalidData => {
                InputError::new("the file is not valid UTF-8 text; expected a TOML config")
                    .in_file(path)
                    .into()
            }
            _ => Error::reading(path, e),
        })
    }

    /// The built-in default run.
    pub fn default_run() -> Result<Config> {
        Config::parse(DEFAULT_CONFIG, Path::new("configs/default.toml (built in)"))
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |key: &str, message: String| key_error(origin, key, message);
        for name in &self.protocol.learners {
            learners::by_name(name).map_err(|e| match e {
                Error::Input(i) => Error::from(InputError {
                    file: Some(origin.to_path_buf()),
                    key: Some("protocol.learners".to_string()),
                    ..*i
                }),
                other => other,
            })?;
        }
        for (key, repeat) in [
            (
                "protocol.learners",
                first_repeat(&self.protocol.learners).map(|i| self.protocol.learners[i].clone()),
            ),
            (
                "protocol.scales",
                first_repeat(&self.protocol.scales).map(|i| self.protocol.scales[i].to_string()),
            ),
            (
                "protocol.data_seeds",
                first_repeat(&self.protocol.data_seeds)
                    .map(|i| self.protocol.data_seeds[i].to_string()),
            ),
            (
                "protocol.model_seeds",
                first_repeat(&self.protocol.model_seeds)
                    .map(|i| self.protocol.model_seeds[i].to_string()),
            ),
        ] {
            if let Some(value) = repeat {
                return Err(bad(
                    key,
                    format!(
                        "`{value}` is listed twice; each value must appear once (a repeated \
                         value would count the same trials twice in the means and intervals)"
                    ),
                ));
            }
        }
        for (key, empty) in [
            ("protocol.learners", self.protocol.learners.is_empty()),
            ("protocol.scales", self.protocol.scales.is_empty()),
            ("protocol.data_seeds", self.protocol.data_seeds.is_empty()),
            ("protocol.model_seeds", self.protocol.model_seeds.is_empty()),
        ] {
            if empty {
                return Err(bad(key, "must not be empty".to_string()));
            }
        }
        self.validate_data(origin)
    }

    fn validate_data(&self, origin: &Path) -> Result<()> {
        let bad = |key: &str, message: String| key_error(origin, key, message);
        let d = &self.data;
        let acs = d.dataset == DatasetKind::Acs;
        if d.dataset != DatasetKind::GermanCredit && d.path.is_none() {
            return Err(bad(
                "data.path",
                "the ACS and LSAC datasets need `path` (the CSV or zip to read; for ACS also a \
                 list of person files or a folder of them)"
                    .to_string(),
            ));
        }
        if let Some(OneOrMany::Many(paths)) = &d.path {
            if !acs {
                return Err(bad(
                    "data.path",
                    "a list of files is for the ACS dataset (its per-state person files); this \
                     dataset reads one file"
                        .to_string(),
                ));
            }
            if paths.is_empty() {
                return Err(bad("data.path", "must not be empty".to_string()));
            }
            if let Some(i) = first_repeat(paths) {
                return Err(bad(
                    "data.path",
                    format!(
                        "`{}` is listed twice; each person file must appear once",
                        paths[i].display()
                    ),
                ));
            }
        }
        if d.states.is_some() && !acs {
            return Err(bad(
                "data.states",
                "`states` is for the ACS dataset only".to_string(),
            ));
        }
        if !d.population.is_all() && d.dataset != DatasetKind::Lsac {
            return Err(bad(
                "data.population",
                "`population` is for the LSAC dataset only".to_string(),
            ));
        }
        if let Some(OneOrMany::Many(_)) = &d.path {
            if d.states.is_some() {
                return Err(bad(
                    "data.states",
                    "`states` picks the person files of a folder `path`; with a list of files, \
                     leave it out"
                        .to_string(),
                ));
            }
        }
        if let Some(codes) = d.state_codes() {
            if codes.is_empty() {
                return Err(bad(
                    "data.states",
                    "must not be empty (\"all\" is folktables' 51 states)".to_string(),
                ));
            }
            for code in &codes {
                if fetch::fips_of(code).is_none() {
                    return Err(bad(
                        "data.states",
                        format!(
                            "unknown state `{code}`; expected \"all\" (folktables' 51: the 50 \
                             states and Puerto Rico, not DC) or a list of postal codes ({}, or \
                             DC)",
                            fetch::FOLKTABLES_STATES.join(", ")
                        ),
                    ));
                }
            }
            if let Some(i) = first_repeat(&codes) {
                return Err(bad(
                    "data.states",
                    format!("`{}` is listed twice", codes[i]),
                ));
            }
        }
        Ok(())
    }
}

/// An input error at `key` of the config file `origin` (exit 2, file and key named).
pub(crate) fn key_error(origin: &Path, key: &str, message: String) -> Error {
    InputError::new(message).in_file(origin).at_key(key).into()
}

/// The experiment kinds, each with its runner.
pub const KINDS: [&str; 2] = ["datasharing", "modelsharing"];

/// The `kind` of a config's `[experiment]` table, read without validating the rest (`None`
/// when the text is not TOML or has no string `experiment.kind`).
pub fn kind_of(text: &str) -> Option<String> {
    let value: toml::Table = toml::from_str(text).ok()?;
    value
        .get("experiment")?
        .get("kind")?
        .as_str()
        .map(str::to_string)
}

/// Checks `experiment.kind` before the rest of the config, so that a config of the other kind,
/// or a misspelt kind, is named as such rather than as an unknown key of this kind. Text that
/// is not TOML passes (the full parse reports where the syntax is wrong).
pub(crate) fn check_kind_first(text: &str, origin: &Path, expected: &str) -> Result<()> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Ok(());
    };
    let kind = table.get("experiment").and_then(|e| e.get("kind"));
    let message = match kind {
        None => format!(
            "missing: [experiment] needs `kind`, one of {}",
            KINDS.join(", ")
        ),
        Some(toml::Value::String(k)) if k == expected => return Ok(()),
        Some(toml::Value::String(k)) if KINDS.contains(&k.as_str()) => format!(
            "this is a {k} config, and this command needs kind = \"{expected}\"{}",
            if k == "datasharing" {
                " (run a data-sharing study with `homogen run CONFIG`)"
            } else {
                ""
            }
        ),
        Some(toml::Value::String(k)) => format!(
            "unknown experiment kind `{k}`, expected one of {}",
            KINDS.join(", ")
        ),
        Some(other) => format!(
            "expected a string (one of {}), found {other}",
            KINDS.join(", ")
        ),
    };
    Err(key_error(origin, "experiment.kind", message))
}

/// The index of the first value that repeats an earlier one.
pub(crate) fn first_repeat<T: PartialEq>(values: &[T]) -> Option<usize> {
    (1..values.len()).find(|&i| values[..i].contains(&values[i]))
}

/// The kind of run a folder holds, from its `manifest.json` (`None` when it has none yet).
pub fn run_folder_kind(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("kind")
        .or_else(|| v.get("config")?.get("experiment")?.get("kind"))?
        .as_str()
        .map(str::to_string)
}

/// [`crate::failures::check_output_folder`], and an input error when the folder already holds
/// a run of another kind: writing there would leave the reports of both kinds mixed in one
/// folder.
pub fn check_run_folder(out: &Path, kind: &str) -> Result<()> {
    crate::failures::check_output_folder(out)?;
    match run_folder_kind(out) {
        Some(k) if k != kind => Err(InputError::new(format!(
            "holds a {k} run (see its manifest.json); a {kind} run there would mix the two: \
             choose another output folder"
        ))
        .in_file(out)
        .into()),
        _ => Ok(()),
    }
}
