//! Finding a model's files (a local folder, the Hugging Face cache, or the Hub through hf-hub's
//! synchronous API) and loading its weights into a [`ParamStore`] by transformers' names.
//!
//! A model id resolves from the Hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`:
//! `models--org--name/snapshots/<commit>/`, the commit found through `refs/<revision>` or given
//! as a 40-hex revision) without contacting the network; what the cache lacks is downloaded
//! (config, tokenizer and weights, all of one commit; `crate::data::hub::fetch_model`) unless
//! `HF_HUB_OFFLINE` is set (`1`/`true`/`yes`). Weights: `model.safetensors`,
//! sharded safetensors (`model.safetensors.index.json`), or `pytorch_model.bin` only with
//! `allow_pickle`, since unpickling untrusted files is unsafe.

use candle_core::{Device, Tensor};
use hf_hub::{Cache, RepoType};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::params::{candle_err, ParamStore};
use crate::data::hub::{cache_from_env, cached_snapshot, fetch_model, offline};
use crate::error::{Error, InputError, Result};

/// Where a model's weights are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFiles {
    /// One or more safetensors files (one, or the shards of an index).
    Safetensors(Vec<PathBuf>),
    /// A PyTorch pickle (`pytorch_model.bin`).
    Pickle(PathBuf),
}

/// The files of one model.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// The weights.
    pub weights: WeightFiles,
    /// `tokenizer.json`, when the model has one.
    pub tokenizer: Option<PathBuf>,
    /// `tokenizer_config.json`, when present.
    pub tokenizer_config: Option<PathBuf>,
    /// The snapshot's commit or the requested revision, for manifests; `None` for a local folder.
    pub revision: Option<String>,
}

/// Options for [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// A branch, tag or commit; `main` when absent.
    pub revision: Option<String>,
    /// Accept `pytorch_model.bin` (a pickle) when there are no safetensors.
    pub allow_pickle: bool,
    /// Show a progress bar while downloading.
    pub progress: bool,
}

/// Finds the files of `model`: an existing folder, a Hub model id, or a shipped model card's
/// name (`roberta-base`: its Hub model at its pinned commit, see [`super::card::hub_ref`]); a
/// Hub model comes from the cache, downloaded into it first when missing and `HF_HUB_OFFLINE`
/// is not set. The files' `revision` is then the snapshot's commit, so manifests name exactly
/// what was loaded.
pub fn resolve(model: &str, opts: &ResolveOptions) -> Result<ModelFiles> {
    let path = Path::new(model);
    if path.is_dir() {
        return from_folder(path, opts.allow_pickle, None);
    }
    if path.exists()
        || model.starts_with('.')
        || model.starts_with('/')
        || model.split('/').count() > 2
    {
        return Err(
            InputError::new("expected a model folder or a Hub id like `org/name`")
                .in_file(path)
                .into(),
        );
    }
    // A shipped card's name stands for its Hub model at the pinned commit.
    let (hub_id, revision) = super::card::hub_ref(model, opts.revision.as_deref());
    let model = hub_id.as_str();
    let cache = cache_from_env();
    match from_cache(&cache, model, &revision, opts.allow_pickle) {
        Ok(files) => Ok(files),
        Err(e) if offline() => Err(e),
        // Missing, or a snapshot an interrupted download left without its weights: the fetch
        // downloads only what is not there yet. When a snapshot was there and the Hub cannot be
        // reached, what is wrong with the snapshot is the more useful error.
        Err(e) => match fetch_model(model, Some(&revision), opts.progress) {
            Ok(fetched) => from_folder(&fetched.snapshot, opts.allow_pickle, fetched.commit),
            Err(_) if cached_snapshot(&cache, RepoType::Model, model, &revision).is_ok() => Err(e),
            Err(fetch_error) => Err(fetch_error),
        },
    }
}

/// Resolves `model_id` at `revision` inside a Hub-layout cache folder, without network.
pub fn from_cache(
    cache: &Cache,
    model_id: &str,
    revision: &str,
    allow_pickle: bool,
) -> Result<ModelFiles> {
    let snapshot = cached_snapshot(cache, RepoType::Model, model_id, revision)?;
    let commit = snapshot
        .file_name()
        .map(|c| c.to_string_lossy().into_owned());
    from_folder(&snapshot, allow_pickle, commit)
}

/// Reads a local model folder.
pub fn from_folder(dir: &Path, allow_pickle: bool, revision: Option<String>) -> Result<ModelFiles> {
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(InputError::new("model folder has no config.json")
            .in_file(dir)
            .into());
    }
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let pickle = dir.join("pytorch_model.bin");
    let weights = if single.is_file() {
        WeightFiles::Safetensors(vec![single])
    } else if index.is_file() {
        let shards: Vec<PathBuf> = shard_names(&index)?.iter().map(|n| dir.join(n)).collect();
        if let Some(missing) = shards.iter().find(|p| !p.is_file()) {
            return Err(InputError::new(format!(
                "a weight shard that {} lists is missing (an interrupted download? `homogen \
                 fetch model` completes it)",
                index.display()
            ))
            .in_file(missing)
            .into());
        }
        WeightFiles::Safetensors(shards)
    } else if pickle.is_file() {
        if !allow_pickle {
            return Err(InputError::new(
                "only pytorch_model.bin (a pickle, unsafe to load from untrusted sources) found; pass --allow-pickle to load it",
            )
            .in_file(&pickle)
            .into());
        }
        WeightFiles::Pickle(pickle)
    } else {
        return Err(InputError::new(
            "no weights: expected model.safetensors, model.safetensors.index.json or pytorch_model.bin",
        )
        .in_file(dir)
        .into());
    };
    let opt = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    Ok(ModelFiles {
        config,
        weights,
        tokenizer: opt("tokenizer.json"),
        tokenizer_config: opt("tokenizer_config.json"),
        revision,
    })
}

