//! Damaged files must not crash the program. The Parquet and Arrow readers check most damage and
//! return errors, but some damaged data pages make them panic inside the crates (an offset
//! past the end of a buffer, a dictionary page that is missing): an input audit found three such
//! files among 2,340 byte-flipped ones. [`decoding`] runs one call into such a reader and turns
//! its panic into an input error (exit 2) naming the file, with the default panic message kept
//! off standard error.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use crate::error::{InputError, Result};

thread_local! {
    /// Whether this thread is inside [`decoding`], whose panics are reported as input errors.
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `read`, one call into a file decoder for `path`; a panic inside it becomes an input
/// error saying the file is damaged. Keep `read` to the decoder's own call: a panic from our
/// own code inside it would be reported as damage too.
pub fn decoding<T>(path: &Path, read: impl FnOnce() -> T) -> Result<T> {
    // The default hook prints the panic with its source location before unwinding starts;
    // inside `decoding` the error below says what happened instead.
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = DECODING.with(|d| d.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(read));
    DECODING.with(|d| d.set(outer));
    outcome.map_err(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        InputError::new(format!(
            "the file is damaged: its Parquet data cannot be decoded (the reader stopped: \
             {why}); expected a whole Parquet file"
        ))
        .in_file(path)
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_input_error_naming_the_file_and_values_pass_through() {
        let path = Path::new("some/table.parquet");
        assert_eq!(decoding(path, || 7).unwrap(), 7);
        let err = decoding(path, || -> u8 { panic!("offset + len out of bounds") }).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, crate::error::Error::Input(_)), "{err:?}");
        assert!(text.contains("some/table.parquet"), "{text}");
        assert!(text.contains("offset + len out of bounds"), "{text}");
        assert!(text.contains("damaged"), "{text}");
        // A formatted message is a String payload.
        let n = 3;
        let err = decoding(path, || -> u8 { panic!("column {n} is bad") }).unwrap_err();
        assert!(err.to_string().contains("column 3 is bad"), "{err}");
        // Outside `decoding` the flag is off again.
        assert!(!DECODING.with(Cell::get));
    }
}
