//! One BERT-family text encoder for RoBERTa, BERT and MiniLM, configured from `config.json`.
//!
//! Parameters carry transformers' names under the task-model prefix (`roberta.` or `bert.`),
//! e.g. `roberta.encoder.layer.3.attention.self.query.weight`, so a checkpoint loads unchanged
//! with or without that prefix. Post-layer-norm blocks; dropout from the config in training.

use candle_core::{DType, Result, Tensor};

use super::config::{EncoderConfig, Positions};
use super::layers::{
    add_promoted, additive_mask, attention, Activation, Ctx, Embedding, LayerNorm, Linear,
};
use super::params::{Init, ParamStore};

/// A tokenized batch on the model's device.
#[derive(Debug, Clone)]
pub struct EncoderInput {
    /// Token ids [batch, seq] (u32).
    pub input_ids: Tensor,
    /// 1 for real tokens, 0 for padding [batch, seq] (u32).
    pub attention_mask: Tensor,
    /// Segment ids [batch, seq] (u32); zeros when absent.
    pub token_type_ids: Option<Tensor>,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// The first token's final hidden state [batch, hidden]: the features heads read.
    pub features: Tensor,
    /// Embedding output then every layer's output, each [batch, seq, hidden], when requested.
    pub hidden_states: Option<Vec<Tensor>>,
}

#[derive(Debug, Clone)]
struct Block {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
}

/// The encoder.
#[derive(Debug, Clone)]
pub struct Encoder {
    cfg: EncoderConfig,
    act: Activation,
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    emb_norm: LayerNorm,
    blocks: Vec<Block>,
}

