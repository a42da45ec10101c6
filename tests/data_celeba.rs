//! CelebA loaders on the fixtures written by `scripts/make_data_fixtures.py`: the official
//! layout and three Parquet mirrors (bool, 0/1, -1/1) read to the same examples, which match the
//! values the script computed (labels, hair/beard groups, PIL's mean RGB of every image).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use homogen::data::celeba::{self, CelebaOptions};
use homogen::data::groupings::hair_group;
use homogen::data::{Dataset, ImageRef, Input, Split};
use homogen::error::{Error, InputError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/celeba")
}

type Row = HashMap<String, String>;

fn expected() -> Vec<Row> {
    let mut r = csv::Reader::from_path(fixtures().join("expected.csv")).unwrap();
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

/// id -> (split, labels, groups)
fn summary(ds: &Dataset) -> HashMap<String, (Split, Vec<i64>, Vec<String>)> {
    ds.examples
        .iter()
        .map(|e| {
            (
                e.example_id.clone(),
                (e.split, e.labels.clone(), e.groups.clone()),
            )
        })
        .collect()
}

fn mean_rgb(img: &image::DynamicImage) -> [f64; 3] {
    let rgb = img.to_rgb8();
    let n = (rgb.width() * rgb.height()) as f64;
    let mut s = [0.0; 3];
    for p in rgb.pixels() {
        for c in 0..3 {
            s[c] += p[c] as f64;
        }
    }
    s.map(|v| v / n)
}

#[test]
fn official_layout_matches_the_script() {
    let ds =
        celeba::load_official(&fixtures().join("official"), &CelebaOptions::default()).unwrap();
    assert_eq!(ds.tasks[0].name, "Wearing_Earrings");
    assert_eq!(ds.tasks[1].name, "Wearing_Necklace");
    assert_eq!(ds.groupings, ["hair", "beard", "individual"]);
    let exp = expected();
    assert_eq!(ds.examples.len(), exp.len());
    for (e, x) in ds.examples.iter().zip(&exp) {
        assert_eq!(e.example_id, x["example_id"]);
        assert_eq!(e.split.as_str(), x["split"]);
        assert_eq!(e.labels[0].to_string(), x["Wearing_Earrings"]);
        assert_eq!(e.labels[1].to_string(), x["Wearing_Necklace"]);
        assert_eq!(
            e.groups,
            [
                x["hair"].clone(),
                x["beard"].clone(),
                x["example_id"].clone()
            ]
        );
        let Input::Image(ImageRef::File(p)) = &e.input else {
            panic!("official images are files")
        };
        assert!(p.ends_with(format!("img_align_celeba/{}", x["example_id"])));
    }
}

#[test]
fn parquet_mirrors_read_to_the_same_examples() {
    let official = summary(
        &celeba::load_official(&fixtures().join("official"), &CelebaOptions::default()).unwrap(),
    );
    for variant in ["hub_bool", "hub_int01", "hub_pm1"] {
        let ds = celeba::load_parquet(&fixtures().join(variant), &CelebaOptions::default())
            .unwrap_or_else(|e| panic!("{variant}: {e}"));
        assert_eq!(summary(&ds), official, "{variant}");
    }
}

#[test]
fn images_decode_like_pil() {
    let opts = CelebaOptions::default();
    let official = celeba::load_official(&fixtures().join("official"), &opts).unwrap();
    let hub = celeba::load_parquet(&fixtures().join("hub_bool"), &opts).unwrap();
    let hub: HashMap<_, _> = hub
        .examples
        .iter()
        .map(|e| (e.example_id.clone(), e))
        .collect();
    let refs: Vec<&ImageRef> = official
        .examples
        .iter()
        .filter_map(|e| e.input.image())
        .collect();
    let decoded = homogen::data::decode_images(&refs).unwrap();
    for ((e, img), x) in official.examples.iter().zip(&decoded).zip(expected()) {
        assert_eq!((img.width(), img.height()), (178, 218));
        let m = mean_rgb(img);
        // JPEG decoders may round differently from libjpeg (PIL): allow 1 grey level on average.
        for (c, key) in ["official_r", "official_g", "official_b"]
            .iter()
            .enumerate()
        {
            let want: f64 = x[*key].parse().unwrap();
            assert!(
                (m[c] - want).abs() < 1.0,
                "{} {key}: {} vs {want}",
                e.example_id,
                m[c]
            );
        }
        let h = hub[&e.example_id].input.image().unwrap().decode().unwrap();
        let m = mean_rgb(&h);
        // PNG is lossless: the same mean as PIL up to float summation order.
        let tol = if x["hub_format"] == "png" { 1e-9 } else { 1.0 };
        for (c, key) in ["hub_r", "hub_g", "hub_b"].iter().enumerate() {
            let want: f64 = x[*key].parse().unwrap();
            assert!(
                (m[c] - want).abs() < tol,
                "{} {key}: {} vs {want}",
                e.example_id,
                m[c]
            );
        }
    }
}

#[test]
fn annotations_only_skips_image_bytes() {
    let opts = CelebaOptions {
        load_images: false,
        ..Default::default()
    };
    let ds = celeba::load_parquet(&fixtures().join("hub_bool"), &opts).unwrap();
    assert_eq!(ds.examples.len(), 12);
    for e in &ds.examples {
        assert!(matches!(e.input, Input::Image(ImageRef::NotLoaded { .. })));
    }
    let full = celeba::load_parquet(&fixtures().join("hub_bool"), &Default::default()).unwrap();
    assert_eq!(summary(&ds), summary(&full));
    // The fingerprint covers annotations and image names, not whether bytes were read; it
    // changes when a label does.
    assert_eq!(ds.fingerprint(), full.fingerprint());
    let mut changed = full.clone();
    changed.examples[4].labels[1] = 1 - changed.examples[4].labels[1];
    assert_ne!(changed.fingerprint(), full.fingerprint());
}

#[test]
fn hair_grouping_hand_cases() {
    // zero hair attributes (bald or hidden hair) -> Other; exactly one -> that one; two -> Other.
    assert_eq!(hair_group([false; 4]), "Other");
    assert_eq!(hair_group([false, false, true, false]), "Brown_Hair");
    assert_eq!(hair_group([false, false, false, true]), "Gray_Hair");
    assert_eq!(hair_group([true, true, false, false]), "Other");
    assert_eq!(hair_group([true, true, true, true]), "Other");
}

#[test]
fn tasks_are_any_attribute() {
    let opts = CelebaOptions {
        tasks: vec!["Male".into(), "No_Beard".into()],
        groupings: vec!["beard".into()],
        load_images: true,
    };
    let ds = celeba::load_official(&fixtures().join("official"), &opts).unwrap();
    for e in &ds.examples {
        // No_Beard as a task and the beard grouping agree: label 1 <-> group No_Beard.
        assert_eq!(e.labels[1] == 1, e.groups[0] == "No_Beard");
    }
}

fn copy_official(dir: &Path) {
    let src = fixtures().join("official");
    for f in ["list_attr_celeba.txt", "list_eval_partition.txt"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::create_dir(dir.join("img_align_celeba")).unwrap();
    for e in std::fs::read_dir(src.join("img_align_celeba")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join("img_align_celeba").join(e.file_name())).unwrap();
    }
}

fn input_error(r: Result<Dataset, Error>) -> InputError {
    match r {
        Err(Error::Input(e)) => *e,
        Err(other) => panic!("expected an input error, got {other}"),
        Ok(_) => panic!("expected an input error, got a dataset"),
    }
}

#[test]
fn missing_attribute_file_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    copy_official(dir.path());
    std::fs::remove_file(dir.path().join("list_attr_celeba.txt")).unwrap();
    let e = input_error(celeba::load_official(dir.path(), &Default::default()));
    assert!(e.message.contains("list_attr_celeba.txt"), "{e}");
    assert_eq!(e.file.as_deref(), Some(dir.path()));
}

