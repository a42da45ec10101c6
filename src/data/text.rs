//! The paper's text sets, from the Hub's Parquet layout, a local Parquet/CSV/JSONL folder, or
//! (HateSpeech18) the original `data.zip`.
//!
//! | name | Hub repo | text | label | classes | own id |
//! | --- | --- | --- | --- | --- | --- |
//! | `imdb` | `stanfordnlp/imdb` | `text` | `label` | neg, pos | — |
//! | `ag_news` | `fancyzhx/ag_news` | `text` | `label` | World, Sports, Business, Sci/Tech | — |
//! | `yahoo_answers_topics` | `community-datasets/yahoo_answers_topics` | `question_title` | `topic` | 10 topics | `id` |
//! | `hate_speech18` | `odegiber/hate_speech18` | `text` | `label` | noHate, hate, idk/skip, relation | `file_id` |
//!
//! Files: every `*.parquet`, `*.csv` or `*.jsonl` under the folder whose name or folder names a
//! split (`train-00000-of-00001.parquet`, `test.csv`, `default/train/0000.parquet`); IMDB's
//! `unsupervised` split is dropped. CSV/JSONL files hold `text` and `label` (and optionally
//! `id`); Parquet files hold the Hub's columns, or `text`/`label` when the Hub's are absent. The
//! text column can be changed (`text_field`, e.g. Yahoo's `question_content`). A label is a class
//! index or a class name; anything else stops with an error naming file, row and column.
//!
//! `example_id` is the dataset's own id where it has one (`id`, `file_id`), else
//! `<dataset>:<split>:<row>` with the 0-based row within the split as the source stores it.
//!
//! HateSpeech18 has one split: a seeded stratified 80/20 cut makes `test` (see [`super::split`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::example::{Dataset, Example, Input, Split, Task};
use super::read::{self, Cell, FileKind, SplitFile};
use crate::error::{Error, InputError, Result};

/// One of the paper's four text sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSet {
    /// IMDB movie reviews, sentiment (2 classes).
    Imdb,
    /// AG News, topic (4 classes).
    AgNews,
    /// Yahoo Answers Topics, topic (10 classes).
    YahooAnswers,
    /// HateSpeech18 (de Gibert et al.), 4 labels, one split.
    HateSpeech18,
}

/// stanfordnlp/imdb's pinned commit: the Parquet layout (`plain_text/{train,test,unsupervised}-
/// 00000-of-00001.parquet`) that public projects pin for byte-identical data.
pub const IMDB_REVISION: &str = "e6281661ce1c48d982bc483cf8a173c1bbeb5d31";

/// fancyzhx/ag_news's pinned commit (`data/{train,test}-00000-of-00001.parquet`), the one MTEB's
/// AG News task and other public projects pin.
pub const AG_NEWS_REVISION: &str = "eb185aade064a813bc0b7f42de02595523103ca4";

impl TextSet {
    /// Every text set.
    pub const ALL: [TextSet; 4] = [
        TextSet::Imdb,
        TextSet::AgNews,
        TextSet::YahooAnswers,
        TextSet::HateSpeech18,
    ];

