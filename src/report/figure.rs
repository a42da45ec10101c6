//! Writing figures atomically: plotters draws each figure as SVG and PNG under temporary names
//! in the target folder (keeping the extension it reads the format from), and [`install`]
//! renames both into place, so a reader never sees half a figure.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::failures::temporary_sibling;

/// Where to draw figure `stem` before [`install`]: fresh temporary SVG and PNG paths in `dir`.
pub fn temporaries(dir: &Path, stem: &str) -> [PathBuf; 2] {
    [
        temporary_sibling(dir, stem, ".svg"),
        temporary_sibling(dir, stem, ".png"),
    ]
}

/// Renames the drawn temporaries (from [`temporaries`]) to `dir/stem.svg` and `dir/stem.png`;
/// returns those paths relative to the run folder (`figures/stem.svg`, `figures/stem.png`).
pub fn install(dir: &Path, stem: &str, drawn: &[PathBuf; 2]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(2);
    for (tmp, ext) in drawn.iter().zip(["svg", "png"]) {
        let path = dir.join(format!("{stem}.{ext}"));
        std::fs::rename(tmp, &path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })?;
        out.push(PathBuf::from("figures").join(format!("{stem}.{ext}")));
    }
    Ok(out)
}

/// A plotters error as a runtime error.
pub fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("drawing a figure: {e}"))
}
