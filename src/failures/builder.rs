//! Receiving one file's rows into a failure table: the header check (required columns, renamed
//! roles, deployments from a column, the file or `--wide` columns) and each row's values
//! (labels as integers or class names, the failure derived where not given).

use std::path::{Path, PathBuf};

use super::mapping::{ColumnMap, ReadOptions, Role, Wide};
use super::read::parse_int;
use super::table::{columns, deployment_name_problem, Categorical, FailureTable};
use crate::error::{Error, InputError, Result};

/// Receives one file's rows into a table, checking each value.
pub(super) struct Builder {
    file: PathBuf,
    columns: ColumnMap,
    /// The rows received so far.
    pub(super) table: FailureTable,
    /// Whether the failure is given (a failure column, or wide failure columns) rather than
    /// derived from label and prediction.
    pub(super) has_failure: bool,
    /// The class names once a label or prediction was not an integer (see [`Builder::class`]).
    class_names: Option<Categorical>,
    /// What kinds of values the label and the prediction columns hold.
    kinds: [ClassKinds; 2],
    /// Whether the predictions come from `--wide` columns.
    wide_predictions: bool,
}

/// The kinds of values one label or prediction column holds: integers, names, and a few
/// examples of each (for the message when label and prediction hold different kinds).
#[derive(Debug, Default)]
struct ClassKinds {
    ints: Vec<String>,
    names: Vec<String>,
    saw_int: bool,
    saw_name: bool,
}

impl ClassKinds {
    fn note(&mut self, value: Class<'_>) {
        let (text, is_int) = match value {
            Class::Int(v) => (v.to_string(), true),
            Class::Text(t) => (t.trim().to_string(), parse_int(t).is_some()),
        };
        let (seen, examples) = match is_int {
            true => (&mut self.saw_int, &mut self.ints),
            false => (&mut self.saw_name, &mut self.names),
        };
        *seen = true;
        if examples.len() < 3 && !examples.contains(&text) {
            examples.push(text);
        }
    }

    /// `Some(true)`: only integers; `Some(false)`: only names; `None`: both or none.
    fn only_ints(&self) -> Option<bool> {
        match (self.saw_int, self.saw_name) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self.saw_int {
            true => format!("only integers (such as {})", self.ints.join(", ")),
            false => format!("only class names (such as {})", self.names.join(", ")),
        }
    }
}

/// A hint for a header that holds numbers (a CSV file written without its header row, whose
/// first row of data is then read as the column names); empty otherwise.
fn headerless_hint(names: &[String]) -> &'static str {
    // Finite only: `nan` and `inf` parse as numbers but are plausible column names.
    match names
        .iter()
        .any(|n| n.trim().parse::<f64>().is_ok_and(f64::is_finite))
    {
        true => {
            " (the header holds numbers: is it a row of data? The first row must name the \
             columns, as pandas' to_csv writes it)"
        }
        false => "",
    }
}

