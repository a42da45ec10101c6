//! `homogen data describe` and `homogen fetch` as a user runs them: CSV contract, config files,
//! the offline Hugging Face cache lookup, and exit code 2 naming file and row on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data")
}

fn homogen(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_homogen"));
    c.args(args).env_remove("HF_HUB_CACHE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn root(p: &str) -> String {
    fixtures().join(p).display().to_string()
}

#[test]
fn describe_celeba_csv_hand_checked() {
    let o = homogen(
        &[
            "data",
            "describe",
            "--dataset",
            "celeba",
            "--root",
            &root("celeba/official"),
            "--format",
            "csv",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "dataset,split,task_or_grouping,value,count");
    // Fixture rows i = 0..12 (scripts/make_data_fixtures.py): partitions 6 train, 2 valid,
    // 4 test; earrings when i is even; necklace when i % 4 == 1; beard when i % 3 == 1;
    // train hair: i=0 none and i=5 two colours -> Other 2, one each of the four colours.
    for want in [
        "celeba,train,examples,all,6",
        "celeba,valid,examples,all,2",
        "celeba,test,examples,all,4",
        "celeba,train,Wearing_Earrings,0,3",
        "celeba,train,Wearing_Earrings,1,3",
        "celeba,train,Wearing_Necklace,0,4",
        "celeba,train,Wearing_Necklace,1,2",
        "celeba,train,hair,Black_Hair,1",
        "celeba,train,hair,Blond_Hair,1",
        "celeba,train,hair,Brown_Hair,1",
        "celeba,train,hair,Gray_Hair,1",
        "celeba,train,hair,Other,2",
        "celeba,train,beard,Beard,2",
        "celeba,train,beard,No_Beard,4",
        "celeba,valid,hair,Other,2",
        "celeba,test,beard,Beard,1",
        "celeba,test,beard,No_Beard,3",
        "celeba,test,individual,000012.jpg,1",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in\n{out}");
    }
    // Every split lists each individual once: 12 individual rows in all.
    assert_eq!(
        lines.iter().filter(|l| l.contains(",individual,")).count(),
        12
    );
    // The table format summarises nothing at this size and names the same counts.
    let t = homogen(
        &[
            "data",
            "describe",
            "--dataset",
            "celeba",
            "--root",
            &root("celeba/official"),
        ],
        &[],
    );
    assert!(t.status.success());
    assert!(stdout(&t).lines().any(|l| l
        .split_whitespace()
        .eq(["celeba", "train", "hair", "Other", "2"])));
}

#[test]
fn describe_reads_a_config_with_several_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("exp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[datasets]]\nname = \"hate_speech18\"\nroot = \"{}\"\n\n[[datasets]]\nname = \
             \"imdb\"\nroot = \"{}\"\nmax_test = 5\ngroupings = [\"gender\"]\n",
            root("hate_speech18/zip"),
            root("imdb/hub")
        ),
    )
    .unwrap();
    let o = homogen(
        &["data", "describe", cfg.to_str().unwrap(), "--format", "csv"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // HateSpeech18: 30 examples, 7 held out (see data_text.rs); IMDB test cut to 5.
    for want in [
        "hate_speech18,train,examples,all,23",
        "hate_speech18,test,examples,all,7",
        "hate_speech18,test,label,noHate,3",
        "imdb,test,examples,all,5",
        "imdb,train,examples,all,20",
    ] {
        assert!(out.lines().any(|l| l == want), "missing `{want}` in\n{out}");
    }
    assert!(
        !out.contains("imdb,train,length"),
        "only the configured grouping"
    );
    std::fs::write(&cfg, "[dataset]\nname = \"imdb\"\nmax_tset = 3\n").unwrap();
    let bad = homogen(&["data", "describe", cfg.to_str().unwrap()], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("max_tset"), "{}", stderr(&bad));
}

/// The IMDB snapshot folder of commit `commit` in the Hugging Face cache under `home`.
fn repo_snapshot(home: &Path, commit: &str) -> PathBuf {
    home.join("hub/datasets--stanfordnlp--imdb/snapshots")
        .join(commit)
}

/// A Hugging Face cache holding the IMDB fixture at the commit IMDB is pinned to, as hf-hub
/// lays it out (a commit needs no ref).
fn hub_cache() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub/datasets--stanfordnlp--imdb");
    let commit = homogen::data::text::IMDB_REVISION;
    let snap = repo.join("snapshots").join(commit).join("plain_text");
    std::fs::create_dir_all(&snap).unwrap();
    for split in ["train", "test", "unsupervised"] {
        let f = format!("{split}-00000-of-00001.parquet");
        std::fs::copy(
            fixtures().join("imdb/hub/plain_text").join(&f),
            snap.join(&f),
        )
        .unwrap();
    }
    home
}

#[test]
fn loaders_find_fetched_data_offline_in_the_hub_cache() {
    let home = hub_cache();
    let env = [("HF_HOME", home.path()), ("HF_HUB_OFFLINE", Path::new("1"))];
    let o = homogen(
        &["data", "describe", "--dataset", "imdb", "--format", "csv"],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l == "imdb,train,examples,all,20"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "imdb,test,examples,all,16"),
        "{out}"
    );
    // `fetch` offline resolves the cached snapshot without the network.
    let f = homogen(&["fetch", "dataset", "stanfordnlp/imdb"], &env);
    assert!(f.status.success(), "{}", stderr(&f));
    assert!(stdout(&f)
        .trim()
        .ends_with("snapshots/e6281661ce1c48d982bc483cf8a173c1bbeb5d31"));
    // A dataset that is not cached: exit 2 telling the user to fetch it.
    let g = homogen(&["data", "describe", "--dataset", "ag_news"], &env);
    assert_eq!(g.status.code(), Some(2));
    assert!(
        stderr(&g).contains(
            "`fancyzhx/ag_news` at revision `eb185aade064a813bc0b7f42de02595523103ca4` is not \
             in the Hugging Face cache; download it with `homogen fetch dataset fancyzhx/ag_news \
             --revision eb185aade064a813bc0b7f42de02595523103ca4` where the Hub is reachable \
             (HF_HUB_OFFLINE is set: unset it for that)"
        ),
        "{}",
        stderr(&g)
    );
    // A config pins another commit with the dataset table's `revision`: looked up as given.
    let other = "0123456789abcdef0123456789abcdef01234567";
    let cfg = home.path().join("pinned.toml");
    std::fs::write(
        &cfg,
        format!("[dataset]\nname = \"imdb\"\nrevision = \"{other}\"\n"),
    )
    .unwrap();
    let p = homogen(&["data", "describe", cfg.to_str().unwrap()], &env);
    assert_eq!(p.status.code(), Some(2));
    assert!(
        stderr(&p).contains(&format!("`stanfordnlp/imdb` at revision `{other}` is not")),
        "{}",
        stderr(&p)
    );
    let cached = repo_snapshot(home.path(), homogen::data::text::IMDB_REVISION);
    std::fs::rename(cached, repo_snapshot(home.path(), other)).unwrap();
    let p = homogen(
        &["data", "describe", cfg.to_str().unwrap(), "--format", "csv"],
        &env,
    );
    assert!(p.status.success(), "{}", stderr(&p));
    assert!(stdout(&p)
        .lines()
        .any(|l| l == "imdb,train,examples,all,20"));
    // A model card's name stands for its Hub model (here at another revision than its pin).
    for (model, shown) in [
        ("org/some-model", "org/some-model"),
        ("roberta-base", "FacebookAI/roberta-base"),
    ] {
        let h = homogen(&["fetch", "model", model, "--revision", "v2"], &env);
        assert_eq!(h.status.code(), Some(2), "{}", stderr(&h));
        assert!(
            stderr(&h).contains(&format!("`homogen fetch model {shown} --revision v2`")),
            "{}",
            stderr(&h)
        );
    }
}

