//! Text to model input with the tokenizers crate from a model's `tokenizer.json`: special
//! tokens added, truncation to the model's maximum length (special tokens included), dynamic
//! padding to the longest text of each batch, attention mask and token types.

use std::path::Path;
use tokenizers::{PaddingParams, PaddingStrategy, PostProcessor, Tokenizer, TruncationParams};

use super::encoder::{ids_tensor, EncoderInput};
use crate::error::{Error, InputError, Result};

/// The order that visits texts of the given lengths shortest first (ties in input order), so
/// that batches taken in turn hold texts of similar length and pad little.
pub fn length_order(lengths: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order
}

/// A tokenized batch as plain ids, all rows padded to the same length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids per text.
    pub input_ids: Vec<Vec<u32>>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<Vec<u32>>,
    /// Segment ids (all 0 for single texts).
    pub token_type_ids: Vec<Vec<u32>>,
}

impl TokenBatch {
    /// The encoder's input tensors on `device`.
    pub fn to_input(&self, device: &candle_core::Device) -> candle_core::Result<EncoderInput> {
        Ok(EncoderInput {
            input_ids: ids_tensor(&self.input_ids, device)?,
            attention_mask: ids_tensor(&self.attention_mask, device)?,
            token_type_ids: Some(ids_tensor(&self.token_type_ids, device)?),
        })
    }
}

/// A configured tokenizer.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; truncates to `max_len` tokens, or to `tokenizer_config.json`'s
    /// `model_max_length` when that is smaller. `pad_id` is used when the tokenizer names no
    /// padding token.
    pub fn from_files(
        tokenizer_json: &Path,
        tokenizer_config: Option<&Path>,
        max_len: usize,
        pad_id: u32,
    ) -> Result<Self> {
        let mut inner = Tokenizer::from_file(tokenizer_json).map_err(|e| {
            InputError::new(format!("not a valid tokenizer.json: {e}")).in_file(tokenizer_json)
        })?;
        let mut max_len = max_len;
        let mut pad_token = None;
        if let Some(cfg) = tokenizer_config {
            let text = std::fs::read_to_string(cfg)
                .map_err(|e| Error::io(format!("reading {}", cfg.display()), e))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| InputError::new(format!("not valid JSON: {e}")).in_file(cfg))?;
            if let Some(m) = v.get("model_max_length").and_then(|m| m.as_f64()) {
                if m >= 1.0 && m < max_len as f64 {
                    max_len = m as usize;
                }
            }
            pad_token = match v.get("pad_token") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(o) => o.get("content").and_then(|c| c.as_str()).map(String::from),
                None => None,
            };
        }
        let (pad_id, pad_token) =
            match pad_token.and_then(|t| inner.token_to_id(&t).map(|id| (id, t))) {
                Some(found) => found,
                None => match inner.get_padding() {
                    Some(p) => (p.pad_id, p.pad_token.clone()),
                    None => (pad_id, inner.id_to_token(pad_id).unwrap_or_default()),
                },
            };
        // The tokenizers crate subtracts the special tokens from the maximum unchecked (a
        // panic in debug builds, no truncation at all in release ones): refuse that here.
        let special = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_len <= special {
            return Err(InputError::new(format!(
                "a maximum of {max_len} tokens leaves no room for text: the tokenizer adds \
                 {special} special tokens to each; give at least {}",
                special + 1
            ))
            .at_key("max_length")
            .into());
        }
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Runtime(format!("configuring truncation: {e}")))?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        Ok(TextTokenizer { inner, max_len })
    }

    /// The maximum length in tokens, special tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Each text's length in tokens after truncation, special tokens included (what its row
    /// of an [`encode`](Self::encode)d batch holds before padding).
    pub fn lengths(&self, texts: &[&str]) -> Result<Vec<usize>> {
        let mut lengths = Vec::with_capacity(texts.len());
        // Chunks bound the padded batch that the configured tokenizer builds.
        for chunk in texts.chunks(1024) {
            let b = self.encode(chunk)?;
            lengths.extend(
                b.attention_mask
                    .iter()
                    .map(|m| m.iter().filter(|&&x| x != 0).count()),
            );
        }
        Ok(lengths)
    }

    /// Tokenizes a batch of texts.
    pub fn encode(&self, texts: &[&str]) -> Result<TokenBatch> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Runtime(format!("tokenizing failed: {e}")))?;
        let mut batch = TokenBatch {
            input_ids: Vec::new(),
            attention_mask: Vec::new(),
            token_type_ids: Vec::new(),
        };
        for e in encodings {
            batch.input_ids.push(e.get_ids().to_vec());
            batch.attention_mask.push(e.get_attention_mask().to_vec());
            batch.token_type_ids.push(e.get_type_ids().to_vec());
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::length_order;

    #[test]
    fn length_order_visits_shortest_first_keeping_ties_in_input_order() {
        assert_eq!(length_order(&[5, 2, 9, 2, 5, 1]), vec![5, 1, 3, 0, 4, 2]);
        assert!(length_order(&[]).is_empty());
    }
}
