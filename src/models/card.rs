//! Model cards (`models/*.toml`): which Hub model, at which pinned revision, with which
//! architecture. The shipped cards are built into the binary, so a card's name (`roberta-base`)
//! can stand for its Hub model at its pinned commit wherever a model is named ([`hub_ref`]).

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
        crate::data::hub::is_commit(&self.revision)
    }
}

/// The cards shipped in `models/`, built into the binary: (name, TOML text).
const BUILTIN: [(&str, &str); 3] = [
    (
        "roberta-base",
        include_str!("../../models/roberta-base.toml"),
    ),
    (
        "clip-vit-base-patch16",
        include_str!("../../models/clip-vit-base-patch16.toml"),
    ),
    (
        "bert-base-uncased",
        include_str!("../../models/bert-base-uncased.toml"),
    ),
];

/// The shipped card called `name`, if there is one.
pub fn builtin(name: &str) -> Option<ModelCard> {
    let (file, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let origin = Path::new("models").join(format!("{file}.toml"));
    crate::tomlfile::parse(text, &origin, "invalid model card").ok()
}

/// The names of the shipped cards.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// The Hub id and revision a model name stands for: a shipped card's name is its Hub model at
/// the card's pinned commit (or at `revision` when one is given); anything else is itself, at
/// `revision` or `main`.
pub fn hub_ref(model: &str, revision: Option<&str>) -> (String, String) {
    match builtin(model) {
        Some(card) => (card.hub_id, revision.map_or(card.revision, str::to_string)),
        None => (model.to_string(), revision.unwrap_or("main").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every card in `models/` is built in, and built in as the file says.
    #[test]
    fn every_shipped_card_is_built_in_as_written() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut names = builtin_names();
        names.sort();
        assert_eq!(files, names);
        for name in names {
            let card = builtin(name).unwrap();
            assert_eq!(
                card,
                ModelCard::from_file(&dir.join(format!("{name}.toml"))).unwrap()
            );
            assert_eq!(card.name, name);
            assert!(card.is_pinned(), "{name}");
        }
    }

    #[test]
    fn a_card_name_stands_for_its_pinned_hub_model() {
        let pinned = "e2da8e2f811d1448a5b465c236feacd80ffbac7b";
        assert_eq!(
            hub_ref("roberta-base", None),
            ("FacebookAI/roberta-base".to_string(), pinned.to_string())
        );
        assert_eq!(
            hub_ref("roberta-base", Some("main")),
            ("FacebookAI/roberta-base".to_string(), "main".to_string())
        );
        assert_eq!(
            hub_ref("FacebookAI/roberta-base", None),
            ("FacebookAI/roberta-base".to_string(), "main".to_string())
        );
        assert_eq!(
            hub_ref("org/other", Some("v1")),
            ("org/other".to_string(), "v1".to_string())
        );
    }
}