    /// The short name used in configs and ids.
    pub fn name(self) -> &'static str {
        match self {
            TextSet::Imdb => "imdb",
            TextSet::AgNews => "ag_news",
            TextSet::YahooAnswers => "yahoo_answers_topics",
            TextSet::HateSpeech18 => "hate_speech18",
        }
    }

    /// Parses a short name (also the Hub's repo id or its last part).
    pub fn parse(name: &str) -> Option<TextSet> {
        let last = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
        let last = last.replace('-', "_");
        TextSet::ALL.into_iter().find(|t| {
            t.name() == last
                || (last == "yahoo" && *t == TextSet::YahooAnswers)
                || (last == "agnews" && *t == TextSet::AgNews)
        })
    }

    /// The Hub repository.
    pub fn hub_repo(self) -> &'static str {
        match self {
            TextSet::Imdb => "stanfordnlp/imdb",
            TextSet::AgNews => "fancyzhx/ag_news",
            TextSet::YahooAnswers => "community-datasets/yahoo_answers_topics",
            TextSet::HateSpeech18 => "odegiber/hate_speech18",
        }
    }

    /// The revision `fetch` and the loaders use by default: a pinned commit where one is known
    /// (IMDB, AG News), else `main`, whose commit the run's manifest records.
    pub fn hub_revision(self) -> &'static str {
        match self {
            TextSet::Imdb => IMDB_REVISION,
            TextSet::AgNews => AG_NEWS_REVISION,
            TextSet::YahooAnswers | TextSet::HateSpeech18 => "main",
        }
    }

    /// The class names, indexed by label.
    pub fn classes(self) -> Vec<String> {
        let c: &[&str] = match self {
            TextSet::Imdb => &["neg", "pos"],
            TextSet::AgNews => &["World", "Sports", "Business", "Sci/Tech"],
            TextSet::YahooAnswers => &[
                "Society & Culture",
                "Science & Mathematics",
                "Health",
                "Education & Reference",
                "Computers & Internet",
                "Sports",
                "Business & Finance",
                "Entertainment & Music",
                "Family & Relationships",
                "Politics & Government",
            ],
            TextSet::HateSpeech18 => &["noHate", "hate", "idk/skip", "relation"],
        };
        c.iter().map(|s| s.to_string()).collect()
    }

    /// The text column in the Hub's files.
    pub fn hub_text_column(self) -> &'static str {
        match self {
            TextSet::YahooAnswers => "question_title",
            _ => "text",
        }
    }

    /// The label column in the Hub's files (also the task's name).
    pub fn hub_label_column(self) -> &'static str {
        match self {
            TextSet::YahooAnswers => "topic",
            _ => "label",
        }
    }

    /// The dataset's own id column, where it has one.
    pub fn id_column(self) -> Option<&'static str> {
        match self {
            TextSet::YahooAnswers => Some("id"),
            TextSet::HateSpeech18 => Some("file_id"),
            _ => None,
        }
    }
}

/// A text example before groupings: id, split, label, text.
#[derive(Debug, Clone, PartialEq)]
pub struct RawText {
    /// The example id.
    pub id: String,
    /// The split.
    pub split: Split,
    /// The class index.
    pub label: i64,
    /// The text.
    pub text: String,
}

/// Reads every split of a text set from a folder (Parquet, CSV or JSONL files, or
/// HateSpeech18's `data.zip`). `text_field` overrides the text column.
pub fn read_folder(set: TextSet, root: &Path, text_field: Option<&str>) -> Result<Vec<RawText>> {
    if !root.is_dir() {
        return Err(InputError::new("the dataset folder does not exist")
            .in_file(root)
            .into());
    }
    let zip = root.join("data.zip");
    let files = read::find_split_files(root)?;
    if files.is_empty() {
        if set == TextSet::HateSpeech18 && zip.exists() {
            return read_hate_speech_zip(&zip);
        }
        return Err(InputError::new(format!(
            "no {} data found: expected {{train,test}}-*.parquet, train.csv/test.csv or \
             train.jsonl/test.jsonl{}",
            set.name(),
            if set == TextSet::HateSpeech18 {
                " or data.zip"
            } else {
                ""
            }
        ))
        .in_file(root)
        .into());
    }
    let mut out = Vec::new();
    let mut rows = std::collections::HashMap::<Split, usize>::new();
    for f in &files {
        let start = *rows.get(&f.split).unwrap_or(&0);
        let part = read_file(set, f, text_field, start)?;
        *rows.entry(f.split).or_insert(0) += part.len();
        out.extend(part);
    }
    Ok(out)
}

/// Column names for one file: (text, label, id).
struct Columns {
    text: String,
    label: String,
    id: Option<String>,
}

fn choose_columns(
    set: TextSet,
    names: &[String],
    text_field: Option<&str>,
    file: &Path,
) -> Result<Columns> {
    let has = |c: &str| names.iter().any(|n| n == c);
    let text = match text_field {
        Some(t) => t.to_string(),
        None if has(set.hub_text_column()) => set.hub_text_column().to_string(),
        None => "text".to_string(),
    };
    let label = if has(set.hub_label_column()) {
        set.hub_label_column()
    } else {
        "label"
    };
    for c in [text.as_str(), label] {
        if !has(c) {
            return Err(InputError::new(format!(
                "missing column `{c}` (columns found: {})",
                names.join(", ")
            ))
            .in_file(file)
            .in_column(c)
            .into());
        }
    }
    let id = set
        .id_column()
        .filter(|c| has(c))
        .or(has("id").then_some("id"))
        .map(String::from);
    Ok(Columns {
        text,
        label: label.to_string(),
        id,
    })
}

fn make_id(set: TextSet, split: Split, row: usize, own: Option<String>) -> String {
    own.unwrap_or_else(|| format!("{}:{}:{}", set.name(), split, row))
}

