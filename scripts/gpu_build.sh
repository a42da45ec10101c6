#!/usr/bin/env bash
# Builds, on a machine with no GPU, everything scripts/gpu_check.sh runs on a lent GPU machine
# (which has CUDA, PyTorch and transformers but no Rust toolchain): the `homogen` binary, the
# model, trainer and prefetch benchmarks and the GPU-parameterised tests, built with
# `--features cuda` against the CUDA 13.0 toolkit from PyPI (scripts/cuda_toolkit.sh), stripped
# and xz-compressed into target/gpu-dist (61 MB in all). The device tool sends at most 64 MiB a
# call, the working tree included, so not all of it travels at once: the script ends by printing
# the carry list of each gpu_check.sh call, with what that call sends, and fails if one is over.
#
# Usage: scripts/gpu_build.sh        (PYTHON=... selects the python with pip; default python3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cuda_env="$(scripts/cuda_toolkit.sh)"
eval "$cuda_env"
export CARGO_TARGET_DIR="$root/target/cuda"
cargo build --release --features cuda --bin homogen --example bench_models --example bench_trainer \
    --example bench_prefetch
tests="$(cargo test --release --features cuda --no-run --message-format=json \
    --test models_parity --test models_grad --test adapt_optim |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')"
dist="$root/target/gpu-dist"
rm -rf "$dist"
mkdir -p "$dist"
for exe in "$CARGO_TARGET_DIR/release/homogen" "$CARGO_TARGET_DIR/release/examples/bench_models" \
    "$CARGO_TARGET_DIR/release/examples/bench_trainer" \
    "$CARGO_TARGET_DIR/release/examples/bench_prefetch" $tests; do
    name="$(basename "$exe" | sed 's/-[0-9a-f]\{16\}$//')"
    strip -o "$dist/$name" "$exe"
done
xz -T0 -6 "$dist"/*
git describe --always --dirty >"$dist/commit"
ls -la "$dist"

# What each gpu_check.sh call needs carried, and what that call sends: the working tree (tracked
# and untracked-not-ignored files) and the carried files, at most 64 MiB.
tree_bytes="$(git ls-files -z --cached --others --exclude-standard | xargs -0 cat | wc -c)"
limit=$((64 * 1024 * 1024))
over=0
call() { # call STEPS BINARY...
    local steps=$1 bytes=$tree_bytes carry='"target/gpu-dist/commit"' b
    shift
    for b in "$@"; do
        bytes=$((bytes + $(stat -c %s "$dist/$b.xz")))
        carry="$carry, \"target/gpu-dist/$b.xz\""
    done
    printf 'gpu_check.sh %s: carry [%s]\n    sends %.1f MiB of 64\n' \
        "$steps" "$carry" "$(awk "BEGIN {print $bytes / 1048576}")"
    [ "$bytes" -le "$limit" ] || over=1
}
call "(default steps)" homogen bench_models bench_trainer models_parity models_grad adapt_optim
call "trainer-clip prefetch" bench_trainer bench_prefetch
[ "$over" -eq 0 ] || { echo "a call would send more than the device tool takes" >&2; exit 1; }
