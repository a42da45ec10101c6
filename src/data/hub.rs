//! The Hugging Face Hub: which repository and revision each dataset comes from, finding a
//! downloaded snapshot offline, and downloading (`homogen fetch`).
//!
//! Loaders never touch the network: they read the standard cache (`$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), where a repository lives in
//! `datasets--<org>--<name>/` with `refs/<revision>` holding a commit hash and
//! `snapshots/<commit>/...` the files. Downloads go through hf-hub's synchronous API into that
//! cache (resumable, with a progress bar), from `HF_ENDPOINT` (a mirror) when it is set, with the
//! token huggingface_hub would use ([`token`]); with `HF_HUB_OFFLINE=1` nothing is downloaded and
//! the cached snapshot is used. `homogen fetch` downloads explicitly; `run`, `plan` and `train`
//! download what they need and the cache lacks (`crate::data::fetch_if_missing`).

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use super::text::TextSet;
use crate::error::{Error, InputError, Result};

/// A dataset's home on the Hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDataset {
    /// The short name (`celeba`, `imdb`, ...).
    pub name: &'static str,
    /// The repository id.
    pub repo: &'static str,
    /// The default revision: a pinned commit where we know it (CelebA, IMDB, AG News), else
    /// `main` (pin one with `--revision`; `fetch` prints the commit it resolved).
    pub revision: &'static str,
}

/// The CelebA mirror's pinned commit (flwrlabs/celeba, "Update README.md").
pub const CELEBA_REVISION: &str = "2d738f56e0e7f925ea36ae7c808ea925264aacec";

/// The datasets that load from the Hub (or a local copy in a Hub layout), by short name.
pub const HUB_DATASETS: [&str; 5] = [
    "celeba",
    "imdb",
    "ag_news",
    "yahoo_answers_topics",
    "hate_speech18",
];

/// Whether a dataset name is CelebA (its short name or its Hub mirror's id).
pub fn is_celeba(name: &str) -> bool {
    name == "celeba" || name == "flwrlabs/celeba"
}

/// The Hub home of a dataset by short name; an unknown name is an input error.
pub fn hub_dataset(name: &str) -> Result<HubDataset> {
    if is_celeba(name) {
        return Ok(HubDataset {
            name: "celeba",
            repo: "flwrlabs/celeba",
            revision: CELEBA_REVISION,
        });
    }
    let set = TextSet::parse(name).ok_or_else(|| unknown_dataset(name))?;
    Ok(HubDataset {
        name: set.name(),
        repo: set.hub_repo(),
        revision: set.hub_revision(),
    })
}

/// The error for a dataset name we do not know.
pub fn unknown_dataset(name: &str) -> Error {
    Error::input(format!(
        "unknown dataset `{name}`; expected one of: {}",
        HUB_DATASETS.join(", ")
    ))
}

/// Whether a repository file is one of the dataset's data files (what `fetch` downloads).
pub fn is_data_file(dataset: &str, file: &str) -> bool {
    let parquet = file.ends_with(".parquet") && !file.contains("unsupervised");
    parquet || (dataset == "hate_speech18" && file.ends_with("data.zip"))
}

/// Whether a repository file belongs in a model snapshot: config, tokenizer and weights.
pub fn is_model_file(file: &str) -> bool {
    const NAMES: [&str; 10] = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "preprocessor_config.json",
        "model.safetensors",
        "model.safetensors.index.json",
    ];
    !file.contains('/')
        && (NAMES.contains(&file) || (file.starts_with("model-") && file.ends_with(".safetensors")))
}

/// The cache hf-hub and Python use: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn cache_from_env() -> Cache {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(p) if !p.is_empty() => Cache::new(PathBuf::from(p)),
        _ => Cache::from_env(),
    }
}

/// Whether `HF_HUB_OFFLINE` asks for no network (`1`, `true`, `yes`, `on`).
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// The Hub's address: `HF_ENDPOINT` (a mirror; Python's huggingface_hub reads the same
/// variable), else `https://huggingface.co`.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .map(|e| e.trim().trim_end_matches('/').to_string())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".to_string())
}

