//! The data-sharing protocol of the paper's §4 (issue 6 §2).
//!
//! For a data seed: a seeded 80/20 train/test split of the people, shared by every task and
//! both settings. The training people are shuffled (same seed) and cut into `scale` blocks of
//! `n_train / scale` people (the remainder is unused, as in the authors' code):
//! - `fixed`: every task trains on the same block, chosen at random;
//! - `disjoint`: task i trains on block `perm[i]` of a random permutation of the blocks, so the
//!   tasks' training sets are pairwise disjoint and of equal size.
//!
//! All randomness comes from ChaCha8 generators seeded with the data seed (one stream per use),
//! so a data seed reproduces the split and the blocks exactly.

use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{InputError, Result};

/// Share of the people held out for testing.
pub const TEST_FRACTION: f64 = 0.2;

/// Generator streams, so that the split, the shuffle of the training people and the choice of
/// blocks draw independent numbers from one data seed.
const SPLIT_STREAM: u64 = 1;
const SHUFFLE_STREAM: u64 = 2;
const BLOCK_STREAM: u64 = 3;

/// Whether the tasks share their training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// Every task trains on the very same block of people.
    Fixed,
    /// Each task trains on a different block of people.
    Disjoint,
}

impl Setting {
    /// Both settings, fixed first.
    pub const ALL: [Setting; 2] = [Setting::Fixed, Setting::Disjoint];

    /// `fixed` or `disjoint`.
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Fixed => "fixed",
            Setting::Disjoint => "disjoint",
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// The people of one data seed: who trains and who is tested. Indices are person rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training people, in the seeded shuffled order that blocks are cut from.
    pub train: Vec<usize>,
    /// Test people, ascending.
    pub test: Vec<usize>,
}

/// The seeded 80/20 split of `n` people: `round(0.2 n)` test people (at least one when n ≥ 2).
pub fn split(n: usize, data_seed: u64) -> Split {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng(data_seed, SPLIT_STREAM));
    let n_test = ((n as f64 * TEST_FRACTION).round() as usize).clamp(usize::from(n >= 2), n);
    let mut test = order[..n_test].to_vec();
    test.sort_unstable();
    let mut train = order[n_test..].to_vec();
    train.sort_unstable();
    train.shuffle(&mut rng(data_seed, SHUFFLE_STREAM));
    Split { train, test }
}

/// The training people of each of `k` tasks at `scale` under `setting`.
///
/// Errors (bad input): `scale` of 0, a scale giving empty blocks, or `disjoint` with fewer
/// blocks than tasks.
pub fn training_sets(
    split: &Split,
    k: usize,
    scale: usize,
    setting: Setting,
    data_seed: u64,
) -> Result<Vec<Vec<usize>>> {
    let n = split.train.len();
    if scale == 0 || n / scale == 0 {
        return Err(InputError::new(format!(
            "scale {scale} cuts {n} training people into empty blocks; use 1 <= scale <= {n} \
             (and {k} <= scale for disjoint training sets)"
        ))
        .at_key("protocol.scales")
        .into());
    }
    if setting == Setting::Disjoint && scale < k {
        return Err(InputError::new(format!(
            "disjoint training sets for {k} tasks need at least {k} blocks; scale {scale} is too \
             small (use {k} <= scale <= {n})"
        ))
        .at_key("protocol.scales")
        .into());
    }
    let len = n / scale;
    let block = |b: usize| split.train[b * len..(b + 1) * len].to_vec();
    let mut r = rng(data_seed, BLOCK_STREAM);
    Ok(match setting {
        Setting::Fixed => {
            let b = r.gen_range(0..scale);
            vec![block(b); k]
        }
        Setting::Disjoint => {
            let mut perm: Vec<usize> = (0..scale).collect();
            perm.shuffle(&mut r);
            perm[..k].iter().map(|&b| block(b)).collect()
        }
    })
}

/// One trial of the study: a learner trained per task under one setting, scale and seed pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Trial {
    /// The learner's name.
    pub learner: String,
    /// Fixed or disjoint.
    pub setting: Setting,
    /// Number of blocks the training people are cut into.
    pub scale: usize,
    /// Seed of the split and the blocks.
    pub data_seed: u64,
    /// Seed of the models' own randomness.
    pub model_seed: u64,
}

impl Trial {
    /// The failure table's system name, e.g. `gc/logistic/fixed/scale=5/d0/m0`.
    pub fn system_name(&self, dataset: &str) -> String {
        format!(
            "{dataset}/{}/{}/scale={}/d{}/m{}",
            self.learner, self.setting, self.scale, self.data_seed, self.model_seed
        )
    }
}

/// Every trial of a grid: learners × settings × scales × data seeds × model seeds.
pub fn trials(
    learners: &[String],
    scales: &[usize],
    data_seeds: &[u64],
    model_seeds: &[u64],
) -> Vec<Trial> {
    let mut out = Vec::new();
    for learner in learners {
        for &setting in &Setting::ALL {
            for &scale in scales {
                for &data_seed in data_seeds {
                    for &model_seed in model_seeds {
                        out.push(Trial {
                            learner: learner.clone(),
                            setting,
                            scale,
                            data_seed,
                            model_seed,
                        });
                    }
                }
            }
        }
    }
    out
}
