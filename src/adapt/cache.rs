//! The probe feature cache: a frozen backbone's features of the examples a cell uses, computed
//! once and kept in a safetensors file (tensor `features` [n, hidden], f32) named by the SHA-256
//! of what decides them — the model's files (config, weights, tokenizer), the distinct inputs in
//! a canonical order ([`ExampleUnion`]) and the preprocessing. Which split an example is in is
//! not part of the key, so every seed, epoch and task with the same inputs reuses the file, also
//! when each training seed cuts the same examples into train and test differently
//! (HateSpeech18's `split_seed = "seed"`).
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
use crate::failures::write::move_aside;

static BACKBONE_EXAMPLES: AtomicU64 = AtomicU64::new(0);

/// Examples per backbone pass when the trainer fills the cache. Fixed rather than the training
/// batch size so that a file's contents depend only on its key — a batch's shape (its rows and
/// its padded length) can move a feature's last bits through the gemm's blocking — whichever
/// cell fills it first; and larger than the usual training batch (8 in the paper's language
/// runs), since an inference pass keeps no activations for a backward pass.
pub const FEATURE_BATCH: usize = 64;

/// One lock per cache file, shared by this process's workers: when two cells that need the same
/// features start at once, the second waits for the first and then reads its file instead of
/// pushing the examples through the backbone again. Other processes (Slurm array tasks sharing
/// the run folder, `--devices` workers) are kept out by the file lock of
/// [`FeatureCache::lock_path`].
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

/// How [`FeatureCache::fill`] obtained its features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    /// The file was there (or another worker of this process had just written it).
    Read,
    /// The file was written meanwhile by another process, which this one waited for.
    ByAnotherProcess,
    /// Pushed through the backbone here, and written.
    Computed,
}

/// A folder of cached feature files.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
    concurrent: bool,
}

