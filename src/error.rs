//! The library's error type, and the rule that maps errors to exit codes.
//!
//! Bad input (a malformed file, an unknown option value, a config key that does not exist) is an
//! [`Error::Input`] and ends the program with exit code 2; everything else is a runtime failure
//! with exit code 1. Input errors carry where the problem is — file, row, column — so the message
//! a user sees points at the exact place to fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input or the usage is wrong; the user must change something. Exit code 2. (Boxed:
    /// the place fields would otherwise make every `Result` of the library wide.)
    #[error(transparent)]
    Input(Box<InputError>),
    /// Reading or writing a file failed for a reason outside the file's content. Exit code 1.
    /// (The OS error is in the message and deliberately not the error's `source`, so that a
    /// printed chain does not repeat it.)
    #[error("{context}: {os_error}")]
    Io {
        /// What we were doing, with the path.
        context: String,
        /// The operating system's error.
        os_error: std::io::Error,
    },
    /// Any other failure while running. Exit code 1.
    #[error("{0}")]
    Runtime(String),
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(Box::new(e))
    }
}

impl Error {
    /// The process exit code for this error: 2 for bad input or usage, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Io { .. } | Error::Runtime(_) => 1,
        }
    }

    /// A bad-input error with only a message; add the place with [`InputError`]'s builders.
    pub fn input(message: impl Into<String>) -> Self {
        InputError::new(message).into()
    }

    /// Reading a file the user named failed: a missing path, or a folder where a file was
    /// expected, is bad input (exit 2) naming the path; any other failure is an I/O error.
    pub fn reading(path: &Path, e: std::io::Error) -> Self {
        Error::reading_or_fetch(path, e, None)
    }

    /// [`Error::reading`] for a data file the user must obtain: a missing one's message adds
    /// `how_to_get` (`no such file; HOW_TO_GET`).
    pub fn reading_or_fetch(path: &Path, e: std::io::Error, how_to_get: Option<&str>) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => {
                let message = match how_to_get {
                    Some(how) => format!("no such file; {how}"),
                    None => "no such file".to_string(),
                };
                InputError::new(message).in_file(path).into()
            }
            std::io::ErrorKind::IsADirectory => InputError::new("is a folder; expected a file")
                .in_file(path)
                .into(),
            _ => Error::io(format!("reading {}", path.display()), e),
        }
    }

    /// An I/O error with the action and path that failed.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            os_error: source,
        }
    }
}

/// The 1-based line of `text` that holds byte offset `at` (an offset past the end: the last
/// line), for errors that know a byte position.
pub fn line_at(text: &[u8], at: usize) -> usize {
    1 + text[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Bad input, located as precisely as we know: file, line (of a text file such as a config),
/// row (1-based data row, header excluded), column, key (of a config or a command-line option),
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file the problem is in, when it comes from a file.
    pub file: Option<PathBuf>,
    /// The 1-based line of a text file such as a TOML config.
    pub line: Option<usize>,
    /// The 1-based data row (the header is not counted).
    pub row: Option<usize>,
    /// The table column.
    pub column: Option<String>,
    /// The key path in a config file (`train.lr`, `tasks[2].dataset.name`) or the
    /// command-line option (`--device`).
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl InputError {
    /// An error with a message and no location yet.
    pub fn new(message: impl Into<String>) -> Self {
        InputError {
            file: None,
            line: None,
            row: None,
            column: None,
            key: None,
            message: message.into(),
        }
    }

    /// Sets the file the problem is in.
    pub fn in_file(mut self, file: impl AsRef<Path>) -> Self {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }

    /// Sets the 1-based line of a text file.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the 1-based data row.
    pub fn at_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    /// Sets the table column.
    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// Sets the config key path or the command-line option (an option starts with `--`).
    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if let Some(file) = &self.file {
            place.push(file.display().to_string());
        }
        if let Some(line) = self.line {
            place.push(format!("line {line}"));
        }
        if let Some(row) = self.row {
            place.push(format!("row {row}"));
        }
        if let Some(column) = &self.column {
            place.push(format!("column `{column}`"));
        }
        match &self.key {
            Some(option) if option.starts_with("--") => place.push(format!("option `{option}`")),
            Some(key) => place.push(format!("key `{key}`")),
            None => {}
        }
        if place.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", place.join(", "), self.message)
        }
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_error_names_file_row_and_column() {
        let e = InputError::new("expected 0, 1, true or false, found `maybe`")
            .in_file("preds.csv")
            .at_row(7)
            .in_column("failure");
        assert_eq!(
            e.to_string(),
            "preds.csv, row 7, column `failure`: expected 0, 1, true or false, found `maybe`"
        );
        assert_eq!(Error::from(e).exit_code(), 2);
        assert_eq!(Error::Runtime("x".into()).exit_code(), 1);
    }

    #[test]
    fn lines_count_from_one_and_a_line_start_is_its_own_line() {
        let text = b"a\nbc\n\nd";
        assert_eq!(line_at(text, 0), 1);
        assert_eq!(line_at(text, 1), 1); // the newline ends line 1
        assert_eq!(line_at(text, 2), 2); // `b`, the first byte of line 2
        assert_eq!(line_at(text, 5), 3);
        assert_eq!(line_at(text, 6), 4);
        assert_eq!(line_at(text, 99), 4);
    }

    #[test]
    fn a_missing_input_or_a_folder_is_bad_input_other_failures_are_io() {
        let dir = std::env::temp_dir();
        let missing = dir.join("homogen-error-test-no-such-file");
        let e = Error::reading(&missing, std::fs::read(&missing).unwrap_err());
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .ends_with("homogen-error-test-no-such-file: no such file"),
            "{e}"
        );
        let e = Error::reading(&dir, std::fs::read(&dir).unwrap_err());
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().ends_with(": is a folder; expected a file"),
            "{e}"
        );
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(Error::reading(&missing, denied).exit_code(), 1);
    }

    /// The OS error is printed once: in the message, not again as the error's source (a
    /// printed chain, as the CLI prints it, repeated it).
    #[test]
    fn an_io_error_says_its_os_error_once() {
        let e = Error::io(
            "listing /x",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.to_string(), "listing /x: entity not found");
    }

    #[test]
    fn input_error_names_line_key_and_option() {
        let e = InputError::new("invalid type: string \"8\", expected usize")
            .in_file("c.toml")
            .at_line(12)
            .at_key("train.batch_size");
        assert_eq!(
            e.to_string(),
            "c.toml, line 12, key `train.batch_size`: invalid type: string \"8\", expected usize"
        );
        let e = InputError::new("expected cpu or cuda:N").at_key("--device");
        assert_eq!(e.to_string(), "option `--device`: expected cpu or cuda:N");
    }
}