/// The distinct shard file names of a `model.safetensors.index.json`, in first-use order.
fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index)
        .map_err(|e| Error::io(format!("reading {}", index.display()), e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| InputError::new(format!("not valid JSON: {e}")).in_file(index))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| {
            InputError::new("missing `weight_map`")
                .in_file(index)
                .at_key("weight_map")
        })?;
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for file in map.values() {
        let file = file.as_str().ok_or_else(|| {
            InputError::new("weight_map values must be file names").in_file(index)
        })?;
        if file.contains('/') || file.contains("..") {
            return Err(
                InputError::new(format!("shard name `{file}` leaves the model folder"))
                    .in_file(index)
                    .into(),
            );
        }
        if seen.insert(file.to_string()) {
            names.push(file.to_string());
        }
    }
    Ok(names)
}

/// What loading matched, besides the tensors that loaded cleanly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Head parameters absent from the checkpoint (to be initialised).
    pub missing_head: Vec<String>,
    /// Tensors in the checkpoint that the model does not use (e.g. a pooler, a text tower).
    pub unexpected: Vec<String>,
    /// Whether the checkpoint's keys carried the backbone prefix (`roberta.`, `vision_model.`).
    pub prefixed: bool,
}

/// Reads every tensor of the weight files, by checkpoint key, remembering which file held it.
pub fn read_tensors(weights: &WeightFiles) -> Result<BTreeMap<String, (Tensor, PathBuf)>> {
    let mut out = BTreeMap::new();
    match weights {
        WeightFiles::Safetensors(files) => {
            for file in files {
                let bytes = std::fs::read(file)
                    .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
                let tensors =
                    candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| {
                        InputError::new(format!("not a valid safetensors file: {e}")).in_file(file)
                    })?;
                for (k, t) in tensors {
                    out.insert(k, (t, file.clone()));
                }
            }
        }
        WeightFiles::Pickle(file) => {
            let tensors = candle_core::pickle::read_all(file).map_err(|e| {
                InputError::new(format!("not a readable PyTorch checkpoint: {e}")).in_file(file)
            })?;
            for (k, t) in tensors {
                out.insert(k, (t, file.clone()));
            }
        }
    }
    Ok(out)
}

/// Copies checkpoint tensors into `store`. Keys may carry `backbone_prefix` or not; head
/// parameters (`head_prefix.*`) may be missing and are reported; a missing backbone tensor or a
/// shape mismatch is an input error naming the tensor and file.
pub fn load_into(
    store: &ParamStore,
    weights: &WeightFiles,
    backbone_prefix: &str,
    head_prefix: &str,
) -> Result<LoadReport> {
    let mut tensors = read_tensors(weights)?;
    let p = format!("{backbone_prefix}.");
    let prefixed = tensors.keys().any(|k| k.starts_with(&p));
    let described = match weights {
        WeightFiles::Safetensors(f) => f.first().cloned().unwrap_or_default(),
        WeightFiles::Pickle(f) => f.clone(),
    };
    let mut report = LoadReport {
        prefixed,
        ..LoadReport::default()
    };
    for param in store.iter() {
        let name = param.name();
        let key = match name.strip_prefix(&p) {
            Some(rest) if !prefixed => rest.to_string(),
            _ => name.to_string(),
        };
        let Some((t, file)) = tensors.remove(&key) else {
            if name.starts_with(&format!("{head_prefix}.")) {
                report.missing_head.push(name.to_string());
                continue;
            }
            let hint = match key.starts_with(crate::models::clip_vit::PROJECTION) {
                true => {
                    "; features = \"projected\" needs a checkpoint with CLIP's visual \
                     projection (CLIPModel or CLIPVisionModelWithProjection)"
                }
                false => "",
            };
            return Err(InputError::new(format!(
                "missing tensor `{key}` (model parameter `{name}`){hint}"
            ))
            .in_file(&described)
            .into());
        };
        if t.dims() != param.var().dims() {
            return Err(InputError::new(format!(
                "tensor `{key}` has shape {:?}, expected {:?}",
                t.dims(),
                param.var().dims()
            ))
            .in_file(&file)
            .into());
        }
        let t = t
            .to_dtype(store.storage_dtype())
            .and_then(|t| t.to_device(store.device()))
            .map_err(candle_err)?;
        param.var().set(&t).map_err(candle_err)?;
    }
    report.unexpected = tensors.into_keys().collect();
    Ok(report)
}
