//! Scratch initialisation as transformers initialises each architecture, drawn from our seeded
//! ChaCha8 generator (candle's own initialisers do not follow a seed).
//!
//! Each parameter carries its [`Init`] (set where the module registers it): normal(0, 0.02) for
//! BERT-family weights and embeddings (the padding row zeroed), zeros for biases, ones for
//! layer-norm weights, and CLIP's factor-scaled normals. Parameters are filled in name order,
//! so the same seed gives the same bytes.
//!
//! [`InitScheme::Torch`] instead reproduces code that builds its models from `torch.nn` modules
//! (the paper's vision code: OpenAI's CLIP class and an `nn.Linear` head); see [`torch_init`].

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use super::clip_vit;
use super::heads;
use super::params::{candle_err, Init, Param, ParamStore};
use crate::error::{Error, InputError, Result};

/// Whose initialisation fresh parameters (a scratch backbone, a head) get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// transformers' `_init_weights` for the architecture (each parameter's registered
    /// [`Init`]).
    #[default]
    Transformers,
    /// What `torch.nn` modules initialise themselves to, as in code that does not go through
    /// transformers: heads are `nn.Linear`s, and a scratch CLIP vision tower is OpenAI's
    /// `VisionTransformer` ([`torch_init`]). Not defined for scratch text encoders.
    Torch,
}

impl InitScheme {
    /// The name a config uses.
    pub fn name(&self) -> &'static str {
        match self {
            InitScheme::Transformers => "transformers",
            InitScheme::Torch => "torch",
        }
    }
}

/// How one parameter is drawn: its distribution and whether the values are then rounded to
/// f16 (what OpenAI CLIP's `convert_weights` does to the weights it builds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// The distribution.
    pub init: Init,
    /// Round every drawn value to the nearest f16.
    pub round_to_f16: bool,
}

impl From<Init> for Draw {
    fn from(init: Init) -> Self {
        Draw {
            init,
            round_to_f16: false,
        }
    }
}

/// Initialises every parameter of `store` from `seed`.
pub fn init_all(store: &ParamStore, seed: u64) -> Result<()> {
    init_all_as(store, seed, InitScheme::Transformers)
}

/// Initialises every parameter of `store` from `seed` under `scheme`.
pub fn init_all_as(store: &ParamStore, seed: u64, scheme: InitScheme) -> Result<()> {
    let params: Vec<Param> = store.iter().cloned().collect();
    init_params_as(&params, store, seed, scheme)
}

/// Initialises the given parameters (in the order given) from `seed`.
pub fn init_params(params: &[Param], seed: u64) -> Result<()> {
    draw_params(params, seed, |p| Ok(p.init().into()))
}

/// Initialises the given parameters of `store` (in the order given) from `seed` under
/// `scheme`.
pub fn init_params_as(
    params: &[Param],
    store: &ParamStore,
    seed: u64,
    scheme: InitScheme,
) -> Result<()> {
    match scheme {
        InitScheme::Transformers => init_params(params, seed),
        InitScheme::Torch => draw_params(params, seed, |p| torch_init(p, store)),
    }
}

