//! Scratch initialisation follows transformers' `_init_weights`: BERT family normal(0,
//! initializer_range) weights and embeddings with the padding row zeroed, zero biases, unit
//! layer-norm weights; CLIP's factor-scaled normals per layer. Seeded: same seed, same bytes.
//! `init = "torch"` follows torch's modules and OpenAI's CLIP class instead
//! (scripts/make_init_fixtures.py).

use candle_core::{DType, Device};
use homogen::models::config::ModelConfig;
use homogen::models::heads::HeadKind;
use homogen::models::init::{init_params_as, InitScheme};
use homogen::models::{HeadSpec, Model};

fn sample_std(model: &Model, name: &str) -> f64 {
    let t = model
        .store
        .get(name)
        .unwrap()
        .var()
        .as_tensor()
        .flatten_all()
        .unwrap();
    let v = t.to_vec1::<f32>().unwrap();
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

fn values(model: &Model, name: &str) -> Vec<f32> {
    let t = model
        .store
        .get(name)
        .unwrap()
        .var()
        .as_tensor()
        .flatten_all()
        .unwrap();
    t.to_vec1::<f32>().unwrap()
}

fn assert_std(model: &Model, name: &str, expected: f64) {
    let s = sample_std(model, name);
    // >= 4096 draws: the sample std is within 8% of the true one (its sd is about 1.1%).
    assert!(
        (s / expected - 1.0).abs() < 0.08,
        "{name}: std {s}, expected {expected}"
    );
}

#[test]
fn roberta_scratch_init_matches_transformers_scheme_and_is_seeded() {
    let cfg = ModelConfig::from_json(
        r#"{"model_type": "roberta", "vocab_size": 200, "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 66,
            "type_vocab_size": 1, "pad_token_id": 1, "initializer_range": 0.02}"#,
    )
    .unwrap();
    let head = Some(HeadSpec {
        kind: HeadKind::Mlp,
        classes: 2,
    });
    let m = Model::scratch(&cfg, head, &Device::Cpu, DType::F32, 42).unwrap();
    for p in m.store.iter() {
        let name = p.name();
        let v = values(&m, name);
        if name.ends_with("LayerNorm.weight") {
            assert!(v.iter().all(|&x| x == 1.0), "{name}");
        } else if name.ends_with(".bias") {
            assert!(v.iter().all(|&x| x == 0.0), "{name}");
        } else if v.len() >= 4096 {
            assert_std(&m, name, 0.02);
        }
    }
    // Padding rows (pad id 1) of word and position embeddings are zero; row 0 is not.
    let words = values(&m, "roberta.embeddings.word_embeddings.weight");
    assert!(words[64..128].iter().all(|&x| x == 0.0));
    assert!(words[0..64].iter().any(|&x| x != 0.0));
    let pos = values(&m, "roberta.embeddings.position_embeddings.weight");
    assert!(pos[64..128].iter().all(|&x| x == 0.0));
    let again = Model::scratch(&cfg, head, &Device::Cpu, DType::F32, 42).unwrap();
    let other = Model::scratch(&cfg, head, &Device::Cpu, DType::F32, 43).unwrap();
    let name = "roberta.encoder.layer.1.output.dense.weight";
    assert_eq!(values(&m, name), values(&again, name));
    assert_ne!(values(&m, name), values(&other, name));
}

