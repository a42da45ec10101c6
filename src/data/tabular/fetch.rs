//! Downloading ACS PUMS person files (`homogen fetch dataset acs --state CA`).
//!
//! Files land exactly where folktables' `ACSDataSource(survey_year='2018', horizon='1-Year',
//! survey='person', root_dir=ROOT)` puts them, `ROOT/2018/1-Year/csv_p<st>.zip`, so either tool
//! can reuse the other's downloads. A download is written to `<file>.part` and renamed when
//! complete; an interrupted one resumes with an HTTP `Range` request.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The Census Bureau's PUMS folder; `2018/1-Year/csv_p<st>.zip` is appended.
pub const DEFAULT_BASE_URL: &str = "https://www2.census.gov/programs-surveys/acs/data/pums";

/// Environment variable overriding [`DEFAULT_BASE_URL`] (for tests and mirrors).
pub const BASE_URL_ENV: &str = "HOMOGEN_ACS_BASE_URL";

/// The 50 states and DC, upper-case postal codes (what `--state all` fetches).
pub const STATES: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];

/// Puerto Rico's code: a valid single state, and added to `all` only on request.
pub const PUERTO_RICO: &str = "PR";

/// The states a `--state` value names, as lower-case codes: one code (any case), or `all` for
/// [`STATES`] (plus Puerto Rico when `include_pr`). An unknown code is an input error listing
/// the valid ones.
pub fn resolve_states(spec: &str, include_pr: bool) -> Result<Vec<String>> {
    if spec.eq_ignore_ascii_case("all") {
        let mut out: Vec<String> = STATES.iter().map(|s| s.to_ascii_lowercase()).collect();
        if include_pr {
            out.push(PUERTO_RICO.to_ascii_lowercase());
        }
        return Ok(out);
    }
    let upper = spec.to_ascii_uppercase();
    if STATES.contains(&upper.as_str()) || upper == PUERTO_RICO {
        return Ok(vec![upper.to_ascii_lowercase()]);
    }
    Err(Error::input(format!(
        "unknown state `{spec}`; expected `all` or one of: {}, {PUERTO_RICO}",
        STATES.join(", ")
    )))
}

/// Where folktables keeps the 2018 1-year person file of `state` (lower-case code) under `root`.
pub fn person_file_path(root: &Path, state: &str) -> PathBuf {
    root.join("2018")
        .join("1-Year")
        .join(format!("csv_p{state}.zip"))
}

/// The URL of the 2018 1-year person file of `state` under `base` (no trailing slash needed).
pub fn person_file_url(base: &str, state: &str) -> String {
    format!(
        "{}/2018/1-Year/csv_p{state}.zip",
        base.trim_end_matches('/')
    )
}

/// The base URL in effect: `$HOMOGEN_ACS_BASE_URL` if set and non-empty, else the Census one.
pub fn base_url() -> String {
    std::env::var(BASE_URL_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
}

/// One person file after [`fetch_person_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsFile {
    /// The lower-case state code.
    pub state: String,
    /// The complete file on disk.
    pub path: PathBuf,
    /// False when the file was already there and nothing was downloaded.
    pub downloaded: bool,
}

/// Makes sure the person file of every state in `states` is under `root`, downloading the
/// missing ones from `base` (resuming any `.part` left by an interrupted run). `progress` shows
/// a bar per download.
pub fn fetch_person_files(
    root: &Path,
    states: &[String],
    base: &str,
    progress: bool,
) -> Result<Vec<AcsFile>> {
    let mut out = Vec::with_capacity(states.len());
    for state in states {
        let path = person_file_path(root, state);
        let downloaded = if path.is_file() {
            false
        } else {
            download(&person_file_url(base, state), &path, progress)?;
            true
        };
        out.push(AcsFile {
            state: state.clone(),
            path,
            downloaded,
        });
    }
    Ok(out)
}