fn read_file(
    set: TextSet,
    f: &SplitFile,
    text_field: Option<&str>,
    first_row: usize,
) -> Result<Vec<RawText>> {
    match f.kind {
        FileKind::Parquet => read_parquet(set, f, text_field, first_row),
        FileKind::Csv => read_csv(set, f, text_field, first_row),
        FileKind::Jsonl => read_jsonl(set, f, text_field, first_row),
    }
}

fn read_parquet(
    set: TextSet,
    f: &SplitFile,
    text_field: Option<&str>,
    first_row: usize,
) -> Result<Vec<RawText>> {
    let builder = read::open_parquet(&f.path)?;
    let names = read::parquet_columns(&builder);
    let cols = choose_columns(set, &names, text_field, &f.path)?;
    let classes = set.classes();
    let mut keep = vec![cols.text.as_str(), cols.label.as_str()];
    if let Some(id) = &cols.id {
        keep.push(id);
    }
    let mut out = Vec::new();
    let mut row = 0usize;
    read::read_parquet(&f.path, builder, &keep, &[], |batch| {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::Runtime(format!("column {name} vanished from the batch")))
        };
        let texts = read::strings(col(&cols.text)?, &f.path, &cols.text)?;
        let labels = read::cells(col(&cols.label)?)?;
        let ids = match &cols.id {
            Some(c) => Some(read::cells(col(c)?)?),
            None => None,
        };
        for (i, (text, label)) in texts.into_iter().zip(labels).enumerate() {
            let r = row + i + 1;
            let text = text.ok_or_else(|| {
                InputError::new("the text is null; expected a string")
                    .in_file(&f.path)
                    .at_row(r)
                    .in_column(&cols.text)
            })?;
            let label = read::class_index(&label, &classes, &f.path, r, &cols.label)?;
            let own = ids.as_ref().map(|ids| match &ids[i] {
                Cell::Int(v) => v.to_string(),
                Cell::Str(s) => s.clone(),
                Cell::Other(s) => s.clone(),
            });
            out.push(RawText {
                id: make_id(set, f.split, first_row + r - 1, own),
                split: f.split,
                label,
                text,
            });
        }
        row += batch.num_rows();
        Ok(())
    })?;
    Ok(out)
}

fn read_csv(
    set: TextSet,
    f: &SplitFile,
    text_field: Option<&str>,
    first_row: usize,
) -> Result<Vec<RawText>> {
    let file = std::fs::File::open(&f.path)
        .map_err(|e| InputError::new(format!("cannot open: {e}")).in_file(&f.path))?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let csv_err = |e: csv::Error| -> Error {
        let mut err = InputError::new(format!("cannot read as CSV: {e}")).in_file(&f.path);
        // The record index, not the line (texts often hold quoted line breaks); the header is
        // record 0, data row n is record n.
        if let Some(r) = e.position().map(|p| p.record() as usize).filter(|&r| r > 0) {
            err = err.at_row(r);
        }
        err.into()
    };
    let names: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let cols = choose_columns(set, &names, text_field, &f.path)?;
    let pos = |c: &str| names.iter().position(|n| n == c).unwrap_or(0);
    let (ti, li) = (pos(&cols.text), pos(&cols.label));
    let ii = cols.id.as_deref().map(pos);
    let classes = set.classes();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(csv_err)?;
        let r = i + 1;
        let label = Cell::Str(record.get(li).unwrap_or("").to_string());
        let label = read::class_index(&label, &classes, &f.path, r, &cols.label)?;
        out.push(RawText {
            id: make_id(
                set,
                f.split,
                first_row + i,
                ii.and_then(|j| record.get(j)).map(String::from),
            ),
            split: f.split,
            label,
            text: record.get(ti).unwrap_or("").to_string(),
        });
    }
    Ok(out)
}