fn fails_with_2(args: &[&str], needles: &[&str]) {
    let o = homogen(args, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in {err}");
    }
}

#[test]
fn bad_input_exits_2_naming_file_and_row() {
    fails_with_2(
        &["data", "describe", "no/such/datasets.toml"],
        &["no/such/datasets.toml: no such file"],
    );
    fails_with_2(
        &["data", "describe", &root("celeba")],
        &["is a folder; expected a file"],
    );
    fails_with_2(
        &[
            "data",
            "describe",
            "--dataset",
            "imdb",
            "--root",
            &root("bad/no_text"),
        ],
        &["train-00000-of-00001.parquet", "column `text`"],
    );
    fails_with_2(
        &[
            "data",
            "describe",
            "--dataset",
            "imdb",
            "--root",
            &root("bad/label_out_of_range"),
        ],
        &["train.csv", "row 3", "outside the class set"],
    );
    fails_with_2(
        &[
            "data",
            "describe",
            "--dataset",
            "celeba",
            "--root",
            &root("celeba/official"),
            "--task",
            "Wearing_Earing",
        ],
        &["unknown CelebA attribute `Wearing_Earing`"],
    );
    fails_with_2(
        &[
            "data",
            "describe",
            "--dataset",
            "celebb",
            "--root",
            &root("celeba/official"),
        ],
        &["unknown dataset `celebb`"],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("celeba/official/list_eval_partition.txt"),
        dir.path().join("list_eval_partition.txt"),
    )
    .unwrap();
    fails_with_2(
        &[
            "data",
            "describe",
            "--dataset",
            "celeba",
            "--root",
            dir.path().to_str().unwrap(),
        ],
        &["missing CelebA attribute file `list_attr_celeba.txt`"],
    );
    let attr =
        std::fs::read_to_string(fixtures().join("celeba/official/list_attr_celeba.txt")).unwrap();
    let mut lines: Vec<&str> = attr.lines().collect();
    let short = lines[6].trim_end().rsplit_once(' ').unwrap().0.to_string();
    lines[6] = &short; // line 7 (data row 5) now has 39 values
    let path = dir.path().join("list_attr_celeba.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    fails_with_2(
        &[
            "data",
            "describe",
            "--dataset",
            "celeba",
            "--root",
            dir.path().to_str().unwrap(),
        ],
        &["list_attr_celeba.txt, line 7", "found 39 values"],
    );
}