/// The access token for private and gated repositories, found where huggingface_hub looks:
/// `HF_TOKEN`, else the file `HF_TOKEN_PATH`, else `$HF_HOME/token` (where `huggingface-cli
/// login` writes it; `~/.cache/huggingface/token` by default).
pub fn token() -> Option<String> {
    let non_empty = |s: String| Some(s.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(t) = std::env::var("HF_TOKEN").ok().and_then(non_empty) {
        return Some(t);
    }
    let path = match std::env::var_os("HF_TOKEN_PATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        // hf-hub's default cache is `$HF_HOME/hub`: the token sits next to it.
        _ => Cache::from_env().path().with_file_name("token"),
    };
    std::fs::read_to_string(path).ok().and_then(non_empty)
}

/// Times a download cut off midway is resumed where it stopped (with a growing pause between).
pub const DOWNLOAD_RETRIES: usize = 5;

/// The Hub client every download uses: the cache of [`cache_from_env`], the [`endpoint`], the
/// [`token`], [`DOWNLOAD_RETRIES`]; hf-hub's own progress bars off (ours are drawn by
/// [`fetch`]).
pub fn api() -> Result<Api> {
    ApiBuilder::from_cache(cache_from_env())
        .with_endpoint(endpoint())
        .with_token(token())
        .with_retries(DOWNLOAD_RETRIES)
        .with_progress(false)
        .with_user_agent("homogen", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(|e| Error::Runtime(format!("starting the Hugging Face Hub client: {e}")))
}

/// The error for a failed Hub request about `repo` at `revision`: a repository the Hub does not
/// show us (HTTP 401, 403, 404: a wrong id or revision, or a private or gated repository without
/// a token) is bad input; anything else (no network, a server error) a runtime failure that says
/// how to work offline.
fn hub_error(kind: RepoType, repo: &str, revision: &str, e: ApiError) -> Error {
    let what = kind_name(kind);
    let endpoint = endpoint();
    if let ApiError::RequestError(r) = &e {
        if let ureq::Error::StatusCode(code @ (401 | 403 | 404)) = r.as_ref() {
            return Error::input(format!(
                "{what} `{repo}` at revision `{revision}` is not available from {endpoint} \
                 (HTTP {code}): check the id and the revision; a private or gated repository \
                 needs a token with access (HF_TOKEN, or `huggingface-cli login`)"
            ));
        }
    }
    Error::Runtime(format!(
        "fetching {what} `{repo}` (revision `{revision}`) from {endpoint} failed: {e}; set \
         HF_HUB_OFFLINE=1 to use only the local cache, or HF_ENDPOINT to use a mirror"
    ))
}

/// `model` or `dataset`, as messages and `homogen fetch` name the kinds.
fn kind_name(kind: RepoType) -> &'static str {
    match kind {
        RepoType::Model => "model",
        _ => "dataset",
    }
}

fn folder(kind: RepoType, repo: &str) -> String {
    Repo::new(repo.to_string(), kind).folder_name()
}

/// The snapshot folder of a repository at a revision in the cache, without the network: a
/// 40-hex revision is the commit itself, anything else is looked up in `refs/`.
pub fn cached_snapshot(
    cache: &Cache,
    kind: RepoType,
    repo: &str,
    revision: &str,
) -> Result<PathBuf> {
    let base = cache.path().join(folder(kind, repo));
    let commit = if is_commit(revision) {
        revision.to_string()
    } else {
        let r = base.join("refs").join(revision);
        std::fs::read_to_string(&r)
            .map(|s| s.trim().to_string())
            .map_err(|_| not_cached(kind, repo, revision, &base))?
    };
    let snap = base.join("snapshots").join(&commit);
    if snap.is_dir() {
        Ok(snap)
    } else {
        Err(not_cached(kind, repo, revision, &base))
    }
}

/// The commit of a Hub-cache snapshot folder (`.../snapshots/<commit>`), `None` for any other
/// folder.
pub fn snapshot_commit(dir: &Path) -> Option<String> {
    let parent = dir.parent()?.file_name()?;
    let name = dir.file_name()?.to_str()?;
    (parent == "snapshots" && is_commit(name)).then(|| name.to_string())
}

/// Whether a revision is a commit hash (40 hex digits) rather than a branch or tag.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// The error for a repository (`kind`: model or dataset) missing from the cache at `base`: it
/// says how to download it (and that `HF_HUB_OFFLINE` must be unset for that, when it is set).
pub(crate) fn not_cached(kind: RepoType, repo: &str, revision: &str, base: &Path) -> Error {
    let what = kind_name(kind);
    let unset = if offline() {
        " (HF_HUB_OFFLINE is set: unset it for that)"
    } else {
        ""
    };
    let revision_flag = if revision == "main" {
        String::new()
    } else {
        format!(" --revision {revision}")
    };
    InputError::new(format!(
        "`{repo}` at revision `{revision}` is not in the Hugging Face cache; download it with \
         `homogen fetch {what} {repo}{revision_flag}` where the Hub is reachable{unset}, or \
         point to a local copy"
    ))
    .in_file(base)
    .into()
}

/// Adapts an indicatif bar to hf-hub's progress callbacks.
struct Bar(indicatif::ProgressBar);

impl hf_hub::api::Progress for Bar {
    fn init(&mut self, size: usize, filename: &str) {
        self.0.set_length(size as u64);
        self.0.set_position(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
        ) {
            self.0.set_style(style);
        }
        self.0.set_message(filename.to_string());
    }
    fn update(&mut self, size: usize) {
        self.0.inc(size as u64);
    }
    fn finish(&mut self) {
        self.0.finish();
    }
}

/// What one fetch did.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The snapshot folder holding the files.
    pub snapshot: PathBuf,
    /// The commit the revision resolved to (`None` offline).
    pub commit: Option<String>,
    /// The files present in the snapshot.
    pub files: Vec<String>,
}

