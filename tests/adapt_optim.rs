//! Optimisers, schedules and clipping replayed against PyTorch.
//!
//! `tests/fixtures/adapt/optim_steps.*` come from `scripts/make_optim_fixtures.py`: 5 steps of
//! `torch.optim.AdamW` / `torch.optim.SGD(momentum=0.9)` under transformers' linear and cosine
//! schedules (and torch's CosineAnnealingLR), with `clip_grad_norm_(max_norm=1.0)` before every
//! step. We load the stored gradients (not recompute them), step our optimisers and compare the
//! parameters after every step with PyTorch's, within 1e-6. The tests run on
//! `HOMOGEN_TEST_DEVICE` (the CPU by default; `cuda:0` checks the CUDA kernels on a GPU).

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use homogen::adapt::{
    clip_coefficient, clip_grad_norm, grad_norm, AdamW, AdamWConfig, DecayRule, NamedVars,
    Optimizer, Schedule, Sgd, SgdConfig, UpdatePath,
};
use serde_json::Value;

mod common;
use common::{device, max_abs_diff};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/adapt");

struct Fixture {
    meta: Value,
    tensors: HashMap<String, Tensor>,
}

fn fixture() -> Fixture {
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("optim_steps.json")).unwrap(),
    )
    .unwrap();
    let tensors = candle_core::safetensors::load(
        Path::new(FIXTURES).join("optim_steps.safetensors"),
        &device(),
    )
    .unwrap();
    Fixture { meta, tensors }
}

impl Fixture {
    fn names(&self) -> Vec<String> {
        self.meta["param_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    fn cases(&self) -> Vec<Value> {
        self.meta["cases"].as_array().unwrap().clone()
    }

    fn tensor(&self, case: &str, kind: &str, name: &str, step: usize) -> &Tensor {
        &self.tensors[&format!("{case}/{kind}/{name}/{step}")]
    }

    /// Fresh variables holding the case's parameters after `step` steps.
    fn params_at(&self, case: &str, step: usize) -> NamedVars {
        self.names()
            .into_iter()
            .map(|n| {
                let v = Var::from_tensor(&self.tensor(case, "param", &n, step).copy().unwrap())
                    .unwrap();
                (n, v)
            })
            .collect()
    }

    /// The stored (pre-clip) gradients of step `step`, keyed to `params`.
    fn grads(&self, case: &str, params: &NamedVars, step: usize) -> GradStore {
        let mut grads = GradStore::default();
        for (n, v) in params {
            grads.insert(v.as_tensor(), self.tensor(case, "grad", n, step).clone());
        }
        grads
    }
}

fn schedule_of(case: &Value) -> Schedule {
    match case["schedule"].as_str().unwrap() {
        "linear" => Schedule::LinearWithWarmup {
            warmup_steps: 2,
            total_steps: 5,
        },
        "cosine" => Schedule::cosine_with_warmup(1, 5),
        "cosine_annealing" => Schedule::cosine_annealing(5),
        other => panic!("unknown schedule {other}"),
    }
}

fn optimizer_of(case: &Value, params: NamedVars, path: UpdatePath) -> Box<dyn Optimizer> {
    let lr = case["base_lr"].as_f64().unwrap();
    let weight_decay = case["weight_decay"].as_f64().unwrap();
    match case["optimizer"].as_str().unwrap() {
        "adamw" => Box::new(AdamW::new(
            params,
            AdamWConfig {
                lr,
                weight_decay,
                path,
                ..AdamWConfig::default()
            },
        )),
        "sgd" => Box::new(Sgd::new(
            params,
            SgdConfig {
                lr,
                momentum: 0.9,
                weight_decay,
                decay_rule: DecayRule::All,
                path,
            },
        )),
        other => panic!("unknown optimizer {other}"),
    }
}

/// Checks `params` against the fixture's parameters after `step` steps.
fn assert_params(fx: &Fixture, case: &str, params: &NamedVars, step: usize, label: &str) {
    for (n, v) in params {
        let d = max_abs_diff(v.as_tensor(), fx.tensor(case, "param", n, step));
        assert!(
            d < 1e-6,
            "{label} {case} {n} after step {step}: |diff| {d:e}"
        );
    }
}

/// Replays steps `from..to` of a case; `clip_in_store` rewrites the gradients with
/// `clip_grad_norm` and steps unscaled, otherwise the clip factor goes to `step_scaled`.
fn replay(
    fx: &Fixture,
    case: &Value,
    opt: &mut dyn Optimizer,
    params: &NamedVars,
    steps: std::ops::Range<usize>,
    clip_in_store: bool,
    label: &str,
) {
    let name = case["name"].as_str().unwrap();
    let base_lr = case["base_lr"].as_f64().unwrap();
    let schedule = schedule_of(case);
    for k in steps {
        let lr = schedule.lr(base_lr, k as u64);
        let torch_lr = case["lrs"][k].as_f64().unwrap();
        assert!(
            (lr - torch_lr).abs() <= 1e-12 * base_lr,
            "{name} lr {k}: {lr} vs {torch_lr}"
        );
        opt.set_lr(lr);
        let mut grads = fx.grads(name, params, k);
        let torch_norm = case["pre_clip_norms"][k].as_f64().unwrap();
        if clip_in_store {
            let norm = clip_grad_norm(params, &mut grads, 1.0).unwrap();
            assert!(
                (norm - torch_norm).abs() < 1e-6 * torch_norm,
                "{name} norm {k}"
            );
            opt.step(&grads).unwrap();
        } else {
            let norm = grad_norm(params, &grads).unwrap();
            assert!(
                (norm - torch_norm).abs() < 1e-6 * torch_norm,
                "{name} norm {k}"
            );
            opt.step_scaled(&grads, clip_coefficient(norm, 1.0))
                .unwrap();
        }
        assert_params(fx, name, params, k + 1, label);
    }
}

#[test]
fn every_case_matches_torch_with_fused_kernel_and_tensor_ops() {
    let fx = fixture();
    let cases = fx.cases();
    assert_eq!(cases.len(), 10, "fixture cases");
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        for (path, clip_in_store) in [(UpdatePath::Auto, false), (UpdatePath::TensorOps, true)] {
            let params = fx.params_at(name, 0);
            let mut opt = optimizer_of(case, params.clone(), path);
            let label = format!("{path:?}");
            replay(
                &fx,
                case,
                opt.as_mut(),
                &params,
                0..5,
                clip_in_store,
                &label,
            );
        }
    }
}

