//! From trained cells to measurements: the cells' failure tables joined into one table whose
//! systems are (method, seed) and whose deployments are the tasks, every system measured with
//! [`crate::metrics::measure_system`], and the systems aggregated per method with
//! [`crate::metrics::aggregate_by`].

use super::grid::Cell;
use crate::error::{InputError, Result};
use crate::failures::{read_table, systems, Categorical, FailureTable};
use crate::metrics::{self, Measurement, Options, SystemResult};

/// The name of the system of (method, seed).
pub fn system_name(method: &str, seed: u64) -> String {
    format!("{method}/seed-{seed}")
}

/// The systems (method, seed) that lack a task some other system finished: they are left out
/// of the measurements (a system missing a deployment is a different system). A task that
/// finished nowhere is simply not a deployment of any measured system.
pub fn incomplete_systems(cells: &[Cell]) -> Vec<String> {
    let finished_somewhere: Vec<&str> = cells
        .iter()
        .filter(|c| c.is_done())
        .map(|c| c.task.as_str())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for c in cells
        .iter()
        .filter(|c| !c.is_done() && finished_somewhere.contains(&c.task.as_str()))
    {
        let name = system_name(&c.method, c.seed);
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Reads the failure tables of the finished cells of complete systems and joins them: `system`
/// is `<method>/seed-<seed>`, `deployment` the task's name, `method` and `seed` attribute
/// columns (the method's label). Each table must hold a column for each of `groupings` (the
/// config's `experiment.groupings`; the error names the cell's file). Rows keep their origin,
/// so an error about the joined table names the cell's file and row. Writes nothing.
pub fn join_tables(cells: &[Cell], groupings: &[String]) -> Result<FailureTable> {
    let incomplete = incomplete_systems(cells);
    let mut all: Option<FailureTable> = None;
    for c in cells
        .iter()
        .filter(|c| c.is_done() && !incomplete.contains(&system_name(&c.method, c.seed)))
    {
        let path = c.failures_path();
        let mut t = read_table(&path)?;
        if let Some(g) = groupings
            .iter()
            .find(|g| !t.extra.iter().any(|col| col.name == **g))
        {
            let present: Vec<&str> = t.extra.iter().map(|c| c.name.as_str()).collect();
            return Err(InputError::new(format!(
                "no column `{g}`, which the run's config names in experiment.groupings \
                 (group or attribute columns present: {}); this cell's table was not written \
                 by this run's config",
                match present.is_empty() {
                    true => "none".to_string(),
                    false => present.join(", "),
                }
            ))
            .in_file(&path)
            .into());
        }
        let n = t.len();
        let sys = system_name(&c.method, c.seed);
        t.system = Some(Categorical::from_values("system", &vec![sys.as_str(); n]));
        t.deployment = Categorical::from_values("deployment", &vec![c.task.as_str(); n]);
        t.extra
            .retain(|col| col.name != "method" && col.name != "seed");
        t.extra.push(Categorical::from_values(
            "method",
            &vec![c.method.as_str(); n],
        ));
        let seed = c.seed.to_string();
        t.extra
            .push(Categorical::from_values("seed", &vec![seed.as_str(); n]));
        match all.as_mut() {
            Some(a) => a.append(t),
            None => all = Some(t),
        }
    }
    Ok(all.unwrap_or_default())
}

/// Measures every system of the joined table at the individual level and for `groupings`.
pub fn measure_systems(table: &FailureTable, groupings: &[String]) -> Result<Vec<SystemResult>> {
    if table.is_empty() {
        return Ok(Vec::new());
    }
    Ok(systems(table, groupings)?
        .iter()
        .enumerate()
        .map(|(i, s)| SystemResult {
            name: s.name.clone(),
            attributes: s.attributes.clone(),
            rows: metrics::measure_system(s, &Options::default(), i as u64),
        })
        .collect())
}

/// Per method (`method=<label>`), mean/sd/n of every metric over its seeds.
pub fn per_method(results: &[SystemResult]) -> Result<Vec<(String, Vec<Measurement>)>> {
    if results.is_empty() {
        return Ok(Vec::new());
    }
    metrics::aggregate_by(results, "method")
}

/// Majority-class share of each deployment's labels (the accuracy of always predicting the
/// most frequent test label), per deployment name in order of appearance; counted on the first
/// system that has the deployment (every system sees the same test examples).
pub fn majority_baselines(table: &FailureTable) -> Vec<(String, Option<f64>)> {
    let mut out = Vec::new();
    for (d, name) in table.deployment.levels.iter().enumerate() {
        let (Some(labels), Some(first)) = (
            &table.label,
            (0..table.len()).find(|&r| table.deployment.codes[r] as usize == d),
        ) else {
            out.push((name.clone(), None));
            continue;
        };
        let sys_of = |r: usize| table.system.as_ref().map(|s| s.codes[r]);
        let mut counts: std::collections::BTreeMap<i64, usize> = Default::default();
        let mut n = 0usize;
        for (row, label) in labels.iter().enumerate() {
            if table.deployment.codes[row] as usize == d && sys_of(row) == sys_of(first) {
                *counts.entry(*label).or_default() += 1;
                n += 1;
            }
        }
        let best = counts.values().max().copied().unwrap_or(0);
        out.push((name.clone(), (n > 0).then(|| best as f64 / n as f64)));
    }
    out
}

/// Whether `metric` is one of the group-level headline metrics (its value lives in a grouping).
pub fn is_group_metric(metric: &str) -> bool {
    matches!(metric, "h_avg" | "h_unif" | "h_worst" | "unfairness")
}
