//! The person × deployment view of one system, which is what the metrics compute on.
//!
//! A long failure table holds several systems; [`systems`] splits it into one [`SystemMatrix`]
//! each, checking the rules that make the view well defined: no duplicate
//! (system, deployment, example_id) rows, a person's group the same in every deployment, and
//! every system having rows for every deployment that the table names.

use super::table::{columns, deployment_name_problem, Categorical, FailureTable};
use crate::error::{InputError, Result};

/// Outcome code: the deployment decided about the person and did not fail them.
pub const OK: u8 = 0;
/// Outcome code: the deployment failed the person.
pub const FAILED: u8 = 1;
/// Outcome code: the person never met this deployment (DESIGN.md §1, paper eq. 10).
pub const ABSENT: u8 = 2;

/// One grouping of people (hair colour, gender words, race...): a group per person.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    /// The group column's name.
    pub name: String,
    /// The group names, in order of first appearance.
    pub levels: Vec<String>,
    /// The group of each person, an index into `levels`.
    pub of_person: Vec<u32>,
}

/// One system: k deployments and the n people they decide about.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemMatrix {
    /// The system's name (`all` for a table without a `system` column).
    pub name: String,
    /// The deployments, in order of first appearance in the table.
    pub deployments: Vec<String>,
    /// The people's example ids, in order of first appearance.
    pub people: Vec<String>,
    /// Outcome codes ([`OK`], [`FAILED`], [`ABSENT`]), person-major: person p's outcome under
    /// deployment i is `outcomes[p * k + i]`.
    pub outcomes: Vec<u8>,
    /// Per-example losses in the same layout (NaN where absent), when the table has `loss`.
    pub losses: Option<Vec<f64>>,
    /// The requested groupings.
    pub groupings: Vec<Grouping>,
    /// Attribute columns whose value is the same on every row of the system (e.g. `method`,
    /// `seed`), used to aggregate across systems.
    pub attributes: Vec<(String, String)>,
}

impl SystemMatrix {
    /// Number of deployments, k.
    pub fn n_deployments(&self) -> usize {
        self.deployments.len()
    }

    /// Number of people, n.
    pub fn n_people(&self) -> usize {
        self.people.len()
    }

    /// Person p's outcome codes, one per deployment.
    pub fn person(&self, p: usize) -> &[u8] {
        let k = self.deployments.len();
        &self.outcomes[p * k..(p + 1) * k]
    }

    /// The value of attribute `name`, if constant on the system.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn located(table: &FailureTable, row: usize, column: &str, message: String) -> InputError {
    let mut e = InputError::new(message).in_column(table.column_in_file(row, column));
    if let Some((file, r)) = table.origin_of(row) {
        e = e.in_file(file).at_row(r);
    } else {
        e = e.at_row(row + 1);
    }
    e
}

fn place(table: &FailureTable, row: usize) -> String {
    match table.origin_of(row) {
        Some((file, r)) => format!("{} row {r}", file.display()),
        None => format!("row {}", row + 1),
    }
}

/// `e` naming the table's first file, for a problem with a column every file has.
fn in_first_file(table: &FailureTable, e: InputError) -> crate::error::Error {
    match table.origins.first() {
        Some(o) => e.in_file(&o.file).into(),
        None => e.into(),
    }
}

/// The error for a `--group` column the table lacks: a schema column is not a group column,
/// and with several files the file without the column is named.
fn missing_group_column(table: &FailureTable, name: &str) -> crate::error::Error {
    if columns::CORE.contains(&name) {
        let e = InputError::new(format!(
            "`{name}` is a column of the failure table's schema, not a group column; to group \
             people by it, copy it into a column of its own (a person's group must be the same \
             in every deployment)"
        ));
        return in_first_file(table, e);
    }
    absent_column(table, name, "group column")
}

/// The error for a column the table lacks, which the user asked for as `what` (`group column`);
/// with several files the file without the column is named.
fn absent_column(table: &FailureTable, name: &str, what: &str) -> crate::error::Error {
    // The first file without the column (a column only some files have is dropped).
    let lacking = table
        .origins
        .iter()
        .find(|o| !o.extra_columns.iter().any(|c| c == name))
        .or(table.origins.first());
    let present: Vec<&str> = match lacking {
        Some(o) => o.extra_columns.iter().map(String::as_str).collect(),
        None => table.extra.iter().map(|c| c.name.as_str()).collect(),
    };
    let mut e = InputError::new(format!(
        "no {what} `{name}` (group or attribute columns present: {}){}",
        if present.is_empty() {
            "none".to_string()
        } else {
            present.join(", ")
        },
        if table.origins.len() > 1 {
            "; every file must have the column"
        } else {
            ""
        }
    ));
    if let Some(o) = lacking {
        e = e.in_file(&o.file);
    }
    e.into()
}

