"""scikit-learn references for homogen's tabular learners (tests/tabular_learners.rs).

German Credit is built here independently of homogen's Rust code, the way the authors'
german_experiments.py reads it: pandas reads german.data; personal status (column 8, A91-A95)
is replaced by sex (A91/A93/A94 male, A92/A95 female) before anything is coded, so marital
status never reaches a model; credit amount (column 4) is a target, not a feature; the 6
numeric attributes are standardised over all people with pandas' sample sd; the 13 categorical
attributes go through scikit-learn's OneHotEncoder (its categories, its order). Columns are named
as homogen names them (`age`, `purpose=A410`, `personal_status_sex=female`), and the Rust test
matches columns by name, so nothing here depends on homogen's column order.

One fixed 80/20 split (numpy RandomState(0)); four blocks of 50 training people (RandomState(1)),
the small-data regime of the data-sharing study (the authors' smallest block is 40 people).
Every learner is scikit-learn's defaults behind a StandardScaler, as the authors'
make_pipeline(StandardScaler(), model(random_state=seed)).

Writes tests/fixtures/tabular/sklearn_reference.json:
- `feature_names` and per-column checks (sum, sum of squares, sum of (row+1)·value);
- `test_ids`, `train_ids`, `blocks`, `seeds`;
- `accuracy` / `accuracy_per_seed`: mean test accuracy over model seeds 0-4, full training set;
- `agreement`: per learner, task and training set (`full`, `block0`..`block3`), the test
  predictions ("0"/"1" per test person, in `test_ids` order) and, for logistic regression, the
  decision function (logit) and P(y = 1), for the SVM the decision function, each also solved to
  the optimum (`decision_optimum`: tol 1e-12 / 1e-8). Logistic regression and the SVM ignore the
  seed; for gbm and mlp there is one prediction string per seed;
- `mlp_init`: MLPClassifier._init_coef itself (activation 'relu', the default) for the two
  layers of the default network on these features: the bound sqrt(factor / (fan_in + fan_out))
  with the factor read from _init_coef (6 unless the hidden activation is 'logistic'), and the
  largest |value| and the sd of 200 draws of each layer's weights and biases.

Run: python scripts/sklearn_reference.py   (numpy, pandas, scikit-learn; about 1 minute)
"""
import json
import pathlib
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn import ensemble, svm
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES = [
    "checking_status", "duration_months", "credit_history", "purpose", "credit_amount",
    "savings", "employment_since", "installment_rate", "personal_status_sex", "other_debtors",
    "residence_since", "property", "age", "other_installment_plans", "housing",
    "existing_credits", "job", "people_liable", "telephone", "foreign_worker",
]
NUMERIC = [1, 7, 10, 12, 15, 17]
CATEGORICAL = [0, 2, 3, 5, 6, 8, 9, 11, 13, 14, 16, 18, 19]
# The authors' replacement of personal status by sex (german_experiments.py, load_dataset).
SEX = {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}
SEEDS = [0, 1, 2, 3, 4]
BLOCKS, BLOCK_SIZE = 4, 50
INIT_DRAWS = 200


def load():
    df = pd.read_csv(ROOT / "data/german_credit/german.data", header=None, sep=" ")
    df[8] = df[8].replace(SEX)
    tasks = {
        "bad_loan": (df[20] == 2).astype(int).to_numpy(),
        "credit_amount_gt_2000": (df[4] > 2000).astype(int).to_numpy(),
    }
    num = df[NUMERIC].astype(float)
    num = ((num - num.mean()) / num.std()).to_numpy()
    enc = OneHotEncoder(sparse_output=False, dtype=float)
    cat = enc.fit_transform(df[CATEGORICAL].astype(str))
    names = [NAMES[c] for c in NUMERIC]
    for col, levels in zip(CATEGORICAL, enc.categories_):
        names += [f"{NAMES[col]}={level}" for level in levels]
    return np.column_stack([num, cat]), names, tasks


# The same convex problems solved to (near) the optimum: scikit-learn's defaults stop L-BFGS
# once the largest gradient entry of the *averaged* objective is below 1e-4, and SMO once the KKT
# violation is below 1e-3.
OPTIMUM = {
    "logistic": lambda: LogisticRegression(tol=1e-12, max_iter=100_000),
    "svm": lambda: svm.SVC(tol=1e-8),
}


def learners(seed):
    return {
        "logistic": LogisticRegression(random_state=seed),
        "svm": svm.SVC(random_state=seed),
        "gbm": ensemble.GradientBoostingClassifier(random_state=seed),
        "mlp": MLPClassifier(random_state=seed),
    }


def bits(pred):
    return "".join(str(int(p)) for p in pred)


def fit(name, seed, x, y):
    model = make_pipeline(StandardScaler(), learners(seed)[name])
    model.fit(x, y)
    return model


