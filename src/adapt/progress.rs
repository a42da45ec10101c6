//! Progress bars of the trainer (indicatif): one per epoch with examples/s, loss and ETA.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `n` training examples of epoch `epoch` of `epochs`; hidden when `quiet`.
pub fn epoch_bar(n: usize, epoch: usize, epochs: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "epoch {epoch}/{epochs} {{bar:30}} {{pos}}/{{len}} {{per_sec}} ETA {{eta}} {{msg}}"
    )) {
        bar.set_style(style);
    }
    bar
}