impl Builder {
    /// Checks the header: required columns present and no name twice; `deployment` is the
    /// file's one deployment when it has no deployment column.
    pub(super) fn new(
        file: &Path,
        names: &[String],
        options: &ReadOptions,
        deployment: Option<&str>,
    ) -> Result<(Builder, Layout)> {
        let map = &options.columns;
        let find = |role: Role| names.iter().position(|n| n == map.name(role));
        let refuse = |column: &str, message: String| -> Error {
            InputError::new(message)
                .in_file(file)
                .in_column(column)
                .into()
        };
        let missing = |role: Role| -> Error {
            let per_file = match role {
                Role::Deployment => {
                    ", or --deployment-per-file to make each file one deployment, or --wide \
                     for one column per deployment"
                }
                _ => "",
            };
            refuse(
                map.name(role),
                format!(
                    "missing required column {} (columns found: {}){}; name the column that \
                     holds it with --column {}=NAME{per_file}",
                    map.describe(role),
                    names.join(", "),
                    headerless_hint(names),
                    role.schema_name(),
                ),
            )
        };
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(refuse(
                    n,
                    format!(
                        "the column name appears twice in the header{}",
                        headerless_hint(names)
                    ),
                ));
            }
        }
        // A column the user named with --column must be there: an optional role read from a
        // misspelt name would otherwise be silently absent (failures from label != prediction,
        // no loss metrics, one system). The required roles have their own message below.
        for role in [
            Role::System,
            Role::Label,
            Role::Prediction,
            Role::Failure,
            Role::Loss,
        ] {
            if map.is_renamed(role) && find(role).is_none() {
                return Err(refuse(
                    map.name(role),
                    format!(
                        "no column `{}` in the file, which --column {}={} names (columns \
                         found: {})",
                        map.name(role),
                        role.schema_name(),
                        map.name(role),
                        names.join(", ")
                    ),
                ));
            }
        }
        let (has_deployment, has_wide) = (find(Role::Deployment), options.wide.as_ref());
        let deployment = match (has_deployment, deployment, has_wide) {
            (Some(i), None, None) => Source::Column(i),
            (None, Some(name), None) => Source::Constant(name.to_string()),
            (None, None, Some(wide)) => Source::Wide(wide_columns(file, names, map, wide)?),
            (None, None, None) => return Err(missing(Role::Deployment)),
            (Some(_), Some(_), _) => {
                return Err(refuse(
                    map.name(Role::Deployment),
                    format!(
                        "the file has a deployment column ({}) and --deployment-per-file names \
                         the deployment after the file; give one of the two",
                        map.describe(Role::Deployment)
                    ),
                ))
            }
            (Some(_), _, Some(_)) => {
                return Err(refuse(
                    map.name(Role::Deployment),
                    format!(
                        "the file has a deployment column ({}) and --wide takes the deployments \
                         from columns; give one of the two",
                        map.describe(Role::Deployment)
                    ),
                ))
            }
            (None, Some(_), Some(_)) => {
                unreachable!("--wide and --deployment-per-file conflict on the command line")
            }
        };
        // Deployment names from the file's name or from `--wide`'s columns, checked once here;
        // names from a column are checked as each row is read.
        match &deployment {
            Source::Constant(name) => {
                if let Some(problem) = deployment_name_problem(name) {
                    return Err(InputError::new(format!(
                        "{problem} (the name comes from the file's path, with \
                         --deployment-per-file)"
                    ))
                    .in_file(file)
                    .into());
                }
            }
            Source::Wide(columns) => {
                for (_, name) in columns {
                    if let Some(problem) = deployment_name_problem(name) {
                        return Err(InputError::new(format!(
                            "{problem} (with --wide the column's name is the deployment's)"
                        ))
                        .in_file(file)
                        .in_column(name.clone())
                        .at_key(Wide::OPTION)
                        .into());
                    }
                }
            }
            Source::Column(_) => {}
        }
        let wide_role = has_wide.map(|w| w.role);
        let layout = Layout {
            system: find(Role::System),
            example_id: find(Role::ExampleId).ok_or_else(|| missing(Role::ExampleId))?,
            label: find(Role::Label),
            prediction: find(Role::Prediction),
            failure: find(Role::Failure),
            loss: find(Role::Loss),
            extra: names
                .iter()
                .enumerate()
                .filter(|(i, n)| {
                    map.role_of(n).is_none()
                        && !map.is_displaced(n)
                        && !deployment.is_wide_column(*i)
                })
                .map(|(i, _)| i)
                .collect(),
            deployment,
        };
        // With one column per deployment, a per-person prediction or failure column would
        // contradict the deployments' own.
        if let (Some(_), Some(i)) = (wide_role, layout.loss) {
            return Err(refuse(
                &names[i],
                format!(
                    "a loss column ({}) next to {}: one loss per person cannot be each \
                     deployment's loss (the loss metrics compare the deployments' losses of a \
                     person); rename or drop the column, or give the deployments' losses in a \
                     long table",
                    map.describe(Role::Loss),
                    Wide::OPTION
                ),
            ));
        }
        if let Some(role) = wide_role {
            for (other, position) in [
                (Role::Prediction, layout.prediction),
                (Role::Failure, layout.failure),
            ] {
                if let Some(i) = position {
                    return Err(refuse(
                        &names[i],
                        format!(
                            "a {} column ({}) next to --wide {}=...: with one column per \
                             deployment the {} comes from those columns; drop it or give \
                             --column {}=OTHER",
                            other.schema_name(),
                            map.describe(other),
                            role.schema_name(),
                            other.schema_name(),
                            other.schema_name(),
                        ),
                    ));
                }
            }
        }
        let has_prediction = layout.prediction.is_some() || wide_role == Some(Role::Prediction);
        let has_failure = layout.failure.is_some() || wide_role == Some(Role::Failure);
        if !has_failure && (layout.label.is_none() || !has_prediction) {
            let absent = match (layout.label, has_prediction) {
                (None, false) => format!(
                    "{} and {} are both absent",
                    map.describe(Role::Label),
                    map.describe(Role::Prediction)
                ),
                (None, true) => format!("{} is absent", map.describe(Role::Label)),
                _ => format!("{} is absent", map.describe(Role::Prediction)),
            };
            // Locate the error at the column the user named with --column, when one is absent.
            let renamed = |r: Role| map.name(r) != r.schema_name();
            let column = [
                (Role::Label, layout.label.is_none()),
                (Role::Prediction, !has_prediction),
            ]
            .into_iter()
            .find(|&(r, absent)| absent && renamed(r))
            .map_or(map.name(Role::Failure), |(r, _)| map.name(r));
            return Err(refuse(
                column,
                format!(
                    "no failure column ({}) and {absent}: give the failure (0/1/true/false) or \
                     both the label and the prediction, or name their columns with --column \
                     ROLE=NAME (columns found: {})",
                    map.describe(Role::Failure),
                    names.join(", ")
                ),
            ));
        }
        let mut table = FailureTable::new();
        if layout.system.is_some() {
            table.system = Some(Categorical::new(columns::SYSTEM));
        }
        if layout.label.is_some() {
            table.label = Some(Vec::new());
        }
        if has_prediction {
            table.prediction = Some(Vec::new());
        }
        if layout.loss.is_some() {
            table.loss = Some(Vec::new());
        }
        table.extra = layout
            .extra
            .iter()
            .map(|&i| Categorical::new(names[i].clone()))
            .collect();
        let builder = Builder {
            file: file.to_path_buf(),
            columns: map.clone(),
            table,
            has_failure,
            class_names: None,
            kinds: Default::default(),
            wide_predictions: false,
        };
        Ok((builder, layout))
    }

    /// An error at data row `row` (1-based) in column `column`.
    fn error(&self, row: usize, column: &str, message: impl Into<String>) -> Error {
        InputError::new(message)
            .in_file(&self.file)
            .at_row(row)
            .in_column(column)
            .into()
    }

    /// The code of a label or prediction (`None`: an empty value). While every value read is
    /// an integer the code is the integer; from the first value that is not, every value is
    /// coded as an index into the class names, a value that reads as an integer named by that
    /// integer (`1.0` is class `1`), so two values get one code exactly when they are the same
    /// class.
    fn class(&mut self, value: Class<'_>) -> Option<i64> {
        let name = match value {
            Class::Int(v) => match &mut self.class_names {
                None => return Some(v),
                Some(names) => return Some(names.intern(&v.to_string()) as i64),
            },
            Class::Text(text) => {
                if let Some(v) = parse_int(text) {
                    return self.class(Class::Int(v));
                }
                text.trim()
            }
        };
        if name.is_empty() {
            return None;
        }
        let names = self.class_names.get_or_insert_with(|| {
            // Switching to names: the integers read so far become the names of themselves.
            let mut names = Categorical::new("class");
            let t = &mut self.table;
            for v in t.label.iter_mut().chain(t.prediction.iter_mut()).flatten() {
                *v = names.intern(&v.to_string()) as i64;
            }
            names
        });
        Some(names.intern(name) as i64)
    }

    /// Appends one row; `row` is the 1-based data row, for errors.
    pub(super) fn push(&mut self, row: usize, values: RowValues<'_>) -> Result<()> {
        for (role, value) in [
            (Role::Deployment, values.deployment),
            (Role::ExampleId, values.example_id),
        ] {
            if value.trim().is_empty() {
                let column = self.columns.name(role);
                return Err(self.error(row, column, "empty value; expected a non-empty name"));
            }
        }
        // (Names from the file or from `--wide` columns were refused in `new` already.)
        if let Some(problem) = deployment_name_problem(values.deployment) {
            return Err(self.error(row, self.columns.name(Role::Deployment), problem));
        }
        if let Some(loss) = values.loss.filter(|l| !(l.is_finite() && *l >= 0.0)) {
            let column = self.columns.name(Role::Loss);
            let hint = match loss.is_infinite() && loss > 0.0 {
                true => {
                    " (an infinite log loss: clip the predicted probability, e.g. at 1e-15 as \
                         scikit-learn's log_loss does)"
                }
                false => "",
            };
            return Err(self.error(
                row,
                column,
                format!("expected a finite loss of 0 or more, found {loss}{hint}"),
            ));
        }
        if values.system.is_some_and(|s| s.trim().is_empty()) {
            let column = self.columns.name(Role::System);
            return Err(self.error(row, column, "empty value; expected a system name"));
        }
        let empty_class = |b: &Self, column: &str| {
            b.error(
                row,
                column,
                "empty value; expected a class (an integer or a name)",
            )
        };
        // The label is stored before the prediction is coded: coding it may switch the codes
        // to class names, which recodes the stored values, this row's label included.
        if let Some(l) = values.label {
            self.kinds[0].note(l);
            let Some(code) = self.class(l) else {
                return Err(empty_class(self, self.columns.name(Role::Label)));
            };
            self.table
                .label
                .as_mut()
                .expect("a label column")
                .push(code);
        }
        if let Some(p) = values.prediction {
            self.kinds[1].note(p);
            self.wide_predictions |= values.wide_column.is_some();
            let Some(code) = self.class(p) else {
                let column = values
                    .wide_column
                    .unwrap_or(self.columns.name(Role::Prediction));
                return Err(empty_class(self, column));
            };
            let predictions = self.table.prediction.as_mut();
            predictions.expect("a prediction column").push(code);
        }
        let t = &mut self.table;
        if let Some(s) = t.system.as_mut() {
            s.push(values.system.unwrap_or_default());
        }
        t.deployment.push(values.deployment);
        t.example_id.push(values.example_id);
        let failure = match (self.has_failure, values.failure) {
            (true, Some(f)) => f,
            _ => {
                let (Some(l), Some(p)) = (&t.label, &t.prediction) else {
                    unreachable!("the header check guarantees failure or label + prediction")
                };
                l.last() != p.last()
            }
        };
        t.failure.push(failure);
        if let Some(l) = t.loss.as_mut() {
            l.push(values.loss.unwrap_or(f64::NAN));
        }
        Ok(())
    }

    /// The table read, with its class names when the labels were names. When the failure is
    /// derived from label and prediction, one column holding only class names and the other
    /// only integers, with no class in both, is an input error: every row would count as a
    /// failure (`neg`/`pos` labels against 0/1 predictions).
    pub(super) fn finish(self) -> Result<FailureTable> {
        let [label, prediction] = &self.kinds;
        let (Some(l), Some(p)) = (label.only_ints(), prediction.only_ints()) else {
            return Ok(self.finish_unchecked());
        };
        let disjoint = match (&self.table.label, &self.table.prediction) {
            (Some(ls), Some(ps)) => {
                let ls: std::collections::HashSet<i64> = ls.iter().copied().collect();
                !ps.iter().any(|p| ls.contains(p))
            }
            _ => false,
        };
        if self.has_failure || l == p || !disjoint {
            return Ok(self.finish_unchecked());
        }
        let (lc, pc) = (
            self.columns.name(Role::Label).to_string(),
            self.columns.name(Role::Prediction).to_string(),
        );
        let pc = match self.wide_predictions {
            true => "the --wide prediction columns".to_string(),
            false => format!("column `{pc}`"),
        };
        Err(InputError::new(format!(
            "column `{lc}` holds {} and {pc} holds {}: no class is in both, so every \
             row would count as a failure; write both as class names or both as integers (or \
             give a `failure` column)",
            label.describe(),
            prediction.describe()
        ))
        .in_file(&self.file)
        .in_column(lc)
        .into())
    }

    fn finish_unchecked(mut self) -> FailureTable {
        self.table.class_names = self.class_names.map(|c| c.levels);
        self.table
    }
}

