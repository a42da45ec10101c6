//! Loading: the Hugging Face cache layout (refs/main and a pinned commit), sharded safetensors,
//! checkpoints with and without the backbone prefix, pickles only with --allow-pickle, and input
//! errors (exit code 2) that name the tensor or file: missing tensor, wrong shape, corrupt
//! safetensors header, unknown model_type.

use candle_core::{DType, Device, Tensor};
use hf_hub::Cache;
use homogen::error::Error;
use homogen::models::config::ModelConfig;
use homogen::models::heads::HeadKind;
use homogen::models::hub::{from_cache, from_folder, resolve, ResolveOptions, WeightFiles};
use homogen::models::layers::Ctx;
use homogen::models::{Backbone, Batch, HeadSpec, Model};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{copy_dir, max_abs_diff};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("reference.safetensors"), &Device::Cpu).unwrap()
}

fn clip_features(dir: &Path) -> Tensor {
    let files = from_folder(dir, false, None).unwrap();
    let (model, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap();
    let px = reference()["clip.pixel_values"].clone();
    model.features(&Batch::Pixels(px), &Ctx::eval()).unwrap()
}

fn load_err(dir: &Path) -> Error {
    let files = match from_folder(dir, false, None) {
        Ok(f) => f,
        Err(e) => return e,
    };
    Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap_err()
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

#[test]
fn resolves_a_hub_cache_by_ref_and_by_pinned_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = hub.join("models--org--tiny-clip");
    copy_dir(
        &fixtures().join("clip"),
        &repo.join("snapshots").join(commit),
    );
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let cache = Cache::new(hub.clone());
    let by_ref = from_cache(&cache, "org/tiny-clip", "main", false).unwrap();
    assert_eq!(by_ref.revision.as_deref(), Some(commit));
    assert!(by_ref
        .config
        .starts_with(repo.join("snapshots").join(commit)));
    let pinned = from_cache(&cache, "org/tiny-clip", commit, false).unwrap();
    assert_eq!(pinned.weights, by_ref.weights);
    let missing = from_cache(&cache, "org/tiny-clip", "v2", false).unwrap_err();
    assert_eq!(missing.exit_code(), 2);
    assert!(missing.to_string().contains("v2"), "{missing}");
    // Through resolve(): HF_HOME and HF_HUB_OFFLINE are honoured.
    std::env::set_var("HF_HOME", tmp.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let files = resolve("org/tiny-clip", &ResolveOptions::default()).unwrap();
    let (model, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap();
    let px = reference()["clip.pixel_values"].clone();
    let f = model.features(&Batch::Pixels(px), &Ctx::eval()).unwrap();
    assert!(max_abs_diff(&f, &reference()["clip.features"]) <= 1e-5);
}

#[test]
fn loads_sharded_safetensors_and_vision_only_checkpoints_without_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    // Vision-only layout: CLIPVisionConfig at the top level, keys without `vision_model.`.
    let dir = tmp.path().join("vision");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("clip/config.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("config.json"), cfg["vision_config"].to_string()).unwrap();
    let all = tensors(&fixtures().join("clip/model.safetensors"));
    let stripped: Vec<(String, Tensor)> = all
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix("vision_model.")
                .map(|s| (s.to_string(), t.clone()))
        })
        .collect();
    // Two shards and an index.
    let (a, b) = stripped.split_at(stripped.len() / 2);
    let mut index = serde_json::Map::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let map: HashMap<String, Tensor> = part.iter().cloned().collect();
        candle_core::safetensors::save(&map, dir.join(shard)).unwrap();
        for (k, _) in part {
            index.insert(k.clone(), serde_json::Value::String(shard.to_string()));
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": index });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let files = from_folder(&dir, false, None).unwrap();
    let WeightFiles::Safetensors(shards) = &files.weights else {
        panic!("expected safetensors")
    };
    assert_eq!(shards.len(), 2);
    let f = clip_features(&dir);
    assert!(max_abs_diff(&f, &reference()["clip.features"]) <= 1e-5);

    // A shard the index lists but the folder lacks is named.
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let err = from_folder(&dir, false, None).unwrap_err().to_string();
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("shard"),
        "{err}"
    );
}

#[test]
fn missing_head_is_initialised_and_reported() {
    let files = from_folder(&fixtures().join("bert"), false, None).unwrap();
    let head = HeadSpec {
        kind: HeadKind::Mlp,
        classes: 3,
    };
    let (model, report) = Model::load(&files, Some(head), &Device::Cpu, DType::F32, 7).unwrap();
    assert!(!report.prefixed);
    assert_eq!(
        report.missing_head,
        [
            "classifier.dense.bias",
            "classifier.dense.weight",
            "classifier.out_proj.bias",
            "classifier.out_proj.weight"
        ]
    );
    // BertModel's pooler is not used by our features: reported as unexpected.
    assert!(report
        .unexpected
        .contains(&"pooler.dense.weight".to_string()));
    let w = model
        .store
        .get("classifier.dense.weight")
        .unwrap()
        .var()
        .as_tensor()
        .clone();
    let std = w
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .sqrt()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    // normal(0, 0.02) over 32 x 32 = 1024 draws: the sample std is within 10% of 0.02.
    assert!((std - 0.02).abs() < 0.002, "head init std {std}");
}

#[test]
fn pickle_needs_allow_pickle_and_then_loads_the_same_weights() {
    let dir = fixtures().join("bert_pickle");
    let e = from_folder(&dir, false, None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--allow-pickle"), "{e}");
    let files = from_folder(&dir, true, None).unwrap();
    let (from_pickle, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap();
    let safe = from_folder(&fixtures().join("bert"), false, None).unwrap();
    let (from_safe, _) = Model::load(&safe, None, &Device::Cpu, DType::F32, 0).unwrap();
    for p in from_safe.store.iter() {
        let q = from_pickle.store.get(p.name()).unwrap();
        assert_eq!(
            max_abs_diff(p.var().as_tensor(), q.var().as_tensor()),
            0.0,
            "{}",
            p.name()
        );
    }
}

#[test]
fn missing_backbone_tensor_is_an_input_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("clip"), tmp.path());
    let mut all = tensors(&tmp.path().join("model.safetensors"));
    all.remove("vision_model.encoder.layers.1.mlp.fc2.bias");
    candle_core::safetensors::save(&all, tmp.path().join("model.safetensors")).unwrap();
    let e = load_err(tmp.path());
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.contains("vision_model.encoder.layers.1.mlp.fc2.bias"),
        "{msg}"
    );
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn wrong_shape_is_an_input_error_naming_tensor_and_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("roberta"), tmp.path());
    let mut all = tensors(&tmp.path().join("model.safetensors"));
    let key = "roberta.encoder.layer.0.attention.self.key.weight";
    all.insert(
        key.into(),
        Tensor::zeros((32, 31), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&all, tmp.path().join("model.safetensors")).unwrap();
    let msg = load_err(tmp.path()).to_string();
    assert!(
        msg.contains(key) && msg.contains("[32, 31]") && msg.contains("[32, 32]"),
        "{msg}"
    );
}