fn read_jsonl(
    set: TextSet,
    f: &SplitFile,
    text_field: Option<&str>,
    first_row: usize,
) -> Result<Vec<RawText>> {
    let text = std::fs::read_to_string(&f.path)
        .map_err(|e| InputError::new(format!("cannot read as UTF-8 text: {e}")).in_file(&f.path))?;
    let classes = set.classes();
    let mut out = Vec::new();
    let mut cols: Option<Columns> = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r = i + 1;
        let bad = |msg: String| -> Error { InputError::new(msg).in_file(&f.path).at_row(r).into() };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("expected a JSON object per line".into()))?;
        if cols.is_none() {
            let names: Vec<String> = obj.keys().cloned().collect();
            cols = Some(choose_columns(set, &names, text_field, &f.path)?);
        }
        let c = cols.as_ref().ok_or_else(|| bad("no columns".into()))?;
        let field = |name: &str| -> Result<&serde_json::Value> {
            obj.get(name).ok_or_else(|| {
                InputError::new(format!("missing key `{name}`"))
                    .in_file(&f.path)
                    .at_row(r)
                    .in_column(name)
                    .into()
            })
        };
        let text = field(&c.text)?
            .as_str()
            .ok_or_else(|| {
                InputError::new("expected a string")
                    .in_file(&f.path)
                    .at_row(r)
                    .in_column(&c.text)
            })?
            .to_string();
        let label = match field(&c.label)? {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(v) => Cell::Int(v),
                None => Cell::Other(n.to_string()),
            },
            serde_json::Value::String(s) => Cell::Str(s.clone()),
            other => Cell::Other(other.to_string()),
        };
        let label = read::class_index(&label, &classes, &f.path, r, &c.label)?;
        let own = match c.id.as_deref().and_then(|k| obj.get(k)) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(v) => Some(v.to_string()),
            None => None,
        };
        out.push(RawText {
            id: make_id(set, f.split, first_row + out.len(), own),
            split: f.split,
            label,
            text,
        });
    }
    Ok(out)
}

/// Reads HateSpeech18's `data.zip`: `annotations_metadata.csv` (`file_id, user_id, subforum_id,
/// num_contexts, label`) and `all_files/<file_id>.txt`, possibly under one top folder. Every
/// example is in the `train` split; the id is `file_id`.
pub fn read_hate_speech_zip(path: &Path) -> Result<Vec<RawText>> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(format!("cannot open: {e}")).in_file(path))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| InputError::new(format!("cannot read as a zip archive: {e}")).in_file(path))?;
    let meta_name = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .find(|n| n.ends_with("annotations_metadata.csv"))
        .ok_or_else(|| {
            InputError::new("the archive has no annotations_metadata.csv").in_file(path)
        })?;
    let prefix = meta_name
        .trim_end_matches("annotations_metadata.csv")
        .to_string();
    let mut read_entry = |name: &str| -> Result<String> {
        let mut entry = zip.by_name(name).map_err(|e| {
            InputError::new(format!("the archive has no entry `{name}`: {e}")).in_file(path)
        })?;
        let mut text = String::new();
        entry.read_to_string(&mut text).map_err(|e| {
            InputError::new(format!("entry `{name}` is not UTF-8 text: {e}")).in_file(path)
        })?;
        Ok(text)
    };
    let meta = read_entry(&meta_name)?;
    let meta_file = PathBuf::from(format!("{}!{}", path.display(), meta_name));
    let mut reader = csv::Reader::from_reader(meta.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| InputError::new(format!("cannot read as CSV: {e}")).in_file(&meta_file))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col = |c: &str| -> Result<usize> {
        headers.iter().position(|h| h == c).ok_or_else(|| {
            InputError::new(format!(
                "missing column `{c}` (columns found: {})",
                headers.join(", ")
            ))
            .in_file(&meta_file)
            .in_column(c)
            .into()
        })
    };
    let (fi, li) = (col("file_id")?, col("label")?);
    let classes = TextSet::HateSpeech18.classes();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = i + 1;
        let record = record.map_err(|e| {
            InputError::new(format!("cannot read as CSV: {e}"))
                .in_file(&meta_file)
                .at_row(r)
        })?;
        let file_id = record.get(fi).unwrap_or("").trim().to_string();
        let label = Cell::Str(record.get(li).unwrap_or("").to_string());
        let label = read::class_index(&label, &classes, &meta_file, r, "label")?;
        let text = read_entry(&format!("{prefix}all_files/{file_id}.txt"))?;
        out.push(RawText {
            id: file_id,
            split: Split::Train,
            label,
            text: text.trim_end_matches(['\n', '\r']).to_string(),
        });
    }
    Ok(out)
}

/// Turns raw texts into a [`Dataset`] with the task named after the set's label column and no
/// groupings yet.
pub fn to_dataset(set: TextSet, raw: Vec<RawText>) -> Result<Dataset> {
    let ds = Dataset {
        name: set.name().into(),
        tasks: vec![Task {
            name: set.hub_label_column().into(),
            classes: set.classes(),
        }],
        groupings: Vec::new(),
        examples: raw
            .into_iter()
            .map(|r| Example {
                example_id: r.id,
                split: r.split,
                labels: vec![r.label],
                groups: Vec::new(),
                input: Input::Text(r.text),
            })
            .collect(),
    };
    ds.check_unique_ids()?;
    Ok(ds)
}
