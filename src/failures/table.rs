//! The failure table in memory: the long schema of DESIGN.md §3, stored column by column with
//! string columns interned, so that millions of rows stay small.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// The hash of a level's value: foldhash, several times faster than SipHash on the millions of
/// short strings a table interns, with a fixed seed (codes never depend on it).
fn level_hash(value: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one(value)
}

/// Column names of the failure-table schema (DESIGN.md §3).
pub mod columns {
    /// The system a row belongs to (optional on input; one system named `all` when absent).
    pub const SYSTEM: &str = "system";
    /// The deployment (decision-maker, task, model) that made the decision.
    pub const DEPLOYMENT: &str = "deployment";
    /// The person; the same id in two deployments is the same person.
    pub const EXAMPLE_ID: &str = "example_id";
    /// The true label.
    pub const LABEL: &str = "label";
    /// The deployment's prediction.
    pub const PREDICTION: &str = "prediction";
    /// Whether the person got a bad outcome; derived from `label != prediction` when absent.
    pub const FAILURE: &str = "failure";
    /// A comparable per-example loss (optional).
    pub const LOSS: &str = "loss";
    /// Name given to the single system of a table without a `system` column.
    pub const DEFAULT_SYSTEM: &str = "all";
    /// The columns with a fixed meaning; every other column is a group or attribute column.
    pub const CORE: [&str; 7] = [
        SYSTEM, DEPLOYMENT, EXAMPLE_ID, LABEL, PREDICTION, FAILURE, LOSS,
    ];
}

/// The character that joins the two deployments of a pairwise metric's name
/// (`covariance:<a>|<b>`, see [`crate::metrics::pairwise::pair_name`]).
pub const PAIR_SEPARATOR: char = '|';

/// Why `name` cannot name a deployment, if it cannot: a name holding [`PAIR_SEPARATOR`] would
/// make the pairwise metrics' names ambiguous (deployments `a|b` and `c` give the pair name
/// `a|b|c`, and so do `a` and `b|c`). Every way a table gets its deployments (a column,
/// `--deployment-per-file`, `--wide`, a table built in memory) is checked with this.
pub fn deployment_name_problem(name: &str) -> Option<String> {
    name.contains(PAIR_SEPARATOR).then(|| {
        format!(
            "the deployment name `{name}` contains `{PAIR_SEPARATOR}`, which joins the two \
             deployments in the names of the pairwise metrics (`covariance:<a>{PAIR_SEPARATOR}<b>`), \
             so those names would be ambiguous; rename the deployment without `{PAIR_SEPARATOR}`"
        )
    })
}

/// A string column stored as codes into a list of distinct values (levels), in order of first
/// appearance.
#[derive(Debug, Clone, Default)]
pub struct Categorical {
    /// The column's name.
    pub name: String,
    /// The distinct values, in order of first appearance.
    pub levels: Vec<String>,
    /// One code per row, an index into `levels`.
    pub codes: Vec<u32>,
    /// Every level's (hash of its value, code): the value itself is kept once, in `levels`
    /// (a map from value to code held each value twice), and growing the table rehashes no
    /// string.
    index: HashTable<(u64, u32)>,
    /// Consecutive failures of the next-level guess in [`Categorical::push`]; from 8 on, the
    /// guess is tried only every 64th row (rows in no particular order pay almost nothing).
    guess_misses: u32,
}

impl PartialEq for Categorical {
    /// The same name, levels and codes (the index follows from the levels).
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.levels == other.levels && self.codes == other.codes
    }
}

