//! Progress bars of the trainer (indicatif): one per epoch with examples/s, loss and ETA.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// A bar over `n` training examples of epoch `epoch` of `epochs`, titled `label` (the cell);
/// hidden when `quiet`, added under `multi`'s other bars when given.
pub fn epoch_bar(
    n: usize,
    epoch: usize,
    epochs: usize,
    label: &str,
    quiet: bool,
    multi: Option<&MultiProgress>,
) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{label} epoch {epoch}/{epochs} {{bar:30}} {{pos}}/{{len}} {{per_sec}} ETA {{eta}} {{msg}}"
    )) {
        bar.set_style(style);
    }
    match multi {
        Some(m) => m.add(bar),
        None => bar,
    }
}

/// The grid runner's bar over `total` cells (finished or skipped), ETA from the cells so far;
/// hidden when `quiet` or when stderr is not a terminal.
pub fn cells_bar(total: usize, quiet: bool, multi: &MultiProgress) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("cells {bar:30} {pos}/{len} elapsed {elapsed} ETA {eta}")
    {
        bar.set_style(style);
    }
    multi.add(bar)
}

/// Prints a log line above `multi`'s bars, or to stderr when there are none or they are not
/// drawn (not a terminal: Slurm logs, pipes), where indicatif would drop it.
pub fn log_line(multi: Option<&MultiProgress>, line: &str) {
    match multi {
        Some(m) if !m.is_hidden() => {
            let _ = m.println(line);
        }
        _ => eprintln!("{line}"),
    }
}

/// Prints `warning: MESSAGE` as [`log_line`] does: something the user must know about (a
/// damaged file set aside), shown even with `--quiet`.
pub fn warn(multi: Option<&MultiProgress>, message: &str) {
    log_line(multi, &format!("warning: {message}"));
}
