//! Which column of a file plays which part of the failure-table schema, so that anyone's
//! predictions can be measured as they are: the schema's names (DESIGN.md §3) by default,
//! renamed with `--column ROLE=NAME`, and deployments named after the files they come from.

use std::path::{Path, PathBuf};

use super::table::columns;
use crate::error::{Error, InputError, Result};

/// A column with a fixed meaning in the failure table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The system a row belongs to.
    System,
    /// The deployment that made the decision.
    Deployment,
    /// The person.
    ExampleId,
    /// The true label.
    Label,
    /// The deployment's prediction.
    Prediction,
    /// Whether the person got a bad outcome.
    Failure,
    /// A per-example loss.
    Loss,
}

impl Role {
    /// Every role, in schema order.
    pub const ALL: [Role; 7] = [
        Role::System,
        Role::Deployment,
        Role::ExampleId,
        Role::Label,
        Role::Prediction,
        Role::Failure,
        Role::Loss,
    ];

    /// The role's column name in the schema (DESIGN.md §3).
    pub fn schema_name(self) -> &'static str {
        match self {
            Role::System => columns::SYSTEM,
            Role::Deployment => columns::DEPLOYMENT,
            Role::ExampleId => columns::EXAMPLE_ID,
            Role::Label => columns::LABEL,
            Role::Prediction => columns::PREDICTION,
            Role::Failure => columns::FAILURE,
            Role::Loss => columns::LOSS,
        }
    }

    /// The role whose schema name is `name`.
    pub fn from_schema_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.schema_name() == name)
    }
}

/// The option that renames columns, for errors.
const COLUMN_OPTION: &str = "--column";

/// The file column of every role: its schema name unless renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    names: [String; 7],
}

impl Default for ColumnMap {
    fn default() -> Self {
        ColumnMap {
            names: Role::ALL.map(|r| r.schema_name().to_string()),
        }
    }
}

impl ColumnMap {
    /// Parses `ROLE=NAME` settings (`--column example_id=person`): the role's values are read
    /// from column NAME; roles not named keep their schema name. Refuses an unknown role, a
    /// role set twice, an empty name, and two roles read from one column.
    pub fn parse(settings: &[String]) -> Result<ColumnMap> {
        let bad =
            |message: String| -> Error { InputError::new(message).at_key(COLUMN_OPTION).into() };
        let roles = Role::ALL.map(Role::schema_name).join(", ");
        let mut map = ColumnMap::default();
        let mut set: Vec<Role> = Vec::new();
        for setting in settings {
            let Some((role, name)) = setting.split_once('=') else {
                return Err(bad(format!(
                    "`{setting}`: expected ROLE=NAME, e.g. example_id=person (roles: {roles})"
                )));
            };
            let (role, name) = (role.trim(), name.trim());
            let Some(role) = Role::from_schema_name(role) else {
                return Err(bad(format!(
                    "`{setting}`: unknown role `{role}`; expected one of {roles}"
                )));
            };
            if name.is_empty() {
                return Err(bad(format!(
                    "`{setting}`: expected a column name after `=`"
                )));
            }
            if set.contains(&role) {
                return Err(bad(format!(
                    "`{}` is given twice; give each role at most once",
                    role.schema_name()
                )));
            }
            set.push(role);
            map.names[role as usize] = name.to_string();
        }
        for (i, a) in Role::ALL.iter().enumerate() {
            for b in &Role::ALL[i + 1..] {
                if map.name(*a) == map.name(*b) {
                    let renamed = if set.contains(a) { a } else { b };
                    return Err(bad(format!(
                        "`{}` and `{}` would both be read from column `{}`; map {} to another \
                         column too (--column {}=NAME)",
                        a.schema_name(),
                        b.schema_name(),
                        map.name(*a),
                        if renamed == a { b } else { a }.schema_name(),
                        if renamed == a { b } else { a }.schema_name(),
                    )));
                }
            }
        }
        Ok(map)
    }

    /// The file column read for `role`.
    pub fn name(&self, role: Role) -> &str {
        &self.names[role as usize]
    }

    /// Whether `role` is read from a column other than its schema name.
    pub fn is_renamed(&self, role: Role) -> bool {
        self.name(role) != role.schema_name()
    }

