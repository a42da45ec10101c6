#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repository root, with target/gpu-dist carried over (made
# here by scripts/gpu_build.sh: the binaries in one archive). Writes everything under $OUT:
#   summary.txt          one line per step with its exit status and seconds
#   nvidia-smi.txt       the machine
#   parity.txt grad.txt  models_parity / models_grad on cuda:0 (HOMOGEN_TEST_DEVICE); grad.txt
#                        includes every parameter's gradient against PyTorch's
#   optim.txt            adapt_optim on cuda:0: the CUDA optimiser kernels against PyTorch
#                        and, bit for bit, against the CPU kernels
#   bench_models_*.md    candle vs PyTorch on cuda:0, f32 and bf16 mixed precision
#   trainer_*.csv        trainer examples/s per method, ours and the PyTorch loop (bf16, batch 32;
#                        RoBERTa-base, and CLIP ViT-B/16 with the optional step trainer-clip)
#   smoke-*/             the smoke configs run with --devices cuda:0, and their logs
#   prefetch_*.json      with the optional step prefetch: CLIP ViT-B/16 features of 4,096 JPEGs
#                        in bf16, batches one after another with and without the next one
#                        decoded meanwhile, ours and PyTorch's DataLoader (0 / 1 worker)
# Steps have their own time limits so that one hang costs only its own step.
#
# Usage (device tool): bash scripts/gpu_check.sh [STEP...]  steps: parity grad optim bench-f32
#   bench-bf16 trainer smoke (default: all, in that order); trainer-clip and prefetch (only
#   when named: their PyTorch side needs PIL)
set -u
out="${OUT:?set OUT to the folder to write results to}"
dist=target/gpu-dist
mkdir -p "$out"
summary="$out/summary.txt"
echo "commit $(cat "$dist/commit" 2>/dev/null) at $(date -u +%FT%TZ)" >>"$summary"

# Unpacked outside the repository, so that target/gpu-dist stays as small as it was carried.
bin="$(mktemp -d)"
if ! tar -xJf "$dist/bin.tar.xz" -C "$bin"; then
    echo "cannot unpack $dist/bin.tar.xz: carry target/gpu-dist, made by scripts/gpu_build.sh" |
        tee -a "$summary"
    exit 1
fi
# Test binaries find their fixtures under the path they were built at.
built_at=/work/main
if [ ! -e "$built_at/Cargo.toml" ]; then
    mkdir -p "$(dirname "$built_at")" && ln -sfn "$PWD" "$built_at"
fi
# The CUDA 13 libraries candle links (cuBLAS, cuRAND, NVRTC): the toolkit's, or PyTorch's wheels'.
libdirs="$(
    {
        ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null
        python3 -c 'import glob, os, site
for s in site.getsitepackages():
    for d in glob.glob(os.path.join(s, "nvidia", "*", "lib")):
        print(d)' 2>/dev/null
    } | paste -sd:
)"
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

step() { # step NAME LIMIT_S OUTFILE CMD...
    local name=$1 limit=$2 file=$3 start rc
    shift 3
    start=$(date +%s)
    timeout "$limit" "$@" >"$out/$file" 2>&1
    rc=$?
    echo "$name rc=$rc $(($(date +%s) - start))s" | tee -a "$summary"
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(parity grad optim bench-f32 bench-bf16 trainer smoke)
nvidia-smi >"$out/nvidia-smi.txt" 2>&1
ldd "$bin/homogen" >"$out/ldd.txt" 2>&1
for s in "${steps[@]}"; do
    case "$s" in
    parity) HOMOGEN_TEST_DEVICE=cuda:0 step parity 120 parity.txt "$bin/models_parity" ;;
    grad) HOMOGEN_TEST_DEVICE=cuda:0 step grad 120 grad.txt "$bin/models_grad" ;;
    optim) HOMOGEN_TEST_DEVICE=cuda:0 step optim 60 optim.txt "$bin/adapt_optim" ;;
    bench-f32 | bench-bf16)
        step "$s" 240 "bench_models_${s#bench-}.md" python3 scripts/bench_models.py \
            --device cuda --dtype "${s#bench-}" --batch 32 --iters 10 --bin "$bin/bench_models" \
            --modes forward,finetune,bitfit
        ;;
    trainer)
        step trainer-candle 150 trainer_candle.csv "$bin/bench_trainer" 20 cuda:0 bf16 32
        step trainer-pytorch 150 trainer_pytorch.csv python3 scripts/bench_trainer_torch.py 20 cuda bf16 32
        ;;
    trainer-clip)
        step trainer-clip-candle 150 trainer_clip_candle.csv "$bin/bench_trainer" 20 cuda:0 bf16 32 clip
        step trainer-clip-pytorch 150 trainer_clip_pytorch.csv python3 scripts/bench_trainer_torch.py 20 cuda bf16 32 clip
        ;;
    prefetch)
        step prefetch-candle 120 prefetch_candle.json "$bin/bench_prefetch" 4096 cuda:0 bf16 base 3
        step prefetch-pytorch 120 prefetch_pytorch.json python3 scripts/bench_prefetch_torch.py 4096 cuda bf16 base 3
        ;;
    smoke)
        for c in language vision; do
            step "smoke-$c" 150 "smoke-$c.log" "$bin/homogen" run "configs/smoke-$c.toml" \
                --devices cuda:0 --out "$out/smoke-$c"
        done
        ;;
    *) echo "unknown step $s" | tee -a "$summary" ;;
    esac
done
