//! Tuning of the process allocator for tensor work.
//!
//! candle allocates a fresh buffer for nearly every tensor op, and a training step frees and
//! re-allocates gigabytes of equally sized buffers. mimalloc (the global allocator of the
//! `homogen` binary and of the benchmarks) by default returns freed memory to the OS after
//! one second, so the next step pays the kernel again to fault in and zero the same pages: in a
//! profile of a CLIP BitFit step a third of the time was the kernel clearing pages. Keeping
//! freed memory in the process removes that cost; peak resident memory is unchanged (it is the
//! high-water mark either way).

/// mimalloc's `mi_option_purge_delay` (position 15 in `mi_option_t` of mimalloc v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep freed memory for reuse instead of returning it to the OS, unless the
/// user chose a purge delay through `MIMALLOC_PURGE_DELAY`. Call once, early in `main`. Has no
/// effect on allocations when mimalloc is not the global allocator.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one integer option; mimalloc reads options atomically, so this is sound at
    // any time, and the option index is a valid `mi_option_t` in the linked mimalloc.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// mimalloc's current purge delay in milliseconds (-1: never purge), for tests and logs.
#[allow(clippy::useless_conversion)] // `c_long` is i64 on Linux, i32 elsewhere
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads one integer option with a valid index.
    i64::from(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option index is right: the linked mimalloc (v3) defaults its purge delay to 1000 ms
    /// (options.c; the options next to it default to 0 or 1), and the setter takes effect.
    #[test]
    fn purge_delay_option_is_found_and_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        assert_eq!(purge_delay_ms(), 1000);
        keep_freed_memory();
        assert_eq!(purge_delay_ms(), -1);
    }
}
