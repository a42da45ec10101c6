#!/usr/bin/env python3
"""Reference values for homogen's metrics, computed with numpy/scipy/scikit-learn straight from
the formulas of DESIGN.md §1 (no code shared with the Rust implementation).

Writes the input tables tests/fixtures/metrics/*.csv (seeded) and, for each, the expected
metrics tests/fixtures/metrics/*.json; tests/metrics_reference.rs compares the Rust values to
these at 1e-12. Run: /work/venv/bin/python scripts/metrics_reference.py
(`... metrics_reference.py correlations` writes only correlations.json, which needs only scipy).

correlations.json: Pearson and Spearman on hand-picked metric values across systems where the
ranking is delicate (exact ties, values one float apart such as 0.1 + 0.2 and 0.3, -0.0 and 0.0,
constant and near-constant inputs), from scipy.stats.pearsonr / spearmanr; inputs are written
as Python's repr of each float, which Rust parses to the same float.

Independent methods on purpose: the k-of-n expectation enumerates all subsets of deployments
(the Rust code uses a dynamic programme), kappa comes from sklearn's cohen_kappa_score, phi
from numpy.corrcoef, correlations from scipy.stats, the t interval from scipy.stats.t.
"""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "metrics"


def person_matrix(df):
    """People x deployments float matrix (nan = absent), in order of first appearance."""
    deps = list(pd.unique(df["deployment"]))
    people = list(pd.unique(df["example_id"]))
    F = np.full((len(people), len(deps)), np.nan)
    L = np.full((len(people), len(deps)), np.nan)
    pi = {p: j for j, p in enumerate(people)}
    di = {d: i for i, d in enumerate(deps)}
    if "failure" in df:
        fail = df["failure"].astype(int).to_numpy()
    else:
        fail = (df["label"] != df["prediction"]).astype(int).to_numpy()
    rows = [pi[p] for p in df["example_id"]]
    cols = [di[d] for d in df["deployment"]]
    F[rows, cols] = fail
    if "loss" in df:
        L[rows, cols] = df["loss"].to_numpy()
    first = df.drop_duplicates("example_id").set_index("example_id")
    return deps, people, F, L, first


def poisson_binomial_tail_by_enumeration(p, m):
    """P(at least m successes) by summing over every subset of the Bernoulli trials."""
    total = 0.0
    for bits in itertools.product([0, 1], repeat=len(p)):
        if sum(bits) >= m:
            total += math.prod(pi if b else 1 - pi for pi, b in zip(p, bits))
    return total


