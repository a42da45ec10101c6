//! `data describe`: per split, the number of examples, the label balance of every task and the
//! size of every group of every grouping — from the annotations only.
//!
//! Rows are `(dataset, split, task_or_grouping, value, count)`: `examples`/`all` is the split's
//! size; a task's rows list every class (zero counts included) by class name; a grouping's rows
//! list its groups, sorted by name.

use std::collections::BTreeMap;
use std::io::Write;

use super::example::Dataset;
use crate::error::{Error, Result};

/// One count of the description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    /// The dataset's name.
    pub dataset: String,
    /// The split.
    pub split: String,
    /// `examples`, a task name or a grouping name.
    pub key: String,
    /// `all`, a class name or a group value.
    pub value: String,
    /// How many examples.
    pub count: usize,
}

/// Counts per split, task class and group.
pub fn describe(ds: &Dataset) -> Vec<CountRow> {
    let mut rows = Vec::new();
    for split in ds.splits() {
        let examples: Vec<_> = ds.split(split).collect();
        let mut push = |key: &str, value: &str, count: usize| {
            rows.push(CountRow {
                dataset: ds.name.clone(),
                split: split.as_str().into(),
                key: key.into(),
                value: value.into(),
                count,
            })
        };
        push("examples", "all", examples.len());
        for (t, task) in ds.tasks.iter().enumerate() {
            for (c, class) in task.classes.iter().enumerate() {
                let n = examples.iter().filter(|e| e.labels[t] == c as i64).count();
                push(&task.name, class, n);
            }
        }
        for (g, grouping) in ds.groupings.iter().enumerate() {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for e in &examples {
                *counts.entry(e.groups[g].as_str()).or_default() += 1;
            }
            for (value, n) in counts {
                push(grouping, value, n);
            }
        }
    }
    rows
}

/// Writes the rows as CSV with header `dataset,split,task_or_grouping,value,count`.
pub fn write_csv(rows: &[CountRow], out: impl Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| Error::Runtime(format!("writing CSV: {e}"));
    w.write_record(["dataset", "split", "task_or_grouping", "value", "count"])
        .map_err(err)?;
    for r in rows {
        w.write_record([
            r.dataset.as_str(),
            r.split.as_str(),
            r.key.as_str(),
            r.value.as_str(),
            &r.count.to_string(),
        ])
        .map_err(err)?;
    }
    w.flush()
        .map_err(|e| Error::io("writing CSV".to_string(), e))
}

/// Renders the rows as an aligned text table; groupings with more than `max_groups` groups
/// (e.g. `individual`) are summarised as their number of groups and the smallest and largest.
pub fn render_table(rows: &[CountRow], max_groups: usize) -> String {
    let mut lines: Vec<[String; 5]> = vec![[
        "dataset".into(),
        "split".into(),
        "task/grouping".into(),
        "value".into(),
        "count".into(),
    ]];
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        let j = rows[i..]
            .iter()
            .position(|x| x.split != r.split || x.key != r.key)
            .map_or(rows.len(), |p| i + p);
        let block = &rows[i..j];
        if block.len() > max_groups {
            let min = block.iter().map(|x| x.count).min().unwrap_or(0);
            let max = block.iter().map(|x| x.count).max().unwrap_or(0);
            lines.push([
                r.dataset.clone(),
                r.split.clone(),
                r.key.clone(),
                format!("({} groups, sizes {min}..{max})", block.len()),
                block.iter().map(|x| x.count).sum::<usize>().to_string(),
            ]);
        } else {
            for x in block {
                lines.push([
                    x.dataset.clone(),
                    x.split.clone(),
                    x.key.clone(),
                    x.value.clone(),
                    x.count.to_string(),
                ]);
            }
        }
        i = j;
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = (0..5)
            .map(|c| {
                if c == 4 {
                    format!("{:>w$}", l[c], w = widths[c])
                } else {
                    format!("{:<w$}", l[c], w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