/// An exclusive lock on `<cache>/.locks/homogen-<repository folder>.lock`, held until dropped;
/// waits while another process holds it.
fn lock_repo(cache: &Cache, kind: RepoType, repo: &str) -> Result<std::fs::File> {
    let dir = cache.path().join(".locks");
    let path = dir.join(format!("homogen-{}.lock", folder(kind, repo)));
    let io = |e| Error::io(format!("locking {}", path.display()), e);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = std::fs::File::create(&path).map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

/// Downloads the files of `repo` at `revision` that `select` picks from the repository's file
/// list into the cache (files already there are not downloaded again; interrupted downloads
/// resume). Offline (`HF_HUB_OFFLINE=1`) it only checks the cache.
pub fn fetch(
    kind: RepoType,
    repo: &str,
    revision: &str,
    select: impl Fn(&[String]) -> Vec<String>,
    progress: bool,
) -> Result<Fetched> {
    let cache = cache_from_env();
    if offline() {
        let snapshot = cached_snapshot(&cache, kind, repo, revision)?;
        return Ok(Fetched {
            snapshot,
            commit: None,
            files: Vec::new(),
        });
    }
    let net = |e: ApiError| hub_error(kind, repo, revision, e);
    let api = api()?;
    let handle = api.repo(Repo::with_revision(
        repo.to_string(),
        kind,
        revision.to_string(),
    ));
    let info = handle.info().map_err(net)?;
    let listing: Vec<String> = info.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let files = select(&listing);
    if files.is_empty() {
        return Err(Error::input(format!(
            "`{repo}` at `{revision}` has no files to fetch (expected data or model files)"
        )));
    }
    // Pin the commit so every file comes from the same snapshot.
    let pinned = Repo::with_revision(repo.to_string(), kind, info.sha.clone());
    let remote = api.repo(pinned.clone());
    let local = cache.repo(pinned);
    // One process at a time per repository (Slurm array tasks sharing a cache): the others wait
    // here and then find the files there. hf-hub's own lock per file gives up after 5 s.
    let _lock = lock_repo(&cache, kind, repo)?;
    for f in &files {
        if local.get(f).is_some() {
            continue;
        }
        let bar = if progress {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        remote.download_with_progress(f, Bar(bar)).map_err(net)?;
    }
    // Record the requested revision (e.g. `main`) as pointing at this commit.
    cache
        .repo(Repo::with_revision(
            repo.to_string(),
            kind,
            revision.to_string(),
        ))
        .create_ref(&info.sha)
        .map_err(|e| Error::io("writing the cache ref", e))?;
    Ok(Fetched {
        snapshot: cache
            .path()
            .join(folder(kind, repo))
            .join("snapshots")
            .join(&info.sha),
        commit: Some(info.sha),
        files,
    })
}

/// Fetches a dataset's data files by short name (see [`hub_dataset`]).
pub fn fetch_dataset(name: &str, revision: Option<&str>, progress: bool) -> Result<Fetched> {
    let d = hub_dataset(name)?;
    let rev = revision.unwrap_or(d.revision);
    let select = |all: &[String]| -> Vec<String> {
        all.iter()
            .filter(|f| is_data_file(d.name, f))
            .cloned()
            .collect()
    };
    fetch(RepoType::Dataset, d.repo, rev, select, progress)
}

/// Fetches a model's config, tokenizer and safetensors weights (`pytorch_model.bin` only when
/// the repository has no safetensors).
pub fn fetch_model(id: &str, revision: Option<&str>, progress: bool) -> Result<Fetched> {
    let select = |all: &[String]| -> Vec<String> {
        let has_safetensors = all
            .iter()
            .any(|f| is_model_file(f) && f.ends_with(".safetensors"));
        all.iter()
            .filter(|f| is_model_file(f) || (!has_safetensors && *f == "pytorch_model.bin"))
            .cloned()
            .collect()
    };
    fetch(
        RepoType::Model,
        id,
        revision.unwrap_or("main"),
        select,
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_folder_names_its_commit() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let snap = PathBuf::from("hub/datasets--a--b/snapshots").join(commit);
        assert_eq!(snapshot_commit(&snap), Some(commit.to_string()));
        assert_eq!(snapshot_commit(Path::new("data/imdb")), None);
        assert_eq!(snapshot_commit(Path::new("snapshots/main")), None);
    }

    #[test]
    fn data_and_model_files_are_selected_by_name() {
        assert!(is_data_file(
            "imdb",
            "plain_text/train-00000-of-00001.parquet"
        ));
        assert!(!is_data_file(
            "imdb",
            "plain_text/unsupervised-00000-of-00001.parquet"
        ));
        assert!(!is_data_file("imdb", "README.md"));
        assert!(is_data_file("hate_speech18", "data.zip"));
        assert!(!is_data_file("imdb", "data.zip"));
        assert!(is_model_file("model.safetensors"));
        assert!(is_model_file("model-00001-of-00002.safetensors"));
        assert!(is_model_file("tokenizer.json"));
        assert!(!is_model_file("onnx/model.onnx"));
        assert!(!is_model_file("pytorch_model.bin"));
    }

    #[test]
    fn names_map_to_hub_repositories() {
        assert_eq!(hub_dataset("celeba").unwrap().repo, "flwrlabs/celeba");
        assert_eq!(
            hub_dataset("yahoo").unwrap().repo,
            "community-datasets/yahoo_answers_topics"
        );
        assert_eq!(hub_dataset("fancyzhx/ag_news").unwrap().name, "ag_news");
        assert_eq!(hub_dataset("hate-speech18").unwrap().name, "hate_speech18");
        assert!(matches!(hub_dataset("mnist"), Err(Error::Input(_))));
        // Pinned where a commit is known, else `main`.
        let revision = |name| hub_dataset(name).unwrap().revision;
        assert_eq!(revision("imdb"), "e6281661ce1c48d982bc483cf8a173c1bbeb5d31");
        assert_eq!(
            revision("agnews"),
            "eb185aade064a813bc0b7f42de02595523103ca4"
        );
        assert_eq!(
            revision("celeba"),
            "2d738f56e0e7f925ea36ae7c808ea925264aacec"
        );
        assert_eq!(revision("yahoo"), "main");
        assert_eq!(revision("hate_speech18"), "main");
    }

    #[test]
    fn a_commit_revision_is_looked_up_directly() {
        let dir = tempfile::tempdir().unwrap();
        let commit = "89abcdef0123456789abcdef0123456789abcdef";
        let snap = dir
            .path()
            .join("datasets--fancyzhx--ag_news/snapshots")
            .join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let found = cached_snapshot(&cache, RepoType::Dataset, "fancyzhx/ag_news", commit);
        assert_eq!(found.unwrap(), snap);
        // `main` has no ref yet: not cached.
        assert!(cached_snapshot(&cache, RepoType::Dataset, "fancyzhx/ag_news", "main").is_err());
    }
}
