//! Adaptation methods on real parameter-name lists: `tests/fixtures/adapt/param_names.json`
//! (from `scripts/make_optim_fixtures.py`) holds `named_parameters()` of transformers'
//! RobertaForSequenceClassification (roberta-base config, 2 labels: RoBERTa's MLP head
//! `classifier.dense` + `classifier.out_proj`) and of CLIPVisionModel (openai/clip-vit-base-patch16
//! vision config) with a 2-class linear head `classifier.*`, and the trainable counts per method
//! the script computed by walking modules (biases of Linear/LayerNorm/Conv2d layers), not names.

use homogen::adapt::{HeadKind, Method};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adapt/param_names.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn params(model: &Value) -> Vec<(&str, usize)> {
    model["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap(), p[1].as_u64().unwrap() as usize))
        .collect()
}

const METHODS: [(&str, Method); 6] = [
    ("scratch", Method::Scratch),
    ("finetune", Method::Finetune),
    (
        "probe",
        Method::Probe {
            head: HeadKind::Linear,
        },
    ),
    (
        "probe",
        Method::Probe {
            head: HeadKind::Mlp,
        },
    ),
    ("bitfit", Method::BitFit),
    ("bitfit-inverted", Method::BitFitInverted),
];

fn check_model(key: &str) {
    let fx = fixture();
    let model = &fx[key];
    let params = params(model);
    let counts = &model["counts"];
    for (name, method) in METHODS {
        let c = method.count(params.iter().copied());
        assert_eq!(
            c.total as u64,
            counts["total"].as_u64().unwrap(),
            "{key} total"
        );
        assert_eq!(
            c.backbone_total as u64,
            counts["backbone_total"].as_u64().unwrap(),
            "{key}"
        );
        assert_eq!(
            c.trainable as u64,
            counts[name].as_u64().unwrap(),
            "{key} {method}: trainable"
        );
        assert_eq!(
            c.backbone_frozen,
            c.total - c.trainable,
            "{key} {method}: frozen"
        );
    }
}

#[test]
fn roberta_base_counts_match_pytorch() {
    check_model("roberta_base_seqcls_2");
    // The brief's figure, by hand: 12 x 8,448 backbone biases + 768 embedding LayerNorm bias
    // = 102,144, plus the MLP head 768*768 + 768 + 768*2 + 2 = 592,130.
    let fx = fixture();
    let c = Method::BitFit.count(params(&fx["roberta_base_seqcls_2"]));
    assert_eq!(c.trainable, 694_274);
    // The paper's "BitFit keeps 99.92%" of the backbone: 1 - 102,144 / 124,055,040.
    assert!(
        (c.backbone_frozen_share() - 0.99918).abs() < 1e-5,
        "{}",
        c.backbone_frozen_share()
    );
}

#[test]
fn clip_vit_b16_counts_match_pytorch() {
    check_model("clip_vit_b16_vision_linear_2");
    let fx = fixture();
    let params = params(&fx["clip_vit_b16_vision_linear_2"]);
    // CLIP ViT-B/16: 12 x 8,448 layer biases + pre/post layer-norm biases 2 x 768 = 102,912,
    // plus the linear head 768*2 + 2 = 1,538. The patch convolution has no bias.
    assert_eq!(
        Method::BitFit.count(params.iter().copied()).trainable,
        104_450
    );
    assert_eq!(
        Method::Probe {
            head: HeadKind::Linear
        }
        .count(params.iter().copied())
        .trainable,
        1_538
    );
}

#[test]
fn bitfit_trains_exactly_the_biases_and_head_of_one_roberta_layer() {
    let fx = fixture();
    let layer: Vec<&str> = params(&fx["roberta_base_seqcls_2"])
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("roberta.encoder.layer.0."))
        .filter(|n| Method::BitFit.trains(n))
        .collect();
    let want: Vec<String> = [
        "attention.self.query.bias",
        "attention.self.key.bias",
        "attention.self.value.bias",
        "attention.output.dense.bias",
        "attention.output.LayerNorm.bias",
        "intermediate.dense.bias",
        "output.dense.bias",
        "output.LayerNorm.bias",
    ]
    .iter()
    .map(|s| format!("roberta.encoder.layer.0.{s}"))
    .collect();
    assert_eq!(layer, want);
}
