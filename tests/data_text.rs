//! Text-set loaders on the fixtures written by `scripts/make_data_fixtures.py`: the Hub Parquet
//! layouts, CSV, JSONL and HateSpeech18's zip read to the examples (ids, splits, labels, gender
//! and length groups) the script computed; splits and subsets are seeded and stratified.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use homogen::data::groupings::GenderWords;
use homogen::data::{self, Dataset, DatasetSpec, Split, SplitRecord};
use homogen::error::Error;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data")
}

fn spec(name: &str, root: &str) -> DatasetSpec {
    let mut s = DatasetSpec::named(name);
    s.root = Some(fixtures().join(root));
    s
}

type Row = HashMap<String, String>;

fn expected(name: &str) -> Vec<Row> {
    let mut r = csv::Reader::from_path(fixtures().join(name).join("expected.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Checks a dataset against the script's expected rows, in order (splits in file order:
/// `test` files sort before `train` ones, so compare per id).
fn check(ds: &Dataset, name: &str, with_length: bool) {
    let exp = expected(name);
    assert_eq!(ds.examples.len(), exp.len(), "{name}");
    let by_id: HashMap<&str, &Row> = exp.iter().map(|r| (r["example_id"].as_str(), r)).collect();
    let g = ds.grouping_index("gender").unwrap();
    let l = ds.grouping_index("length").unwrap();
    for e in &ds.examples {
        let x = by_id
            .get(e.example_id.as_str())
            .unwrap_or_else(|| panic!("{name}: unexpected id {}", e.example_id));
        assert_eq!(e.labels[0].to_string(), x["label"], "{}", e.example_id);
        assert_eq!(e.input.text().unwrap(), x["text"], "{}", e.example_id);
        assert_eq!(e.groups[g], x["gender"], "{}: {}", e.example_id, x["text"]);
        if with_length {
            assert_eq!(e.split.as_str(), x["split"]);
            assert_eq!(e.groups[l], x["length"], "{}", e.example_id);
        }
    }
}

#[test]
fn imdb_hub_parquet_matches_the_script_and_drops_unsupervised() {
    let ds = data::load(&spec("imdb", "imdb/hub"), true).unwrap();
    assert_eq!(ds.split(Split::Train).count(), 20);
    assert_eq!(ds.split(Split::Test).count(), 16);
    assert_eq!(ds.tasks[0].classes, ["neg", "pos"]);
    check(&ds, "imdb", true);
}

#[test]
fn imdb_csv_and_jsonl_read_to_the_same_examples() {
    type Key = (String, Split, Vec<i64>, Vec<String>, String);
    let key = |ds: &Dataset| -> Vec<Key> {
        let mut v: Vec<_> = ds
            .examples
            .iter()
            .map(|e| {
                (
                    e.example_id.clone(),
                    e.split,
                    e.labels.clone(),
                    e.groups.clone(),
                    e.input.text().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let hub = key(&data::load(&spec("imdb", "imdb/hub"), true).unwrap());
    assert_eq!(
        key(&data::load(&spec("imdb", "imdb/csv"), true).unwrap()),
        hub
    );
    assert_eq!(
        key(&data::load(&spec("imdb", "imdb/jsonl"), true).unwrap()),
        hub
    );
}

#[test]
fn ag_news_and_yahoo_match_the_script() {
    let ag = data::load(&spec("ag_news", "ag_news/hub"), true).unwrap();
    assert_eq!(ag.tasks[0].classes.len(), 4);
    check(&ag, "ag_news", true);
    let yahoo = data::load(
        &spec("yahoo_answers_topics", "yahoo_answers_topics/hub"),
        true,
    )
    .unwrap();
    // The paper's choice: question_title as text, topic as label, the dataset's own ids.
    assert_eq!(yahoo.tasks[0].name, "topic");
    assert_eq!(yahoo.tasks[0].classes.len(), 10);
    assert_eq!(yahoo.examples[0].example_id, "1100"); // test-* sorts before train-*
    check(&yahoo, "yahoo_answers_topics", true);
}

#[test]
fn yahoo_text_field_is_configurable() {
    let mut s = spec("yahoo_answers_topics", "yahoo_answers_topics/hub");
    s.text_field = Some("question_content".into());
    let ds = data::load(&s, true).unwrap();
    let exp = expected("yahoo_answers_topics");
    let title: HashMap<&str, &str> = exp
        .iter()
        .map(|r| (r["example_id"].as_str(), r["text"].as_str()))
        .collect();
    for e in &ds.examples {
        let want = format!("content: {}", title[e.example_id.as_str()].to_uppercase());
        assert_eq!(e.input.text().unwrap(), want);
    }
}

fn hate(root: &str, seed: u64) -> Dataset {
    let mut s = spec("hate_speech18", root);
    s.split_seed = seed;
    data::load(&s, true).unwrap()
}

#[test]
fn hate_speech_zip_and_parquet_read_to_the_same_examples() {
    let zip = hate("hate_speech18/zip", 0);
    let pq = hate("hate_speech18/parquet", 0);
    check(&zip, "hate_speech18", false);
    // The zip keeps the dataset's file ids; the parquet conversion has none, so rows are named.
    assert_eq!(zip.examples[0].example_id, "12834217_1");
    assert_eq!(pq.examples[0].example_id, "hate_speech18:train:0");
    assert_eq!(zip.examples.len(), pq.examples.len());
    for (a, b) in zip.examples.iter().zip(&pq.examples) {
        assert_eq!(a.input.text(), b.input.text());
        assert_eq!(
            (a.split, &a.labels, &a.groups),
            (b.split, &b.labels, &b.groups)
        );
    }
}

#[test]
fn hate_speech_split_is_stratified_80_20_and_fixed() {
    let ds = hate("hate_speech18/zip", 0);
    // Classes 15 / 8 / 4 / 3 -> test round(3.0) + round(1.6) + round(0.8) + round(0.6)
    // = 3 + 2 + 1 + 1 = 7.
    let test: Vec<_> = ds.split(Split::Test).collect();
    assert_eq!(test.len(), 7);
    let per_class = |c: i64| test.iter().filter(|e| e.labels[0] == c).count();
    assert_eq!([0, 1, 2, 3].map(per_class), [3, 2, 1, 1]);
    // Identical across runs, and independent of the training seed and of subsets of train.
    let again = SplitRecord::of(&hate("hate_speech18/zip", 0));
    assert_eq!(SplitRecord::of(&ds), again);
    let mut s = spec("hate_speech18", "hate_speech18/zip");
    s.subset_seed = 5;
    s.max_train = Some(10);
    let sub = data::load(&s, true).unwrap();
    assert_eq!(
        SplitRecord::of(&sub).splits["test"],
        SplitRecord::of(&ds).splits["test"]
    );
    // A different split seed gives a different cut.
    assert_ne!(SplitRecord::of(&hate("hate_speech18/zip", 1)), again);
}

#[test]
fn subsets_are_seeded_stratified_and_recorded() {
    let mut s = spec("imdb", "imdb/hub");
    s.max_train = Some(10);
    s.max_test = Some(5);
    s.subset_seed = 3;
    let a = data::load(&s, true).unwrap();
    let b = data::load(&s, true).unwrap();
    let rec = SplitRecord::of(&a);
    assert_eq!(rec, SplitRecord::of(&b));
    // train 10 neg / 10 pos -> 5 + 5; test 8 / 8 with 5 places: 2.5 + 2.5 -> 3 neg (tie goes to
    // the first class) + 2 pos.
    let count = |sp: Split, c: i64| a.split(sp).filter(|e| e.labels[0] == c).count();
    assert_eq!((count(Split::Train, 0), count(Split::Train, 1)), (5, 5));
    assert_eq!((count(Split::Test, 0), count(Split::Test, 1)), (3, 2));
    s.subset_seed = 4;
    assert_ne!(SplitRecord::of(&data::load(&s, true).unwrap()), rec);
    // The record round-trips through JSON.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.json");
    rec.write(&path).unwrap();
    assert_eq!(SplitRecord::read(&path).unwrap(), rec);
    // Applying the record to a fresh full load reproduces the subset exactly.
    let mut full = data::load(&spec("imdb", "imdb/hub"), true).unwrap();
    rec.apply(&mut full).unwrap();
    assert_eq!(SplitRecord::of(&full), rec);
    assert_eq!(full.examples.len(), 15);
    let mut other = data::load(&spec("ag_news", "ag_news/hub"), true).unwrap();
    assert!(rec.apply(&mut other).is_err());
}

#[test]
fn gender_hand_cases() {
    let w = GenderWords::paper();
    // Distinct listed words count once each.
    assert_eq!(w.group("He, he and she"), "other"); // {he} 1 vs {she} 1
    assert_eq!(w.group("HE HE HE, she and her"), "female"); // {he} 1 vs {she, her} 2
    assert_eq!(w.group("Father! Son? Mother."), "male"); // 2 vs 1, punctuation splits
    assert_eq!(w.group("he's her brother's son"), "male"); // {he, brother, son} 3 vs {her} 1
    assert_eq!(w.group("Nothing gendered"), "other"); // 0 vs 0
    assert_eq!(w.group("sheep and hermits"), "other"); // no partial-word matches
    assert_eq!(w.group("FEMEN"), "female"); // the paper's list, verbatim
                                            // nltk keeps hyphenated and underscored words whole.
    assert_eq!(w.group("Spider-Man"), "other");
    assert_eq!(w.group("my step-mother"), "other");
    assert_eq!(w.group("the police_man"), "other");
    assert_eq!(w.group("He is a man. His son"), "male"); // a sentence-final period splits
}

/// The gendered words of every text in the fixture written by
/// `scripts/make_gender_fixtures.py` with the authors' tokenizer (nltk 3.7 `word_tokenize`):
/// hand-made hard cases (hyphens, underscores, apostrophes and clitics, sentence ends and
/// abbreviations, URLs, numbers, quotes and dashes), review-like texts and random punctuation
/// soups, reproduced exactly, words and groups.
#[test]
fn gender_words_match_nltk_word_tokenize() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gender/nltk_word_tokenize.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fixture["nltk"], "3.7");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() > 800);
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let w = GenderWords::paper();
    let mut wrong = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want = (strings(&case["male"]), strings(&case["female"]));
        let got = w.matches(text);
        if got != want || w.group(text) != case["group"].as_str().unwrap() {
            wrong.push(format!("{text:?}: nltk {want:?}, ours {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn gender_words_can_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("words.toml");
    std::fs::write(&path, "male = [\"Plot\"]\nfemale = [\"film\", \"story\"]\n").unwrap();
    let w = GenderWords::from_file(&path).unwrap();
    assert_eq!(w.group("plot film"), "other");
    assert_eq!(w.group("He said plot"), "male"); // `he` is no longer listed
    assert_eq!(w.group("film and story"), "female");
    let mut s = spec("imdb", "imdb/hub");
    s.gender_words = Some(path.clone());
    let ds = data::load(&s, true).unwrap();
    let g = ds.grouping_index("gender").unwrap();
    for e in &ds.examples {
        assert_eq!(e.groups[g], w.group(e.input.text().unwrap()));
    }
    std::fs::write(&path, "male = [\"a\"]\nfemale = [\"A\"]\n").unwrap();
    match GenderWords::from_file(&path) {
        Err(Error::Input(e)) => assert!(e.message.contains("both"), "{e}"),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn length_bins_are_configurable() {
    let mut s = spec("imdb", "imdb/hub");
    s.length_bins = 2;
    s.groupings = Some(vec!["length".into()]);
    let ds = data::load(&s, true).unwrap();
    assert_eq!(ds.groupings, ["length"]);
    // 20 train texts, 2 bins: step = 20 / 2 = 10, the one edge is the sorted length at index
    // 10; q1 holds exactly the texts not longer than it.
    let train: Vec<_> = ds.split(Split::Train).collect();
    let len = |e: &&homogen::data::Example| {
        homogen::data::groupings::word_tokens(e.input.text().unwrap()).len()
    };
    let mut sorted: Vec<usize> = train.iter().map(len).collect();
    sorted.sort();
    for e in &train {
        let want = if len(e) <= sorted[10] { "q1" } else { "q2" };
        assert_eq!(e.groups[0], want);
    }
}

fn input_error(r: Result<Dataset, Error>) -> homogen::error::InputError {
    match r {
        Err(Error::Input(e)) => *e,
        Err(other) => panic!("expected an input error, got {other}"),
        Ok(_) => panic!("expected an input error, got a dataset"),
    }
}

#[test]
fn parquet_without_text_names_the_file_and_column() {
    let e = input_error(data::load(&spec("imdb", "bad/no_text"), true));
    assert!(e
        .file
        .as_ref()
        .unwrap()
        .ends_with("train-00000-of-00001.parquet"));
    assert_eq!(e.column.as_deref(), Some("text"));
    assert!(e.message.contains("review"), "lists the columns found: {e}");
}

#[test]
fn labels_outside_the_class_set_name_file_and_row() {
    let e = input_error(data::load(&spec("imdb", "bad/label_out_of_range"), true));
    assert!(e.file.as_ref().unwrap().ends_with("train.csv"));
    assert_eq!(e.row, Some(3));
    assert_eq!(e.column.as_deref(), Some("label"));
    assert!(
        e.message.contains("label `5` is outside the class set"),
        "{e}"
    );
}

/// Rewrites the fixture zip under a top folder (as GitHub's archive of the original dataset
/// has it), optionally leaving one text file out.
fn rezip(dir: &Path, prefix: &str, skip: Option<&str>) {
    use std::io::{Read, Write};
    let src = std::fs::File::open(fixtures().join("hate_speech18/zip/data.zip")).unwrap();
    let mut src = zip::ZipArchive::new(src).unwrap();
    let out = std::fs::File::create(dir.join("data.zip")).unwrap();
    let mut w = zip::ZipWriter::new(out);
    for i in 0..src.len() {
        let mut e = src.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        if skip.is_some_and(|s| name.ends_with(s)) {
            continue;
        }
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        w.start_file(
            format!("{prefix}{name}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(&buf).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn hate_speech_zip_with_a_top_folder_and_a_missing_text() {
    let dir = tempfile::tempdir().unwrap();
    rezip(dir.path(), "hate-speech-dataset-master/", None);
    let mut s = DatasetSpec::named("hate_speech18");
    s.root = Some(dir.path().to_path_buf());
    let nested = data::load(&s, true).unwrap();
    assert_eq!(
        nested.fingerprint(),
        hate("hate_speech18/zip", 0).fingerprint()
    );
    rezip(dir.path(), "", Some("12834219_3.txt"));
    let e = input_error(data::load(&s, true));
    assert!(e.message.contains("all_files/12834219_3.txt"), "{e}");
    assert!(e.file.unwrap().ends_with("data.zip"));
}

#[test]
fn csv_errors_count_rows_as_records_not_lines() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("imdb/csv");
    std::fs::copy(src.join("test.csv"), dir.path().join("test.csv")).unwrap();
    // Row 1's review spans three lines; row 2 has a field too many.
    std::fs::write(
        dir.path().join("train.csv"),
        "text,label\n\"a review\nover three\nlines\",0\nshort,1,extra\n",
    )
    .unwrap();
    let mut s = DatasetSpec::named("imdb");
    s.root = Some(dir.path().to_path_buf());
    let e = input_error(data::load(&s, true));
    assert!(e.file.as_ref().unwrap().ends_with("train.csv"));
    assert_eq!(e.row, Some(2), "{e}");
}
