//! The CLIP vision tower (ViT), e.g. openai/clip-vit-base-patch16, configured from
//! `config.json`'s `vision_config` or a vision-only config.
//!
//! Parameters carry transformers' names under `vision_model.` (`vision_model.pre_layrnorm.weight`
//! is spelled as transformers spells it). Pre-layer-norm blocks, quick-GELU MLP, class token;
//! the pooled output is the post-layer-normed class token.

use candle_core::{Result, Tensor};

use super::config::ClipVisionConfig;
use super::layers::{add_promoted, attention, Activation, Ctx, LayerNorm, Linear};
use super::params::{Init, Param, ParamStore};

/// Prefix of every vision-tower parameter.
pub const PREFIX: &str = "vision_model";

/// Name of the visual projection's weight (outside [`PREFIX`], as in transformers' CLIPModel
/// and CLIPVisionModelWithProjection).
pub const PROJECTION: &str = "visual_projection";

#[derive(Debug, Clone)]
struct Block {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm1: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    norm2: LayerNorm,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct VisionOutput {
    /// Post-layer-normed class token [batch, hidden], or with the visual projection CLIP's image
    /// embedding [batch, projection_dim].
    pub features: Tensor,
    /// The pre-layer-normed embeddings then every layer's output, when requested.
    pub hidden_states: Option<Vec<Tensor>>,
}

/// The vision tower.
#[derive(Debug, Clone)]
pub struct ClipVision {
    cfg: ClipVisionConfig,
    act: Activation,
    class_embedding: Param,
    patch: Linear,
    position: Param,
    pre_norm: LayerNorm,
    blocks: Vec<Block>,
    post_norm: LayerNorm,
    projection: Option<Box<Linear>>,
}

impl ClipVision {
    /// Registers every parameter with CLIP's initialisers (transformers'
    /// `CLIPPreTrainedModel._init_weights`).
    pub fn new(cfg: &ClipVisionConfig, store: &mut ParamStore) -> crate::error::Result<Self> {
        let p = PREFIX;
        let h = cfg.hidden_size;
        let f = cfg.initializer_factor;
        let eps = cfg.layer_norm_eps;
        let class_embedding = store.register_full(
            &format!("{p}.embeddings.class_embedding"),
            h,
            Init::Normal((h as f64).powf(-0.5) * f),
        )?;
        let patch_w = store.register(
            &format!("{p}.embeddings.patch_embedding.weight"),
            (h, cfg.num_channels, cfg.patch_size, cfg.patch_size),
            Init::Normal(cfg.initializer_range * f),
        )?;
        let position = store.register_full(
            &format!("{p}.embeddings.position_embedding.weight"),
            (cfg.num_positions(), h),
            Init::Normal(cfg.initializer_range * f),
        )?;
        let pre_norm = LayerNorm::new(store, &format!("{p}.pre_layrnorm"), h, eps)?;
        let layers = cfg.num_hidden_layers as f64;
        let in_std = (h as f64).powf(-0.5) * (2.0 * layers).powf(-0.5) * f;
        let out_std = (h as f64).powf(-0.5) * f;
        let fc_std = (2.0 * h as f64).powf(-0.5) * f;
        let mut blocks = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let l = format!("{p}.encoder.layers.{i}");
            let lin = |store: &mut ParamStore, name: &str, i_dim, o_dim, std| {
                Linear::new(store, &format!("{l}.{name}"), i_dim, o_dim, true, std)
            };
            blocks.push(Block {
                q: lin(store, "self_attn.q_proj", h, h, in_std)?,
                k: lin(store, "self_attn.k_proj", h, h, in_std)?,
                v: lin(store, "self_attn.v_proj", h, h, in_std)?,
                out: lin(store, "self_attn.out_proj", h, h, out_std)?,
                norm1: LayerNorm::new(store, &format!("{l}.layer_norm1"), h, eps)?,
                fc1: lin(store, "mlp.fc1", h, cfg.intermediate_size, fc_std)?,
                fc2: lin(store, "mlp.fc2", cfg.intermediate_size, h, in_std)?,
                norm2: LayerNorm::new(store, &format!("{l}.layer_norm2"), h, eps)?,
            });
        }
        let post_norm = LayerNorm::new(store, &format!("{p}.post_layernorm"), h, eps)?;
        // CLIPModel's and CLIPVisionModelWithProjection's init: normal(0, hidden^-0.5 * factor).
        let projection = match cfg.with_projection {
            true => Some(Box::new(Linear::new(
                store,
                PROJECTION,
                h,
                cfg.projection_dim,
                false,
                (h as f64).powf(-0.5) * f,
            )?)),
            false => None,
        };
        Ok(ClipVision {
            cfg: cfg.clone(),
            act: cfg.activation()?,
            class_embedding,
            patch: Linear::from_params(patch_w, None),
            position,
            pre_norm,
            blocks,
            post_norm,
            projection,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClipVisionConfig {
        &self.cfg
    }

    /// Runs the tower on preprocessed pixels [batch, channels, size, size]. `all_hidden` also
    /// returns every layer's output; without it the last layer computes the class token's
    /// output alone (keys and values still from every token), the only one the pooled output
    /// reads.
    pub fn forward(&self, pixels: &Tensor, ctx: &Ctx, all_hidden: bool) -> Result<VisionOutput> {
        let (b, c, hgt, wid) = pixels.dims4()?;
        let p = self.cfg.patch_size;
        let (gh, gw) = (hgt / p, wid / p);
        if hgt != self.cfg.image_size || wid != self.cfg.image_size || c != self.cfg.num_channels {
            candle_core::bail!(
                "expected pixel_values [n, {}, {s}, {s}], got {:?}",
                self.cfg.num_channels,
                pixels.dims(),
                s = self.cfg.image_size
            )
        }
        let position = self.position.tensor()?;
        let patches = pixels
            .to_dtype(position.dtype())?
            .reshape((b, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b, gh * gw, c * p * p))?;
        let h = self.cfg.hidden_size;
        let patch_emb = self.patch.forward(&patches)?;
        let patch_emb = patch_emb.to_dtype(position.dtype())?;
        let class = self
            .class_embedding
            .tensor()?
            .reshape((1, 1, h))?
            .broadcast_as((b, 1, h))?;
        let emb = Tensor::cat(&[&class, &patch_emb], 1)?.broadcast_add(&position.unsqueeze(0)?)?;
        let mut x = self.pre_norm.forward(&emb)?;
        let mut hidden = all_hidden.then(|| vec![x.clone()]);
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            let y = block.norm1.forward(&x)?;
            let (x_res, y_q) = if i == last && !all_hidden {
                (x.narrow(1, 0, 1)?, y.narrow(1, 0, 1)?)
            } else {
                (x.clone(), y.clone())
            };
            let att = attention(
                &block.q.forward(&y_q)?,
                &block.k.forward(&y)?,
                &block.v.forward(&y)?,
                None,
                self.cfg.num_attention_heads,
                ctx,
                self.cfg.attention_dropout,
            )?;
            x = add_promoted(&x_res, &block.out.forward(&att)?)?;
            let y = block.norm2.forward(&x)?;
            let y = block
                .fc2
                .forward(&self.act.forward(&block.fc1.forward(&y)?)?)?;
            x = add_promoted(&x, &y)?;
            if let Some(hs) = hidden.as_mut() {
                hs.push(x.clone());
            }
        }
        let mut features = self.post_norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?;
        if let Some(projection) = &self.projection {
            features = projection.forward(&features)?;
        }
        Ok(VisionOutput {
            features,
            hidden_states: hidden,
        })
    }
}