#[test]
fn corrupt_safetensors_header_is_an_input_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("bert"), tmp.path());
    let mut bytes = std::fs::read(tmp.path().join("model.safetensors")).unwrap();
    bytes[8..40].copy_from_slice(b"this is not a JSON header at all");
    std::fs::write(tmp.path().join("model.safetensors"), bytes).unwrap();
    let e = load_err(tmp.path());
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn unknown_model_type_is_an_input_error_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("bert"), tmp.path());
    std::fs::write(tmp.path().join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    let e = load_err(tmp.path());
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.contains("config.json") && msg.contains("model_type") && msg.contains("gpt2"),
        "{msg}"
    );
    let bad_heads = ModelConfig::from_json(
        r#"{"model_type": "bert", "vocab_size": 10, "hidden_size": 30, "num_attention_heads": 4}"#,
    )
    .unwrap_err();
    assert_eq!(bad_heads.exit_code(), 2);
    // A wrongly typed value is named by its key path, in the vision tower's table too.
    let wrong = ModelConfig::from_json(r#"{"model_type": "bert", "hidden_size": "x"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        wrong.starts_with("key `hidden_size`: invalid bert config: invalid type"),
        "{wrong}"
    );
    let wrong =
        ModelConfig::from_json(r#"{"model_type": "clip", "vision_config": {"patch_size": -16}}"#)
            .unwrap_err()
            .to_string();
    assert!(
        wrong.starts_with("key `vision_config.patch_size`"),
        "{wrong}"
    );
}

#[test]
fn text_model_refuses_pixel_input() {
    let files = from_folder(&fixtures().join("bert"), false, None).unwrap();
    let (model, _) = Model::load(&files, None, &Device::Cpu, DType::F32, 0).unwrap();
    assert!(matches!(model.backbone, Backbone::Text(_)));
    let px = Tensor::zeros((1, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
    assert!(model.features(&Batch::Pixels(px), &Ctx::eval()).is_err());
}

#[test]
fn model_cards_parse_and_name_their_hub_models() {
    use homogen::models::card::ModelCard;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let roberta = ModelCard::from_file(&dir.join("roberta-base.toml")).unwrap();
    assert_eq!(roberta.hub_id, "FacebookAI/roberta-base");
    assert!(roberta.is_pinned());
    let clip = ModelCard::from_file(&dir.join("clip-vit-base-patch16.toml")).unwrap();
    assert_eq!(
        (clip.architecture.as_str(), clip.hidden_size),
        ("clip", 768)
    );
    let bert = ModelCard::from_file(&dir.join("bert-base-uncased.toml")).unwrap();
    assert_eq!(bert.architecture, "bert");
    // Every shipped card pins a commit, and the study configs use the cards' commits.
    assert!(clip.is_pinned() && bert.is_pinned());
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    for (config, card) in [
        ("vision-celeba.toml", &clip),
        ("language-roberta.toml", &roberta),
    ] {
        let text = std::fs::read_to_string(configs.join(config)).unwrap();
        assert!(
            text.contains(&card.revision),
            "{config} uses {}",
            card.revision
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nhub_id = \"a/b\"\nrevision = \"main\"\narchitecture = \"gpt2\"\nhidden_size = 1\nfeatures = \"\"\n").unwrap();
    let e = ModelCard::from_file(&bad).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("bad.toml") && e.to_string().contains("gpt2"));
}

/// A maximum length must leave room for text past the special tokens: the tokenizers crate
/// subtracts them unchecked (a panic in debug builds, no truncation in release ones).
#[test]
fn a_max_length_without_room_for_text_is_refused_and_the_smallest_one_truncates() {
    use homogen::models::tokenize::TextTokenizer;
    for name in ["roberta", "bert"] {
        let tok = fixtures().join(name).join("tokenizer.json");
        for max in [0, 1, 2] {
            let e = TextTokenizer::from_files(&tok, None, max, 0).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let msg = e.to_string();
            assert!(
                msg.contains("key `max_length`") && msg.contains("give at least 3"),
                "{name} {max}: {msg}"
            );
        }
        let tok = TextTokenizer::from_files(&tok, None, 3, 0).unwrap();
        let batch = tok.encode(&["a long text of several words"]).unwrap();
        assert_eq!(
            batch.input_ids[0].len(),
            3,
            "{name}: special, one word, special"
        );
    }
}
