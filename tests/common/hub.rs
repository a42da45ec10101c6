//! A stand-in for the Hugging Face Hub for tests of downloads (`HF_ENDPOINT` points at it): the
//! routes hf-hub 0.5 calls, answered from repositories held in memory.
//! - `GET /api/{models|datasets}/{id}/revision/{rev}`: `{"sha", "siblings": [{"rfilename"}]}`;
//! - `GET /{id}/resolve/{rev}/{file}` (models) and `/datasets/{id}/resolve/{rev}/{file}`: the
//!   file, with `x-repo-commit`, an `etag` (the content's SHA-256) and `Range: bytes=N-` /
//!   `bytes=0-0` answered as 206 with `content-range`, as the Hub does.
//!
//! Large files (weights, Parquet, zip: what the Hub keeps in LFS) are answered as the Hub does:
//! a 302 carrying `x-repo-commit`, `x-linked-etag` and `x-linked-size`, to an absolute URL on
//! another route (`/cdn/<sha256>`, standing for the CDN) that serves the bytes.
//! A revision is `main` or the repository's commit; anything else, an unknown repository or
//! file, is 404. A repository with a token answers 401 to requests without `Bearer <token>`.
//! A large file marked flaky drops the connection halfway through its first download; a
//! repository with a delay serves large files that much later (slow downloads, to overlap).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::http::{serve, Log, Request, Response};

/// One repository on the stand-in Hub.
#[derive(Debug, Clone)]
pub struct HubRepo {
    /// `models` or `datasets`.
    pub kind: &'static str,
    /// `org/name`.
    pub id: String,
    /// The commit `main` points at (40 hex digits).
    pub sha: String,
    /// Repository path → content.
    pub files: BTreeMap<String, Vec<u8>>,
    /// A private repository: requests need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Large files whose first download drops the connection halfway.
    pub flaky: BTreeSet<String>,
    /// A pause before serving each large file's bytes.
    pub delay: std::time::Duration,
}

impl HubRepo {
    /// A public repository of `kind` with commit `sha` and no files yet.
    pub fn new(kind: &'static str, id: &str, sha: &str) -> Self {
        HubRepo {
            kind,
            id: id.to_string(),
            sha: sha.to_string(),
            files: BTreeMap::new(),
            token: None,
            flaky: BTreeSet::new(),
            delay: std::time::Duration::ZERO,
        }
    }

    /// Adds the files of folder `dir` (recursively) under `prefix` (`""` for the root).
    pub fn with_folder(mut self, dir: &Path, prefix: &str) -> Self {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let inner = format!("{prefix}{name}");
            if path.is_dir() {
                self = self.with_folder(&path, &format!("{inner}/"));
            } else {
                self.files.insert(inner, std::fs::read(&path).unwrap());
            }
        }
        self
    }

    /// Adds one file.
    pub fn with_file(mut self, name: &str, content: &[u8]) -> Self {
        self.files.insert(name.to_string(), content.to_vec());
        self
    }

    /// Marks large file `name` flaky: its first download stops halfway.
    pub fn flaky(mut self, name: &str) -> Self {
        self.flaky.insert(name.to_string());
        self
    }
}

/// Serves `repos`; returns the endpoint (for `HF_ENDPOINT`) and the request log.
pub fn serve_hub(repos: Vec<HubRepo>) -> (String, Log) {
    // The digests of flaky files not yet cut short.
    let pending: Mutex<BTreeSet<String>> = Mutex::new(
        repos
            .iter()
            .flat_map(|p| {
                p.flaky
                    .iter()
                    .map(|f| hex::encode(Sha256::digest(&p.files[f])))
            })
            .collect(),
    );
    serve(move |r| answer(&repos, r, &pending))
}

/// The paths of the file downloads in a log (the `resolve` requests that fetch content, not the
/// `bytes=0-0` metadata probes).
pub fn downloads(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.contains("/resolve/") && r.header("range") != Some("bytes=0-0"))
        .map(|r| r.path.clone())
        .collect()
}

