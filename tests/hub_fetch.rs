//! Downloads from the Hugging Face Hub, against a stand-in Hub on 127.0.0.1 (`common::hub`,
//! reached through `HF_ENDPOINT` as a mirror would be): `homogen fetch` writes the cache layout
//! the loaders read; tokens, unknown revisions and an unreachable Hub give clear errors; `embed`
//! downloads a missing model and then runs from the cache; `run` and `plan` download the model
//! and datasets once before any cell, so that cells run offline.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::hub::{downloads, serve_hub, HubRepo};

/// The commit IMDB is pinned to: the stand-in Hub serves the fixture there (and as `main`).
const DATA_SHA: &str = homogen::data::text::IMDB_REVISION;
const MODEL_SHA: &str = "2222222222222222222222222222222222222222";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The IMDB fixture as `stanfordnlp/imdb`: train, test and unsupervised Parquet files and a
/// README (only train and test are data files).
fn imdb() -> HubRepo {
    HubRepo::new("datasets", "stanfordnlp/imdb", DATA_SHA)
        .with_folder(&fixtures().join("data/imdb/hub"), "")
        .with_file("README.md", b"# imdb\n")
}

/// The tiny RoBERTa fixture as `org/tiny-roberta`, with files a model fetch must skip.
fn tiny_roberta() -> HubRepo {
    HubRepo::new("models", "org/tiny-roberta", MODEL_SHA)
        .with_folder(&fixtures().join("models/roberta"), "")
        .with_file("pytorch_model.bin", b"not needed: there are safetensors")
        .with_file("onnx/model.onnx", b"not a model file we read")
        .with_file("README.md", b"# tiny\n")
}