/// The positions of `--wide`'s deployment columns, each with its name; every one must exist
/// and none may be a column that plays a role.
fn wide_columns(
    file: &Path,
    names: &[String],
    map: &ColumnMap,
    wide: &Wide,
) -> Result<Vec<(usize, String)>> {
    wide.columns
        .iter()
        .map(|c| {
            let refuse = |message: String| -> Error {
                InputError::new(message)
                    .in_file(file)
                    .in_column(c.clone())
                    .at_key(Wide::OPTION)
                    .into()
            };
            if let Some(role) = map.role_of(c) {
                return Err(refuse(format!(
                    "`{c}` is the {} column; list only the deployments' own columns",
                    role.schema_name()
                )));
            }
            match names.iter().position(|n| n == c) {
                Some(i) => Ok((i, c.clone())),
                None => Err(refuse(format!(
                    "no such column (columns found: {})",
                    names.join(", ")
                ))),
            }
        })
        .collect()
}

/// Where a file's deployment comes from.
pub(super) enum Source {
    /// The column at this position.
    Column(usize),
    /// One name for every row (the file's, with `--deployment-per-file`).
    Constant(String),
    /// One column per deployment (`--wide`): positions and names.
    Wide(Vec<(usize, String)>),
}

impl Source {
    /// Whether column `i` is one of `--wide`'s deployment columns.
    fn is_wide_column(&self, i: usize) -> bool {
        matches!(self, Source::Wide(columns) if columns.iter().any(|(c, _)| *c == i))
    }
}

/// Column positions of one file.
pub(super) struct Layout {
    pub(super) system: Option<usize>,
    pub(super) deployment: Source,
    pub(super) example_id: usize,
    pub(super) label: Option<usize>,
    pub(super) prediction: Option<usize>,
    pub(super) failure: Option<usize>,
    pub(super) loss: Option<usize>,
    /// Group and attribute columns.
    pub(super) extra: Vec<usize>,
}

/// A label or prediction as read: an integer column's value or a text value.
#[derive(Clone, Copy)]
pub(super) enum Class<'a> {
    /// From an integer column.
    Int(i64),
    /// From a text column or a CSV field.
    Text(&'a str),
}

/// The parsed values of one row's fixed columns.
#[derive(Clone, Copy)]
pub(super) struct RowValues<'a> {
    pub(super) system: Option<&'a str>,
    pub(super) deployment: &'a str,
    pub(super) example_id: &'a str,
    pub(super) label: Option<Class<'a>>,
    pub(super) prediction: Option<Class<'a>>,
    /// The `--wide` column the prediction came from, for errors.
    pub(super) wide_column: Option<&'a str>,
    pub(super) failure: Option<bool>,
    pub(super) loss: Option<f64>,
}