#[test]
fn clip_scratch_init_uses_clips_factor_scaled_normals() {
    let cfg = ModelConfig::from_json(
        r#"{"model_type": "clip_vision_model", "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
            "initializer_range": 0.02, "initializer_factor": 1.0}"#,
    )
    .unwrap();
    let m = Model::scratch(&cfg, None, &Device::Cpu, DType::F32, 1).unwrap();
    let l = "vision_model.encoder.layers.0";
    // hidden 64, 2 layers: in_proj = 64^-0.5 * (2*2)^-0.5 = 0.0625; out_proj = 64^-0.5 = 0.125;
    // fc1 = (2*64)^-0.5 = 0.0884; fc2 = in_proj = 0.0625; patch/position = 0.02.
    assert_std(&m, &format!("{l}.self_attn.q_proj.weight"), 0.0625);
    assert_std(&m, &format!("{l}.self_attn.v_proj.weight"), 0.0625);
    assert_std(&m, &format!("{l}.self_attn.out_proj.weight"), 0.125);
    assert_std(&m, &format!("{l}.mlp.fc1.weight"), (128f64).powf(-0.5));
    assert_std(&m, &format!("{l}.mlp.fc2.weight"), 0.0625);
    assert_std(&m, "vision_model.embeddings.patch_embedding.weight", 0.02);
    assert!(values(&m, "vision_model.pre_layrnorm.weight")
        .iter()
        .all(|&x| x == 1.0));
    assert!(values(&m, &format!("{l}.mlp.fc1.bias"))
        .iter()
        .all(|&x| x == 0.0));
}

/// Statistics of one parameter's values, as scripts/make_init_fixtures.py computes them.
struct Stats {
    n: usize,
    mean: f64,
    std: f64,
    excess_kurtosis: f64,
    max_abs: f64,
    zero_share: f64,
    f16: bool,
}

impl Stats {
    fn of(v: &[f32]) -> Stats {
        let n = v.len();
        let x: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        let mean = x.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let excess_kurtosis = if std > 0.0 {
            x.iter().map(|a| (a - mean).powi(4)).sum::<f64>() / n as f64 / std.powi(4) - 3.0
        } else {
            0.0
        };
        Stats {
            n,
            mean,
            std,
            excess_kurtosis,
            max_abs: x.iter().fold(0.0, |m, a| m.max(a.abs())),
            zero_share: x.iter().filter(|&&a| a == 0.0).count() as f64 / n as f64,
            f16: v
                .iter()
                .all(|&a| half::f16::from_f32(a).to_f32().to_bits() == a.to_bits()),
        }
    }

    fn from_json(j: &serde_json::Value) -> Stats {
        let f = |k: &str| j[k].as_f64().unwrap();
        Stats {
            n: j["n"].as_u64().unwrap() as usize,
            mean: f("mean"),
            std: f("std"),
            excess_kurtosis: f("excess_kurtosis"),
            max_abs: f("max_abs"),
            zero_share: f("zero_share"),
            f16: j["f16"].as_bool().unwrap(),
        }
    }
}