/// A parameter's [`Draw`] under [`InitScheme::Torch`], by transformers name.
///
/// - Heads (`classifier.*`): `nn.Linear`'s default, weight and bias uniform on ±1/√fan_in
///   (`kaiming_uniform_(a=√5)`).
/// - A CLIP vision tower as OpenAI's `clip.model.VisionTransformer` builds it: class and
///   position embeddings and the projection normal(0, width^-½); the patch convolution
///   `nn.Conv2d`'s default (±1/√(3·patch²), no bias); q/k/v are one `nn.MultiheadAttention`
///   in-projection, Xavier-uniform over the fused [3·width, width] matrix (±√(6 / 4·width))
///   with zero biases; its out-projection keeps `nn.Linear`'s weight and a zero bias; the MLP's
///   `c_fc`/`c_proj` are default `nn.Linear`s; layer norms ones and zeros. Every tensor that
///   `clip.model.convert_weights` casts to fp16 (convolution, linear and attention weights and
///   biases, the projection) is rounded to f16, as the reference code's scratch model was
///   before `.float()`.
pub fn torch_init(p: &Param, store: &ParamStore) -> Result<Draw> {
    let name = p.name();
    let dims = p.var().dims();
    let fan_in_of = |weight: &str| -> Result<usize> {
        store
            .get(weight)
            .and_then(|w| w.var().dims().get(1).copied())
            .ok_or_else(|| Error::Runtime(format!("no weight `{weight}` for `{name}`")))
    };
    let linear = |weight: &str| -> Result<Init> {
        Ok(Init::Uniform((fan_in_of(weight)? as f64).powf(-0.5)))
    };
    if name.starts_with(&format!("{}.", heads::PREFIX)) {
        let weight = format!("{}.weight", name.rsplit_once('.').map_or(name, |(l, _)| l));
        return Ok(linear(&weight)?.into());
    }
    let half = |init: Init| Draw {
        init,
        round_to_f16: true,
    };
    if name == format!("{}.weight", clip_vit::PROJECTION) {
        return Ok(half(Init::Normal((dims[1] as f64).powf(-0.5))));
    }
    let Some(rest) = name.strip_prefix(&format!("{}.", clip_vit::PREFIX)) else {
        return Err(InputError::new(format!(
            "init = \"torch\" is defined for heads and CLIP vision towers; `{name}` belongs to a \
             text encoder, whose scratch initialisation is transformers' (init = \"transformers\")"
        ))
        .at_key("init")
        .into());
    };
    let width = |i: usize| dims.get(i).copied().unwrap_or(1) as f64;
    let weight_of = |rest: &str| format!("{}.{rest}.weight", clip_vit::PREFIX);
    Ok(match rest {
        "embeddings.class_embedding" => Init::Normal(width(0).powf(-0.5)).into(),
        "embeddings.position_embedding.weight" => Init::Normal(width(1).powf(-0.5)).into(),
        "embeddings.patch_embedding.weight" => {
            let fan_in = width(1) * width(2) * width(3);
            half(Init::Uniform(fan_in.powf(-0.5)))
        }
        r if r.ends_with("layer_norm1.weight")
            || r.ends_with("layer_norm2.weight")
            || r == "pre_layrnorm.weight"
            || r == "post_layernorm.weight" =>
        {
            Init::Ones.into()
        }
        r if r.ends_with("layer_norm1.bias")
            || r.ends_with("layer_norm2.bias")
            || r == "pre_layrnorm.bias"
            || r == "post_layernorm.bias" =>
        {
            Init::Zeros.into()
        }
        r if r.ends_with("_proj.weight") && r.contains(".self_attn.") => {
            if r.ends_with("out_proj.weight") {
                half(linear(name)?)
            } else {
                // Xavier-uniform over the fused in-projection [3·width, width].
                half(Init::Uniform((6.0 / (4.0 * width(1))).sqrt()))
            }
        }
        r if r.ends_with("_proj.bias") && r.contains(".self_attn.") => half(Init::Zeros),
        r if r.ends_with("mlp.fc1.weight") || r.ends_with("mlp.fc2.weight") => half(linear(name)?),
        r if r.ends_with("mlp.fc1.bias") || r.ends_with("mlp.fc2.bias") => {
            let layer = r.trim_end_matches(".bias");
            half(linear(&weight_of(layer))?)
        }
        other => {
            return Err(Error::Runtime(format!(
                "no torch initialisation known for CLIP parameter `{}.{other}`",
                clip_vit::PREFIX
            )))
        }
    })
}

/// Fills each parameter (in the order given) with the values its [`Draw`] gives, from one
/// generator seeded with `seed`.
fn draw_params(
    params: &[Param],
    seed: u64,
    draw_of: impl Fn(&Param) -> Result<Draw>,
) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in params {
        let var = p.var();
        let n = var.elem_count();
        let draw = draw_of(p)?;
        let mut values: Vec<f32> = match draw.init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Normal(std) => normal(&mut rng, n, std)?,
            Init::NormalZeroRow(std, row) => {
                let mut v = normal(&mut rng, n, std)?;
                let width = var.dims().get(1).copied().unwrap_or(1);
                if let Some(r) = v.get_mut(row * width..(row + 1) * width) {
                    r.fill(0.0);
                }
                v
            }
            Init::Uniform(bound) => {
                let dist = Uniform::new_inclusive(-bound as f32, bound as f32);
                (0..n).map(|_| dist.sample(&mut rng)).collect()
            }
        };
        if draw.round_to_f16 {
            for v in &mut values {
                *v = half::f16::from_f32(*v).to_f32();
            }
        }
        let t = Tensor::from_vec(values, var.shape(), var.device())
            .and_then(|t| t.to_dtype(var.dtype()))
            .map_err(candle_err)?;
        var.set(&t).map_err(candle_err)?;
    }
    Ok(())
}

fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Result<Vec<f32>> {
    let dist = Normal::new(0.0f32, std as f32)
        .map_err(|e| Error::Runtime(format!("bad initialiser std {std}: {e}")))?;
    Ok((0..n).map(|_| dist.sample(rng)).collect())
}