impl FeatureCache {
    /// A cache in `dir` (created on first write) that fills one batch at a time.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FeatureCache {
            dir: dir.into(),
            concurrent: false,
        }
    }

    /// Whether a fill runs its batches concurrently on rayon's threads
    /// ([`crate::models::map_batches`]: the same bits). For a backbone on the CPU: two
    /// concurrent batches filled a 4-layer, 128-wide BERT's cache 15–25% faster on 2 cores and
    /// left larger models' fills as fast as before.
    pub fn with_concurrent_batches(mut self, concurrent: bool) -> Self {
        self.concurrent = concurrent;
        self
    }

    /// The file for `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.safetensors"))
    }

    /// The lock file of `key` (in the cache's `.locks/`): a process filling `key` holds an
    /// exclusive lock on it, so a process that needs the same features meanwhile waits and
    /// then reads the file rather than computing them again. Lock files stay, as the Hugging
    /// Face cache's do: removing one could let two processes lock different files of one name.
    pub fn lock_path(&self, key: &str) -> PathBuf {
        self.dir.join(".locks").join(format!("{key}.lock"))
    }

    /// The features of `key` (`n` rows) if the cache has them. A file that is not what this
    /// cache writes — unreadable, or without a `features` tensor of `n` rows (the key fixes
    /// `n`, so any other count is damage) — is moved aside (`.corrupt`) with a warning and
    /// reads as absent, so the features are computed again instead of the cell failing.
    fn read(&self, key: &str, n: usize) -> Result<Option<Tensor>> {
        let path = self.path(key);
        if !path.exists() {
            return Ok(None);
        }
        let damage = match candle_core::safetensors::load(&path, &Device::Cpu) {
            Ok(mut t) => match t.remove("features") {
                Some(f) if f.rank() == 2 && f.dim(0).map_err(tensor_error)? == n => {
                    return Ok(Some(f))
                }
                Some(f) => format!("its features have shape {:?}, expected {n} rows", f.dims()),
                None => "it has no `features` tensor".to_string(),
            },
            Err(e) => format!("it cannot be read ({e})"),
        };
        let aside = move_aside(&path).map_err(|e| {
            Error::Runtime(format!(
                "the feature cache file {} is damaged: {damage}; and it cannot be moved aside: {e}",
                path.display()
            ))
        })?;
        super::progress::warn(
            None,
            &format!(
                "the feature cache file {} is damaged: {damage}; it was moved to {} and the \
                 features are computed again",
                path.display(),
                aside.display()
            ),
        );
        Ok(None)
    }

    /// Takes the exclusive lock of `key` (see [`lock_path`](Self::lock_path)), waiting while
    /// another process holds it; released when the file is dropped. Where the file system
    /// cannot lock (some cluster file systems), a warning says so and the fill goes on
    /// unlocked: two processes may then both compute the features, and the file one of them
    /// renames into place last holds the same values.
    fn lock(&self, key: &str) -> Result<Option<std::fs::File>> {
        let path = self.lock_path(key);
        let locks = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(locks)
            .map_err(|e| Error::io(format!("creating {}", locks.display()), e))?;
        match std::fs::File::create(&path).and_then(|f| f.lock().map(|()| f)) {
            Ok(f) => Ok(Some(f)),
            Err(e) => {
                super::progress::warn(
                    None,
                    &format!(
                        "cannot lock {} ({e}); filling the feature cache without a lock, so \
                         another process needing the same features may compute them too",
                        path.display()
                    ),
                );
                Ok(None)
            }
        }
    }

    /// The features [n, hidden] for `key`, one row per example in example order, and how they
    /// were obtained: read from the cache, or computed and then written atomically. Computing
    /// visits the examples in the order `order()` gives (a permutation of 0..n, asked for only
    /// on a miss: e.g. by token length, so that a batch pads little), `batch` at a time:
    /// `compute(indices)` must return [indices.len(), hidden] for those examples, and may be
    /// called from several threads at once (see
    /// [`with_concurrent_batches`](Self::with_concurrent_batches)).
    pub fn fill(
        &self,
        key: &str,
        n: usize,
        batch: usize,
        order: impl FnOnce() -> Result<Vec<usize>>,
        compute: impl Fn(&[usize]) -> Result<Tensor> + Sync,
    ) -> Result<(Tensor, Filled)> {
        self.fill_in_stages(
            key,
            n,
            batch,
            order,
            |indices| Ok(indices.to_vec()),
            |indices| compute(&indices),
        )
    }

    /// [`fill`](Self::fill) with each batch's computation in two stages:
    /// `prepare(indices)` makes the batch's input on the host (tokenizing, decoding images) and
    /// `compute(input)` runs the backbone on it. Batches filled one after another prepare the
    /// next batch's input on a helper thread meanwhile ([`crate::models::map_batches`]).
    pub fn fill_in_stages<P: Send>(
        &self,
        key: &str,
        n: usize,
        batch: usize,
        order: impl FnOnce() -> Result<Vec<usize>>,
        prepare: impl Fn(&[usize]) -> Result<P> + Sync,
        compute: impl Fn(P) -> Result<Tensor> + Sync,
    ) -> Result<(Tensor, Filled)> {
        if n == 0 {
            let none = Tensor::zeros((0, 0), DType::F32, &Device::Cpu).map_err(tensor_error)?;
            return Ok((none, Filled::Read));
        }
        let path = self.path(key);
        let lock = key_lock(&path);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = self.read(key, n)? {
            return Ok((f, Filled::Read));
        }
        let _filling = self.lock(key)?;
        // Another process may have filled it while this one waited for the lock.
        if let Some(f) = self.read(key, n)? {
            return Ok((f, Filled::ByAnotherProcess));
        }
        let order = order()?;
        if order.len() != n {
            return Err(Error::Runtime(format!(
                "feature cache: the computation order has {} indices for {n} examples",
                order.len()
            )));
        }
        // Each batch's features go straight to their examples' rows: the fill holds its
        // features once (and the batches in flight), and saving writes them without a copy.
        let rows = crate::models::RowsInInputOrder::new(&order)?;
        let pass = |(examples, input): (Vec<usize>, P)| -> Result<()> {
            // Cut from the graph: a batch that still tracked it would keep every activation of
            // its pass alive until the fill ends.
            let f = crate::models::features_to_host(&compute(input)?).map_err(tensor_error)?;
            BACKBONE_EXAMPLES.fetch_add(examples.len() as u64, Ordering::Relaxed);
            rows.place(&examples, &f)
        };
        let with_examples = |examples: &[usize]| Ok((examples.to_vec(), prepare(examples)?));
        crate::models::map_batches(&order, batch, self.concurrent, with_examples, pass)?;
        let features = rows.finish()?;
        save_atomically(&[("features", &features)], &path)?;
        Ok((features, Filled::Computed))
    }
}

/// The distinct examples of several splits in a canonical order — sorted by their identity (an
/// example's id and input), whatever split each is in and whatever order the splits list them —
/// and where each split's examples sit in it. Two cells that use the same examples share one
/// union, so one cache file, even when their splits cut those examples differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleUnion {
    /// `(split, index in that split)` of one occurrence of each distinct example, in union order.
    pub members: Vec<(usize, usize)>,
    /// For each split, the union row of each of its examples, in the split's order.
    pub rows: Vec<Vec<u32>>,
}

