"""Peak memory of a feature-cache fill: ours (examples/bench_fill_memory.rs) against the same
work in numpy + safetensors, each in its own process: N x HIDDEN f32 features computed in
batches of 256 in reverse order, joined, put back in example order and saved as safetensors.
Prints one JSON line per side.

Usage: python scripts/bench_fill_memory.py N HIDDEN [--bin target/release/examples/bench_fill_memory]
(needs numpy and safetensors; build the example first with
`cargo build --release --example bench_fill_memory`).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile


def peak_rss():
    """The process's peak resident memory so far, in bytes (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def numpy_fill(n, hidden):
    import numpy as np
    from safetensors.numpy import save_file

    before = peak_rss()
    order = np.arange(n)[::-1]
    chunks = [np.ones((len(order[s:s + 256]), hidden), dtype=np.float32)
              for s in range(0, n, 256)]
    joined = np.concatenate(chunks)
    del chunks
    features = np.empty_like(joined)
    features[order] = joined
    del joined
    with tempfile.TemporaryDirectory() as d:
        save_file({"features": features}, os.path.join(d, "features.safetensors"))
    after = peak_rss()
    size = n * hidden * 4
    return {"n": n, "hidden": hidden, "features_mb": round(size / 1e6, 1),
            "peak_before_mb": round(before / 1e6, 1), "peak_after_mb": round(after / 1e6, 1),
            "peak_over_features": round((after - before) / size, 2)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("n", type=int)
    p.add_argument("hidden", type=int)
    p.add_argument("--bin", default="target/release/examples/bench_fill_memory")
    p.add_argument("--numpy-child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.numpy_child:
        print(json.dumps(numpy_fill(a.n, a.hidden)))
        return
    ours = subprocess.run([a.bin, str(a.n), str(a.hidden)], check=True, capture_output=True,
                          text=True).stdout.strip()
    theirs = subprocess.run([sys.executable, __file__, str(a.n), str(a.hidden), "--numpy-child"],
                            check=True, capture_output=True, text=True).stdout.strip()
    print(json.dumps({"side": "homogen", **json.loads(ours)}))
    print(json.dumps({"side": "numpy", **json.loads(theirs)}))


if __name__ == "__main__":
    main()