    /// Whether a file column called `column` is left out: it carries a role's schema name, but
    /// that role is read from another column and no role is read from this one (a file with both
    /// `label` and `y_true` read with `--column label=y_true` ignores `label`).
    pub fn is_displaced(&self, column: &str) -> bool {
        Role::from_schema_name(column).is_some_and(|r| self.is_renamed(r))
            && !Role::ALL.iter().any(|&r| self.name(r) == column)
    }

    /// The role read from `column`, if any.
    pub fn role_of(&self, column: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|&r| self.name(r) == column)
    }

    /// How an error names the column of `role`: `` `task` (deployment, from --column
    /// deployment=task) `` when renamed, else `` `deployment` ``.
    pub fn describe(&self, role: Role) -> String {
        if self.is_renamed(role) {
            format!(
                "`{}` ({}, from {COLUMN_OPTION} {}={})",
                self.name(role),
                role.schema_name(),
                role.schema_name(),
                self.name(role)
            )
        } else {
            format!("`{}`", role.schema_name())
        }
    }
}

/// How failure tables are read: which columns play which role, and where deployments come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The file column of every role.
    pub columns: ColumnMap,
    /// Each file is one deployment named after the file (see [`deployment_names`]); the files
    /// then have no deployment column.
    pub deployment_per_file: bool,
    /// One row per person and one column per deployment (see [`Wide`]).
    pub wide: Option<Wide>,
}

/// A wide layout: one row per person, one column per deployment holding that deployment's
/// prediction (compared with the label column) or failure flag; the deployments are named
/// after the columns. pandas' `DataFrame` of one prediction column per model is this layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wide {
    /// What the deployment columns hold: [`Role::Prediction`] or [`Role::Failure`].
    pub role: Role,
    /// The deployment columns, in order.
    pub columns: Vec<String>,
}

impl Wide {
    /// The option that sets it, for errors.
    pub const OPTION: &'static str = "--wide";

    /// Parses `prediction=COL,COL...` or `failure=COL,COL...` (`--wide`).
    pub fn parse(setting: &str) -> Result<Wide> {
        let bad =
            |message: String| -> Error { InputError::new(message).at_key(Wide::OPTION).into() };
        let Some((role, list)) = setting.split_once('=') else {
            return Err(bad(format!(
                "`{setting}`: expected prediction=COL,COL... or failure=COL,COL..."
            )));
        };
        let role = match role.trim() {
            "prediction" => Role::Prediction,
            "failure" => Role::Failure,
            other => {
                return Err(bad(format!(
                    "`{setting}`: the deployment columns hold `prediction` or `failure`, not \
                     `{other}`"
                )))
            }
        };
        let columns: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
        if columns.iter().any(String::is_empty) {
            return Err(bad(format!(
                "`{setting}`: expected column names separated by commas, found an empty one"
            )));
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(bad(format!("`{setting}`: column `{c}` is listed twice")));
            }
        }
        Ok(Wide { role, columns })
    }

    /// Refuses `column`, given to `option` (`--group`, `--by`) as a person's attribute, when
    /// it is one of the deployment columns: those hold predictions, not attributes.
    pub fn refuse_as_attribute(&self, column: &str, option: &str) -> Result<()> {
        if !self.columns.iter().any(|c| c == column) {
            return Ok(());
        }
        Err(InputError::new(format!(
            "`{column}` is one of the deployment columns of `{} {}={}`; a group or attribute \
             column must be a column of its own",
            Wide::OPTION,
            self.role.schema_name(),
            self.columns.join(",")
        ))
        .at_key(option)
        .into())
    }
}