/// The error of loading the official fixture with `edit` applied to the lines of its file
/// `name`, and that file's path.
fn load_edited(name: &str, edit: impl FnOnce(&mut Vec<String>)) -> (InputError, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_official(dir.path());
    let path = dir.path().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    edit(&mut lines);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (
        input_error(celeba::load_official(dir.path(), &Default::default())),
        path,
    )
}

#[test]
fn a_row_with_39_values_names_file_and_line() {
    // Data row 3 is line 5; drop its last value.
    let (e, path) = load_edited("list_attr_celeba.txt", |lines| {
        let cut = lines[4].trim_end().rfind(' ').unwrap();
        lines[4].truncate(cut);
    });
    assert_eq!(e.file.as_deref(), Some(path.as_path()));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("found 39 values"), "{e}");
}

#[test]
fn a_wrong_attribute_name_is_named_with_its_place() {
    let (e, _) = load_edited("list_attr_celeba.txt", |lines| {
        lines[1] = lines[1].replacen("Wearing_Necklace", "Wearing_Necktie", 1);
    });
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.message
            .ends_with("name 38 is `Wearing_Necktie` where CelebA has `Wearing_Necklace`"),
        "{e}"
    );
    let (e, _) = load_edited("list_attr_celeba.txt", |lines| {
        lines[1] = lines[1].replacen(" Young", "", 1);
    });
    assert!(e.message.ends_with("found 39 names"), "{e}");
}

