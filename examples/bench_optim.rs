//! Micro-benchmark: one AdamW step over roberta-base-sized f32 parameters (124.6M elements in
//! RobertaForSequenceClassification's 201 tensors, shapes from
//! `tests/fixtures/adapt/param_names.json`), on CPU.
//!
//! Compares our fused in-place kernel ([`UpdatePath::Auto`]), our tensor-operation path
//! ([`UpdatePath::TensorOps`]) and candle-nn's `AdamW`. The PyTorch reference is
//! `scripts/bench_optim_torch.py`. Run (threads fixed through rayon):
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example bench_optim -- [STEPS]
//! ```

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::optim::Optimizer as _;
use homogen::adapt::{grad_norm, AdamW, AdamWConfig, NamedVars, Optimizer, UpdatePath};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The allocator of the `homogen` binary, so the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn shapes() -> anyhow::Result<Vec<(String, usize)>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adapt/param_names.json"
    );
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let list = fx["roberta_base_seqcls_2"]["params"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no roberta_base_seqcls_2 in {path}"))?;
    list.iter()
        .map(|p| {
            let name = p[0].as_str().unwrap_or_default().to_string();
            let n = p[1].as_u64().unwrap_or_default() as usize;
            Ok((name, n))
        })
        .collect()
}

/// Seeded values in [-1, 1).
fn values(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| rng.gen_range(-1.0f32..1.0) * scale)
        .collect()
}

struct Setup {
    params: NamedVars,
    grads: GradStore,
}

fn setup(shapes: &[(String, usize)]) -> anyhow::Result<Setup> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut params = Vec::new();
    let mut grads = GradStore::default();
    for (name, n) in shapes {
        let var = Var::from_vec(values(&mut rng, *n, 0.05), *n, &Device::Cpu)?;
        let g = Tensor::from_vec(values(&mut rng, *n, 1e-3), *n, &Device::Cpu)?;
        grads.insert(var.as_tensor(), g);
        params.push((name.clone(), var));
    }
    Ok(Setup { params, grads })
}

fn time_steps(
    steps: usize,
    mut step: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    step()?; // warm-up: allocates the moments
    let mut ms = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        step()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ms)
}

fn report(label: &str, ms: &[f64], elems: usize) {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!(
        "{label:<32} median {median:8.1} ms/step  min {:8.1}  ({:.2} Gparam/s)  all {:?}",
        sorted[0],
        elems as f64 / median / 1e6,
        ms.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
}

fn main() -> anyhow::Result<()> {
    homogen::alloc::keep_freed_memory();
    let steps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let shapes = shapes()?;
    let elems: usize = shapes.iter().map(|(_, n)| n).sum();
    println!(
        "AdamW step, {} tensors, {elems} f32 params, rayon threads {}",
        shapes.len(),
        rayon::current_num_threads()
    );
    {
        let s = setup(&shapes)?;
        let ms = time_steps(steps, || {
            std::hint::black_box(grad_norm(&s.params, &s.grads)?);
            Ok(())
        })?;
        report("homogen grad_norm (clip)", &ms, elems);
    }
    for (label, path) in [
        ("homogen AdamW fused (Auto)", UpdatePath::Auto),
        ("homogen AdamW tensor ops", UpdatePath::TensorOps),
    ] {
        let s = setup(&shapes)?;
        let config = AdamWConfig {
            lr: 1e-3,
            weight_decay: 0.01,
            path,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(s.params, config);
        let ms = time_steps(steps, || Ok(opt.step(&s.grads)?))?;
        report(label, &ms, elems);
    }
    {
        let s = setup(&shapes)?;
        let vars: Vec<Var> = s.params.iter().map(|(_, v)| v.clone()).collect();
        let mut opt = candle_nn::AdamW::new(
            vars,
            candle_nn::ParamsAdamW {
                lr: 1e-3,
                weight_decay: 0.01,
                ..Default::default()
            },
        )?;
        let ms = time_steps(steps, || Ok(opt.step(&s.grads)?))?;
        report("candle-nn AdamW", &ms, elems);
    }
    Ok(())
}