impl ExampleUnion {
    /// The union of `splits`, each a list of example identities (equal identities are one
    /// example, computed once).
    pub fn new<K: Ord>(splits: &[Vec<K>]) -> Self {
        let mut all: Vec<(&K, usize, usize)> = splits
            .iter()
            .enumerate()
            .flat_map(|(s, keys)| keys.iter().enumerate().map(move |(i, k)| (k, s, i)))
            .collect();
        all.sort();
        let mut members = Vec::new();
        let mut rows: Vec<Vec<u32>> = splits.iter().map(|k| vec![0; k.len()]).collect();
        for (place, &(key, s, i)) in all.iter().enumerate() {
            let new = place == 0 || all[place - 1].0 != key;
            if new {
                members.push((s, i));
            }
            rows[s][i] = (members.len() - 1) as u32;
        }
        ExampleUnion { members, rows }
    }

    /// Split `s`'s rows of `union_rows` (one row per member, in union order), in the split's
    /// order.
    pub fn split_rows(&self, union_rows: &Tensor, s: usize) -> Result<Tensor> {
        let rows = &self.rows[s];
        if rows.is_empty() {
            let width = union_rows.dims().get(1).copied().unwrap_or(0);
            return Tensor::zeros((0, width), union_rows.dtype(), union_rows.device())
                .map_err(tensor_error);
        }
        Tensor::from_slice(rows, rows.len(), union_rows.device())
            .and_then(|idx| union_rows.index_select(&idx, 0))
            .map_err(tensor_error)
    }
}

