//! Downloading ACS PUMS person files (`homogen fetch dataset acs --state CA|all`).
//!
//! Files land in folktables' folder, `ROOT/2018/1-Year/` of `ACSDataSource(survey_year='2018',
//! horizon='1-Year', survey='person', root_dir=ROOT)`, under the Census Bureau's name
//! `csv_p<st>.zip`. folktables downloads the same zip there, extracts its `psam_pNN.csv` and
//! deletes the zip; the ACS loader ([`super::acs`]) reads either form, so either tool can reuse
//! the other's downloads. `--state all` is folktables' `state_list`: the 50 states and Puerto
//! Rico, not DC ([`FOLKTABLES_STATES`]). A download is written to `<file>.part` and renamed when
//! complete; an interrupted one resumes with an HTTP `Range` request.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The Census Bureau's PUMS folder; `2018/1-Year/csv_p<st>.zip` is appended.
pub const DEFAULT_BASE_URL: &str = "https://www2.census.gov/programs-surveys/acs/data/pums";

/// Environment variable overriding [`DEFAULT_BASE_URL`] (for tests and mirrors).
pub const BASE_URL_ENV: &str = "HOMOGEN_ACS_BASE_URL";

/// folktables' `state_list` (`folktables/load_acs.py`), in its order: the 50 states and Puerto
/// Rico, not DC. `ACSDataSource(...).get_data()` without `states` loads exactly these, and
/// `--state all` fetches exactly these. The order is ascending FIPS code (PR, 72, last).
pub const FOLKTABLES_STATES: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "PR",
];

/// Every area with a 2018 1-year person file and its FIPS code (the `ST` column, and the `NN`
/// of `psam_pNN.csv`), ascending: folktables' 51 plus the District of Columbia (11), which
/// folktables leaves out but the Census Bureau publishes (`--state DC` fetches it).
pub const STATE_FIPS: [(&str, u32); 52] = [
    ("AL", 1),
    ("AK", 2),
    ("AZ", 4),
    ("AR", 5),
    ("CA", 6),
    ("CO", 8),
    ("CT", 9),
    ("DE", 10),
    ("DC", 11),
    ("FL", 12),
    ("GA", 13),
    ("HI", 15),
    ("ID", 16),
    ("IL", 17),
    ("IN", 18),
    ("IA", 19),
    ("KS", 20),
    ("KY", 21),
    ("LA", 22),
    ("ME", 23),
    ("MD", 24),
    ("MA", 25),
    ("MI", 26),
    ("MN", 27),
    ("MS", 28),
    ("MO", 29),
    ("MT", 30),
    ("NE", 31),
    ("NV", 32),
    ("NH", 33),
    ("NJ", 34),
    ("NM", 35),
    ("NY", 36),
    ("NC", 37),
    ("ND", 38),
    ("OH", 39),
    ("OK", 40),
    ("OR", 41),
    ("PA", 42),
    ("RI", 44),
    ("SC", 45),
    ("SD", 46),
    ("TN", 47),
    ("TX", 48),
    ("UT", 49),
    ("VT", 50),
    ("VA", 51),
    ("WA", 53),
    ("WV", 54),
    ("WI", 55),
    ("WY", 56),
    ("PR", 72),
];

/// The FIPS code of a postal code (any case), if it has a person file.
pub fn fips_of(code: &str) -> Option<u32> {
    STATE_FIPS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|&(_, f)| f)
}

/// The postal code of a FIPS code, if it has a person file.
pub fn code_of_fips(fips: u32) -> Option<&'static str> {
    STATE_FIPS
        .iter()
        .find(|&&(_, f)| f == fips)
        .map(|&(c, _)| c)
}

/// The states a `--state` value names, as lower-case codes: one code (any case; DC too), or
/// `all` for folktables' list [`FOLKTABLES_STATES`] (the 50 states and Puerto Rico, no DC), in
/// its order. `include_pr` changes nothing (Puerto Rico is in `all`, as in folktables); it is
/// kept so that older command lines still parse. An unknown code is an input error listing
/// the valid ones.
pub fn resolve_states(spec: &str, include_pr: bool) -> Result<Vec<String>> {
    let _ = include_pr;
    if spec.eq_ignore_ascii_case("all") {
        return Ok(FOLKTABLES_STATES
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect());
    }
    if fips_of(spec).is_some() {
        return Ok(vec![spec.to_ascii_lowercase()]);
    }
    Err(Error::input(format!(
        "unknown state `{spec}`; expected `all` (folktables' 51: the 50 states and Puerto Rico, \
         not DC) or one of: {}",
        STATE_FIPS.map(|(c, _)| c).join(", ")
    )))
}

/// The name of the 2018 person file of `state` (postal code, any case) as the Census Bureau's
/// zip holds it and folktables keeps it once extracted: `psam_p06.csv` for CA.
pub fn person_csv_name(state: &str) -> Option<String> {
    fips_of(state).map(|f| format!("psam_p{f:02}.csv"))
}

/// The name of the Census Bureau's zip of `state`'s person file: `csv_pca.zip` for CA.
pub fn person_zip_name(state: &str) -> String {
    format!("csv_p{}.zip", state.to_ascii_lowercase())
}

/// Where folktables keeps the 2018 1-year person file of `state` (lower-case code) under `root`.
pub fn person_file_path(root: &Path, state: &str) -> PathBuf {
    root.join("2018")
        .join("1-Year")
        .join(person_zip_name(state))
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
    fn states_resolve_case_insensitively_and_all_is_folktables_list() {
        assert_eq!(resolve_states("CA", false).unwrap(), vec!["ca"]);
        assert_eq!(resolve_states("dc", false).unwrap(), vec!["dc"]);
        assert_eq!(resolve_states("PR", false).unwrap(), vec!["pr"]);
        let all = resolve_states("all", false).unwrap();
        assert_eq!(all.len(), 51);
        assert!(!all.contains(&"dc".to_string()));
        assert_eq!(all.first().map(String::as_str), Some("al"));
        assert_eq!(all.last().map(String::as_str), Some("pr"));
        // --include-pr changes nothing: PR is already in folktables' list.
        assert_eq!(resolve_states("ALL", true).unwrap(), all);
        let e = resolve_states("XX", false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().contains("`XX`") && e.to_string().contains("WY"),
            "{e}"
        );
    }

    #[test]
    fn folktables_order_is_ascending_fips_and_the_table_is_consistent() {
        let codes: Vec<u32> = FOLKTABLES_STATES
            .iter()
            .map(|s| fips_of(s).unwrap())
            .collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert!(STATE_FIPS.windows(2).all(|w| w[0].1 < w[1].1));
        assert_eq!(fips_of("dc"), Some(11));
        assert_eq!(code_of_fips(72), Some("PR"));
        assert_eq!(code_of_fips(3), None);
        assert_eq!(person_csv_name("ak").as_deref(), Some("psam_p02.csv"));
        assert_eq!(person_zip_name("AK"), "csv_pak.zip");
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