def system_metrics(df, groups, compat):
    from sklearn.metrics import cohen_kappa_score

    deps, people, F, L, first = person_matrix(df)
    n, k = F.shape
    met = ~np.isnan(F)
    fail = np.nan_to_num(F)
    out = {}

    def put(grouping, metric, value):
        out[(grouping, metric)] = None if value is None or not np.isfinite(value) else float(value)

    FAIL = fail.sum(0) / met.sum(0)
    observed = np.mean(np.all((fail == 1) | ~met, axis=1))
    expected = np.mean(np.prod(np.where(met, FAIL, 1.0), axis=1))
    put("individual", "h_individual", observed / expected if expected > 0 else None)
    put("individual", "systemic_failure_observed", observed)
    put("individual", "systemic_failure_expected", expected)
    for i, d in enumerate(deps):
        put("individual", f"failure_rate:{d}", FAIL[i])

    counts = fail.sum(1)
    for m in range(1, k + 1):
        obs = np.mean(counts >= m)
        exp = np.mean([poisson_binomial_tail_by_enumeration(FAIL[met[j]], m) for j in range(n)])
        put("individual", f"at_least_{m}_observed", obs)
        put("individual", f"at_least_{m}_expected", exp)
        put("individual", f"at_least_{m}_ratio", obs / exp if exp > 0 else None)

    for a, b in itertools.combinations(range(k), 2):
        both = met[:, a] & met[:, b]
        fa, fb = fail[both, a], fail[both, b]
        pair = f"{deps[a]}|{deps[b]}"
        put("individual", f"covariance:{pair}", np.cov(fa, fb, bias=True)[0, 1])
        pab = np.mean(fa * fb)
        put("individual", f"pmi:{pair}", math.log(pab / (fa.mean() * fb.mean())) if pab > 0 else None)
        put("individual", f"phi:{pair}", np.corrcoef(fa, fb)[0, 1])
        put("individual", f"kappa:{pair}", cohen_kappa_score(fa, fb))

    if "loss" in df:
        complete = np.all(met & ~np.isnan(L), axis=1)
        Lc = L[complete]
        means = Lc.mean(0)
        put("individual", "loss_h", np.mean(np.prod(Lc, axis=1)) / np.prod(means))
        put("individual", "min_exp", np.mean(Lc.min(1)) / means.min())
        put("individual", "exp_exp", np.mean(Lc.min(1)) / means.mean())

    denominator = np.prod(FAIL)
    for g in groups:
        of = np.array([first.loc[p, g] for p in people])
        levels = list(pd.unique(of))
        systemic, share, included = {}, {}, []
        for lv in levels:
            mask = of == lv
            rates, shares, missing = [], [], False
            for i in range(k):
                cell = mask & met[:, i]
                if cell.sum() == 0:
                    missing = True
                    rates.append(1.0)  # only used in reference mode
                    shares.append(0.0)
                else:
                    rates.append(fail[cell, i].mean())
                    shares.append(cell.sum() / met[:, i].sum())
            share[lv] = np.prod(shares)
            if missing and compat != "reference":
                put(g, f"failure_rate_product:{lv}", None)
            else:
                systemic[lv] = np.prod(rates)
                included.append(lv)
                put(g, f"failure_rate_product:{lv}", systemic[lv])
        total = sum(share.values())
        put(g, "h_avg", sum(share[lv] / total * systemic.get(lv, 0.0) for lv in levels if share[lv] > 0) / denominator)
        vals = np.array([systemic[lv] for lv in included])
        put(g, "h_unif", vals.mean() / denominator)
        put(g, "h_worst", vals.max() / denominator)
        put(g, "unfairness", np.var(vals, ddof=1) if len(vals) >= 2 else None)
    return out


def table_metrics(df, groups, compat):
    systems = list(pd.unique(df["system"])) if "system" in df else ["all"]
    result = {}
    for s in systems:
        part = df[df["system"] == s] if "system" in df else df
        result[s] = system_metrics(part, groups, compat)
    return result


def rows_of(result):
    return [
        {"system": s, "grouping": g, "metric": m, "value": v}
        for s, metrics in result.items()
        for (g, m), v in metrics.items()
    ]


def across(df, result, by, groupings):
    rows = []
    attr = df.drop_duplicates("system").set_index("system")[by]
    values = list(pd.unique(attr.loc[list(result)]))
    keys = list(next(iter(result.values())).keys())
    for v in values:
        members = [s for s in result if attr.loc[s] == v]
        for (g, m) in keys:
            x = np.array([result[s][(g, m)] for s in members if result[s][(g, m)] is not None])
            half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
            rows.append({"system": f"{by}={v}", "grouping": g, "metric": f"mean:{m}", "value": x.mean(),
                         "ci_lo": x.mean() - half, "ci_hi": x.mean() + half})
            rows.append({"system": f"{by}={v}", "grouping": g, "metric": f"sd:{m}", "value": x.std(ddof=1)})
            rows.append({"system": f"{by}={v}", "grouping": g, "metric": f"n:{m}", "value": float(len(x))})
    person = [("individual", "h_individual"), ("individual", "systemic_failure_observed")]
    blocks = [("individual", person)]
    for g in groupings:
        blocks.append((g, person + [(g, m) for m in ["h_avg", "h_unif", "h_worst", "unfairness"]]))
    for grouping, metrics in blocks:
        for (ga, ma), (gb, mb) in itertools.combinations(metrics, 2):
            if grouping != "individual" and ga == "individual" and gb == "individual":
                continue
            x = [result[s][(ga, ma)] for s in result]
            y = [result[s][(gb, mb)] for s in result]
            r = stats.pearsonr(x, y)
            rho = stats.spearmanr(x, y)
            rows.append({"system": "across_systems", "grouping": grouping, "metric": f"pearson_r2:{ma}|{mb}",
                         "value": r.statistic ** 2, "p_value": r.pvalue})
            rows.append({"system": "across_systems", "grouping": grouping, "metric": f"spearman_rho:{ma}|{mb}",
                         "value": rho.statistic, "p_value": rho.pvalue})
    return [{k: float(v) if isinstance(v, (np.floating, float)) else v for k, v in r.items()} for r in rows]


