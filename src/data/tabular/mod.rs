//! Tabular datasets for the data-sharing study (issue 6): German Credit (bundled), ACS PUMS
//! (folktables' tasks) and LSAC. Each loader returns a [`TabularDataset`]: one row per person,
//! a numeric feature matrix shared by every task, one binary label vector per task, and the
//! group columns (sex, race) used for group-level homogenization.

pub mod acs;
pub mod fetch;
pub mod german;
pub mod lsac;

use ndarray::Array2;

/// One binary prediction task over the dataset's people.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task's name, used as the failure table's `deployment`.
    pub name: String,
    /// One label per person (0 or 1), in row order.
    pub labels: Vec<u8>,
    /// The columns of [`TabularDataset::features`] this task's models see (ACS tasks use
    /// different feature lists; German Credit and LSAC tasks use all columns).
    pub feature_columns: Vec<usize>,
}

/// A group column: one group name per person.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupColumn {
    /// The grouping's name (`sex`, `race`).
    pub name: String,
    /// The group of each person, in row order.
    pub values: Vec<String>,
}

/// People × features plus several tasks on the same people.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularDataset {
    /// Short name (`gc`, `acs`, `lsac`), the first part of every system name.
    pub name: String,
    /// Stable id of each person (the row index in the source file, as a string).
    pub ids: Vec<String>,
    /// Feature names, one per column of `features`.
    pub feature_names: Vec<String>,
    /// Features, people × features, all numeric.
    pub features: Array2<f64>,
    /// The tasks, all over the same people.
    pub tasks: Vec<Task>,
    /// Group columns.
    pub groups: Vec<GroupColumn>,
    /// What the loader did that a reader of the results should know (rows filtered, missing
    /// values filled), one sentence each.
    pub notes: Vec<String>,
}

impl TabularDataset {
    /// Number of people.
    pub fn n_people(&self) -> usize {
        self.ids.len()
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The group column called `name`.
    pub fn group(&self, name: &str) -> Option<&GroupColumn> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// Standardises column `j` of `x` in place over all rows (mean 0, sample sd 1, as pandas'
/// `(x - x.mean()) / x.std()`); a constant column becomes 0.
pub(crate) fn standardise_column(x: &mut Array2<f64>, j: usize) {
    let n = x.nrows() as f64;
    let mean = x.column(j).sum() / n;
    let var = x.column(j).iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let sd = var.sqrt();
    x.column_mut(j)
        .mapv_inplace(|v| if sd > 0.0 { (v - mean) / sd } else { 0.0 });
}
