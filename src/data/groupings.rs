//! Groupings: which group each person belongs to, for group-level homogenization.
//!
//! - CelebA: `hair` (the one hair-colour attribute set, else `Other`), `beard` (from
//!   `No_Beard`), `individual` (the image file name).
//! - Text: `gender` (the paper's word lists) and `length` (token-length quantile bins).
//!
//! **Gender tokenisation** ([`gender_tokens`]) follows the authors' `nltk.word_tokenize` (nltk
//! 3.7, the release current when their code was written, October 2022: Punkt sentence
//! splitting, then the Treebank-style word tokenizer on each sentence) wherever that decides
//! whether a listed word is a token of its own. Checked against nltk on the texts in
//! `tests/fixtures/gender/nltk_word_tokenize.json` (`scripts/make_gender_fixtures.py`). What
//! follows from it:
//! - whitespace, `; @ # $ % & ? ! *`, brackets `( ) [ ] { } < >`, double quotes, backticks and
//!   the curly quotes `« “ ‘ „ » ” ’` separate words; so do `--` (pairs of hyphens), runs of two
//!   or more periods, pairs of apostrophes, and `,` or `:` unless a digit follows;
//! - a single hyphen, underscore, slash, `+`, `=` or apostrophe inside a word does not:
//!   `Spider-Man`, `step-mother`, `police_man`, `his/her`, `he.she` are one word each, and so
//!   is a URL (`//site.com/his-page`); an em or en dash does not either (nltk 3.7; later
//!   releases split it);
//! - a period ends a word only where Punkt ends a sentence: before whitespace or the end of
//!   the text, or before one of `) " ; } ] * : @ ' ( { [ ! ?` when no later `.`, `?` or `!` in
//!   the same run of non-space characters ends the sentence instead, and not when the next run
//!   itself opens with such a sentence end (`he. . x` keeps `he.`); so `man.` at a sentence end
//!   is `man`, while `man.<br />` and `Mr.man` are not split;
//! - at the end of a word, one of `'s 'm 'd` (any case) or a lone `'`, then one of `'ll 're
//!   've n't` (all lower or all upper case), are split off when a space or a separator follows
//!   (not a tab or a newline: nltk 3.7 looks for a space); `'` before one word character other
//!   than `s m t d n` splits there (`he'x`); an apostrophe opening a word stays on it
//!   (`'mother` is not `mother` in nltk 3.7).
//!
//! Two approximations: nltk's `cannot`/`gonna`-style splits are not made (no piece they give is a
//! listed word), and a `,` or `:` stays attached before any Unicode numeric character where nltk
//! asks for a decimal digit (only `man,²`-like text differs).
//!
//! **Length tokenisation** ([`word_tokens`], the `length` grouping) is simpler: lower-cased runs
//! of letters and digits, split at every other character, punctuation not counted (the authors
//! count `len(nltk.word_tokenize(text))`, punctuation marks included).
//!
//! **Gender rule** (as in the authors' code): the set of *distinct* lower-cased tokens is
//! intersected with each list; a word repeated counts once. More male words than female →
//! `male`, more female → `female`, otherwise (a tie, including none) → `other`. "He, he and she"
//! is `other`.

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

/// Lower-cased word tokens for the `length` grouping: runs of letters and digits, split on every
/// other character (apostrophes included).
pub fn word_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_lowercase())
        .collect()
}

/// Characters nltk 3.7's word tokenizer always splits off.
const ALWAYS_SPLIT: &str = ";@#$%&?!*()[]{}<>\"`«“‘„»”’";
/// What may follow a sentence end for Punkt (its `NonWord` characters).
const PUNKT_NON_WORD: &str = ")\";}]*:@'({[!?";
/// What may follow the final period of a sentence for the Treebank tokenizer.
const FINAL_PERIOD_CLOSERS: &str = "]})>\"'»”’ ";
/// Separators nltk has already padded with spaces when it splits an apostrophe followed by a
/// space (its `([^'])' ` rule); brackets, `*`, `--` and double quotes come later.
const PADDED_BEFORE_APOSTROPHE: &str = ";@#$%&?!«“‘„`.,:";