impl Categorical {
    /// An empty column called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Categorical {
            name: name.into(),
            ..Default::default()
        }
    }

    /// The code of `value`, adding it as a new level when unseen.
    pub fn intern(&mut self, value: &str) -> u32 {
        let hash = level_hash(value);
        let levels = &self.levels;
        if let Some(&(_, code)) = self
            .index
            .find(hash, |&(h, c)| h == hash && levels[c as usize] == value)
        {
            return code;
        }
        let code = levels.len() as u32;
        self.index.insert_unique(hash, (hash, code), |&(h, _)| h);
        self.levels.push(value.to_string());
        code
    }

    /// Appends one row holding `value`.
    pub fn push(&mut self, value: &str) {
        // Two guesses skip the hash lookup: long tables repeat a value over many consecutive
        // rows (system, deployment, group), and tables of one block per deployment list the
        // people in the same order in each block, so the next row's level is often the one
        // after the previous row's.
        if let Some(&last) = self.codes.last() {
            if self.levels[last as usize] == value {
                self.codes.push(last);
                return;
            }
            if self.guess_misses < 8 || self.codes.len().is_multiple_of(64) {
                let next = last + 1;
                if self.levels.get(next as usize).is_some_and(|l| l == value) {
                    self.guess_misses = 0;
                    self.codes.push(next);
                    return;
                }
                self.guess_misses = self.guess_misses.saturating_add(1);
            }
        }
        let code = self.intern(value);
        self.codes.push(code);
    }

    /// The value of row `row`.
    pub fn value(&self, row: usize) -> &str {
        &self.levels[self.codes[row] as usize]
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Renames levels: `rename` gives level i's new value (`None`: unchanged). Levels renamed
    /// to one value become one level, in order of first appearance.
    pub(crate) fn rename_levels(&mut self, rename: impl Fn(usize, &str) -> Option<String>) {
        let old = std::mem::take(&mut self.levels);
        self.index.clear();
        let map: Vec<u32> = old
            .iter()
            .enumerate()
            .map(|(i, l)| match rename(i, l) {
                Some(new) => self.intern(&new),
                None => self.intern(l),
            })
            .collect();
        for c in &mut self.codes {
            *c = map[*c as usize];
        }
    }

    /// Builds a column from one string per row.
    pub fn from_values<S: AsRef<str>>(name: impl Into<String>, values: &[S]) -> Self {
        let mut column = Categorical::new(name);
        column.codes.reserve(values.len());
        for v in values {
            column.push(v.as_ref());
        }
        column
    }
}

/// Where a table's rows came from, so that errors found after reading can still name the file
/// and row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowOrigin {
    /// The file.
    pub file: std::path::PathBuf,
    /// Index of the file's first row in the table.
    pub first_row: usize,
    /// Table rows made from each row of the file: 1, or the number of deployment columns of a
    /// wide file (one row per person, one column per deployment).
    pub rows_per_record: usize,
    /// The file's column of each schema role (renamed with `--column`), for errors.
    pub columns: super::mapping::ColumnMap,
    /// The file's group and attribute columns (a table of several files keeps only the
    /// columns every file has), for errors.
    pub extra_columns: Vec<String>,
}

/// A per-example failure table: one row per (system, deployment, example).
///
/// `failure` is always present (derived from label and prediction when the input lacks it).
/// Every column that is not part of the fixed schema is kept as a string column in `extra`:
/// group columns (hair, gender, race...) and run attributes (method, seed, model, split).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureTable {
    /// The `system` column, or `None` when the input had none (then everything is one system).
    pub system: Option<Categorical>,
    /// The `deployment` column.
    pub deployment: Categorical,
    /// The `example_id` column.
    pub example_id: Categorical,
    /// The true labels, when known: the integer labels, or with `class_names` indexes into it.
    pub label: Option<Vec<i64>>,
    /// The predictions, when known, coded as `label` is.
    pub prediction: Option<Vec<i64>>,
    /// The class names, when the labels were read as names (`positive`, `World`) rather than
    /// integers; `label` and `prediction` then index into it. `None`: they are the integers.
    pub class_names: Option<Vec<String>>,
    /// Whether each row is a failure (a bad outcome for the person).
    pub failure: Vec<bool>,
    /// Per-example loss, when known.
    pub loss: Option<Vec<f64>>,
    /// Any further float columns a producer wants to keep (e.g. `prob`), written as Float64.
    pub float_extra: Vec<(String, Vec<f64>)>,
    /// Group and attribute columns, as strings.
    pub extra: Vec<Categorical>,
    /// Where the rows came from (empty for tables built in memory).
    pub origins: Vec<RowOrigin>,
}