/// Writes named tensors to a safetensors file through a temporary name and a rename.
pub fn save_atomically(tensors: &[(&str, &Tensor)], path: &Path) -> Result<()> {
    crate::failures::write_safetensors(tensors, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row i of the result holds example i's features whatever order computed them, and the
    /// computation saw the examples in that order, `batch` at a time; with concurrent batches
    /// too (the chunks are the same, whichever finishes first).
    #[test]
    fn features_come_back_in_example_order_from_any_computation_order() {
        for concurrent in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let cache = FeatureCache::new(dir.path()).with_concurrent_batches(concurrent);
            let seen = Mutex::new(Vec::new());
            let (f, filled) = cache
                .fill(
                    "k",
                    5,
                    2,
                    || Ok(vec![3, 0, 4, 1, 2]),
                    |idx| {
                        seen.lock().unwrap().push(idx.to_vec());
                        let rows: Vec<f32> = idx.iter().map(|&i| 10.0 * i as f32).collect();
                        Tensor::from_vec(rows, (idx.len(), 1), &Device::Cpu).map_err(tensor_error)
                    },
                )
                .unwrap();
            assert_eq!(filled, Filled::Computed);
            let mut seen = seen.into_inner().unwrap();
            if concurrent {
                seen.sort();
                assert_eq!(seen, vec![vec![2], vec![3, 0], vec![4, 1]]);
            } else {
                assert_eq!(seen, vec![vec![3, 0], vec![4, 1], vec![2]]);
            }
            let rows = f.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(rows, vec![0.0, 10.0, 20.0, 30.0, 40.0]);
            // Read back from the file: the same rows, and the order is not asked for.
            let (again, filled) = cache
                .fill(
                    "k",
                    5,
                    2,
                    || panic!("order asked for on a hit"),
                    |_| panic!("computed on a hit"),
                )
                .unwrap();
            assert_eq!(filled, Filled::Read);
            assert_eq!(again.flatten_all().unwrap().to_vec1::<f32>().unwrap(), rows);
        }
    }

    /// Features computed from trainable variables come back cut from their graph: the cache
    /// keeps values, not every activation of the passes that computed them.
    #[test]
    fn cached_features_do_not_keep_the_graph_that_computed_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        let w = candle_core::Var::new(&[2f32], &Device::Cpu).unwrap();
        let (f, _) = cache
            .fill(
                "graph",
                3,
                2,
                || Ok(vec![0, 1, 2]),
                |idx| {
                    let x: Vec<f32> = idx.iter().map(|&i| i as f32).collect();
                    let x = Tensor::from_vec(x, (idx.len(), 1), &Device::Cpu).unwrap();
                    let y = x.broadcast_mul(w.as_tensor()).map_err(tensor_error)?;
                    assert!(y.track_op());
                    Ok(y)
                },
            )
            .unwrap();
        assert!(!f.track_op());
        assert_eq!(
            f.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 2.0, 4.0]
        );
    }

    /// Worked by hand: splits [b, a] and [c, a] hold the distinct examples a, b, c; the shared
    /// `a` is one member (its first occurrence, split 0 index 1), and each split's rows point
    /// into that order. Another cut of the same examples gives the same members' keys.
    #[test]
    fn a_union_is_the_sorted_distinct_examples_whatever_the_cut() {
        let u = ExampleUnion::new(&[vec!["b", "a"], vec!["c", "a"]]);
        assert_eq!(u.members, vec![(0, 1), (0, 0), (1, 0)]);
        assert_eq!(u.rows, vec![vec![1, 0], vec![2, 0]]);
        let other = ExampleUnion::new(&[vec!["c"], vec!["a", "b"], vec![]]);
        assert_eq!(other.members, vec![(1, 0), (1, 1), (0, 0)]);
        assert_eq!(other.rows, vec![vec![2], vec![0, 1], vec![]]);

        let union_rows =
            Tensor::from_vec(vec![0f32, 1., 10., 11., 20., 21.], (3, 2), &Device::Cpu).unwrap();
        let split = |s| {
            other
                .split_rows(&union_rows, s)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        assert_eq!(split(0), vec![vec![20., 21.]]);
        assert_eq!(split(1), vec![vec![0., 1.], vec![10., 11.]]);
        assert_eq!(
            other.split_rows(&union_rows, 2).unwrap().dims(),
            &[0usize, 2]
        );
    }

    /// Another process filling the same features holds the key's file lock (here: the lock
    /// taken through a file description of its own, as another process's would be): a fill
    /// waits for it, then reads what that process wrote instead of computing.
    #[test]
    fn a_fill_waits_for_another_process_holding_the_lock_and_reads_its_file() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        let lock_path = cache.lock_path("k");
        std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
        let other = std::fs::File::create(&lock_path).unwrap();
        other.lock().unwrap();

        let computed = Arc::new(AtomicBool::new(false));
        let (filler, flag) = (cache.clone(), computed.clone());
        let waiting = std::thread::spawn(move || {
            filler.fill(
                "k",
                2,
                2,
                || Ok(vec![0, 1]),
                |idx| {
                    flag.store(true, Ordering::SeqCst);
                    Tensor::zeros((idx.len(), 1), DType::F32, &Device::Cpu).map_err(tensor_error)
                },
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!waiting.is_finished(), "the fill did not wait for the lock");
        let theirs = Tensor::new(&[[1f32], [2.]], &Device::Cpu).unwrap();
        save_atomically(&[("features", &theirs)], &cache.path("k")).unwrap();
        drop(other);
        let (f, filled) = waiting.join().unwrap().unwrap();
        assert_eq!(filled, Filled::ByAnotherProcess);
        assert_eq!(f.to_vec2::<f32>().unwrap(), vec![vec![1.], vec![2.]]);
        assert!(!computed.load(Ordering::SeqCst));
    }

    /// A cache file that is not one this cache wrote (garbage bytes, or a safetensors file
    /// whose features have another row count than the key's examples) is moved aside and the
    /// features computed again, not read and not an error.
    #[test]
    fn a_damaged_cache_file_is_set_aside_and_computed_again() {
        let wrong_rows = Tensor::zeros((3, 1), DType::F32, &Device::Cpu).unwrap();
        let wrong_rows = safetensors::serialize([("features", &wrong_rows)], None).unwrap();
        for damage in [b"not a safetensors file".to_vec(), wrong_rows] {
            let dir = tempfile::tempdir().unwrap();
            let cache = FeatureCache::new(dir.path());
            std::fs::write(cache.path("k"), &damage).unwrap();
            let (f, filled) = cache
                .fill(
                    "k",
                    2,
                    2,
                    || Ok(vec![0, 1]),
                    |idx| {
                        let rows: Vec<f32> = idx.iter().map(|&i| 1.0 + i as f32).collect();
                        Tensor::from_vec(rows, (idx.len(), 1), &Device::Cpu).map_err(tensor_error)
                    },
                )
                .unwrap();
            assert_eq!(filled, Filled::Computed);
            assert_eq!(f.to_vec2::<f32>().unwrap(), vec![vec![1.], vec![2.]]);
            let aside = dir.path().join("k.safetensors.corrupt");
            assert_eq!(std::fs::read(aside).unwrap(), damage);
            let (again, filled) = cache
                .fill("k", 2, 2, || panic!("a hit"), |_| panic!("a hit"))
                .unwrap();
            assert_eq!(filled, Filled::Read);
            assert_eq!(again.to_vec2::<f32>().unwrap(), vec![vec![1.], vec![2.]]);
        }
    }

    #[test]
    fn an_order_that_is_not_a_permutation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        for bad in [vec![0, 0, 1], vec![0, 1], vec![0, 1, 3], vec![0, 1, 2, 2]] {
            let r = cache.fill(
                "bad",
                3,
                2,
                || Ok(bad.clone()),
                |idx| Tensor::zeros((idx.len(), 1), DType::F32, &Device::Cpu).map_err(tensor_error),
            );
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
