//! The `homogen` command line: parses arguments and calls the library. Errors become exit
//! codes here: 2 for bad input or usage, 1 for runtime failures.

mod cli;

use mimalloc::MiMalloc;

/// candle allocates per tensor op; mimalloc makes those allocations cheap.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    homogen::alloc::keep_freed_memory();
    std::process::exit(cli::main());
}
