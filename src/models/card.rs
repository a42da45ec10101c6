//! Model cards (`models/*.toml`): which Hub model, at which pinned revision, with which
//! architecture — what experiments name instead of raw Hub ids.

use serde::Deserialize;
use std::path::Path;

use crate::error::{Error, InputError, Result};

/// One model card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Short name used in configs and failure tables.
    pub name: String,
    /// Hugging Face Hub id (`org/name`).
    pub hub_id: String,
    /// Pinned revision: a commit hash, or `main` when none could be pinned.
    pub revision: String,
    /// `model_type` the config must have: `roberta`, `bert` or `clip`.
    pub architecture: String,
    /// Feature size.
    pub hidden_size: usize,
    /// What the features are, in words.
    pub features: String,
}

impl ModelCard {
    /// Reads and checks a card.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))?;
        let card: ModelCard = crate::tomlfile::parse(&text, path, "invalid model card")?;
        if !matches!(card.architecture.as_str(), "roberta" | "bert" | "clip") {
            return Err(InputError::new(format!(
                "unknown architecture `{}`: expected roberta, bert or clip",
                card.architecture
            ))
            .in_file(path)
            .at_key("architecture")
            .into());
        }
        Ok(card)
    }

    /// Whether the revision is pinned to a commit (40 hex digits).
    pub fn is_pinned(&self) -> bool {
        self.revision.len() == 40 && self.revision.chars().all(|c| c.is_ascii_hexdigit())
    }
}
