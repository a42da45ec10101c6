"""Benchmark of the data-sharing default run: homogen (release) against the same protocol in
scikit-learn, timed in the same run on the same machine.

homogen: `target/release/homogen run CONFIG --quiet -o TMP` (the default config, or the default
with fewer seeds), wall time and peak RSS of the child process.
scikit-learn: German Credit built as scripts/sklearn_reference.py does; for each learner,
setting, scale, data seed and model seed, the authors' protocol (80/20 split, blocks of
n_train // scale, fixed or disjoint) and make_pipeline(StandardScaler(), model(random_state=m))
per task, trials in parallel with joblib over the same number of processes as cores used by
homogen; predictions only (no metrics), so the comparison favours scikit-learn slightly.

Run: /work/venv/bin/python scripts/bench_datasharing.py [--seeds N] [--jobs J]
"""
import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn import ensemble, svm
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sklearn_reference import load  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCALES = [20, 16, 10, 9, 8, 7, 6, 5, 4, 3, 2]
LEARNERS = ["logistic", "svm", "gbm", "mlp"]


def model(name, seed):
    return {
        "logistic": lambda: LogisticRegression(random_state=seed),
        "svm": lambda: svm.SVC(random_state=seed),
        "gbm": lambda: ensemble.GradientBoostingClassifier(random_state=seed),
        "mlp": lambda: MLPClassifier(random_state=seed),
    }[name]()


def trial(x, tasks, learner, setting, scale, data_seed, model_seed):
    import warnings

    warnings.filterwarnings("ignore")
    n = x.shape[0]
    order = np.random.RandomState(data_seed).permutation(n)
    test, train = order[: n // 5], order[n // 5 :]
    length = len(train) // scale
    rng = np.random.RandomState(data_seed + 1000)
    if setting == "fixed":
        blocks = [rng.randint(scale)] * len(tasks)
    else:
        blocks = list(rng.permutation(scale)[: len(tasks)])
    preds = []
    for b, y in zip(blocks, tasks.values()):
        ids = train[b * length : (b + 1) * length]
        if len(set(y[ids])) < 2:
            preds.append(np.full(len(test), y[ids][0]))
            continue
        m = make_pipeline(StandardScaler(), model(learner, model_seed))
        m.fit(x[ids], y[ids])
        preds.append(m.predict(x[test]))
    return preds


def run_homogen(seeds, tmp):
    config = (ROOT / "configs/default.toml").read_text()
    seed_list = str(list(range(seeds)))
    config = config.replace("[0, 1, 2, 3, 4]", seed_list)
    path = pathlib.Path(tmp) / "bench.toml"
    path.write_text(config)
    binary = ROOT / "target/release/homogen"
    t = time.time()
    proc = subprocess.run(
        [str(binary), "run", str(path), "--quiet", "-o", str(pathlib.Path(tmp) / "out")],
        capture_output=True,
        text=True,
    )
    wall = time.time() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak_mib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5, help="data seeds = model seeds = N")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--skip-sklearn", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak = run_homogen(args.seeds, tmp)
    n_trials = len(LEARNERS) * 2 * len(SCALES) * args.seeds**2
    print(f"homogen: {n_trials} trials, {wall:.1f} s wall, peak RSS {peak:.0f} MiB")
    if args.skip_sklearn:
        return
    x, tasks = load()
    per_learner = {}
    t0 = time.time()
    for learner in LEARNERS:
        t = time.time()
        jobs = [
            (learner, setting, scale, d, m)
            for setting in ["fixed", "disjoint"]
            for scale in SCALES
            for d in range(args.seeds)
            for m in range(args.seeds)
        ]
        Parallel(n_jobs=args.jobs)(delayed(trial)(x, tasks, *j) for j in jobs)
        per_learner[learner] = time.time() - t
    total = time.time() - t0
    print("scikit-learn: " + ", ".join(f"{k} {v:.1f} s" for k, v in per_learner.items()))
    print(f"scikit-learn total: {total:.1f} s wall ({args.jobs} jobs); ratio sklearn/homogen "
          f"{total / wall:.2f}")


if __name__ == "__main__":
    main()