#[test]
fn an_image_listed_twice_names_both_lines() {
    for (name, header_lines) in [("list_attr_celeba.txt", 2), ("list_eval_partition.txt", 0)] {
        // The second image's line again, right after the third's.
        let (e, path) = load_edited(name, |lines| {
            let copy = lines[header_lines + 1].clone();
            lines.insert(header_lines + 3, copy);
        });
        assert_eq!(e.file.as_deref(), Some(path.as_path()), "{e}");
        assert_eq!(e.line, Some(header_lines + 4), "{e}");
        assert!(
            e.message.contains(&format!(
                "is listed twice (first at line {})",
                header_lines + 2
            )),
            "{e}"
        );
    }
}

#[test]
fn unknown_attribute_is_an_input_error() {
    let opts = CelebaOptions {
        tasks: vec!["Wearing_Earing".into()],
        ..Default::default()
    };
    let e = input_error(celeba::load_official(&fixtures().join("official"), &opts));
    assert!(
        e.message
            .contains("unknown CelebA attribute `Wearing_Earing`"),
        "{e}"
    );
}

#[test]
fn missing_or_corrupt_image_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_official(dir.path());
    let gone = dir.path().join("img_align_celeba/000002.jpg");
    let bad = dir.path().join("img_align_celeba/000003.jpg");
    std::fs::remove_file(&gone).unwrap();
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let ds = celeba::load_official(dir.path(), &Default::default()).unwrap();
    for (i, path) in [(1, &gone), (2, &bad)] {
        match ds.examples[i].input.image().unwrap().decode() {
            Err(Error::Input(e)) => assert_eq!(e.file.as_deref(), Some(path.as_path())),
            other => panic!("expected an input error, got {other:?}"),
        }
    }
    let refs: Vec<&ImageRef> = ds.examples.iter().filter_map(|e| e.input.image()).collect();
    assert!(homogen::data::decode_images(&refs).is_err());
}

#[test]
fn text_options_are_refused_for_celeba() {
    let mut spec = homogen::data::DatasetSpec::named("celeba");
    spec.root = Some(fixtures().join("official"));
    spec.text_field = Some("question_title".into());
    let e = input_error(homogen::data::load(&spec, false));
    assert_eq!(e.key.as_deref(), Some("text_field"));
}
