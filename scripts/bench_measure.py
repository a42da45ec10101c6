#!/usr/bin/env python3
"""Benchmark: `homogen measure` against a vectorised numpy implementation of the same metrics.

Makes a failure table of 1,000,000 people x 4 deployments with 2 groupings (Parquet, 4M rows),
then times in the same run:
  - numpy: read the Parquet (pyarrow), pivot to a person x deployment uint8 matrix, compute
    every failure-based metric homogen reports (failure rates, systemic failure, H, k-of-n with
    the Poisson-binomial, pairwise covariance/PMI/phi/kappa, H_avg/H_unif/H_worst/unfairness
    and per-group systemic failure for both groupings); bootstrap = the same metrics on rows
    resampled with replacement (numpy.random.Generator.integers), timed over REPS replicates
    and extrapolated to BOOT (default 1000);
  - homogen measure (release build) plain and with --bootstrap BOOT, peak memory from
    /usr/bin/time -v.

Usage: /work/venv/bin/python scripts/bench_measure.py [--people N] [--reps R] [--boot BOOT] [--bin PATH]
"""

import argparse
import itertools
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent


def make_table(path, n, k=4, seed=0):
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    hair = rng.choice(np.array(["black", "blond", "brown", "gray", "red"]), n)
    beard = rng.choice(np.array(["yes", "no"]), n)
    ids = np.char.add("p", np.arange(n).astype(str))
    cols = {"deployment": [], "example_id": [], "failure": [], "hair": [], "beard": []}
    for i in range(k):
        score = 0.5 * difficulty + 0.5 * rng.random(n)
        fail = score > np.quantile(score, 1 - (0.2 + 0.05 * i))
        cols["deployment"].append(np.full(n, f"model{i}"))
        cols["example_id"].append(ids)
        cols["failure"].append(fail)
        cols["hair"].append(hair)
        cols["beard"].append(beard)
    table = pa.table({name: pa.array(np.concatenate(parts)) for name, parts in cols.items()})
    pq.write_table(table, path)


def load(path):
    """Parquet -> person x deployment uint8 matrix and group codes (vectorised)."""
    t = pq.read_table(path).to_pandas()
    dep_codes, deps = t["deployment"].factorize()
    person_codes, people = t["example_id"].factorize()
    F = np.zeros((len(people), len(deps)), dtype=np.uint8)
    F[person_codes, dep_codes] = t["failure"].to_numpy()
    groups = []
    for g in ["hair", "beard"]:
        codes = np.zeros(len(people), dtype=np.int64)
        c, levels = t[g].factorize()
        codes[person_codes] = c
        groups.append((codes, len(levels)))
    return F, groups


def metrics(F, groups):
    n, k = F.shape
    out = {}
    rates = F.mean(0)
    observed = F.all(1).mean()
    expected = rates.prod()
    out["h"] = observed / expected
    counts = F.sum(1)
    pmf = np.zeros(k + 1)
    pmf[0] = 1.0
    for p in rates:
        pmf[1:] = pmf[1:] * (1 - p) + pmf[:-1] * p
        pmf[0] *= 1 - p
    tail = pmf[::-1].cumsum()[::-1]
    for m in range(1, k + 1):
        out[f"at_least_{m}"] = (counts >= m).mean() / tail[m]
    Ff = F.astype(np.float64)
    for a, b in itertools.combinations(range(k), 2):
        pab = (Ff[:, a] * Ff[:, b]).mean()
        cov = pab - rates[a] * rates[b]
        out[f"cov{a}{b}"] = cov
        out[f"pmi{a}{b}"] = np.log(pab / (rates[a] * rates[b]))
        out[f"phi{a}{b}"] = cov / np.sqrt(rates[a] * (1 - rates[a]) * rates[b] * (1 - rates[b]))
        po = (F[:, a] == F[:, b]).mean()
        pe = rates[a] * rates[b] + (1 - rates[a]) * (1 - rates[b])
        out[f"kappa{a}{b}"] = (po - pe) / (1 - pe)
    for gi, (codes, levels) in enumerate(groups):
        size = np.bincount(codes, minlength=levels).astype(np.float64)
        fails = np.stack([np.bincount(codes, weights=Ff[:, i], minlength=levels) for i in range(k)], 1)
        group_rates = fails / size[:, None]
        systemic = group_rates.prod(1)
        share = (size / n) ** k
        out[f"avg{gi}"] = (share / share.sum() * systemic).sum() / expected
        out[f"unif{gi}"] = systemic.mean() / expected
        out[f"worst{gi}"] = systemic.max() / expected
        out[f"unfair{gi}"] = systemic.var(ddof=1)
    return out


def run_homogen(binary, table, extra):
    cmd = ["/usr/bin/time", "-v", str(binary), "measure", str(table), "--group", "hair",
           "--group", "beard", "--format", "csv", "-o", "/dev/null"] + extra
    # -o /dev/null would be renamed over; write to a temp file instead.
    with tempfile.TemporaryDirectory() as d:
        cmd[cmd.index("/dev/null")] = str(Path(d) / "m.csv")
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", done.stderr).group(1))
              for kind in ["User", "System"])
    return seconds, cpu, peak_kb / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap replicates homogen draws")
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "homogen"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        table = Path(d) / "bench.parquet"
        make_table(table, args.people)
        print(f"table: {args.people} people x 4 deployments, 2 groupings, "
              f"{table.stat().st_size / 2**20:.1f} MiB Parquet")

        def timed(f):
            wall, cpu = time.perf_counter(), time.process_time()
            f()
            return time.perf_counter() - wall, time.process_time() - cpu

        loaded = {}
        w_load, c_load = timed(lambda: loaded.update(data=load(table)))
        F, groups = loaded["data"]
        w_metrics, c_metrics = timed(lambda: metrics(F, groups))
        rng = np.random.default_rng(0)

        def replicates():
            for _ in range(args.reps):
                idx = rng.integers(0, F.shape[0], F.shape[0])
                metrics(F[idx], [(c[idx], l) for c, l in groups])

        w_reps, c_reps = timed(replicates)
        plain = (w_load + w_metrics, c_load + c_metrics)
        b = args.boot
        boot = (plain[0] + b * w_reps / args.reps, plain[1] + b * c_reps / args.reps)
        print(f"numpy: load {w_load:.2f} s, metrics {w_metrics:.3f} s, one bootstrap replicate "
              f"{w_reps / args.reps:.3f} s (mean of {args.reps}) [wall]")
        print(f"numpy plain: {plain[0]:.2f} s wall, {plain[1]:.2f} s CPU; numpy --bootstrap {b} "
              f"(extrapolated from {args.reps} replicates): {boot[0]:.1f} s wall, {boot[1]:.1f} s CPU")

        runs = [("plain", []), (f"--bootstrap {b}", ["--bootstrap", str(b), "--seed", "1"]),
                (f"--bootstrap {b} --permutations 10000",
                 ["--bootstrap", str(b), "--permutations", "10000", "--seed", "1"])]
        results = {}
        for label, extra in runs:
            wall, cpu, mem = run_homogen(args.bin, table, extra)
            results[label] = (wall, cpu)
            print(f"homogen {label}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak {mem:.0f} MiB")
        for label, ref in [("plain", plain), (f"--bootstrap {b}", boot)]:
            wall, cpu = results[label]
            cpu_ratio = f"{ref[1] / cpu:.1f}x" if cpu > 0 else "n/a (CPU time below the clock's 10 ms)"
            print(f"ratio {label} (numpy / homogen): {ref[0] / wall:.1f}x wall, {cpu_ratio} CPU")


if __name__ == "__main__":
    main()