/// Whitespace as Python's `str.isspace` (and so `\s` and `str.split()`) has it.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A word character as Python's `\w`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The tokens of `text` that can be listed words, lower-cased, in order: nltk 3.7's
/// `word_tokenize` tokens wherever that matters for matching whole words (see the module docs),
/// without the separator tokens (punctuation).
pub fn gender_tokens(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let n = c.len();
    let space: Vec<bool> = c.iter().map(|&ch| is_space(ch)).collect();
    // sep[i]: c[i] separates words (its own token or whitespace).
    let mut sep: Vec<bool> = c
        .iter()
        .zip(&space)
        .map(|(&ch, &s)| s || ALWAYS_SPLIT.contains(ch))
        .collect();

    // Runs of '-' and of '\'' split in pairs from the left (`--`, `''`); runs of two or more
    // periods split whole.
    let mut i = 0;
    while i < n {
        let ch = c[i];
        if matches!(ch, '-' | '.' | '\'') {
            let mut j = i;
            while j < n && c[j] == ch {
                j += 1;
            }
            let k = j - i;
            let end = if ch == '.' {
                if k >= 2 {
                    j
                } else {
                    i
                }
            } else {
                i + 2 * (k / 2)
            };
            sep[i..end].iter_mut().for_each(|s| *s = true);
            i = j;
        } else {
            i += 1;
        }
    }

    // Sentence ends (Punkt): a candidate is `.`, `?` or `!` followed by one of its NonWord
    // characters, or by whitespace and more text. From the right, a candidate is kept unless a
    // kept one to its right took the word before it as context; a kept `.` ends its sentence,
    // and the Treebank tokenizer splits a sentence's final period off.
    let mut text_after = vec![false; n + 1];
    for i in (0..n).rev() {
        text_after[i] = text_after[i + 1] || !space[i];
    }
    let candidate = |p: usize| {
        matches!(c[p], '.' | '?' | '!')
            && p + 1 < n
            && (PUNKT_NON_WORD.contains(c[p + 1]) || (space[p + 1] && text_after[p + 1]))
    };
    let mut before_start: Option<usize> = None;
    for p in (0..n).rev() {
        if !candidate(p) || before_start.is_some_and(|b| p + 1 > b) {
            continue;
        }
        // Python: len(text[:p].rsplit(maxsplit=1)[0]), or 0 for a single word.
        let mut q = p;
        while q > 0 && space[q - 1] {
            q -= 1;
        }
        while q > 0 && !space[q - 1] {
            q -= 1;
        }
        while q > 0 && space[q - 1] {
            q -= 1;
        }
        before_start = Some(q);
        if c[p] == '.' {
            sep[p] = true;
        }
    }
    // The text's final period, before closing brackets, quotes and whitespace.
    let mut t = n;
    while t > 0 && (space[t - 1] || FINAL_PERIOD_CLOSERS.contains(c[t - 1])) {
        t -= 1;
    }
    if t > 0 && c[t - 1] == '.' && (t == 1 || c[t - 2] != '.') {
        sep[t - 1] = true;
    }

    // `,` and `:` split unless a digit follows (the regex consumes the next character too).
    let mut i = 0;
    while i < n {
        if matches!(c[i], ',' | ':') && (i + 1 == n || !c[i + 1].is_numeric()) {
            sep[i] = true;
            i += 2;
        } else {
            i += 1;
        }
    }

    // `'` then one word character (not s, m, t, d, n) then a non-word character: split there.
    let cut_after: Vec<bool> = (0..n)
        .map(|i| {
            c[i] == '\''
                && i + 1 < n
                && is_word_char(c[i + 1])
                && !matches!(c[i + 1].to_ascii_lowercase(), 's' | 'm' | 't' | 'd' | 'n')
                && (i + 2 == n || !is_word_char(c[i + 2]))
        })
        .collect();

    let mut end = n;
    while end > 0 && space[end - 1] {
        end -= 1;
    }
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < n {
        if sep[i] {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < n && !sep[j] && !cut_after[j - 1] {
            j += 1;
        }
        let cut = cut_after[j - 1];
        let next = c.get(j).copied();
        // A space follows in nltk's padded text: a real space, a padded separator, the end.
        let mut spaced = cut || next == Some(' ') || j >= end || (j < n && sep[j] && !space[j]);
        let early = cut
            || next == Some(' ')
            || (j < n && sep[j] && PADDED_BEFORE_APOSTROPHE.contains(c[j]));
        let mut w: &[char] = &c[i..j];
        let len = w.len();
        if early && len >= 2 && w[len - 1] == '\'' && w[len - 2] != '\'' {
            w = &w[..len - 1];
            spaced = true;
        }
        if spaced {
            w = strip_clitics(w);
        }
        tokens.push(w.iter().collect::<String>().to_lowercase());
        i = j;
    }
    tokens
}

/// nltk's two clitic passes at the end of a word: one of `'s 'm 'd` (any case) or `'`, then one
/// of `'ll 're 've n't` (all lower or all upper case); each needs a character other than `'`
/// before it.
fn strip_clitics(w: &[char]) -> &[char] {
    let ends = |w: &[char], tail: &str| {
        let t: Vec<char> = tail.chars().collect();
        w.len() > t.len() && w.ends_with(&t) && w[w.len() - t.len() - 1] != '\''
    };
    let mut w = w;
    if let Some(cl) = ["'s", "'S", "'m", "'M", "'d", "'D", "'"]
        .iter()
        .find(|cl| ends(w, cl))
    {
        w = &w[..w.len() - cl.chars().count()];
    }
    if let Some(cl) = ["'ll", "'LL", "'re", "'RE", "'ve", "'VE", "n't", "N'T"]
        .iter()
        .find(|cl| ends(w, cl))
    {
        w = &w[..w.len() - cl.chars().count()];
    }
    w
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

    /// The distinct listed words in `text`: (male, female), each sorted.
    pub fn matches(&self, text: &str) -> (Vec<String>, Vec<String>) {
        let tokens: HashSet<String> = gender_tokens(text).into_iter().collect();
        let mut male: Vec<String> = tokens.intersection(&self.male).cloned().collect();
        let mut female: Vec<String> = tokens.intersection(&self.female).cloned().collect();
        male.sort();
        female.sort();
        (male, female)
    }

    /// The gender group of a text: `male`, `female` or `other` (see the module docs).
    pub fn group(&self, text: &str) -> &'static str {
        let (male, female) = self.matches(text);
        match male.len().cmp(&female.len()) {
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
    fn gender_tokens_follow_nltk() {
        assert_eq!(
            gender_tokens("He's Spider-Man's step-mother, isn't he? The man."),
            ["he", "spider-man", "step-mother", "is", "he", "the", "man"]
        );
        // `'s` splits before a space only; a period splits only at a sentence end.
        assert_eq!(
            gender_tokens("he's\nthe man.<br />"),
            ["he's", "the", "man.", "br", "/"]
        );
        assert_eq!(
            gender_tokens("police_man http://x.com/his"),
            ["police_man", "http", "//x.com/his"]
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