impl FailureTable {
    /// An empty table with empty `deployment` and `example_id` columns.
    pub fn new() -> Self {
        FailureTable {
            deployment: Categorical::new(columns::DEPLOYMENT),
            example_id: Categorical::new(columns::EXAMPLE_ID),
            ..Default::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.failure.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.failure.is_empty()
    }

    /// The extra (group or attribute) column called `name`.
    pub fn extra_column(&self, name: &str) -> Option<&Categorical> {
        self.extra.iter().find(|c| c.name == name)
    }

    /// The name of row `row`'s system (`all` when there is no system column).
    pub fn system_of(&self, row: usize) -> &str {
        match &self.system {
            Some(s) => s.value(row),
            None => columns::DEFAULT_SYSTEM,
        }
    }

    /// The file and 1-based data row that table row `row` came from, when it came from a file.
    pub fn origin_of(&self, row: usize) -> Option<(&std::path::Path, usize)> {
        let idx = self.origins.partition_point(|o| o.first_row <= row);
        if idx == 0 {
            return None;
        }
        let o = &self.origins[idx - 1];
        Some((
            o.file.as_path(),
            (row - o.first_row) / o.rows_per_record.max(1) + 1,
        ))
    }

    /// The name in its file of the column that table row `row`'s `column` came from: the
    /// file's own name for a renamed schema column (`person` for `example_id`), else `column`.
    pub fn column_in_file<'a>(&'a self, row: usize, column: &'a str) -> &'a str {
        let idx = self.origins.partition_point(|o| o.first_row <= row);
        match (
            idx.checked_sub(1),
            super::mapping::Role::from_schema_name(column),
        ) {
            (Some(i), Some(role)) => self.origins[i].columns.name(role),
            _ => column,
        }
    }

    /// The class a label or prediction value stands for: its name when the labels are names,
    /// else the integer itself.
    pub fn class_name(&self, value: i64) -> String {
        match &self.class_names {
            Some(names) => names[value as usize].clone(),
            None => value.to_string(),
        }
    }

    /// Appends the rows of `other`; its string columns are re-interned into this table's.
    /// Both tables must have the same optional columns (checked by the caller).
    pub fn append(&mut self, mut other: FailureTable) {
        let offset = self.len();
        fn extend(into: &mut Categorical, from: &Categorical) {
            let map: Vec<u32> = from.levels.iter().map(|l| into.intern(l)).collect();
            into.codes
                .extend(from.codes.iter().map(|&c| map[c as usize]));
        }
        match (&mut self.system, &other.system) {
            (Some(a), Some(b)) => extend(a, b),
            (None, None) => {}
            (a, b) => {
                // One table has systems, the other not: the missing side is the default system.
                let len_other = other.len();
                let fill = |c: &mut Categorical, n: usize| {
                    let code = c.intern(columns::DEFAULT_SYSTEM);
                    c.codes.extend(std::iter::repeat_n(code, n));
                };
                match (a.as_mut(), b) {
                    (Some(a), None) => fill(a, len_other),
                    (None, Some(b)) => {
                        let mut c = Categorical::new(columns::SYSTEM);
                        fill(&mut c, offset);
                        extend(&mut c, b);
                        self.system = Some(c);
                    }
                    _ => unreachable!(),
                }
            }
        }
        extend(&mut self.deployment, &other.deployment);
        extend(&mut self.example_id, &other.example_id);
        fn extend_opt<T: Clone>(a: &mut Option<Vec<T>>, b: Option<Vec<T>>) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.extend(b),
                _ => *a = None,
            }
        }
        let first = offset == 0;
        if first {
            self.label = other.label;
            self.prediction = other.prediction;
            self.class_names = other.class_names;
            self.loss = other.loss;
            self.float_extra = other.float_extra;
        } else {
            if self.class_names.is_some() || other.class_names.is_some() {
                // One codebook for both: integer labels become the names of their integers.
                let mut names = Categorical::new("class");
                for t in [&mut *self, &mut other] {
                    let old = t.class_names.take();
                    for v in t.label.iter_mut().chain(t.prediction.iter_mut()).flatten() {
                        let name = match &old {
                            Some(levels) => levels[*v as usize].clone(),
                            None => v.to_string(),
                        };
                        *v = names.intern(&name) as i64;
                    }
                }
                self.class_names = Some(names.levels);
            }
            extend_opt(&mut self.label, other.label);
            extend_opt(&mut self.prediction, other.prediction);
            extend_opt(&mut self.loss, other.loss);
            let mut kept = Vec::new();
            for (name, mut values) in std::mem::take(&mut self.float_extra) {
                if let Some((_, more)) = other.float_extra.iter().find(|(n, _)| *n == name) {
                    values.extend_from_slice(more);
                    kept.push((name, values));
                }
            }
            self.float_extra = kept;
        }
        self.failure.extend(other.failure);
        if first {
            self.extra = other.extra;
        } else {
            let mut kept = Vec::new();
            for mut col in std::mem::take(&mut self.extra) {
                if let Some(more) = other.extra.iter().find(|c| c.name == col.name) {
                    extend(&mut col, more);
                    kept.push(col);
                }
            }
            self.extra = kept;
        }
        self.origins
            .extend(other.origins.into_iter().map(|o| RowOrigin {
                file: o.file,
                first_row: o.first_row + offset,
                ..o
            }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_levels_merge_in_order_of_first_appearance() {
        let mut c = Categorical::from_values("g", &["1.0", "b", "1", "1.0", "c"]);
        c.rename_levels(|_, l| (l == "1.0").then(|| "1".to_string()));
        assert_eq!(c.levels, vec!["1", "b", "c"]);
        assert_eq!(c.codes, vec![0, 1, 0, 0, 2]);
        c.push("b");
        c.push("d");
        assert_eq!(c.codes[5..], [1, 3]);
    }

    /// The guesses in `push` (same level as the previous row, or the next one) and the hashed
    /// index must give every row its own value's code, whatever the order of the rows: checked
    /// against a plain map on blocked, shuffled and mixed sequences.
    #[test]
    fn push_gives_each_value_its_code_in_any_row_order() {
        let people: Vec<String> = (0..300).map(|i| format!("p{i}")).collect();
        let mut blocked: Vec<&str> = Vec::new();
        for _ in 0..3 {
            blocked.extend(people.iter().map(String::as_str));
        }
        // A fixed shuffle (multiplication by a unit mod 900) and runs of repeats.
        let shuffled: Vec<&str> = (0..900).map(|i| blocked[(i * 7) % 900]).collect();
        let mut mixed = blocked.clone();
        mixed.extend(shuffled.iter().copied());
        mixed.extend(["p5", "p5", "p6", "p6", "p8", "p7", "new", "p0"]);
        for values in [&blocked, &shuffled, &mixed] {
            let c = Categorical::from_values("id", values);
            let mut first: std::collections::HashMap<&str, u32> = Default::default();
            let mut order = Vec::new();
            for v in values.iter() {
                first.entry(v).or_insert_with(|| {
                    order.push(v.to_string());
                    order.len() as u32 - 1
                });
            }
            assert_eq!(c.levels, order);
            let want: Vec<u32> = values.iter().map(|v| first[v]).collect();
            assert_eq!(c.codes, want);
        }
        // After renaming, the index follows the new levels.
        let mut c = Categorical::from_values("id", &blocked);
        c.rename_levels(|i, _| (i == 1).then(|| "p0".to_string()));
        assert_eq!(c.levels.len(), 299);
        assert_eq!(c.intern("p0"), 0);
        assert_eq!(c.intern("p2"), 1);
        assert_eq!(c.intern("p1"), 299);
    }

    #[test]
    fn categorical_interns_in_order_of_first_appearance() {
        let c = Categorical::from_values("g", &["b", "a", "b", "c"]);
        assert_eq!(c.levels, vec!["b", "a", "c"]);
        assert_eq!(c.codes, vec![0, 1, 0, 2]);
        assert_eq!(c.value(3), "c");
    }
}