impl Encoder {
    /// Registers every parameter in `store` (zero-filled until loaded or initialised).
    pub fn new(cfg: &EncoderConfig, store: &mut ParamStore) -> crate::error::Result<Self> {
        let p = cfg.prefix();
        let (h, std) = (cfg.hidden_size, cfg.initializer_range);
        let pad = cfg.pad_id();
        let eps = cfg.layer_norm_eps;
        let word = Embedding::new(
            store,
            &format!("{p}.embeddings.word_embeddings"),
            cfg.vocab_size,
            h,
            Init::NormalZeroRow(std, pad),
        )?;
        let pos_init = match cfg.positions() {
            Positions::PaddingOffset => Init::NormalZeroRow(std, pad),
            Positions::Absolute => Init::Normal(std),
        };
        let position = Embedding::new(
            store,
            &format!("{p}.embeddings.position_embeddings"),
            cfg.max_position_embeddings,
            h,
            pos_init,
        )?;
        let token_type = Embedding::new(
            store,
            &format!("{p}.embeddings.token_type_embeddings"),
            cfg.type_vocab_size,
            h,
            Init::Normal(std),
        )?;
        let emb_norm = LayerNorm::new(store, &format!("{p}.embeddings.LayerNorm"), h, eps)?;
        let mut blocks = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = format!("{p}.encoder.layer.{i}");
            let lin = |store: &mut ParamStore, name: &str, i_dim, o_dim| {
                Linear::new(store, &format!("{l}.{name}"), i_dim, o_dim, true, std)
            };
            blocks.push(Block {
                query: lin(store, "attention.self.query", h, h)?,
                key: lin(store, "attention.self.key", h, h)?,
                value: lin(store, "attention.self.value", h, h)?,
                attn_out: lin(store, "attention.output.dense", h, h)?,
                attn_norm: LayerNorm::new(
                    store,
                    &format!("{l}.attention.output.LayerNorm"),
                    h,
                    eps,
                )?,
                intermediate: lin(store, "intermediate.dense", h, cfg.intermediate_size)?,
                output: lin(store, "output.dense", cfg.intermediate_size, h)?,
                out_norm: LayerNorm::new(store, &format!("{l}.output.LayerNorm"), h, eps)?,
            });
        }
        Ok(Encoder {
            cfg: cfg.clone(),
            act: cfg.activation()?,
            word,
            position,
            token_type,
            emb_norm,
            blocks,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// Position ids [batch, seq] for the configured scheme.
    pub fn position_ids(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (b, s) = input_ids.dims2()?;
        match self.cfg.positions() {
            Positions::Absolute => Tensor::arange(0u32, s as u32, input_ids.device())?
                .unsqueeze(0)?
                .broadcast_as((b, s))?
                .contiguous(),
            Positions::PaddingOffset => {
                let pad = self.cfg.pad_id() as u32;
                let ids = input_ids.to_vec2::<u32>()?;
                let pos: Vec<u32> = ids
                    .iter()
                    .flat_map(|row| {
                        let mut n = 0u32;
                        row.iter()
                            .map(|&t| {
                                if t == pad {
                                    pad
                                } else {
                                    n += 1;
                                    n + pad
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                Tensor::from_vec(pos, (b, s), input_ids.device())
            }
        }
    }

    /// Runs the encoder. `all_hidden` also returns every layer's hidden states; without it the
    /// last layer computes the first token's output alone (its keys and values still come from
    /// every token), since nothing reads the others: the features are the same, for about a
    /// twelfth less work on a 12-layer model.
    pub fn forward(
        &self,
        input: &EncoderInput,
        ctx: &Ctx,
        all_hidden: bool,
    ) -> Result<EncoderOutput> {
        let ids = &input.input_ids;
        let positions = self.position_ids(ids)?;
        let types = match &input.token_type_ids {
            Some(t) => t.clone(),
            None => ids.zeros_like()?,
        };
        let emb = (self.word.forward(ids)? + self.position.forward(&positions)?)?
            .add(&self.token_type.forward(&types)?)?;
        let mut x = ctx.dropout(&self.emb_norm.forward(&emb)?, self.cfg.hidden_dropout_prob)?;
        let mask = additive_mask(&input.attention_mask, x.dtype())?;
        let mut hidden = all_hidden.then(|| vec![x.clone()]);
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            x = self.block(block, &x, &mask, ctx, i == last && !all_hidden)?;
            if let Some(h) = hidden.as_mut() {
                h.push(x.clone());
            }
        }
        Ok(EncoderOutput {
            features: x.narrow(1, 0, 1)?.squeeze(1)?,
            hidden_states: hidden,
        })
    }

    /// One post-layer-norm block; `first_only` computes the first token's output alone
    /// ([batch, 1, hidden]).
    fn block(
        &self,
        b: &Block,
        x: &Tensor,
        mask: &Tensor,
        ctx: &Ctx,
        first_only: bool,
    ) -> Result<Tensor> {
        let drop = self.cfg.hidden_dropout_prob;
        let xq = if first_only {
            x.narrow(1, 0, 1)?
        } else {
            x.clone()
        };
        let att = attention(
            &b.query.forward(&xq)?,
            &b.key.forward(x)?,
            &b.value.forward(x)?,
            Some(mask),
            self.cfg.num_attention_heads,
            ctx,
            self.cfg.attention_probs_dropout_prob,
        )?;
        let att = ctx.dropout(&b.attn_out.forward(&att)?, drop)?;
        let x = b.attn_norm.forward(&add_promoted(&att, &xq)?)?;
        let inner = self.act.forward(&b.intermediate.forward(&x)?)?;
        let out = ctx.dropout(&b.output.forward(&inner)?, drop)?;
        b.out_norm.forward(&add_promoted(&out, &x)?)
    }
}

/// Converts token id rows (all the same length) to a u32 tensor [batch, seq].
pub fn ids_tensor(rows: &[Vec<u32>], device: &candle_core::Device) -> Result<Tensor> {
    let b = rows.len();
    let s = rows.first().map_or(0, |r| r.len());
    let flat: Vec<u32> = rows.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (b, s), device)?.to_dtype(DType::U32)
}
