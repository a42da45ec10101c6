//! Seeded, stratified splits and subsets, and the record of which ids were chosen.
//!
//! - [`stratified_holdout`] cuts one split into train/test (HateSpeech18's 80/20): within each
//!   stratum (a label, or the tuple of labels when there are several tasks) the members are
//!   shuffled with `ChaCha8Rng::seed_from_u64(seed)` and the first `round(n_stratum * fraction)`
//!   go to test. Strata are visited in sorted order, so the cut depends only on the seed and the
//!   examples' order in the files.
//! - [`stratified_sample`] keeps at most `max` examples of a split with the label balance of the
//!   whole split: each stratum gets `floor(max * n_s / N)` places, the remaining places go to the
//!   strata with the largest remainders (ties: sorted stratum order), and the members are drawn
//!   the same seeded way. Chosen examples keep their file order.
//! - [`SplitRecord`] lists the ids of every split; a run writes it so that every seed and method
//!   sees the same people.

use std::collections::BTreeMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::example::{Dataset, Split};
use crate::error::{Error, InputError, Result};

/// Indices of each stratum, strata in sorted order.
fn strata(keys: &[String]) -> BTreeMap<&str, Vec<usize>> {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        by.entry(k.as_str()).or_default().push(i);
    }
    by
}

/// For each position, whether it goes to the held-out (test) part; see the module docs.
pub fn stratified_holdout(keys: &[String], fraction: f64, seed: u64) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut test = vec![false; keys.len()];
    for (_, mut members) in strata(keys) {
        let n_test = (members.len() as f64 * fraction).round() as usize;
        members.shuffle(&mut rng);
        for &i in members.iter().take(n_test) {
            test[i] = true;
        }
    }
    test
}