fn answer(repos: &[HubRepo], r: &Request, pending: &Mutex<BTreeSet<String>>) -> Response {
    let not_found = Response::status(404);
    if r.method != "GET" {
        return Response::status(405);
    }
    let path = r.path.split('?').next().unwrap_or("");
    if let Some(digest) = path.strip_prefix("/cdn/") {
        let content = repos
            .iter()
            .flat_map(|p| p.files.values().map(move |c| (p, c)))
            .find(|(_, c)| hex::encode(Sha256::digest(c)) == digest);
        let Some((repo, content)) = content else {
            return not_found;
        };
        let mut response = ranged(r, content, Vec::new());
        let probe = r.header("range") == Some("bytes=0-0");
        if !probe {
            std::thread::sleep(repo.delay);
        }
        if !probe && pending.lock().unwrap().remove(digest) {
            response.cut_after = Some(response.body.len() / 2);
        }
        return response;
    }
    // (kind, id, revision, file or None for the API)
    let parsed = if let Some(rest) = path.strip_prefix("/api/") {
        rest.split_once('/').and_then(|(kind, rest)| {
            let (id, rev) = rest.split_once("/revision/")?;
            Some((kind, id, rev, None))
        })
    } else {
        let (kind, rest) = match path.strip_prefix("/datasets/") {
            Some(rest) => ("datasets", rest),
            None => ("models", path.trim_start_matches('/')),
        };
        rest.split_once("/resolve/").and_then(|(id, rest)| {
            let (rev, file) = rest.split_once('/')?;
            Some((kind, id, rev, Some(file)))
        })
    };
    let Some((kind, id, rev, file)) = parsed else {
        return not_found;
    };
    let Some(repo) = repos.iter().find(|p| p.kind == kind && p.id == id) else {
        return not_found;
    };
    if let Some(token) = &repo.token {
        if r.header("authorization") != Some(format!("Bearer {token}").as_str()) {
            return Response::status(401);
        }
    }
    if rev != "main" && rev != repo.sha {
        return not_found;
    }
    let Some(file) = file else {
        let siblings: Vec<_> = repo
            .files
            .keys()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let info = serde_json::json!({ "id": repo.id, "sha": repo.sha, "siblings": siblings });
        return Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: info.to_string().into_bytes(),
            cut_after: None,
        };
    };
    let Some(content) = repo.files.get(file) else {
        return not_found;
    };
    let digest = hex::encode(Sha256::digest(content));
    let lfs = [".safetensors", ".parquet", ".bin", ".zip"];
    if lfs.iter().any(|e| file.ends_with(e)) {
        let host = r.header("host").unwrap_or("127.0.0.1");
        return Response {
            status: 302,
            headers: vec![
                ("x-repo-commit".into(), repo.sha.clone()),
                ("x-linked-etag".into(), format!("\"{digest}\"")),
                ("x-linked-size".into(), content.len().to_string()),
                ("location".into(), format!("http://{host}/cdn/{digest}")),
            ],
            body: Vec::new(),
            cut_after: None,
        };
    }
    let headers = vec![
        ("x-repo-commit".to_string(), repo.sha.clone()),
        ("etag".to_string(), format!("\"{digest}\"")),
    ];
    ranged(r, content, headers)
}

/// `content` with `headers`, the part a `Range: bytes=A-B` or `bytes=A-` asks for as a 206.
fn ranged(r: &Request, content: &[u8], mut headers: Vec<(String, String)>) -> Response {
    headers.push(("accept-ranges".to_string(), "bytes".to_string()));
    let range = r.header("range").and_then(|v| v.strip_prefix("bytes="));
    let Some((from, to)) = range.and_then(|v| v.split_once('-')) else {
        return Response {
            status: 200,
            headers,
            body: content.to_vec(),
            cut_after: None,
        };
    };
    let from: usize = from.parse().unwrap_or(0).min(content.len());
    let to: usize = to
        .parse()
        .unwrap_or(content.len().saturating_sub(1))
        .min(content.len().saturating_sub(1));
    if from > to {
        return Response::status(416);
    }
    headers.push((
        "content-range".to_string(),
        format!("bytes {from}-{to}/{}", content.len()),
    ));
    Response {
        status: 206,
        headers,
        body: content[from..=to].to_vec(),
        cut_after: None,
    }
}