#[test]
fn no_decay_group_is_biases_and_layer_norms() {
    let fx = fixture();
    let params = fx.params_at("adamw_wd0.1_linear", 0);
    let opt = AdamW::new(
        params,
        AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        },
    );
    let decays: Vec<(String, f64)> = opt.weight_decays();
    let want = [
        ("encoder.layer.0.dense.weight", 0.1),
        ("encoder.layer.0.dense.bias", 0.0),
        ("encoder.layer.0.LayerNorm.weight", 0.0),
        ("classifier.weight", 0.1),
        ("classifier.bias", 0.0),
    ];
    for ((n, d), (wn, wd)) in decays.iter().zip(want) {
        assert_eq!((n.as_str(), *d), (wn, wd));
    }
}

/// Saves the state after 3 steps, loads it into a fresh optimiser over fresh variables holding
/// the step-3 parameters, and checks that steps 4 and 5 still match PyTorch.
#[test]
fn state_round_trip_resumes_exactly() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    for case in fx.cases() {
        let name = case["name"].as_str().unwrap();
        for path in [UpdatePath::Auto, UpdatePath::TensorOps] {
            let params = fx.params_at(name, 0);
            let mut first = optimizer_of(&case, params.clone(), path);
            replay(&fx, &case, first.as_mut(), &params, 0..3, false, "first");
            let file = dir.path().join(format!("{name}-{path:?}.safetensors"));
            first.save_state(&file).unwrap();

            let resumed_params: NamedVars = params
                .iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap(),
                    )
                })
                .collect();
            let mut resumed = optimizer_of(&case, resumed_params.clone(), path);
            resumed.load_state(&file).unwrap();
            replay(
                &fx,
                &case,
                resumed.as_mut(),
                &resumed_params,
                3..5,
                false,
                "resumed",
            );
            replay(
                &fx,
                &case,
                first.as_mut(),
                &params,
                3..5,
                false,
                "continued",
            );
            for ((n, a), (_, b)) in params.iter().zip(&resumed_params) {
                assert_eq!(
                    max_abs_diff(a.as_tensor(), b.as_tensor()),
                    0.0,
                    "{name} {n}"
                );
            }
        }
    }
}

fn input_error_of(r: homogen::error::Result<()>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    e.to_string()
}