/// `homogen ARGS` with the Hub at `endpoint` and the cache (and `HF_HOME`) in `home`; no token
/// and online unless `env` says otherwise.
fn homogen(endpoint: &str, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_homogen"));
    c.args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", home)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_TOKEN")
        .env_remove("HF_TOKEN_PATH")
        .env_remove("HF_HUB_OFFLINE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `homogen --quiet fetch WHAT...`, as [`homogen`] runs it, online.
fn fetch(endpoint: &str, home: &Path, what: &[&str]) -> Output {
    let args: Vec<&str> = ["--quiet", "fetch"].iter().chain(what).copied().collect();
    homogen(endpoint, home, &args, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `homogen embed` of model `model` on a two-line text file in `home`, into `home/out`.
fn embed(
    endpoint: &str,
    home: &Path,
    model: &str,
    out: &str,
    env: &[(&str, &str)],
) -> (Output, PathBuf) {
    let texts = home.join("texts.txt");
    std::fs::write(&texts, "a first text\nand a second one\n").unwrap();
    let out = home.join(out);
    let (texts_arg, out_arg) = (texts.to_str().unwrap(), out.to_str().unwrap());
    let args = [
        "--quiet", "embed", "--model", model, "--texts", texts_arg, "--out", out_arg,
    ];
    (homogen(endpoint, home, &args, env), out)
}

fn snapshot(home: &Path, folder: &str, sha: &str) -> PathBuf {
    home.join("hub").join(folder).join("snapshots").join(sha)
}

#[test]
fn fetch_dataset_writes_the_cache_layout_the_loaders_read_then_skips() {
    let (endpoint, log) = serve_hub(vec![imdb()]);
    let home = tempfile::tempdir().unwrap();
    let out = fetch(&endpoint, home.path(), &["dataset", "imdb"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snap = snapshot(home.path(), "datasets--stanfordnlp--imdb", DATA_SHA);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("commit {DATA_SHA} (2 files)")),
        "{stdout}"
    );
    assert!(stdout.contains(&snap.display().to_string()), "{stdout}");
    for split in ["train", "test"] {
        let name = format!("plain_text/{split}-00000-of-00001.parquet");
        assert_eq!(
            std::fs::read(snap.join(&name)).unwrap(),
            imdb().files[&name],
            "{name}"
        );
    }
    assert!(!snap
        .join("plain_text/unsupervised-00000-of-00001.parquet")
        .exists());
    assert!(!snap.join("README.md").exists());
    // IMDB is pinned: the files were asked for at the commit, and no branch was recorded.
    let asked = format!("/api/datasets/stanfordnlp/imdb/revision/{DATA_SHA}");
    let paths: Vec<String> = log.lock().unwrap().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&asked), "{asked} not in {paths:?}");
    let refs = home.path().join("hub/datasets--stanfordnlp--imdb/refs");
    assert!(!refs.join("main").exists());
    assert_eq!(downloads(&log).len(), 2);
    let via_cdn = log
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.path.starts_with("/cdn/"));
    assert!(via_cdn, "the Parquet files come through the Hub's redirect");
    let user_agent = log.lock().unwrap()[0]
        .header("user-agent")
        .unwrap_or("")
        .to_string();
    assert!(user_agent.contains("homogen/"), "{user_agent}");

    // The loader reads what was downloaded, offline.
    let described = homogen(
        &endpoint,
        home.path(),
        &["data", "describe", "--dataset", "imdb", "--format", "csv"],
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(described.status.success(), "{}", stderr(&described));
    assert!(String::from_utf8_lossy(&described.stdout).contains("imdb,train"));

    // A second fetch asks for the commit and downloads nothing.
    let before = log.lock().unwrap().len();
    let again = fetch(&endpoint, home.path(), &["dataset", "imdb"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(downloads(&log).len(), 2);
    assert_eq!(log.lock().unwrap().len(), before + 1);

    // A branch is recorded as pointing at the commit it resolved to, as huggingface_hub does.
    let main = fetch(
        &endpoint,
        home.path(),
        &["dataset", "imdb", "--revision", "main"],
    );
    assert!(main.status.success(), "{}", stderr(&main));
    assert_eq!(downloads(&log).len(), 2);
    let main = std::fs::read_to_string(refs.join("main")).unwrap();
    assert_eq!(main.trim(), DATA_SHA);
}

#[test]
fn a_private_repository_needs_a_token_from_the_environment_or_the_token_file() {
    let mut repo = imdb();
    repo.token = Some("hf_secret".into());
    let (endpoint, log) = serve_hub(vec![repo]);
    let home = tempfile::tempdir().unwrap();
    let args = ["--quiet", "fetch", "dataset", "imdb"];

    let refused = homogen(&endpoint, home.path(), &args, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let err = stderr(&refused);
    for part in [
        "`stanfordnlp/imdb`",
        "HTTP 401",
        "HF_TOKEN",
        endpoint.as_str(),
    ] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }

    let with_env = homogen(&endpoint, home.path(), &args, &[("HF_TOKEN", "hf_secret")]);
    assert!(with_env.status.success(), "{}", stderr(&with_env));
    let authorised = log.lock().unwrap()[1..]
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer hf_secret"));
    assert!(
        authorised,
        "every request after the refusal carries the token"
    );

    // `huggingface-cli login` writes $HF_HOME/token.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("token"), "hf_secret\n").unwrap();
    let with_file = homogen(&endpoint, other.path(), &args, &[]);
    assert!(with_file.status.success(), "{}", stderr(&with_file));
}

#[test]
fn an_unknown_revision_is_bad_input_and_an_unreachable_hub_says_how_to_work_offline() {
    let (endpoint, _log) = serve_hub(vec![imdb()]);
    let home = tempfile::tempdir().unwrap();
    let out = fetch(
        &endpoint,
        home.path(),
        &["dataset", "imdb", "--revision", "v9"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`stanfordnlp/imdb` at revision `v9`") && err.contains("HTTP 404"),
        "{err}"
    );
    assert!(!home.path().join("hub/datasets--stanfordnlp--imdb").exists());

    // Nothing listens on port 1; a trailing slash on the endpoint is allowed.
    let out = fetch(
        "http://127.0.0.1:1/",
        home.path(),
        &["model", "org/tiny-roberta"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`org/tiny-roberta`")
            && err.contains("http://127.0.0.1:1 ")
            && err.contains("HF_HUB_OFFLINE=1"),
        "{err}"
    );
}

#[test]
fn fetch_model_takes_config_tokenizer_and_safetensors_and_a_pickle_only_without_them() {
    let pickled = HubRepo::new("models", "org/pickled", MODEL_SHA)
        .with_file("config.json", b"{}")
        .with_file("pytorch_model.bin", b"pickle");
    let (endpoint, _log) = serve_hub(vec![tiny_roberta(), pickled]);
    let home = tempfile::tempdir().unwrap();
    let out = fetch(&endpoint, home.path(), &["model", "org/tiny-roberta"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snap = snapshot(home.path(), "models--org--tiny-roberta", MODEL_SHA);
    let mut files: Vec<String> = std::fs::read_dir(&snap)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );

    let out = fetch(&endpoint, home.path(), &["model", "org/pickled"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snap = snapshot(home.path(), "models--org--pickled", MODEL_SHA);
    assert_eq!(
        std::fs::read(snap.join("pytorch_model.bin")).unwrap(),
        b"pickle"
    );

    // Loading it without --allow-pickle is refused for what it is, even when the Hub cannot
    // be reached to look for safetensors.
    let (out, _) = embed(
        "http://127.0.0.1:1",
        home.path(),
        "org/pickled",
        "x.st",
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-pickle"), "{}", stderr(&out));
}

fn features(path: &Path) -> Vec<f32> {
    let tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu).unwrap();
    tensors["features"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn embed_downloads_a_missing_model_once_then_runs_from_the_cache() {
    let (endpoint, log) = serve_hub(vec![tiny_roberta()]);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let model = "org/tiny-roberta";

    let (offline, _) = embed(&endpoint, home, model, "x.st", &[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(offline.status.code(), Some(2), "{}", stderr(&offline));
    assert!(
        stderr(&offline).contains("not in the Hugging Face cache"),
        "{}",
        stderr(&offline)
    );
    assert!(log.lock().unwrap().is_empty(), "offline contacts nothing");

    let (out, hub_out) = embed(&endpoint, home, model, "hub.st", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(downloads(&log).len(), 4, "{:?}", downloads(&log));
    let local = fixtures().join("models/roberta");
    let (out, local_out) = embed(&endpoint, home, local.to_str().unwrap(), "local.st", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(features(&hub_out), features(&local_out));

    // Cached now: the next run contacts nothing, online or not.
    let before = log.lock().unwrap().len();
    let (out, _) = embed(&endpoint, home, model, "again.st", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log.lock().unwrap().len(), before);
}

/// A one-cell model-sharing config reading the model and IMDB from the Hub.
fn hub_config(dir: &Path) -> PathBuf {
    let config = dir.join("hub.toml");
    std::fs::write(
        &config,
        r#"[experiment]
kind = "modelsharing"
out = "runs/hub"
groupings = ["gender"]
devices = ["cpu"]

[model]
id = "org/tiny-roberta"

[train]
optimizer = "adamw"
lr = 1e-2
schedule = "constant"
epochs = 1
batch_size = 8
max_length = 32

[[tasks]]
name = "imdb"
dataset = { name = "imdb", groupings = ["gender"] }

[[methods]]
name = "probe"

[seeds]
values = [1]
"#,
    )
    .unwrap();
    config
}

#[test]
fn run_downloads_the_model_and_datasets_once_before_its_cells() {
    let (endpoint, log) = serve_hub(vec![tiny_roberta(), imdb()]);
    let home = tempfile::tempdir().unwrap();
    let config = hub_config(home.path());
    let out_dir = home.path().join("run");
    let args = [
        "--quiet",
        "run",
        config.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ];

    let offline = homogen(&endpoint, home.path(), &args, &[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(offline.status.code(), Some(2), "{}", stderr(&offline));
    let err = stderr(&offline);
    assert!(
        err.contains("model `org/tiny-roberta` (model.id)")
            && err.contains("homogen fetch model org/tiny-roberta"),
        "{err}"
    );
    assert!(log.lock().unwrap().is_empty());

    let out = homogen(&endpoint, home.path(), &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "downloaded model org/tiny-roberta at commit {MODEL_SHA}"
        )) && err.contains(&format!(
            "downloaded dataset imdb (2 files) at commit {DATA_SHA}"
        )),
        "{err}"
    );
    let mut fetched = downloads(&log);
    fetched.sort();
    let mut unique = fetched.clone();
    unique.dedup();
    assert_eq!(fetched, unique, "a file downloaded twice");
    assert_eq!(fetched.len(), 6, "{fetched:?}");
    assert!(out_dir.join("report.md").is_file());
    // The cell's manifest names the commits it read, not `main`.
    let cell = out_dir.join("cells/probe/seed-1/imdb/manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cell).unwrap()).unwrap();
    assert_eq!(manifest["model_revision"], MODEL_SHA, "{manifest}");
    assert_eq!(manifest["dataset_revision"], DATA_SHA, "{manifest}");
}

#[test]
fn plan_downloads_what_the_array_tasks_then_read_offline() {
    let (endpoint, log) = serve_hub(vec![tiny_roberta(), imdb()]);
    let home = tempfile::tempdir().unwrap();
    let config = hub_config(home.path());
    let out_dir = home.path().join("planned");
    let (config, out_dir) = (config.to_str().unwrap(), out_dir.to_str().unwrap());
    let plan = homogen(
        &endpoint,
        home.path(),
        &["--quiet", "plan", config, "--out", out_dir],
        &[],
    );
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert_eq!(downloads(&log).len(), 6);

    let before = log.lock().unwrap().len();
    let task = homogen(
        &endpoint,
        home.path(),
        &[
            "--quiet",
            "run",
            config,
            "--out",
            out_dir,
            "--task-index",
            "0",
        ],
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(task.status.success(), "{}", stderr(&task));
    assert_eq!(log.lock().unwrap().len(), before);
    assert!(Path::new(out_dir)
        .join("cells/probe/seed-1/imdb/failures.parquet")
        .is_file());
}

#[test]
fn an_incomplete_shard_set_is_refused_offline_and_completed_online() {
    let fixture = fixtures().join("data/imdb/hub/plain_text");
    let train = std::fs::read(fixture.join("train-00000-of-00001.parquet")).unwrap();
    let test = std::fs::read(fixture.join("test-00000-of-00001.parquet")).unwrap();
    let repo = HubRepo::new("datasets", "stanfordnlp/imdb", DATA_SHA)
        .with_file("plain_text/train-00000-of-00002.parquet", &train)
        .with_file("plain_text/train-00001-of-00002.parquet", &test)
        .with_file("plain_text/test-00000-of-00001.parquet", &test);
    let (endpoint, log) = serve_hub(vec![repo]);
    let home = tempfile::tempdir().unwrap();
    let fetched = fetch(&endpoint, home.path(), &["dataset", "imdb"]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let snap = snapshot(home.path(), "datasets--stanfordnlp--imdb", DATA_SHA);
    let second = snap.join("plain_text/train-00001-of-00002.parquet");
    std::fs::remove_file(&second).unwrap();

    let described = homogen(
        &endpoint,
        home.path(),
        &["data", "describe", "--dataset", "imdb"],
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert_eq!(described.status.code(), Some(2), "{}", stderr(&described));
    let err = stderr(&described);
    assert!(
        err.contains("train-00001-of-00002.parquet is missing (1 of 2 `train` shards"),
        "{err}"
    );

    // What `run`, `plan` and `train` call first: only the missing shard is downloaded again.
    std::env::set_var("HF_ENDPOINT", &endpoint);
    std::env::set_var("HF_HOME", home.path());
    for var in [
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "HF_TOKEN_PATH",
    ] {
        std::env::remove_var(var);
    }
    let before = downloads(&log).len();
    let spec = homogen::data::DatasetSpec::named("imdb");
    let again = homogen::data::fetch_if_missing(&spec, false).unwrap();
    assert!(again.is_some());
    assert_eq!(std::fs::read(&second).unwrap(), test);
    let new: Vec<String> = downloads(&log)[before..].to_vec();
    assert_eq!(
        new,
        [format!(
            "/datasets/stanfordnlp/imdb/resolve/{DATA_SHA}/plain_text/train-00001-of-00002.parquet"
        )]
    );
    // Whole now: nothing is contacted.
    let requests = log.lock().unwrap().len();
    assert!(homogen::data::fetch_if_missing(&spec, false)
        .unwrap()
        .is_none());
    assert_eq!(log.lock().unwrap().len(), requests);
}

/// The tiny RoBERTa with its weights in two shards and an index, as `org/sharded`.
fn sharded_roberta() -> HubRepo {
    let dir = fixtures().join("models/roberta");
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (a, b) = names.split_at(names.len() / 2);
    let mut repo = HubRepo::new("models", "org/sharded", MODEL_SHA);
    let mut weight_map = serde_json::Map::new();
    let scratch = tempfile::tempdir().unwrap();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let map: std::collections::HashMap<String, candle_core::Tensor> = part
            .iter()
            .map(|&n| (n.clone(), tensors[n].clone()))
            .collect();
        let path = scratch.path().join(shard);
        candle_core::safetensors::save(&map, &path).unwrap();
        repo = repo.with_file(shard, &std::fs::read(&path).unwrap());
        for &n in part {
            weight_map.insert(n.clone(), shard.into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        repo = repo.with_file(f, &std::fs::read(dir.join(f)).unwrap());
    }
    repo.with_file("model.safetensors.index.json", index.to_string().as_bytes())
}

#[test]
fn a_model_shard_lost_from_the_cache_is_downloaded_again() {
    let (endpoint, log) = serve_hub(vec![sharded_roberta()]);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let (first, first_out) = embed(&endpoint, home, "org/sharded", "a.st", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(downloads(&log).len(), 6, "{:?}", downloads(&log));
    let snap = snapshot(home, "models--org--sharded", MODEL_SHA);
    std::fs::remove_file(snap.join("model-00002-of-00002.safetensors")).unwrap();

    let (second, second_out) = embed(&endpoint, home, "org/sharded", "b.st", &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        downloads(&log)[6..],
        [format!(
            "/org/sharded/resolve/{MODEL_SHA}/model-00002-of-00002.safetensors"
        )]
    );
    assert_eq!(features(&first_out), features(&second_out));
}

#[test]
fn train_downloads_its_model_and_dataset() {
    let (endpoint, log) = serve_hub(vec![tiny_roberta(), imdb()]);
    let home = tempfile::tempdir().unwrap();
    let cell = home.path().join("cell");
    let args = [
        "--quiet",
        "train",
        "--model",
        "org/tiny-roberta",
        "--method",
        "probe",
        "--dataset",
        "imdb",
        "--epochs",
        "1",
        "--lr",
        "0.01",
        "--max-length",
        "32",
        "--out",
        cell.to_str().unwrap(),
    ];
    let out = homogen(&endpoint, home.path(), &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(downloads(&log).len(), 6, "{:?}", downloads(&log));
    assert!(cell.join("failures.parquet").is_file());
}

#[test]
fn a_model_card_name_fetches_and_loads_its_pinned_commit() {
    let card = homogen::models::card::builtin("roberta-base").unwrap();
    let repo = HubRepo::new("models", &card.hub_id, &card.revision)
        .with_folder(&fixtures().join("models/roberta"), "");
    let (endpoint, log) = serve_hub(vec![repo]);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let out = fetch(&endpoint, home, &["model", "roberta-base"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = format!(
        "/api/models/FacebookAI/roberta-base/revision/{}",
        card.revision
    );
    assert_eq!(log.lock().unwrap()[0].path, info);
    assert!(
        snapshot(home, "models--FacebookAI--roberta-base", &card.revision)
            .join("model.safetensors")
            .is_file()
    );

    // Loaded by the card's name, offline, at that commit.
    let (out, _) = embed(
        &endpoint,
        home,
        "roberta-base",
        "a.st",
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn plan_offline_warns_about_what_the_tasks_will_have_to_download() {
    let home = tempfile::tempdir().unwrap();
    let config = hub_config(home.path());
    let out_dir = home.path().join("planned");
    let args = [
        "plan",
        config.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let offline = homogen(
        "http://127.0.0.1:1",
        home.path(),
        &args,
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(offline.status.success(), "{}", stderr(&offline));
    assert!(
        stderr(&offline).starts_with("warning: ")
            && stderr(&offline).contains("model `org/tiny-roberta` (model.id)")
            && stderr(&offline).contains("the array tasks will need to download it"),
        "{}",
        stderr(&offline)
    );
    assert!(out_dir.join("jobs.jsonl").is_file());
    // Online with the Hub unreachable, planning stops and says how to work offline.
    let online = homogen("http://127.0.0.1:1", home.path(), &args, &[]);
    assert_eq!(online.status.code(), Some(1), "{}", stderr(&online));
    assert!(
        stderr(&online).contains("HF_HUB_OFFLINE=1"),
        "{}",
        stderr(&online)
    );
}

#[test]
fn a_download_cut_off_midway_is_resumed_where_it_stopped() {
    let name = "plain_text/train-00000-of-00001.parquet";
    let (endpoint, log) = serve_hub(vec![imdb().flaky(name)]);
    let home = tempfile::tempdir().unwrap();
    let out = fetch(&endpoint, home.path(), &["dataset", "imdb"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snap = snapshot(home.path(), "datasets--stanfordnlp--imdb", DATA_SHA);
    assert_eq!(std::fs::read(snap.join(name)).unwrap(), imdb().files[name]);
    // The retry asked for the rest only.
    let half = imdb().files[name].len() / 2;
    let ranges: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/cdn/"))
        .filter_map(|r| r.header("range").map(str::to_string))
        .collect();
    assert!(ranges.contains(&format!("bytes={half}-")), "{ranges:?}");
}

#[test]
fn a_download_a_killed_process_left_behind_is_resumed() {
    let name = "plain_text/train-00000-of-00001.parquet";
    let content = imdb().files[name].clone();
    let (endpoint, log) = serve_hub(vec![imdb()]);
    let home = tempfile::tempdir().unwrap();
    // What hf-hub leaves when killed: the blob's first bytes under `<etag>.part`.
    let etag = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content));
    let blobs = home.path().join("hub/datasets--stanfordnlp--imdb/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let third = content.len() / 3;
    std::fs::write(blobs.join(format!("{etag}.part")), &content[..third]).unwrap();
    let out = fetch(&endpoint, home.path(), &["dataset", "imdb"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snap = snapshot(home.path(), "datasets--stanfordnlp--imdb", DATA_SHA);
    assert_eq!(std::fs::read(snap.join(name)).unwrap(), content);
    assert!(!blobs.join(format!("{etag}.part")).exists());
    let resumed = log.lock().unwrap().iter().any(|r| {
        r.path == format!("/cdn/{etag}") && r.header("range") == Some(&format!("bytes={third}-"))
    });
    assert!(resumed, "the download continued from byte {third}");
}

#[test]
fn processes_sharing_a_cache_download_each_file_once() {
    // Slow downloads, so that the two fetches overlap.
    let mut repo = imdb();
    repo.delay = std::time::Duration::from_millis(1500);
    let (endpoint, log) = serve_hub(vec![repo]);
    let home = tempfile::tempdir().unwrap();
    let (endpoint, home_path) = (endpoint.as_str(), home.path());
    let outs = std::thread::scope(|s| {
        let a = s.spawn(|| fetch(endpoint, home_path, &["dataset", "imdb"]));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let b = s.spawn(|| fetch(endpoint, home_path, &["dataset", "imdb"]));
        [a.join().unwrap(), b.join().unwrap()]
    });
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let mut fetched = downloads(&log);
    fetched.sort();
    assert_eq!(fetched.len(), 2, "each data file once: {fetched:?}");
    fetched.dedup();
    assert_eq!(fetched.len(), 2);
}
