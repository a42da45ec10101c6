//! `homogen fetch dataset acs` against a tiny local HTTP server: download into folktables'
//! layout, resume with a `Range` request, skip what is there, bad state and 404 errors.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::http::{Log, Response};
use homogen::data::tabular::acs;

/// A server on 127.0.0.1 answering `/2018/1-Year/csv_pca.zip` with `body` (206 for a
/// `Range: bytes=N-` request) and 404 for anything else. Returns its base URL and request log.
fn serve(body: Vec<u8>) -> (String, Log) {
    serve_with(body, true)
}

/// [`serve`], answering a `Range` request with the whole body (200) unless `ranges`.
fn serve_with(body: Vec<u8>, ranges: bool) -> (String, Log) {
    common::http::serve(move |r| {
        if r.path != "/2018/1-Year/csv_pca.zip" {
            return Response::status(404);
        }
        let from = r
            .header("range")
            .filter(|_| ranges)
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        match from {
            Some(from) => Response {
                status: 206,
                headers: vec![(
                    "Content-Range".into(),
                    format!("bytes {from}-{}/{}", body.len() - 1, body.len()),
                )],
                body: body[from..].to_vec(),
                cut_after: None,
            },
            None => Response {
                status: 200,
                headers: Vec::new(),
                body: body.clone(),
                cut_after: None,
            },
        }
    })
}

/// The `Range` header of each request the server saw (`None` when absent), in order.
fn ranges(log: &Log) -> Vec<Option<String>> {
    log.lock()
        .unwrap()
        .iter()
        .map(|r| r.header("range").map(str::to_string))
        .collect()
}

/// A zip holding `psam_pca.csv`: the ACS fixture's header and its first 2 rows.
fn person_zip() -> Vec<u8> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular/acs/psam_p06.csv");
    let text = std::fs::read_to_string(fixture).unwrap();
    let csv: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("psam_pca.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(csv.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

fn fetch(base: &str, root: &Path, state: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args([
            "--quiet", "fetch", "dataset", "acs", "--state", state, "--root",
        ])
        .arg(root)
        .env("HOMOGEN_ACS_BASE_URL", base)
        .output()
        .unwrap()
}

fn target(root: &Path) -> PathBuf {
    root.join("2018/1-Year/csv_pca.zip")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn downloads_into_folktables_layout_then_skips() {
    let body = person_zip();
    let (base, seen) = serve(body.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(&base, dir.path(), "CA");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = target(dir.path());
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(text(&out.stdout).contains(&path.display().to_string()));
    assert!(!path.with_extension("zip.part").exists());
    assert_eq!(ranges(&seen), vec![None]);
    // The fixture's first 2 rows, read back by the ACS loader.
    assert_eq!(acs::load(&path).unwrap().n_people(), 2);

    let again = fetch(&base, dir.path(), "ca");
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains(&path.display().to_string()));
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the second call must not contact the server"
    );
}

#[test]
fn resumes_a_part_file_with_a_range_request() {
    let body = person_zip();
    let (base, seen) = serve(body.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = target(dir.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let k = body.len() / 3;
    std::fs::write(path.with_extension("zip.part"), &body[..k]).unwrap();
    let out = fetch(&base, dir.path(), "CA");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ranges(&seen), vec![Some(format!("bytes={k}-"))]);
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(!path.with_extension("zip.part").exists());
}

#[test]
fn unknown_state_is_bad_input() {
    let (base, seen) = serve(person_zip());
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(&base, dir.path(), "XX");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`XX`") && err.contains("CA"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn missing_file_on_the_server_is_a_runtime_error_naming_the_url() {
    let (base, _seen) = serve(person_zip());
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(&base, dir.path(), "NY");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{base}/2018/1-Year/csv_pny.zip")),
        "{err}"
    );
    assert!(err.contains("404"), "{err}");
    assert!(!dir.path().join("2018/1-Year/csv_pny.zip").exists());
}

#[test]
fn acs_options_are_rejected_for_hub_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args(["fetch", "dataset", "imdb", "--state", "CA"])
        .env("HF_HUB_CACHE", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`acs` only"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_server_ignoring_the_range_restarts_the_download() {
    let body = person_zip();
    let (base, seen) = serve_with(body.clone(), false);
    let dir = tempfile::tempdir().unwrap();
    let path = target(dir.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // A stale part that does not match the served bytes: must be discarded, not appended to.
    std::fs::write(path.with_extension("zip.part"), b"garbage").unwrap();
    let out = fetch(&base, dir.path(), "CA");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ranges(&seen), vec![Some("bytes=7-".to_string())]);
    assert_eq!(std::fs::read(&path).unwrap(), body);
}

/// folktables' `state_list`, copied from folktables/load_acs.py (folktables 0.0.12): the 50
/// states and Puerto Rico, no DC, in this order. `ACSDataSource(...).get_data()` without
/// `states`, as the authors call it, loads exactly these.
const FOLKTABLES_STATE_LIST: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "PR",
];

#[test]
fn state_all_fetches_exactly_folktables_51_states_in_its_order() {
    // Any person file is served (the same small zip); the log shows what was asked for.
    let body = person_zip();
    let (base, seen) = common::http::serve(move |r| {
        if r.path.starts_with("/2018/1-Year/csv_p") && r.path.ends_with(".zip") {
            Response {
                status: 200,
                headers: Vec::new(),
                body: body.clone(),
                cut_after: None,
            }
        } else {
            Response::status(404)
        }
    });
    let want: Vec<String> = FOLKTABLES_STATE_LIST
        .iter()
        .map(|s| format!("/2018/1-Year/csv_p{}.zip", s.to_ascii_lowercase()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(&base, dir.path(), "all");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let asked: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(asked, want);
    assert!(!asked.iter().any(|p| p.ends_with("csv_pdc.zip")));
    // Every file is where the folder layout of configs/datasharing-acs.toml expects it.
    for s in FOLKTABLES_STATE_LIST {
        let path = dir
            .path()
            .join(format!("2018/1-Year/csv_p{}.zip", s.to_ascii_lowercase()));
        assert!(path.is_file(), "{}", path.display());
        assert!(text(&out.stdout).contains(&path.display().to_string()));
    }
    // The library's list is the same.
    assert_eq!(
        homogen::data::tabular::fetch::FOLKTABLES_STATES,
        FOLKTABLES_STATE_LIST
    );

    // --include-pr (kept for old command lines) changes nothing: PR is in `all` already. All
    // files are there, so nothing is downloaded again.
    let again = Command::new(env!("CARGO_BIN_EXE_homogen"))
        .args([
            "--quiet",
            "fetch",
            "dataset",
            "acs",
            "--state",
            "all",
            "--include-pr",
            "--root",
        ])
        .arg(dir.path())
        .env("HOMOGEN_ACS_BASE_URL", &base)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(seen.lock().unwrap().len(), 51);
    assert_eq!(text(&again.stdout).lines().count(), 51);

    // DC is outside folktables' list but the Census Bureau has it: one state on request.
    let out = fetch(&base, dir.path(), "DC");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        seen.lock().unwrap().last().unwrap().path,
        "/2018/1-Year/csv_pdc.zip"
    );
}