def correlated_failures(rng, n, k, base, shared):
    """Failures that share a latent per-person difficulty, so H differs from 1."""
    difficulty = rng.random(n)
    out = np.zeros((n, k), dtype=int)
    for i in range(k):
        own = rng.random(n)
        score = shared * difficulty + (1 - shared) * own
        out[:, i] = score > np.quantile(score, 1 - base[i])
    return out


def long_table(F, deps, ids, extra=None, loss=None, use_labels=False, present=None, rng=None):
    rows = []
    n, k = F.shape
    for j in range(n):
        for i in range(k):
            if present is not None and not present[j, i]:
                continue
            row = {"deployment": deps[i], "example_id": ids[j]}
            if use_labels:
                label = int(rng.integers(0, 3))
                row["label"] = label
                row["prediction"] = label if F[j, i] == 0 else (label + 1) % 3
            else:
                row["failure"] = int(F[j, i])
            if loss is not None:
                row["loss"] = float(loss[j, i])
            for name, values in (extra or {}).items():
                row[name] = values[j]
            rows.append(row)
    return pd.DataFrame(rows)


def correlation_cases():
    """(name, x, y): x and y are two metrics' values over the systems (h_individual and
    systemic_failure_observed in the Rust test)."""
    near = 0.1 + 0.2  # 0.30000000000000004, one float above 0.3
    return [
        ("distinct", [0.5, 1.2, 0.9, 2.0, 1.1], [0.02, 0.05, 0.03, 0.04, 0.01]),
        ("exact_ties", [1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [3.0, 1.0, 2.0, 2.0, 5.0, 4.0]),
        ("ties_in_both", [0.25, 0.25, 0.5, 0.75, 0.75, 1.0, 1.0], [0.1, 0.3, 0.3, 0.2, 0.2, 0.4, 0.4]),
        # Not a tie for scipy: 0.1 + 0.2 ranks above 0.3.
        ("near_tie", [near, 0.3, 0.5, 0.7, 0.7], [1.0, 2.0, 3.0, 4.0, 5.0]),
        ("near_tie_reversed", [0.3, near, 0.3, 0.6], [0.4, 0.1, 0.2, 0.3]),
        # -0.0 == 0.0: a tie.
        ("signed_zero", [0.0, -0.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]),
        ("perfect_with_ties", [1.0, 1.0, 2.0, 3.0], [5.0, 5.0, 6.0, 7.0]),
        ("three_systems", [1.5, 0.5, 1.0], [0.1, 0.3, 0.25]),
        # Constant: rho and r undefined (scipy: nan).
        ("constant", [1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]),
        ("constant_ranks_only", [2.0, 2.0, 2.0], [0.1, 0.2, 0.2]),
        # Constant up to float noise: not constant for scipy (it ranks 0.1 + 0.2 above 0.3).
        ("near_constant", [0.3, near, 0.3], [1.0, 2.0, 3.0]),
    ]


def write_correlations():
    cases = []
    for name, x, y in correlation_cases():
        # pearsonr on near-constant input depends on its summation order (noise over noise):
        # only spearman is compared there.
        r = stats.pearsonr(x, y) if name != "near_constant" else None
        rho = stats.spearmanr(x, y)
        def num(v):
            return None if v is None or not np.isfinite(v) else float(v)
        case = {"name": name, "x": [repr(float(v)) for v in x], "y": [repr(float(v)) for v in y],
                "ranks_x": [float(v) for v in stats.rankdata(x)],
                "ranks_y": [float(v) for v in stats.rankdata(y)],
                "spearman_rho": num(rho.statistic), "spearman_p": num(rho.pvalue)}
        if r is not None:
            case["pearson_r2"] = num(r.statistic ** 2)
            case["pearson_p"] = num(r.pvalue)
        cases.append(case)
    (OUT / "correlations.json").write_text(json.dumps(cases, indent=1) + "\n")
    print(f"correlations: {len(cases)} cases")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write_correlations()
    rng = np.random.default_rng(2022)
    cases = []

    F = correlated_failures(rng, 150, 3, [0.3, 0.2, 0.4], 0.6)
    df = long_table(F, ["bank", "insurer", "landlord"], [f"p{j:03d}" for j in range(150)])
    cases.append(("random", df, [], "correct"))

    F = correlated_failures(rng, 200, 4, [0.25, 0.35, 0.3, 0.2], 0.5)
    hair = rng.choice(["black", "blond", "brown", "gray"], 200, p=[0.4, 0.2, 0.3, 0.1])
    beard = rng.choice(["yes", "no"], 200)
    df = long_table(F, ["d1", "d2", "d3", "d4"], [f"id{j}" for j in range(200)],
                    extra={"hair": hair, "beard": beard}, use_labels=True, rng=rng)
    cases.append(("groups", df, ["hair", "beard"], "correct"))

    n = 180
    F = correlated_failures(rng, n, 3, [0.3, 0.35, 0.25], 0.5)
    present = rng.random((n, 3)) > 0.3
    present[present.sum(1) == 0, 0] = True
    region = rng.choice(["north", "south", "east"], n).astype(object)
    region[:6] = "island"
    present[:6] = [True, False, False]  # the island group only ever meets deployment a
    df = long_table(F, ["a", "b", "c"], [f"x{j}" for j in range(n)], extra={"region": region}, present=present)
    cases.append(("partial", df, ["region"], "correct"))
    cases.append(("partial_reference", df, ["region"], "reference"))

    F = correlated_failures(rng, 120, 3, [0.3, 0.3, 0.3], 0.7)
    loss = rng.gamma(2.0, 0.5, (120, 3)) * (1 + F)
    df = long_table(F, ["m1", "m2", "m3"], [f"q{j}" for j in range(120)], loss=loss)
    cases.append(("losses", df, [], "correct"))

    parts = []
    for s, (method, shared) in enumerate([("probe", 0.2), ("probe", 0.3), ("probe", 0.25),
                                          ("finetune", 0.6), ("finetune", 0.7), ("finetune", 0.5)]):
        F = correlated_failures(rng, 100, 3, [0.3, 0.25, 0.35], shared)
        group = rng.choice(["u", "v", "w"], 100)
        part = long_table(F, ["t1", "t2", "t3"], [f"e{j}" for j in range(100)], extra={"group": group})
        part.insert(0, "system", f"{method}-{s}")
        part["method"] = method
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    cases.append(("systems", df, ["group"], "correct"))

    for name, df, groups, compat in cases:
        csv = f"{name.removesuffix('_reference')}.csv"
        df.to_csv(OUT / csv, index=False)
        result = table_metrics(df, groups, compat)
        fixture = {"table": csv, "groups": groups, "compat": compat, "rows": rows_of(result)}
        if name == "systems":
            fixture["by"] = "method"
            fixture["across"] = across(df, result, "method", groups)
        (OUT / f"{name}.json").write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"{name}: {len(fixture['rows'])} values")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["correlations"]:
        OUT.mkdir(parents=True, exist_ok=True)
        write_correlations()
    else:
        main()