/// A deployment name for each file: the shortest tail of its path (extension dropped, unless
/// another file differs from it only by the extension) that no other file shares, so `a.csv b.csv` give `a` and `b`, and `runs/x/preds.csv
/// runs/y/preds.csv` give `x/preds` and `y/preds`. The same file given twice is an error.
pub fn deployment_names(paths: &[PathBuf]) -> Result<Vec<String>> {
    let mut parts: Vec<Vec<String>> = Vec::with_capacity(paths.len());
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for path in paths {
        let full = std::fs::canonicalize(path).map_err(|e| Error::reading(path, e))?;
        if let Some((_, first)) = seen.iter().find(|(p, _)| *p == full) {
            return Err(InputError::new(format!(
                "the same file is given twice (also as {}); with --deployment-per-file each \
                 file is one deployment",
                first.display()
            ))
            .in_file(path)
            .into());
        }
        seen.push((full.clone(), path));
        let tail: Vec<String> = full
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        parts.push(tail);
    }
    // Extensions are dropped, except where two files differ only by theirs (`a.csv`, `a.tsv`),
    // which keep them: so the tails below stay as distinct as the canonical paths.
    let stem = |p: &[String]| -> Vec<String> {
        let mut p = p.to_vec();
        if let Some(last) = p.last_mut() {
            if let Some(stem) = Path::new(last.as_str()).file_stem() {
                *last = stem.to_string_lossy().into_owned();
            }
        }
        p
    };
    let stems: Vec<Vec<String>> = parts.iter().map(|p| stem(p)).collect();
    let parts: Vec<Vec<String>> = (0..parts.len())
        .map(|i| match stems.iter().filter(|s| **s == stems[i]).count() {
            1 => stems[i].clone(),
            _ => parts[i].clone(),
        })
        .collect();
    // Each file takes the shortest tail that no other file shares at that length. Names of
    // different lengths differ in their number of `/`, so the names are distinct; distinct
    // canonical paths always differ at some length.
    let name = |p: &[String], k: usize| p[p.len().saturating_sub(k)..].join("/");
    Ok(parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let k = (1..=p.len())
                .find(|&k| {
                    let mine = name(p, k);
                    parts
                        .iter()
                        .enumerate()
                        .all(|(j, q)| j == i || name(q, k) != mine)
                })
                .unwrap_or(p.len());
            name(p, k)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(settings: &[&str]) -> Result<ColumnMap> {
        ColumnMap::parse(&settings.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn renames_the_named_roles_and_keeps_the_others() {
        let m = parse(&["example_id=person", " label = y_true "]).unwrap();
        assert_eq!(m.name(Role::ExampleId), "person");
        assert_eq!(m.name(Role::Label), "y_true");
        assert_eq!(m.name(Role::Deployment), "deployment");
        assert_eq!(m.role_of("y_true"), Some(Role::Label));
        assert_eq!(m.role_of("label"), None);
        assert!(m.is_displaced("label"));
        assert!(!m.is_displaced("deployment"));
        assert!(!m.is_displaced("hair"));
        assert_eq!(
            m.describe(Role::Label),
            "`y_true` (label, from --column label=y_true)"
        );
        assert_eq!(m.describe(Role::Deployment), "`deployment`");
    }

    #[test]
    fn a_role_may_take_a_column_another_role_left() {
        // The file's `label` column holds predictions; its `truth` column the labels.
        let m = parse(&["prediction=label", "label=truth"]).unwrap();
        assert_eq!(m.role_of("label"), Some(Role::Prediction));
        assert!(!m.is_displaced("label"));
        assert!(m.is_displaced("prediction"));
    }

    #[test]
    fn refuses_bad_settings_naming_the_option() {
        for (settings, message) in [
            (&["person"][..], "expected ROLE=NAME"),
            (&["person=id"][..], "unknown role `person`"),
            (&["label="][..], "expected a column name"),
            (&["label=a", "label=b"][..], "`label` is given twice"),
            (
                &["example_id=label"][..],
                "`example_id` and `label` would both be read from column `label`; map label",
            ),
        ] {
            let e = parse(settings).unwrap_err().to_string();
            assert!(e.starts_with("option `--column`: "), "{e}");
            assert!(e.contains(message), "{settings:?}: {e}");
        }
    }

    #[test]
    fn deployments_are_named_by_the_shortest_tail_that_separates_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |p: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
            path
        };
        let (a, b) = (touch("a.csv"), touch("b.parquet"));
        assert_eq!(deployment_names(&[a.clone(), b]).unwrap(), ["a", "b"]);
        let (x, y) = (touch("runs/x/preds.csv"), touch("runs/y/preds.csv"));
        assert_eq!(
            deployment_names(&[x.clone(), y, a.clone()]).unwrap(),
            ["x/preds", "y/preds", "a"]
        );
        // Files that differ only by their extension keep it (they were one deployment, named
        // after the whole path, before an audit found it); the others still drop theirs.
        let (a_tsv, z) = (touch("a.tsv"), touch("runs/z/preds.csv"));
        assert_eq!(
            deployment_names(&[a.clone(), a_tsv, z]).unwrap(),
            ["a.csv", "a.tsv", "preds"]
        );
        let again = dir.path().join("runs/../a.csv");
        let e = deployment_names(&[a, again]).unwrap_err().to_string();
        assert!(e.contains("the same file is given twice"), "{e}");
        let e = deployment_names(&[x, dir.path().join("missing.csv")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.csv"), "{e}");
    }
}
