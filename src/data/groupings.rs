//! Groupings: which group each person belongs to, for group-level homogenization.
//!
//! - CelebA: `hair` (the one hair-colour attribute set, else `Other`), `beard` (from
//!   `No_Beard`), `individual` (the image file name).
//! - Text: `gender` (the paper's word lists) and `length` (token-length quantile bins).
//!
//! **Tokenisation** (gender and length): the text is lower-cased and split on every character
//! that is not alphanumeric (Unicode letters and digits). Apostrophes split words too, so
//! `he's` gives `he` + `s` and `mother's` gives `mother` + `s` — the same word tokens the
//! authors' `nltk.word_tokenize` yields for the listed words (`he`, `'s`). Punctuation is not a
//! token, so `length` counts words only (nltk also counts punctuation marks).
//!
//! **Gender rule** (as in the authors' code): the set of *distinct* tokens is intersected with
//! each list; a word repeated counts once. More male words than female → `male`, more female →
//! `female`, otherwise (a tie, including none) → `other`. "He, he and she" is `other`.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{InputError, Result};

/// The paper's male word list, verbatim.
pub const MALE_WORDS: [&str; 20] = [
    "he", "son", "his", "him", "father", "man", "boy", "himself", "male", "brother", "sons",
    "fathers", "men", "boys", "males", "brothers", "uncle", "uncles", "nephew", "nephews",
];

/// The paper's female word list, verbatim (including `femen`).
pub const FEMALE_WORDS: [&str; 20] = [
    "she",
    "daughter",
    "hers",
    "her",
    "mother",
    "woman",
    "girl",
    "herself",
    "female",
    "sister",
    "daughters",
    "mothers",
    "women",
    "girls",
    "femen",
    "sisters",
    "aunt",
    "aunts",
    "niece",
    "nieces",
];

/// Lower-cased word tokens: split on every non-alphanumeric character (apostrophes included).
pub fn word_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_lowercase())
        .collect()
}

/// The two word lists of the `gender` grouping.
#[derive(Debug, Clone)]
pub struct GenderWords {
    male: HashSet<String>,
    female: HashSet<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WordListFile {
    male: Vec<String>,
    female: Vec<String>,
}

impl GenderWords {
    /// The paper's lists ([`MALE_WORDS`], [`FEMALE_WORDS`]).
    pub fn paper() -> Self {
        GenderWords {
            male: MALE_WORDS.iter().map(|w| w.to_string()).collect(),
            female: FEMALE_WORDS.iter().map(|w| w.to_string()).collect(),
        }
    }

    /// Lists read from a TOML file with two arrays, `male = [...]` and `female = [...]`; words
    /// are lower-cased and must not be in both lists.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(format!("cannot read the word-list file: {e}")).in_file(path)
        })?;
        let parsed: WordListFile = crate::tomlfile::parse(
            &text,
            path,
            "expected a TOML file with `male = [..]` and `female = [..]`",
        )?;
        let lower = |v: Vec<String>| -> HashSet<String> {
            v.into_iter().map(|w| w.trim().to_lowercase()).collect()
        };
        let words = GenderWords {
            male: lower(parsed.male),
            female: lower(parsed.female),
        };
        let mut both: Vec<&String> = words.male.intersection(&words.female).collect();
        if !both.is_empty() {
            both.sort();
            return Err(InputError::new(format!(
                "words in both the male and the female list: {}",
                both.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .in_file(path)
            .into());
        }
        Ok(words)
    }

    /// The gender group of a text: `male`, `female` or `other` (see the module docs).
    pub fn group(&self, text: &str) -> &'static str {
        let tokens: HashSet<String> = word_tokens(text).into_iter().collect();
        let male = tokens.iter().filter(|t| self.male.contains(*t)).count();
        let female = tokens.iter().filter(|t| self.female.contains(*t)).count();
        match male.cmp(&female) {
            std::cmp::Ordering::Greater => "male",
            std::cmp::Ordering::Less => "female",
            std::cmp::Ordering::Equal => "other",
        }
    }
}

/// Length bins as in the authors' code: with the lengths sorted and `step = N / n` (integer
/// division), the edges are the sorted lengths at positions `step, 2 step, .., (n-1) step`;
/// a length goes to bin `1 + #{edges it exceeds}` (checked in order, so bins are right-closed).
/// Returns the bin (1..=n) of every length; `n` must be at least 1.
pub fn length_bins(lengths: &[usize], n: usize) -> Vec<usize> {
    let n = n.max(1);
    if lengths.is_empty() {
        return Vec::new();
    }
    let mut sorted = lengths.to_vec();
    sorted.sort_unstable();
    let step = sorted.len() / n;
    let edges: Vec<usize> = (1..n).map(|g| sorted[g * step]).collect();
    lengths
        .iter()
        .map(|&len| {
            let mut group = 1;
            while group < n && len > edges[group - 1] {
                group += 1;
            }
            group
        })
        .collect()
}

/// The label of length bin `bin` (1-based): `q1`..`qn`.
pub fn length_label(bin: usize) -> String {
    format!("q{bin}")
}

/// The CelebA hair-colour attributes of the `hair` grouping, in order.
pub const HAIR_ATTRIBUTES: [&str; 4] = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"];

/// The `hair` group: the one hair-colour attribute that is set (`Black_Hair`, `Blond_Hair`,
/// `Brown_Hair`, `Gray_Hair`), or `Other` when none or several are set (bald and hidden hair
/// included). `present[i]` says whether [`HAIR_ATTRIBUTES`]`[i]` is set.
pub fn hair_group(present: [bool; 4]) -> &'static str {
    let set: Vec<usize> = (0..4).filter(|&i| present[i]).collect();
    match set.as_slice() {
        [i] => HAIR_ATTRIBUTES[*i],
        _ => "Other",
    }
}

/// The `beard` group from CelebA's `No_Beard` attribute: `No_Beard` when set, else `Beard`.
pub fn beard_group(no_beard: bool) -> &'static str {
    if no_beard {
        "No_Beard"
    } else {
        "Beard"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_on_punctuation_and_apostrophes() {
        assert_eq!(
            word_tokens("He's my Father's-brother, isn't he?"),
            ["he", "s", "my", "father", "s", "brother", "isn", "t", "he"]
        );
    }

    #[test]
    fn length_bins_follow_the_authors_rule() {
        // lengths 1..=8, n = 4: step = 2, edges = sorted[2], sorted[4], sorted[6] = 3, 5, 7;
        // 1,2,3 -> 1; 4,5 -> 2; 6,7 -> 3; 8 -> 4.
        let bins = length_bins(&[8, 1, 2, 3, 4, 5, 6, 7], 4);
        assert_eq!(bins, [4, 1, 1, 1, 2, 2, 3, 3]);
    }
}
