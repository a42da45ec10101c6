//! Reading TOML files (experiment configs, `[train]` sections, model cards, word lists) into
//! typed values, with errors that name the file, the line and the key path (`train.lr`,
//! `tasks[2].dataset.name`).

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{line_at, Error, InputError, Result};

/// Parses `text` (read from `origin`) into a `T`. `what` opens the message
/// (`invalid config`, `invalid model card`, ...). Syntax errors and type or field errors are
/// input errors located by line and, when serde knows it, by key path.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &Path, what: &str) -> Result<T> {
    let document =
        toml::Deserializer::parse(text).map_err(|e| located(&e, text, origin, what, None))?;
    serde_path_to_error::deserialize(document).map_err(|e| {
        let key = e.path().to_string();
        let key = (key != ".").then_some(key);
        located(e.inner(), text, origin, what, key)
    })
}

/// The input error for a TOML error: the message, the line of its span and the key.
fn located(
    e: &toml::de::Error,
    text: &str,
    origin: &Path,
    what: &str,
    key: Option<String>,
) -> Error {
    let span = e.span().filter(|s| s.start <= s.end && s.end <= text.len());
    let mut message = e.message().trim_end().to_string();
    // toml says "duplicate key" without the key; its span holds it.
    if let Some(s) = span.as_ref().filter(|_| message == "duplicate key") {
        let name = text[s.clone()].trim();
        if !name.is_empty() {
            message = format!("duplicate key `{name}`");
        }
    }
    let mut err = InputError::new(format!("{what}: {message}")).in_file(origin);
    if let Some(s) = span {
        err = err.at_line(line_at(text.as_bytes(), s.start));
    }
    if let Some(k) = key {
        err = err.at_key(k);
    }
    err.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // the fields are only deserialized
    struct Config {
        train: Train,
        #[serde(default)]
        tasks: Vec<Task>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Train {
        lr: f64,
        batch_size: usize,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Task {
        name: String,
    }

    fn error(text: &str) -> InputError {
        match parse::<Config>(text, Path::new("c.toml"), "invalid config").unwrap_err() {
            Error::Input(e) => *e,
            other => panic!("expected an input error, got {other}"),
        }
    }

    #[test]
    fn a_wrong_type_names_line_and_key_path() {
        let e = error("[train]\nlr = 0.1\nbatch_size = \"8\"\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.key.as_deref(), Some("train.batch_size"), "{e}");
        assert!(e.message.starts_with("invalid config: invalid type"), "{e}");
        assert_eq!(e.file.as_deref(), Some(Path::new("c.toml")));

        let e = error("[train]\nlr = 0.1\nbatch_size = 8\n\n[[tasks]]\nname = 1\n");
        assert_eq!(e.key.as_deref(), Some("tasks[0].name"), "{e}");
        assert_eq!(e.line, Some(6), "{e}");
    }

    #[test]
    fn an_unknown_key_is_named_on_its_own_line() {
        let e = error("[train]\nlr = 0.1\nbatch_size = 8\nepoch = 3\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("unknown field `epoch`"), "{e}");
        let e = error("[train]\nlr = 0.1\n");
        assert!(e.message.contains("missing field `batch_size`"), "{e}");
    }

    #[test]
    fn a_duplicate_key_names_the_key() {
        let e = error("[train]\nlr = 0.1\nlr = 0.2\nbatch_size = 8\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.ends_with("duplicate key `lr`"), "{e}");
        let e = error("[train]\nlr = \n");
        assert_eq!(e.line, Some(2), "{e}");
    }
}
