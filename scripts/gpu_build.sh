#!/usr/bin/env bash
# Builds, on a machine with no GPU, everything scripts/gpu_check.sh runs on a lent GPU machine
# (which has CUDA, PyTorch and transformers but no Rust toolchain): the `homogen` binary, the
# model, trainer and prefetch benchmarks and the GPU-parameterised tests, built with
# `--features cuda` against the CUDA 13.0 toolkit from PyPI (scripts/cuda_toolkit.sh), stripped
# and xz-compressed into target/gpu-dist (about 50 MB without the prefetch benchmark; the
# device tool carries at most 64 MiB).
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
du -sh "$dist"
ls -la "$dist"