#[test]
fn loading_mismatched_state_is_an_input_error_naming_the_tensor() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let case = &fx.cases()[0];
    let params = fx.params_at("adamw_wd0.0_linear", 0);
    let mut adam = optimizer_of(case, params.clone(), UpdatePath::Auto);
    adam.step(&fx.grads("adamw_wd0.0_linear", &params, 0))
        .unwrap();
    let file = dir.path().join("adam.safetensors");
    adam.save_state(&file).unwrap();

    // A model whose `classifier.weight` has another shape.
    let mut other: NamedVars = fx.params_at("adamw_wd0.0_linear", 0);
    other[3].1 = Var::zeros((4, 6), candle_core::DType::F32, &device()).unwrap();
    let mut wrong_shape = AdamW::new(other, AdamWConfig::default());
    let msg = input_error_of(wrong_shape.load_state(&file));
    assert!(msg.contains("classifier.weight.exp_avg"), "{msg}");
    assert!(msg.contains("[4, 6]") && msg.contains("[3, 6]"), "{msg}");
    assert!(msg.contains("adam.safetensors"), "{msg}");

    // A model without one of the parameters.
    let fewer: NamedVars = fx.params_at("adamw_wd0.0_linear", 0)[..4].to_vec();
    let msg = input_error_of(AdamW::new(fewer, AdamWConfig::default()).load_state(&file));
    assert!(msg.contains("classifier.bias"), "{msg}");

    // AdamW's state given to SGD.
    let mut sgd = Sgd::new(fx.params_at("adamw_wd0.0_linear", 0), SgdConfig::default());
    let msg = input_error_of(sgd.load_state(&file));
    assert!(msg.contains("exp_avg"), "{msg}");

    // A missing file.
    let msg = input_error_of(sgd.load_state(&dir.path().join("absent.safetensors")));
    assert!(msg.contains("absent.safetensors"), "{msg}");
}

/// A parameter without a gradient is skipped and keeps no state; when it first gets one, its
/// AdamW step count starts at 1 (PyTorch's per-parameter `step`), so the first update is
/// `p - lr * g / (|g| + eps)` (bias-corrected m = g, v = g^2).
#[test]
fn parameters_without_gradient_are_skipped() {
    let dev = device();
    let a = Var::new(&[1.0f32, -2.0], &dev).unwrap();
    let b = Var::new(&[0.5f32], &dev).unwrap();
    let params: NamedVars = vec![("a".into(), a.clone()), ("b".into(), b.clone())];
    for path in [UpdatePath::Auto, UpdatePath::TensorOps] {
        a.set(&Tensor::new(&[1.0f32, -2.0], &dev).unwrap()).unwrap();
        b.set(&Tensor::new(&[0.5f32], &dev).unwrap()).unwrap();
        let mut opt = AdamW::new(
            params.clone(),
            AdamWConfig {
                lr: 0.1,
                path,
                ..AdamWConfig::default()
            },
        );
        let mut only_a = GradStore::default();
        only_a.insert(a.as_tensor(), Tensor::new(&[0.3f32, -0.2], &dev).unwrap());
        opt.step(&only_a).unwrap();
        opt.step(&only_a).unwrap();
        assert_eq!(b.as_tensor().to_vec1::<f32>().unwrap(), vec![0.5]);
        let names: Vec<String> = opt
            .state_tensors()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["a.step", "a.exp_avg", "a.exp_avg_sq"]);

        let mut only_b = GradStore::default();
        only_b.insert(b.as_tensor(), Tensor::new(&[2.0f32], &dev).unwrap());
        opt.step(&only_b).unwrap();
        // 0.5 - 0.1 * 2 / (2 + 1e-8) = 0.4 (to f32 precision)
        let got = b.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((got - 0.4).abs() < 1e-7, "{path:?}: {got}");
    }
}