/// Checks that `column` is an attribute of every system of `table` (one value on all of a
/// system's rows, and not one of `group_columns`), as aggregating systems by it needs; `option`
/// (`--by`) names what asks. The error names the file without the column, or the two rows of
/// one system that disagree.
pub fn check_attribute(
    table: &FailureTable,
    column: &str,
    group_columns: &[String],
    option: &str,
) -> Result<()> {
    if columns::CORE.contains(&column) {
        let e = InputError::new(format!(
            "{option} {column}: `{column}` is a column of the failure table's schema; {option} \
             needs an attribute column with one value per system, such as `method` or `seed`"
        ))
        .in_column(column);
        return Err(in_first_file(table, e));
    }
    let Some(values) = table.extra_column(column) else {
        return Err(absent_column(
            table,
            column,
            &format!("attribute column for {option}"),
        ));
    };
    if group_columns.iter().any(|g| g == column) {
        let e = InputError::new(format!(
            "{option} {column}: `{column}` is a group column here (--group); {option} needs a \
             column that has one value per system, such as `method` or `seed`"
        ))
        .in_column(column);
        return Err(in_first_file(table, e));
    }
    let n_systems = table.system.as_ref().map_or(1, |s| s.levels.len());
    let mut first_row: Vec<Option<usize>> = vec![None; n_systems];
    for row in 0..table.len() {
        let s = table.system.as_ref().map_or(0, |s| s.codes[row] as usize);
        let first = *first_row[s].get_or_insert(row);
        if values.codes[row] != values.codes[first] {
            return Err(located(
                table,
                row,
                column,
                format!(
                    "{option} {column}: system `{}` has more than one value of `{column}`: `{}` \
                     here and `{}` at {}; {option} compares systems that each have one value \
                     (give each value its own system, or leave out {option})",
                    table.system_of(row),
                    values.value(row),
                    values.value(first),
                    place(table, first),
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// Splits a failure table into its systems, with `group_columns` as groupings.
///
/// Errors (all bad input): a requested group column that the table lacks, a deployment name
/// that [`deployment_name_problem`] refuses, a duplicate
/// (system, deployment, example_id) row, a person whose group differs between deployments,
/// and a system without rows for a deployment that other systems have.
pub fn systems(table: &FailureTable, group_columns: &[String]) -> Result<Vec<SystemMatrix>> {
    // A column asked for twice is one grouping.
    let mut unique: Vec<String> = Vec::new();
    for c in group_columns {
        if !unique.contains(c) {
            unique.push(c.clone());
        }
    }
    let group_columns = &unique[..];
    let groups: Vec<&Categorical> = group_columns
        .iter()
        .map(|name| {
            table
                .extra_column(name)
                .ok_or_else(|| missing_group_column(table, name))
        })
        .collect::<Result<_>>()?;
    for col in &groups {
        let empty = col.levels.iter().position(|l| l.trim().is_empty());
        if let Some(row) = empty.and_then(|l| col.codes.iter().position(|&c| c as usize == l)) {
            return Err(located(
                table,
                row,
                &col.name,
                "empty group value; every person needs a group (pandas writes a missing value \
                 as an empty field: fill those values or drop those rows)"
                    .into(),
            )
            .into());
        }
    }

    // A table built in memory has not been through the reader's check of deployment names.
    for (level, name) in table.deployment.levels.iter().enumerate() {
        let Some(problem) = deployment_name_problem(name) else {
            continue;
        };
        if let Some(row) = table
            .deployment
            .codes
            .iter()
            .position(|&c| c as usize == level)
        {
            return Err(located(table, row, columns::DEPLOYMENT, problem).into());
        }
    }

    // Rows of each system, in order of first appearance.
    let n_systems = table.system.as_ref().map_or(1, |s| s.levels.len());
    let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); n_systems];
    for row in 0..table.len() {
        let s = table.system.as_ref().map_or(0, |s| s.codes[row] as usize);
        rows_of[s].push(row);
    }

    let all_deployments: Vec<u32> = (0..table.deployment.levels.len() as u32).collect();
    let mut out = Vec::with_capacity(n_systems);
    for (s, rows) in rows_of.iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let name = table.system_of(rows[0]).to_string();
        // Deployments of this system, in order of first appearance.
        // Codes are dense indices into the levels, so plain vectors map them to local indices.
        let mut dep_local: Vec<usize> = vec![usize::MAX; table.deployment.levels.len()];
        let mut deployments = Vec::new();
        for &row in rows {
            let d = table.deployment.codes[row] as usize;
            if dep_local[d] == usize::MAX {
                deployments.push(table.deployment.levels[d].clone());
                dep_local[d] = deployments.len() - 1;
            }
        }
        if n_systems > 1 {
            if let Some(missing) = all_deployments
                .iter()
                .find(|&&d| dep_local[d as usize] == usize::MAX)
            {
                let mut e = InputError::new(format!(
                    "system `{name}` has no rows for deployment `{}`, which other systems have; \
                     every system must cover the same deployments",
                    table.deployment.levels[*missing as usize]
                ))
                .in_column("deployment");
                if let Some(o) = table.origins.first() {
                    e = e.in_file(&o.file);
                }
                return Err(e.into());
            }
        }
        let k = deployments.len();
        let mut person_local: Vec<usize> = vec![usize::MAX; table.example_id.levels.len()];
        let mut people = Vec::new();
        let mut outcomes: Vec<u8> = Vec::new();
        let mut losses: Option<Vec<f64>> = table.loss.as_ref().map(|_| Vec::new());
        let mut first_row_of: Vec<usize> = Vec::new();
        let mut group_of: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
        for &row in rows {
            let e = table.example_id.codes[row];
            if person_local[e as usize] == usize::MAX {
                people.push(table.example_id.levels[e as usize].clone());
                outcomes.extend(std::iter::repeat_n(ABSENT, k));
                if let Some(l) = losses.as_mut() {
                    l.extend(std::iter::repeat_n(f64::NAN, k));
                }
                first_row_of.push(row);
                for (g, col) in groups.iter().enumerate() {
                    group_of[g].push(col.codes[row]);
                }
                person_local[e as usize] = people.len() - 1;
            }
            let p = person_local[e as usize];
            let d = dep_local[table.deployment.codes[row] as usize];
            let cell = p * k + d;
            if outcomes[cell] != ABSENT {
                let earlier = rows
                    .iter()
                    .copied()
                    .find(|&r| {
                        table.example_id.codes[r] == e
                            && table.deployment.codes[r] == table.deployment.codes[row]
                    })
                    .unwrap_or(row);
                return Err(located(
                    table,
                    row,
                    "example_id",
                    format!(
                        "duplicate row for system `{name}`, deployment `{}`, example_id `{}` \
                         (first seen at {}); each person may appear once per deployment",
                        deployments[d],
                        people[p],
                        place(table, earlier)
                    ),
                )
                .into());
            }
            outcomes[cell] = if table.failure[row] { FAILED } else { OK };
            if let (Some(l), Some(src)) = (losses.as_mut(), table.loss.as_ref()) {
                l[cell] = src[row];
            }
            for (g, col) in groups.iter().enumerate() {
                if col.codes[row] != group_of[g][p] {
                    return Err(located(
                        table,
                        row,
                        &col.name,
                        format!(
                            "example_id `{}` is in group `{}` here but in group `{}` at {}; \
                             a person's group must be the same in every deployment",
                            people[p],
                            col.value(row),
                            col.levels[group_of[g][p] as usize],
                            place(table, first_row_of[p])
                        ),
                    )
                    .into());
                }
            }
        }
        // Renumber group levels to those present in this system, in order of first appearance.
        let groupings = groups
            .iter()
            .zip(group_of)
            .map(|(col, codes)| {
                let mut local = Categorical::new(col.name.clone());
                for c in codes {
                    local.push(&col.levels[c as usize]);
                }
                Grouping {
                    name: col.name.clone(),
                    levels: local.levels,
                    of_person: local.codes,
                }
            })
            .collect();
        let attributes = table
            .extra
            .iter()
            .filter(|c| !group_columns.contains(&c.name))
            .filter_map(|c| {
                let first = c.codes[rows[0]];
                rows.iter()
                    .all(|&r| c.codes[r] == first)
                    .then(|| (c.name.clone(), c.levels[first as usize].clone()))
            })
            .collect();
        let _ = s;
        out.push(SystemMatrix {
            name,
            deployments,
            people,
            outcomes,
            losses,
            groupings,
            attributes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(&str, &str, bool, &str)]) -> FailureTable {
        let mut t = FailureTable::new();
        let mut g = Categorical::new("hair");
        for (dep, id, fail, group) in rows {
            t.deployment.push(dep);
            t.example_id.push(id);
            t.failure.push(*fail);
            g.push(group);
        }
        t.extra.push(g);
        t
    }

    #[test]
    fn builds_person_by_deployment_matrix_with_absent_cells() {
        let t = table(&[
            ("a", "p1", true, "x"),
            ("a", "p2", false, "y"),
            ("b", "p2", true, "y"),
            ("b", "p3", false, "x"),
        ]);
        let s = systems(&t, &["hair".to_string()]).unwrap();
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.name, "all");
        assert_eq!(s.deployments, vec!["a", "b"]);
        assert_eq!(s.people, vec!["p1", "p2", "p3"]);
        assert_eq!(s.outcomes, vec![FAILED, ABSENT, OK, FAILED, ABSENT, OK]);
        assert_eq!(s.groupings[0].levels, vec!["x", "y"]);
        assert_eq!(s.groupings[0].of_person, vec![0, 1, 0]);
    }

    #[test]
    fn duplicate_rows_and_inconsistent_groups_are_input_errors() {
        let t = table(&[("a", "p1", true, "x"), ("a", "p1", false, "x")]);
        let e = systems(&t, &[]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("duplicate row"), "{e}");
        assert!(e.to_string().contains("row 2"), "{e}");

        let t = table(&[("a", "p1", true, "x"), ("b", "p1", false, "y")]);
        let e = systems(&t, &["hair".to_string()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("must be the same in every deployment"),
            "{e}"
        );

        let e = systems(&t, &["beard".to_string()]).unwrap_err();
        assert!(e.to_string().contains("no group column `beard`"), "{e}");
    }
}
