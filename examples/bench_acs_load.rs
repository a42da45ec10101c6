//! Loading an ACS PUMS population: the person files of a folder (folktables' `ROOT/2018/1-Year/`,
//! every state of folktables' list) through [`homogen::data::tabular::acs::load_paths`], the
//! loader a data-sharing run uses, to the three folktables tasks' features, labels and race
//! groups.
//!
//! Usage: `cargo run --release --example bench_acs_load -- DIR`. Prints one JSON line: seconds,
//! peak resident memory (`VmHWM`), people, and per task the positives and the sum of its
//! feature matrix, which `scripts/bench_acs_load.py` compares with folktables' `df_to_numpy`
//! on the same files.

use std::path::PathBuf;
use std::time::Instant;

use homogen::data::tabular::acs;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident set of this process in KiB (`VmHWM` of /proc/self/status), 0 where unknown.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: bench_acs_load DIR"))?,
    );
    let start = Instant::now();
    let (data, files) = acs::load_paths(&[dir], None)?;
    let seconds = start.elapsed().as_secs_f64();
    let tasks: Vec<serde_json::Value> = data
        .tasks
        .iter()
        .map(|t| {
            let positives: u64 = t.labels.iter().map(|&l| u64::from(l)).sum();
            let feature_sum: f64 = t
                .feature_columns
                .iter()
                .map(|&c| data.features.column(c).sum())
                .sum();
            serde_json::json!({"name": t.name, "positives": positives, "feature_sum": feature_sum})
        })
        .collect();
    let race = data.groups.iter().find(|g| g.name == "race");
    let white = race.map_or(0, |g| {
        g.values.iter().filter(|v| *v == acs::RACE_NAMES[0]).count()
    });
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "peak_rss_kib": peak_rss_kib(),
            "files": files.len(),
            "people": data.n_people(),
            "features": data.n_features(),
            "white": white,
            "tasks": tasks,
        })
    );
    Ok(())
}
