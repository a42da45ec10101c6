#!/usr/bin/env bash
# Builds, on a machine with no GPU, everything scripts/gpu_check.sh runs on a lent GPU machine
# (which has CUDA, PyTorch and transformers but no Rust toolchain): the `homogen` binary, the
# model, trainer and prefetch benchmarks and the GPU-parameterised tests, built with
# `--features cuda` against the CUDA 13.0 toolkit from PyPI (scripts/cuda_toolkit.sh), stripped
# and packed into one archive, target/gpu-dist/bin.tar.xz. The binaries share most of their
# bytes (candle, and the 33 MB fatbin of quantized and MoE kernels that candle-kernels links into
# each), which one solid archive with a dictionary larger than a binary stores once: 20 MB for
# the seven, where each compressed on its own made 61 MB, over the 64 MiB a device-tool call
# sends with the working tree. The script ends by printing the call's carry list and what it
# sends, and fails if that is over.
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
stage="$CARGO_TARGET_DIR/gpu-stage"
rm -rf "$dist" "$stage"
mkdir -p "$dist" "$stage"
names=()
for exe in "$CARGO_TARGET_DIR/release/homogen" "$CARGO_TARGET_DIR/release/examples/bench_trainer" \
    "$CARGO_TARGET_DIR/release/examples/bench_models" \
    "$CARGO_TARGET_DIR/release/examples/bench_prefetch" $tests; do
    name="$(basename "$exe" | sed 's/-[0-9a-f]\{16\}$//')"
    strip -o "$stage/$name" "$exe"
    names+=("$name")
done
# One LZMA2 stream with a 192 MiB dictionary, so that each binary's bytes are found again in
# the ones before it (single-threaded on purpose: xz's threads would split the stream into
# blocks that share nothing). About 5 minutes and 2 GiB of memory here; unpacking needs 192 MiB.
# (A 512 MiB dictionary saves only another 0.05 MB.)
tar -C "$stage" -cf - "${names[@]}" | xz -T1 --lzma2=preset=6,dict=192MiB >"$dist/bin.tar.xz"
rm -rf "$stage"
git describe --always --dirty >"$dist/commit"
ls -la "$dist"

# What a gpu_check.sh call sends: the working tree (tracked and untracked-not-ignored files)
# and the carried folder, at most 64 MiB.
tree_bytes="$(git ls-files -z --cached --others --exclude-standard | xargs -0 cat | wc -c)"
dist_bytes="$(cat "$dist"/* | wc -c)"
bytes=$((tree_bytes + dist_bytes))
printf 'gpu_check.sh: carry ["target/gpu-dist"]\n    sends %.1f MiB of 64\n' \
    "$(awk "BEGIN {print $bytes / 1048576}")"
[ "$bytes" -le $((64 * 1024 * 1024)) ] || { echo "the call would send more than the device tool takes" >&2; exit 1; }
