#!/usr/bin/env bash
# Installs a CUDA 13.0 toolkit from PyPI wheels (nvcc, runtime, cuBLAS, cuRAND, NVRTC headers and
# libraries) into target/cuda-toolkit, so that `cargo build --features cuda` works on a machine with
# no GPU and no system CUDA (ours, CI's). It also makes a link-time stub of the driver library
# (libcuda.so.1): candle's cudarc links the driver dynamically, and the real one comes with the GPU
# driver on the machine that runs the binary.
#
# CUDA 13.0 matches the driver of the GPU machines we are lent (580.x): PTX from a newer nvcc would
# not load there. Override with CUDA_WHEEL_VERSION=13.x if the driver is newer.
#
# Usage: scripts/cuda_toolkit.sh            # idempotent; prints the environment to export
#        eval "$(scripts/cuda_toolkit.sh --env)"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/target/cuda-toolkit"
version="${CUDA_WHEEL_VERSION:-13.0}"
python="${PYTHON:-python3}"
cuda="$prefix/nvidia/cu13"

install() {
    mkdir -p "$prefix"
    "$python" -m pip install --quiet --no-cache-dir --no-deps --target "$prefix" \
        "nvidia-cuda-nvcc==$version.*" "nvidia-cuda-runtime==$version.*" \
        "nvidia-cuda-cccl==$version.*" "nvidia-cuda-crt==$version.*" "nvidia-nvvm==$version.*" \
        "nvidia-cuda-nvrtc==$version.*" \
        "nvidia-cublas==$version.*" "nvidia-curand>=10.4,<10.5" >&2
    # Unversioned names for the linker (-lcublas …); the wheels ship only the sonames.
    for lib in "$cuda"/lib/lib*.so.*; do
        base="$(basename "$lib")"
        plain="${base%%.so.*}.so"
        [ -e "$cuda/lib/$plain" ] || ln -s "$base" "$cuda/lib/$plain"
    done
    # The driver API stub: every cu* entry point cudarc's bindings name, as an empty function,
    # under the real library's soname so that the binary loads the real driver at run time.
    local bindings
    bindings="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*cudarc-*/src/driver/sys/mod.rs' | sort | tail -1)"
    if [ -z "$bindings" ]; then
        (cd "$root" && cargo fetch --quiet)
        bindings="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*cudarc-*/src/driver/sys/mod.rs' | sort | tail -1)"
    fi
    mkdir -p "$prefix/stubs"
    grep -oE '\bfn cu[A-Za-z0-9_]+\(' "$bindings" | sed 's/^fn //; s/($//' | sort -u |
        sed 's/.*/int &(void) { return 999; }/' >"$prefix/stubs/cuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$prefix/stubs/libcuda.so" "$prefix/stubs/cuda_stub.c"
    # Under its soname too, so that a CUDA build starts here (and reports that no GPU is found).
    ln -sf libcuda.so "$prefix/stubs/libcuda.so.1"
    touch "$prefix/.installed-$version"
}

[ -e "$prefix/.installed-$version" ] || install

cat <<EOF
export CUDA_ROOT="$cuda" CUDA_PATH="$cuda" CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
export PATH="$cuda/bin:\$PATH"
export LIBRARY_PATH="$cuda/lib:$prefix/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
EOF
