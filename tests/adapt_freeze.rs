//! The method decides what trains, the optimiser touches exactly that: a tiny model with
//! transformers' parameter names, gradients for every parameter, an optimiser over
//! `Method::select`, one step — trainable parameters change, frozen ones stay bit-identical.

use candle_core::{DType, Device, Tensor, Var, D};
use homogen::adapt::{
    AdamWConfig, HeadKind, Method, NamedVars, OptimizerConfig, SgdConfig, METHOD_NAMES,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SHAPES: [(&str, &[usize]); 9] = [
    ("embeddings.word_embeddings.weight", &[10, 4]),
    ("encoder.layer.0.attention.self.query.weight", &[4, 4]),
    ("encoder.layer.0.attention.self.query.bias", &[4]),
    ("encoder.layer.0.output.LayerNorm.weight", &[4]),
    ("encoder.layer.0.output.LayerNorm.bias", &[4]),
    ("classifier.dense.weight", &[4, 4]),
    ("classifier.dense.bias", &[4]),
    ("classifier.out_proj.weight", &[2, 4]),
    ("classifier.out_proj.bias", &[2]),
];

fn model(seed: u64) -> NamedVars {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SHAPES
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
            let v = if name.ends_with("LayerNorm.weight") {
                v.iter().map(|x| 1.0 + x).collect()
            } else {
                v
            };
            (
                name.to_string(),
                Var::from_vec(v, *shape, &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

/// Embedding lookup (one-hot matmul), a linear layer, a layer norm from tensor ops and an MLP
/// head; mean cross-entropy on 6 fixed examples.
fn loss(p: &NamedVars) -> Tensor {
    let t = |i: usize| p[i].1.as_tensor();
    let ids = [1u32, 3, 5, 7, 1, 9];
    let labels = Tensor::new(&[0u32, 1, 1, 0, 1, 0], &Device::Cpu).unwrap();
    let one_hot: Vec<f32> = ids
        .iter()
        .flat_map(|&i| (0..10).map(move |j| if j == i { 1.0 } else { 0.0 }))
        .collect();
    let x = Tensor::from_vec(one_hot, (6, 10), &Device::Cpu).unwrap();
    let x = x.matmul(t(0)).unwrap();
    let h = x
        .matmul(&t(1).t().unwrap())
        .unwrap()
        .broadcast_add(t(2))
        .unwrap();
    let mean = h.mean_keepdim(D::Minus1).unwrap();
    let centred = h.broadcast_sub(&mean).unwrap();
    let var = centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let h = centred
        .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(t(3))
        .unwrap()
        .broadcast_add(t(4))
        .unwrap();
    let h = h
        .matmul(&t(5).t().unwrap())
        .unwrap()
        .broadcast_add(t(6))
        .unwrap()
        .tanh()
        .unwrap();
    let logits = h
        .matmul(&t(7).t().unwrap())
        .unwrap()
        .broadcast_add(t(8))
        .unwrap();
    candle_nn::loss::cross_entropy(&logits, &labels).unwrap()
}

fn snapshot(p: &NamedVars) -> Vec<Vec<f32>> {
    p.iter()
        .map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

#[test]
fn each_method_touches_exactly_its_parameters() {
    let optimizers = [
        OptimizerConfig::AdamW(AdamWConfig {
            lr: 0.05,
            weight_decay: 0.01,
            ..AdamWConfig::default()
        }),
        OptimizerConfig::Sgd(SgdConfig {
            lr: 0.5,
            ..SgdConfig::default()
        }),
    ];
    for method_name in METHOD_NAMES {
        let method: Method = method_name.parse().unwrap();
        for config in optimizers {
            let all = model(3);
            let before = snapshot(&all);
            let mut opt = config.build(method.select(&all));
            let first_loss = loss(&all)
                .to_dtype(DType::F32)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            // Gradients exist for every parameter; only the selected ones may move.
            let grads = loss(&all).backward().unwrap();
            for (_, v) in &all {
                assert!(grads.get(v.as_tensor()).is_some());
            }
            opt.step(&grads).unwrap();
            let after = snapshot(&all);
            for (((name, _), b), a) in all.iter().zip(&before).zip(&after) {
                if method.trains(name) {
                    assert_ne!(b, a, "{method} {config:?}: {name} should have changed");
                } else {
                    assert_eq!(b, a, "{method} {config:?}: {name} should be untouched");
                }
            }
            // A few more steps lower the loss.
            for _ in 0..10 {
                let grads = loss(&all).backward().unwrap();
                opt.step(&grads).unwrap();
            }
            let last_loss = loss(&all).to_scalar::<f32>().unwrap();
            assert!(
                last_loss < first_loss,
                "{method}: {first_loss} -> {last_loss}"
            );
        }
    }
}

#[test]
fn select_keeps_names_in_order() {
    let all = model(1);
    let bitfit: Vec<String> = Method::BitFit
        .select(&all)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        bitfit,
        vec![
            "encoder.layer.0.attention.self.query.bias",
            "encoder.layer.0.output.LayerNorm.bias",
            "classifier.dense.weight",
            "classifier.dense.bias",
            "classifier.out_proj.weight",
            "classifier.out_proj.bias",
        ]
    );
    let probe = Method::Probe {
        head: HeadKind::Mlp,
    }
    .select(&all);
    assert_eq!(probe.len(), 4);
    assert_eq!(Method::BitFitInverted.select(&all).len(), 7);
}
