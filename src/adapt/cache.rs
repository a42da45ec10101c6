//! The probe feature cache: a frozen backbone's features of one dataset split, computed once and
//! kept in a safetensors file (tensor `features` [n, hidden], f32) named by the SHA-256 of what
//! decides them — the model's files (config, weights, tokenizer), the split's inputs in order and
//! the preprocessing. Every seed, epoch and task sharing those reuses the file.
//!
//! [`backbone_examples`] counts the examples this process has pushed through a backbone to fill
//! the cache (tests use it to check that each example is computed once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Tensor};
use sha2::{Digest, Sha256};

use super::tensor_error;
use crate::error::{Error, Result};

static BACKBONE_EXAMPLES: AtomicU64 = AtomicU64::new(0);

/// Examples per backbone pass when the trainer fills the cache. Fixed rather than the training
/// batch size so that a file's contents depend only on its key — a batch's shape (its rows and
/// its padded length) can move a feature's last bits through the gemm's blocking — whichever
/// cell fills it first; and larger than the usual training batch (8 in the paper's language
/// runs), since an inference pass keeps no activations for a backward pass.
pub const FEATURE_BATCH: usize = 64;

/// One lock per cache file, shared by this process's workers: when two cells that need the same
/// features start at once, the second waits for the first and then reads its file instead of
/// pushing the split through the backbone again.
fn key_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks.entry(path.to_path_buf()).or_default().clone()
}

/// Examples that went through a backbone to fill the cache, in this process so far.
pub fn backbone_examples() -> u64 {
    BACKBONE_EXAMPLES.load(Ordering::Relaxed)
}

/// Builds a content key from labelled parts (each length-prefixed, so parts cannot run together).
#[derive(Debug, Clone, Default)]
pub struct CacheKey(Sha256);

impl CacheKey {
    /// An empty key.
    pub fn new() -> Self {
        CacheKey(Sha256::new())
    }

    /// Adds a labelled text part.
    pub fn part(&mut self, label: &str, value: &[u8]) -> &mut Self {
        for p in [label.as_bytes(), value] {
            self.0.update((p.len() as u64).to_le_bytes());
            self.0.update(p);
        }
        self
    }

    /// Adds the bytes of a file.
    pub fn file(&mut self, label: &str, path: &Path) -> Result<&mut Self> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Ok(self.part(label, &bytes))
    }

    /// The hex digest.
    pub fn finish(&self) -> String {
        hex::encode(self.0.clone().finalize())
    }
}

/// A folder of cached feature files.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
}

impl FeatureCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FeatureCache { dir: dir.into() }
    }

    /// The file for `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.safetensors"))
    }

    /// The features [n, hidden] for `key`: read from the cache, or computed batch by batch with
    /// `compute(start, len)` (which must return [len, hidden]) over `n` examples in `batch`
    /// steps, then written atomically.
    pub fn features(
        &self,
        key: &str,
        n: usize,
        batch: usize,
        mut compute: impl FnMut(usize, usize) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if n == 0 {
            return Tensor::zeros((0, 0), DType::F32, &Device::Cpu).map_err(tensor_error);
        }
        let path = self.path(key);
        let lock = key_lock(&path);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        if path.exists() {
            let mut t = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| {
                Error::Runtime(format!("reading feature cache {}: {e}", path.display()))
            })?;
            if let Some(f) = t.remove("features") {
                if f.dim(0).map_err(tensor_error)? == n {
                    return Ok(f);
                }
            }
        }
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            let f = compute(start, len)?
                .to_dtype(DType::F32)
                .and_then(|f| f.to_device(&Device::Cpu))
                .map_err(tensor_error)?;
            BACKBONE_EXAMPLES.fetch_add(len as u64, Ordering::Relaxed);
            chunks.push(f);
            start += len;
        }
        // `cat` of a single chunk returns it as is, which can be a strided view (the first
        // token of each sequence); later row gathers need contiguous storage.
        let features = Tensor::cat(&chunks, 0)
            .and_then(|f| f.contiguous())
            .map_err(tensor_error)?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating {}", self.dir.display()), e))?;
        save_atomically(&[("features", &features)], &path)?;
        Ok(features)
    }
}

/// Writes named tensors to a safetensors file through a temporary name and a rename.
pub fn save_atomically(tensors: &[(&str, &Tensor)], path: &Path) -> Result<()> {
    crate::failures::write_safetensors(tensors, path)
}
