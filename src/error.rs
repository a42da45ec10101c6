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
    /// The input or the usage is wrong; the user must change something. Exit code 2.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Reading or writing a file failed for a reason outside the file's content. Exit code 1.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, with the path.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Any other failure while running. Exit code 1.
    #[error("{0}")]
    Runtime(String),
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
        Error::Input(InputError::new(message))
    }

    /// An I/O error with the action and path that failed.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Bad input, located as precisely as we know: file, row (1-based data row, header excluded),
/// column, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file the problem is in, when it comes from a file.
    pub file: Option<PathBuf>,
    /// The 1-based data row (the header is not counted).
    pub row: Option<usize>,
    /// The column or config key.
    pub column: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl InputError {
    /// An error with a message and no location yet.
    pub fn new(message: impl Into<String>) -> Self {
        InputError {
            file: None,
            row: None,
            column: None,
            message: message.into(),
        }
    }

    /// Sets the file the problem is in.
    pub fn in_file(mut self, file: impl AsRef<Path>) -> Self {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }

    /// Sets the 1-based data row.
    pub fn at_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    /// Sets the column (or config key).
    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if let Some(file) = &self.file {
            place.push(file.display().to_string());
        }
        if let Some(row) = self.row {
            place.push(format!("row {row}"));
        }
        if let Some(column) = &self.column {
            place.push(format!("column `{column}`"));
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
}