/// The sorted positions of at most `max` examples, stratified by key; see the module docs.
pub fn stratified_sample(keys: &[String], max: usize, seed: u64) -> Vec<usize> {
    let n = keys.len();
    if max >= n {
        return (0..n).collect();
    }
    let groups: Vec<(&str, Vec<usize>)> = strata(keys).into_iter().collect();
    // Largest-remainder allocation: quota_s = max * n_s / N.
    let mut places: Vec<usize> = groups.iter().map(|(_, m)| max * m.len() / n).collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    // Remainder of max * n_s / N is (max * n_s) % N; larger first, then stratum order.
    order.sort_by_key(|&s| std::cmp::Reverse((max * groups[s].1.len()) % n));
    let mut left = max - places.iter().sum::<usize>();
    for s in order {
        if left == 0 {
            break;
        }
        places[s] += 1;
        left -= 1;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = Vec::with_capacity(max);
    for ((_, members), k) in groups.into_iter().zip(places) {
        let mut members = members;
        members.shuffle(&mut rng);
        chosen.extend(members.into_iter().take(k));
    }
    chosen.sort_unstable();
    chosen
}

/// The stratum key of an example: its labels joined with `,`.
pub fn label_key(labels: &[i64]) -> String {
    labels
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Keeps at most `max` examples of `split` (stratified by all task labels, seeded); the other
/// splits are untouched.
pub fn subset_split(dataset: &mut Dataset, split: Split, max: usize, seed: u64) {
    let positions: Vec<usize> = (0..dataset.examples.len())
        .filter(|&i| dataset.examples[i].split == split)
        .collect();
    let keys: Vec<String> = positions
        .iter()
        .map(|&i| label_key(&dataset.examples[i].labels))
        .collect();
    let keep: std::collections::HashSet<usize> = stratified_sample(&keys, max, seed)
        .into_iter()
        .map(|j| positions[j])
        .collect();
    let mut i = 0;
    dataset.examples.retain(|e| {
        let kept = e.split != split || keep.contains(&i);
        i += 1;
        kept
    });
}

/// Moves a seeded, stratified `fraction` of the `from` split's examples to `to`.
pub fn holdout_split(dataset: &mut Dataset, from: Split, to: Split, fraction: f64, seed: u64) {
    let positions: Vec<usize> = (0..dataset.examples.len())
        .filter(|&i| dataset.examples[i].split == from)
        .collect();
    let keys: Vec<String> = positions
        .iter()
        .map(|&i| label_key(&dataset.examples[i].labels))
        .collect();
    for (j, held) in stratified_holdout(&keys, fraction, seed)
        .into_iter()
        .enumerate()
    {
        if held {
            dataset.examples[positions[j]].split = to;
        }
    }
}

/// The ids of every split of a loaded (and possibly subset) dataset, to record in a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    /// The dataset's name.
    pub dataset: String,
    /// Split name -> example ids, in order.
    pub splits: BTreeMap<String, Vec<String>>,
}

impl SplitRecord {
    /// The record of a dataset as it is now.
    pub fn of(dataset: &Dataset) -> Self {
        let mut splits: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &dataset.examples {
            splits
                .entry(e.split.as_str().to_string())
                .or_default()
                .push(e.example_id.clone());
        }
        SplitRecord {
            dataset: dataset.name.clone(),
            splits,
        }
    }

    /// Makes a dataset follow this record: keeps exactly the listed examples, each in the
    /// split the record gives, in the record's order within each split. An id the dataset lacks
    /// is an input error (the record belongs to other data).
    pub fn apply(&self, dataset: &mut Dataset) -> Result<()> {
        if self.dataset != dataset.name {
            return Err(Error::input(format!(
                "the split record is for dataset `{}`, not `{}`",
                self.dataset, dataset.name
            )));
        }
        let mut by_id: std::collections::HashMap<String, super::example::Example> = dataset
            .examples
            .drain(..)
            .map(|e| (e.example_id.clone(), e))
            .collect();
        let mut kept = Vec::new();
        for split in Split::ALL {
            for id in self.splits.get(split.as_str()).into_iter().flatten() {
                let mut e = by_id.remove(id).ok_or_else(|| {
                    Error::input(format!(
                        "the split record lists example `{id}` ({split}), which dataset `{}` \
                         does not have",
                        self.dataset
                    ))
                })?;
                e.split = split;
                kept.push(e);
            }
        }
        for name in self.splits.keys() {
            if Split::parse(name).is_none() {
                return Err(Error::input(format!(
                    "unknown split `{name}` in the split record"
                )));
            }
        }
        dataset.examples = kept;
        Ok(())
    }

    /// Writes the record as pretty JSON (to a temporary name, then renamed).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Runtime(format!("serialising the split record: {e}")))?;
        crate::failures::write_atomically(path, |w| {
            std::io::Write::write_all(w, text.as_bytes())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        })
    }

    /// Reads a record written by [`SplitRecord::write`].
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(format!("cannot read the split record: {e}")).in_file(path)
        })?;
        serde_json::from_str(&text).map_err(|e| {
            InputError::new(format!(
                "not a split record (JSON with `dataset`, `splits`): {e}"
            ))
            .in_file(path)
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_keeps_label_balance() {
        // 6 of class a, 3 of class b, 1 of class c; max 5: quotas 5*6/10 = 3.0, 5*3/10 = 1.5,
        // 5*1/10 = 0.5 -> floors 3, 1, 0 (sum 4); remainders 0, 5, 5 -> b gets the spare place
        // (tie with c broken by stratum order) -> a 3, b 2, c 0.
        let keys: Vec<String> = "aaaaaabbbc".chars().map(|c| c.to_string()).collect();
        let chosen = stratified_sample(&keys, 5, 7);
        let count = |k: &str| chosen.iter().filter(|&&i| keys[i] == k).count();
        assert_eq!((count("a"), count("b"), count("c")), (3, 2, 0));
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(chosen, stratified_sample(&keys, 5, 7));
    }

    #[test]
    fn holdout_takes_a_rounded_fraction_of_each_stratum() {
        // 10 of a -> round(2.0) = 2 held out; 7 of b -> round(1.4) = 1; 3 of c -> round(0.6) = 1.
        let keys: Vec<String> = std::iter::repeat_n("a", 10)
            .chain(std::iter::repeat_n("b", 7))
            .chain(std::iter::repeat_n("c", 3))
            .map(String::from)
            .collect();
        let test = stratified_holdout(&keys, 0.2, 0);
        let held = |k: &str| (0..keys.len()).filter(|&i| test[i] && keys[i] == k).count();
        assert_eq!((held("a"), held("b"), held("c")), (2, 1, 1));
        assert_eq!(test, stratified_holdout(&keys, 0.2, 0));
        assert_ne!(test, stratified_holdout(&keys, 0.2, 1));
    }
}