def mlp_init(n_features):
    clf = MLPClassifier()  # activation 'relu', hidden_layer_sizes (100,)
    out = {"activation": clf.activation, "layers": []}
    # The factor _init_coef uses, read off its behaviour: the bound is the largest |draw| of a
    # huge sample, so factor = bound² · (fan_in + fan_out) rounds to it.
    clf._random_state = np.random.RandomState(0)
    w, _ = clf._init_coef(1000, 1000, np.float64)
    factor = round(float(np.abs(w).max()) ** 2 * 2000, 1)
    hidden = clf.hidden_layer_sizes[0]
    for fan_in, fan_out in [(n_features, hidden), (hidden, 1)]:
        clf._random_state = np.random.RandomState(0)
        ws, bs = [], []
        for _ in range(INIT_DRAWS):
            w, b = clf._init_coef(fan_in, fan_out, np.float64)
            ws.append(w.ravel())
            bs.append(b.ravel())
        ws, bs = np.concatenate(ws), np.concatenate(bs)
        out["layers"].append({
            "fan_in": fan_in,
            "fan_out": fan_out,
            "factor": factor,
            "bound": float(np.sqrt(factor / (fan_in + fan_out))),
            "draws": INIT_DRAWS,
            "weight_max_abs": float(np.abs(ws).max()),
            "weight_sd": float(ws.std()),
            "bias_max_abs": float(np.abs(bs).max()),
            "bias_sd": float(bs.std()),
        })
    return out


def main():
    x, names, tasks = load()
    n = x.shape[0]
    order = np.random.RandomState(0).permutation(n)
    test = np.sort(order[: n // 5])
    train = np.sort(order[n // 5 :])
    shuffled = np.random.RandomState(1).permutation(train)
    blocks = [np.sort(shuffled[b * BLOCK_SIZE : (b + 1) * BLOCK_SIZE]) for b in range(BLOCKS)]
    for b in blocks:
        for y in tasks.values():
            assert 0 < y[b].sum() < len(b), "a block with one class"
    sets = {"full": train, **{f"block{b}": ids for b, ids in enumerate(blocks)}}

    acc, per_seed, agreement = {}, {}, {}
    for name in learners(0):
        acc[name], per_seed[name], agreement[name] = {}, {}, {}
        for task, y in tasks.items():
            agreement[name][task] = {}
            for set_name, ids in sets.items():
                entry = {}
                if name in ("logistic", "svm"):
                    model = fit(name, 0, x[ids], y[ids])
                    entry["pred"] = bits(model.predict(x[test]))
                    entry["decision"] = [float(v) for v in model.decision_function(x[test])]
                    if name == "logistic":
                        entry["proba"] = [float(v) for v in model.predict_proba(x[test])[:, 1]]
                    # The exact optimum of the same problem, to tell which side of a
                    # disagreement is the solver stopping early.
                    exact = make_pipeline(StandardScaler(), OPTIMUM[name]())
                    exact.fit(x[ids], y[ids])
                    entry["decision_optimum"] = [float(v) for v in exact.decision_function(x[test])]
                    if set_name == "full":
                        score = float((model.predict(x[test]) == y[test]).mean())
                        per_seed[name][task] = [score] * len(SEEDS)
                else:
                    preds = [fit(name, s, x[ids], y[ids]).predict(x[test]) for s in SEEDS]
                    entry["pred"] = [bits(p) for p in preds]
                    if set_name == "full":
                        per_seed[name][task] = [float((p == y[test]).mean()) for p in preds]
                agreement[name][task][set_name] = entry
            acc[name][task] = float(np.mean(per_seed[name][task]))
    idx = np.arange(1, n + 1, dtype=float)
    out = {
        "script": "scripts/sklearn_reference.py",
        "sklearn_version": sklearn.__version__,
        "n_features": int(x.shape[1]),
        "feature_names": names,
        "feature_sums": [float(s) for s in x.sum(axis=0)],
        "feature_sums_of_squares": [float(s) for s in (x * x).sum(axis=0)],
        "feature_row_weighted_sums": [float(s) for s in idx @ x],
        "test_ids": [int(i) for i in test],
        "train_ids": [int(i) for i in train],
        "blocks": [[int(i) for i in b] for b in blocks],
        "seeds": SEEDS,
        "accuracy": acc,
        "accuracy_per_seed": per_seed,
        "agreement": agreement,
        "mlp_init": mlp_init(x.shape[1]),
    }
    path = ROOT / "tests/fixtures/tabular/sklearn_reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(acc, indent=1))
    # scikit-learn's own seed-to-seed agreement, the yardstick for gbm and mlp.
    for name in ("gbm", "mlp"):
        for set_name in sets:
            rates = []
            for task in tasks:
                p = agreement[name][task][set_name]["pred"]
                rates += [
                    np.mean([a == b for a, b in zip(p[i], p[j])])
                    for i in range(len(SEEDS))
                    for j in range(i + 1, len(SEEDS))
                ]
            print(f"sklearn {name} seed-vs-seed agreement, {set_name}: {np.mean(rates):.4f}")
    print(json.dumps(out["mlp_init"], indent=1))


if __name__ == "__main__":
    t = time.time()
    main()
    print(f"{time.time() - t:.1f} s")