/// The fused kernel splits large tensors into parallel chunks; it must agree with the
/// tensor-operation path on a tensor spanning several chunks (with decay and clipping scale).
#[test]
fn fused_kernel_matches_tensor_ops_on_a_multi_chunk_tensor() {
    let dev = device();
    let n = 100_003;
    let init: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0)
        .collect();
    let grad: Vec<f32> = (0..n)
        .map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 100.0)
        .collect();
    let g = Tensor::from_vec(grad, n, &dev).unwrap();
    let mut results = Vec::new();
    for path in [UpdatePath::Auto, UpdatePath::TensorOps] {
        let p = Var::from_vec(init.clone(), n, &dev).unwrap();
        let params: NamedVars = vec![("w".into(), p.clone())];
        let mut adam = AdamW::new(
            params.clone(),
            AdamWConfig {
                lr: 0.01,
                weight_decay: 0.1,
                path,
                ..AdamWConfig::default()
            },
        );
        let q = Var::from_vec(init.clone(), n, &dev).unwrap();
        let mut sgd = Sgd::new(
            vec![("w".into(), q.clone())],
            SgdConfig {
                lr: 0.01,
                weight_decay: 0.01,
                path,
                ..SgdConfig::default()
            },
        );
        for _ in 0..3 {
            let mut grads = GradStore::default();
            grads.insert(p.as_tensor(), g.clone());
            adam.step_scaled(&grads, 0.25).unwrap();
            let mut grads = GradStore::default();
            grads.insert(q.as_tensor(), g.clone());
            sgd.step_scaled(&grads, 0.25).unwrap();
        }
        results.push((p.as_tensor().copy().unwrap(), q.as_tensor().copy().unwrap()));
    }
    assert!(max_abs_diff(&results[0].0, &results[1].0) < 1e-6);
    assert!(max_abs_diff(&results[0].1, &results[1].1) < 1e-6);
    // And the update did something.
    let start = Tensor::from_vec(init, n, &dev).unwrap();
    assert!(max_abs_diff(&results[0].0, &start) > 1e-3);
    assert!(max_abs_diff(&results[0].1, &start) > 1e-3);
}

/// On a GPU (`HOMOGEN_TEST_DEVICE=cuda:0`), the fused CUDA kernels give the fused CPU kernels'
/// values bit for bit (same operation order, no fused multiply-add, IEEE division and square
/// root) for AdamW with decay and SGD with and without momentum, over several steps with a
/// clipping scale. On the CPU there is nothing to compare, and the test says so.
#[test]
fn device_kernels_equal_the_cpu_kernels_bit_for_bit() {
    let dev = device();
    if dev.is_cpu() {
        eprintln!("skipped: HOMOGEN_TEST_DEVICE is the CPU; this compares a GPU's kernels with it");
        return;
    }
    let n = 70_001;
    let init: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0)
        .collect();
    let grads: Vec<Vec<f32>> = (0..3)
        .map(|s| {
            (0..n)
                .map(|i| (((i + 31 * s) * 104_729 % 997) as f32 - 498.0) / 100.0)
                .collect()
        })
        .collect();
    let run = |on: &Device| -> Vec<Vec<f32>> {
        let make = || Var::from_vec(init.clone(), n, on).unwrap();
        let (p, q, r) = (make(), make(), make());
        let mut adam = AdamW::new(
            vec![("w".into(), p.clone())],
            AdamWConfig {
                lr: 0.01,
                weight_decay: 0.1,
                ..AdamWConfig::default()
            },
        );
        let mut sgd = Sgd::new(
            vec![("w".into(), q.clone())],
            SgdConfig {
                lr: 0.01,
                weight_decay: 0.01,
                ..SgdConfig::default()
            },
        );
        let mut plain = Sgd::new(
            vec![("w".into(), r.clone())],
            SgdConfig {
                lr: 0.01,
                momentum: 0.0,
                weight_decay: 0.0,
                ..SgdConfig::default()
            },
        );
        for g in &grads {
            let g = Tensor::from_vec(g.clone(), n, on).unwrap();
            for (opt, var) in [
                (&mut adam as &mut dyn Optimizer, &p),
                (&mut sgd, &q),
                (&mut plain, &r),
            ] {
                let mut store = GradStore::default();
                store.insert(var.as_tensor(), g.clone());
                opt.step_scaled(&store, 0.75).unwrap();
            }
        }
        [&p, &q, &r]
            .iter()
            .map(|v| {
                v.as_tensor()
                    .to_device(&Device::Cpu)
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect()
    };
    let (cpu, gpu) = (run(&Device::Cpu), run(&dev));
    for (label, (a, b)) in ["adamw", "sgd-momentum", "sgd"]
        .iter()
        .zip(cpu.iter().zip(&gpu))
    {
        let differing = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(
            differing, 0,
            "{label}: {differing} of {n} values differ from the CPU kernel"
        );
    }
}