/// The partial-download path of `dest`: `dest` with `.part` appended.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Downloads `url` to `dest` through `dest.part`: resumes from the part's length with a `Range`
/// request (a 206 answer appends; a 200 answer starts over), then renames the part into place.
pub fn download(url: &str, dest: &Path, progress: bool) -> Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let part = part_path(dest);
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let net = |e: ureq::Error| Error::Runtime(format!("downloading {url}: {e}"));
    let mut request = ureq::get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = match request.call() {
        // The part already holds the whole file (or more): start over.
        Err(ureq::Error::StatusCode(416)) if have > 0 => {
            remove(&part)?;
            ureq::get(url).call().map_err(net)?
        }
        other => other.map_err(net)?,
    };
    let status = response.status().as_u16();
    let resumed = status == 206 && range_start(&response) == Some(have);
    if status != 200 && !resumed {
        return Err(Error::Runtime(format!(
            "downloading {url}: unexpected answer {status} to a request from byte {have}"
        )));
    }
    let start = if resumed { have } else { 0 };
    let body = response.into_body();
    let total = body.content_length().map(|n| n + start);
    let mut file = if resumed {
        OpenOptions::new().append(true).open(&part)
    } else {
        File::create(&part)
    }
    .map_err(|e| Error::io(format!("opening {}", part.display()), e))?;
    let bar = if progress {
        indicatif::ProgressBar::new(total.unwrap_or(0))
    } else {
        indicatif::ProgressBar::hidden()
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    bar.set_position(start);
    let mut reader = bar.wrap_read(body.into_reader());
    std::io::copy(&mut reader, &mut file)
        .map_err(|e| Error::Runtime(format!("downloading {url}: {e}")))?;
    file.flush()
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(format!("writing {}", part.display()), e))?;
    bar.finish();
    let len = std::fs::metadata(&part)
        .map_err(|e| Error::io(format!("reading {}", part.display()), e))?
        .len();
    if let Some(total) = total.filter(|&t| t != len) {
        return Err(Error::Runtime(format!(
            "downloading {url}: got {len} of {total} bytes; run again to resume"
        )));
    }
    std::fs::rename(&part, dest).map_err(|e| {
        Error::io(
            format!("renaming {} to {}", part.display(), dest.display()),
            e,
        )
    })
}

/// The first byte of a 206 answer's `Content-Range: bytes START-END/TOTAL`.
fn range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_resolve_case_insensitively_and_all_is_50_states_and_dc() {
        assert_eq!(resolve_states("CA", false).unwrap(), vec!["ca"]);
        assert_eq!(resolve_states("dc", false).unwrap(), vec!["dc"]);
        assert_eq!(resolve_states("PR", false).unwrap(), vec!["pr"]);
        let all = resolve_states("all", false).unwrap();
        assert_eq!(all.len(), 51);
        assert!(!all.contains(&"pr".to_string()));
        let with_pr = resolve_states("ALL", true).unwrap();
        assert_eq!(with_pr.len(), 52);
        assert_eq!(with_pr.last().map(String::as_str), Some("pr"));
        let e = resolve_states("XX", false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().contains("`XX`") && e.to_string().contains("WY"),
            "{e}"
        );
    }

    #[test]
    fn paths_and_urls_follow_folktables_and_the_census_layout() {
        assert_eq!(
            person_file_path(Path::new("data/acs"), "ca"),
            Path::new("data/acs/2018/1-Year/csv_pca.zip")
        );
        assert_eq!(
            person_file_url(DEFAULT_BASE_URL, "ca"),
            "https://www2.census.gov/programs-surveys/acs/data/pums/2018/1-Year/csv_pca.zip"
        );
        assert_eq!(
            person_file_url("http://mirror/pums/", "ny"),
            "http://mirror/pums/2018/1-Year/csv_pny.zip"
        );
        assert_eq!(
            part_path(Path::new("r/csv_pca.zip")),
            Path::new("r/csv_pca.zip.part")
        );
    }
}
