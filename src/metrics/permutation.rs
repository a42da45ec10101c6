//! Permutation test of H_individual against independence (DESIGN.md §1): shuffle each
//! deployment's failure vector independently among the people who met it, which keeps every
//! failure rate and so the expected systemic failure; H changes only through the number of
//! people failed everywhere they went, so the test compares those counts.
//! p = (1 + #{count_perm >= count_obs}) / (1 + P).
//!
//! With full coverage the permuted count is exactly a chain of hypergeometric draws: if S_i is
//! the set deployment i fails (size m_i, a uniformly random subset after shuffling), then
//! |S_1 ∩ S_2| ~ Hypergeometric(n, m_2, m_1), and |S_1 ∩ S_2 ∩ S_3| ~ Hypergeometric(n, m_3,
//! |S_1 ∩ S_2|), and so on: O(k) per permutation. With partial coverage the vectors are
//! really shuffled, O(n k) per permutation.
//!
//! The hypergeometric draws come from rand_distr 0.5, not 0.4: rand_distr 0.4.3's
//! `Hypergeometric` samples from the wrong distribution in its H2PE branch (taken when the mode
//! is at least 10 above the lower bound; rust-random/rand issue #1508, fixed by #1510 in
//! rand_distr 0.5.0): on 100 people failed 50 and 49 times it put P(count ≥ 24) at 0.604
//! where the exact tail is 0.655. rand_distr 0.5 takes a rand_core 0.9 generator, so our seeded
//! `ChaCha8Rng` (rand_core 0.6) is lent to it through `Rng09`: same seed, same draws.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr05::{Distribution, Hypergeometric};

use crate::failures::{SystemMatrix, ABSENT, FAILED};

/// Number of people failed by every deployment they met.
pub fn failed_everywhere(s: &SystemMatrix) -> u64 {
    (0..s.n_people())
        .filter(|&p| s.person(p).iter().all(|&o| o == FAILED || o == ABSENT))
        .count() as u64
}

/// A rand_core 0.6 generator seen as a rand_core 0.9 one (what rand_distr 0.5 samples with):
/// every call is passed through, so the stream is the seeded generator's own.
struct Rng09<'a>(&'a mut ChaCha8Rng);

impl rand_core09::RngCore for Rng09<'_> {
    fn next_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(self.0)
    }

    fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(self.0)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::RngCore::fill_bytes(self.0, dst);
    }
}

/// Permuted counts with full coverage: `failed[i]` people failed by deployment i out of `n`;
/// drawn as the iterator is read, so many permutations need no memory.
pub fn hypergeometric_counts<'a>(
    n: u64,
    failed: &'a [u64],
    permutations: usize,
    rng: &'a mut ChaCha8Rng,
) -> impl Iterator<Item = u64> + 'a {
    let mut rng = Rng09(rng);
    (0..permutations).map(move |_| {
        let mut count = failed.first().copied().unwrap_or(0);
        for &m in failed.iter().skip(1) {
            if count == 0 {
                break;
            }
            count = Hypergeometric::new(n, m, count).map_or(0, |h| h.sample(&mut rng));
        }
        count
    })
}

/// Permuted counts by real shuffles of each deployment's failures among the people who met it;
/// shuffled as the iterator is read.
pub fn shuffled_counts<'a>(
    s: &SystemMatrix,
    permutations: usize,
    rng: &'a mut ChaCha8Rng,
) -> impl Iterator<Item = u64> + 'a {
    let k = s.n_deployments();
    let n = s.n_people();
    let mut met: Vec<Vec<usize>> = vec![Vec::new(); k];
    let mut fails: Vec<Vec<bool>> = vec![Vec::new(); k];
    for p in 0..n {
        for (i, &o) in s.person(p).iter().enumerate() {
            if o != ABSENT {
                met[i].push(p);
                fails[i].push(o == FAILED);
            }
        }
    }
    let mut everywhere = vec![true; n];
    (0..permutations).map(move |_| {
        everywhere.iter_mut().for_each(|x| *x = true);
        for i in 0..k {
            fails[i].shuffle(rng);
            for (&p, &f) in met[i].iter().zip(&fails[i]) {
                if !f {
                    everywhere[p] = false;
                }
            }
        }
        everywhere.iter().filter(|&&x| x).count() as u64
    })
}

/// The permutation p-value of H_individual: the hypergeometric chain with full coverage, real
/// shuffles otherwise.
pub fn p_value(s: &SystemMatrix, permutations: usize, rng: &mut ChaCha8Rng) -> f64 {
    let observed = failed_everywhere(s);
    let full = !s.outcomes.contains(&ABSENT);
    let at_least = if full {
        let k = s.n_deployments();
        let mut failed = vec![0u64; k];
        for p in 0..s.n_people() {
            for (f, &o) in failed.iter_mut().zip(s.person(p)) {
                *f += u64::from(o == FAILED);
            }
        }
        hypergeometric_counts(s.n_people() as u64, &failed, permutations, rng)
            .filter(|&c| c >= observed)
            .count()
    } else {
        shuffled_counts(s, permutations, rng)
            .filter(|&c| c >= observed)
            .count()
    };
    (1 + at_least) as f64 / (1 + permutations) as f64
}