/// `init = "torch"` draws each parameter as the paper's vision code got it: OpenAI's CLIP
/// `VisionTransformer` built by torch (Xavier-uniform fused q/k/v, zero attention biases,
/// `nn.Linear`/`nn.Conv2d` defaults elsewhere, width^-½ normals for the embeddings and the
/// projection), cast through fp16 by `convert_weights`, and an `nn.Linear` head. Expected
/// values: statistics of the reference model's own draws (scripts/make_init_fixtures.py), per
/// parameter: same size, zeros and ones where torch has them, the same family (uniform's excess
/// kurtosis is -1.2, a normal's 0), the same spread and bound, and f16 rounding on exactly the
/// tensors torch rounded.
#[test]
fn torch_init_matches_openai_clip_and_nn_linear() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/torch_init");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let cfg = ModelConfig::from_file(&dir.join("config.json"))
        .unwrap()
        .with_projected_features()
        .unwrap();
    let head = Some(HeadSpec {
        kind: HeadKind::Linear,
        classes: reference["classes"].as_u64().unwrap() as usize,
    });
    let m = Model::scratch_as(&cfg, head, &Device::Cpu, DType::F32, 5, InitScheme::Torch).unwrap();
    let expected = reference["parameters"].as_object().unwrap();
    let ours: Vec<&str> = m.store.names().collect();
    let mut theirs: Vec<&str> = expected.keys().map(String::as_str).collect();
    let mut sorted = ours.clone();
    sorted.sort();
    theirs.sort();
    assert_eq!(sorted, theirs, "parameter names");
    for (name, e) in expected {
        let e = Stats::from_json(e);
        let o = Stats::of(&values(&m, name));
        assert_eq!(o.n, e.n, "{name}: size");
        assert_eq!(o.f16, e.f16, "{name}: rounded to f16");
        assert_eq!(o.zero_share == 1.0, e.zero_share == 1.0, "{name}: all zero");
        if e.std == 0.0 {
            assert_eq!(o.std, 0.0, "{name}: constant");
            assert_eq!(o.mean, e.mean, "{name}: value");
            continue;
        }
        // The sample std of n draws is within a few percent of the true one (its relative sd
        // is about 1/sqrt(2n) for a normal, sqrt(0.2/n) for a uniform); both sides are samples.
        let tolerance = if e.n >= 1000 { 0.08 } else { 0.3 };
        assert!(
            (o.std / e.std - 1.0).abs() < tolerance,
            "{name}: std {} vs torch {}",
            o.std,
            e.std
        );
        if e.n >= 1000 {
            assert!(
                (o.excess_kurtosis - e.excess_kurtosis).abs() < 0.5,
                "{name}: excess kurtosis {} vs torch {}",
                o.excess_kurtosis,
                e.excess_kurtosis
            );
        }
        if e.excess_kurtosis < -0.9 && e.n >= 100 {
            // A uniform's largest of n >= 100 draws sits within a few percent of its bound
            // (below 90% of it with probability 0.9^n).
            assert!(
                (o.max_abs / e.max_abs - 1.0).abs() < 0.1,
                "{name}: bound {} vs torch {}",
                o.max_abs,
                e.max_abs
            );
        }
    }
    // Seeded like every scheme; and not transformers' draws.
    let again =
        Model::scratch_as(&cfg, head, &Device::Cpu, DType::F32, 5, InitScheme::Torch).unwrap();
    let hf = Model::scratch(&cfg, head, &Device::Cpu, DType::F32, 5).unwrap();
    let name = "vision_model.encoder.layers.1.mlp.fc1.weight";
    assert_eq!(values(&m, name), values(&again, name));
    assert_ne!(values(&m, name), values(&hf, name));
}

/// Under `init = "torch"` a pretrained model's missing head is an `nn.Linear`; a text encoder
/// has no torch scheme to start from scratch with, which is an input error naming the key.
#[test]
fn torch_init_covers_heads_and_refuses_scratch_text_encoders() {
    let cfg = ModelConfig::from_json(
        r#"{"model_type": "roberta", "vocab_size": 50, "hidden_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 20,
            "type_vocab_size": 1, "pad_token_id": 1}"#,
    )
    .unwrap();
    let head = Some(HeadSpec {
        kind: HeadKind::Mlp,
        classes: 2,
    });
    let e =
        Model::scratch_as(&cfg, head, &Device::Cpu, DType::F32, 0, InitScheme::Torch).unwrap_err();
    assert!(matches!(e, homogen::error::Error::Input(_)), "{e:?}");
    assert!(e.to_string().contains("init"), "{e}");
    // Only the head, as `load_as` initialises a checkpoint's missing head: both dense layers
    // uniform on ±1/sqrt(64) = ±0.125 (weights and biases), no longer normal(0, 0.02).
    let m = Model::from_config(&cfg, head, &Device::Cpu, DType::F32).unwrap();
    let heads: Vec<_> = m
        .store
        .iter()
        .filter(|p| p.name().starts_with("classifier."))
        .cloned()
        .collect();
    init_params_as(&heads, &m.store, 0, InitScheme::Torch).unwrap();
    for name in ["classifier.dense.weight", "classifier.out_proj.weight"] {
        let s = Stats::of(&values(&m, name));
        assert!(
            s.max_abs <= 0.125 && s.max_abs > 0.11,
            "{name}: {}",
            s.max_abs
        );
        assert!(s.excess_kurtosis < -0.9, "{name}: {}", s.excess_kurtosis);
    }
    let bias = Stats::of(&values(&m, "classifier.dense.bias"));
    assert!(bias.max_abs <= 0.125 && bias.zero_share == 0.0);
}
