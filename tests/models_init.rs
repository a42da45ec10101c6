//! Scratch initialisation follows transformers' `_init_weights`: BERT family normal(0,
//! initializer_range) weights and embeddings with the padding row zeroed, zero biases, unit
//! layer-norm weights; CLIP's factor-scaled normals per layer. Seeded: same seed, same bytes.

use candle_core::{DType, Device};
use homogen::models::config::ModelConfig;
use homogen::models::heads::HeadKind;
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
