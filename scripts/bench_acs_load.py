"""Loading the paper's ACS population (every state of folktables' list) with homogen and with
folktables, in the same run, on synthetic person files of the real size.

The Census Bureau's files cannot be downloaded here, so `--make DIR` writes 51 files
`DIR/2018/1-Year/psam_pNN.csv` (folktables' names, its 50 states and Puerto Rico) with, by
default, 3.2 million people shared out by the states' 2018 populations (about what the 2018
1-year person files hold). Each file has 286 columns: the 121 of our fixture's header (the real
2018 names and order, tests/fixtures/tabular/acs/psam_p06.csv), then 85 allocation flags
(F...P, 0 or 1) and the 80 replicate weights PWGTP1-PWGTP80, as the real files end. Values: every
column folktables' three tasks read is drawn from its real code range, with empty fields where
the real files have them (SCHL under 3 years, ESR under 16, OCCP and WKHP without a job, ...);
the other columns are short integers, a share of them empty, SOCP and NAICSP short codes. Rows
are drawn from a pool of 65,536 generated people (reading cost does not depend on repeats).

Then, alternating, `--repeat` times each, in fresh processes:
- homogen: `target/release/examples/bench_acs_load ROOT/2018/1-Year` (build it first:
  `cargo build --release --example bench_acs_load`), the loader `homogen run` uses;
- folktables 0.0.12, as the authors' ACS_experiments.py: `ACSDataSource(survey_year='2018',
  horizon='1-Year', survey='person', root_dir=ROOT).get_data(download=False)` and
  `df_to_numpy` of ACSEmployment, ACSIncomePovertyRatio and ACSHealthInsurance.
Each reports wall seconds and peak RSS; the script checks both found the same people,
positives per task and feature sums, and prints one JSON line per run and a summary.

    python3 -m venv .venv && .venv/bin/pip install folktables==0.0.12 pandas numpy
    .venv/bin/python scripts/bench_acs_load.py --make /tmp/acs-bench [--people 3200000]
    .venv/bin/python scripts/bench_acs_load.py --root /tmp/acs-bench --repeat 2
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURE_HEADER = REPO / "tests" / "fixtures" / "tabular" / "acs" / "psam_p06.csv"
BIN = REPO / "target" / "release" / "examples" / "bench_acs_load"

# 2018 resident population estimates in thousands (Census Bureau, rounded), folktables' order
# of state_list; only the shares matter.
POPULATION = {
    "AL": 4888, "AK": 737, "AZ": 7172, "AR": 3014, "CA": 39557, "CO": 5696, "CT": 3573,
    "DE": 967, "FL": 21299, "GA": 10519, "HI": 1420, "ID": 1754, "IL": 12741, "IN": 6692,
    "IA": 3156, "KS": 2912, "KY": 4468, "LA": 4660, "ME": 1338, "MD": 6043, "MA": 6902,
    "MI": 9996, "MN": 5611, "MS": 2987, "MO": 6126, "MT": 1062, "NE": 1929, "NV": 3034,
    "NH": 1356, "NJ": 8909, "NM": 2095, "NY": 19542, "NC": 10384, "ND": 760, "OH": 11689,
    "OK": 3943, "OR": 4191, "PA": 12807, "RI": 1057, "SC": 5084, "SD": 882, "TN": 6770,
    "TX": 28702, "UT": 3161, "VT": 626, "VA": 8518, "WA": 7536, "WV": 1806, "WI": 5814,
    "WY": 578, "PR": 3195,
}
POOL = 65_536


def draw_columns(rng, header, n):
    """Column name -> list of n field strings for every column after ST."""
    age = rng.integers(0, 96, n)
    worker = (age >= 16) & (rng.random(n) < 0.6)

    def codes(lo, hi, empty=None):
        v = rng.integers(lo, hi + 1, n).astype(str).astype(object)
        if empty is not None:
            v[empty] = ""
        return v

    cols = {
        "AGEP": age.astype(str).astype(object),
        "SCHL": codes(1, 24, age < 3),
        "MAR": codes(1, 5),
        "RELP": codes(0, 17),
        "DIS": codes(1, 2),
        "ESP": codes(1, 8, age >= 16),
        "CIT": codes(1, 5),
        "MIG": codes(1, 3, age < 1),
        "MIL": codes(1, 4, age < 17),
        "ANC": codes(1, 4),
        "NATIVITY": codes(1, 2),
        "DEAR": codes(1, 2),
        "DEYE": codes(1, 2),
        "DREM": codes(1, 2, age < 5),
        "SEX": codes(1, 2),
        "RAC1P": codes(1, 9),
        "GCL": codes(1, 2, age < 30),
        "ESR": codes(1, 6, age < 16),
        "OCCP": codes(10, 9920, ~worker),
        "WKHP": codes(1, 99, ~worker),
        "PINCP": codes(-10000, 500000, age < 15),
        "FER": codes(1, 2, (age < 15) | (age > 50)),
        "POVPIP": codes(0, 501, rng.random(n) < 0.02),
        "HINS2": codes(1, 2),
        "SOCP": np.array([f"{c}X" for c in rng.integers(11000, 55000, n)], dtype=object),
        "NAICSP": np.array([f"{c}M" for c in rng.integers(100, 999, n)], dtype=object),
    }
    for flag in ["RACAIAN", "RACASN", "RACBLK", "RACNH", "RACPI", "RACSOR", "RACWHT"]:
        cols[flag] = codes(0, 1)
    for name in header:
        if name in cols:
            continue
        if name.startswith("PWGTP") or name == "ADJINC":
            cols[name] = codes(1, 300)
        elif name.startswith("F") and name.endswith("P") and len(name) > 3:
            cols[name] = codes(0, 1)
        else:
            cols[name] = codes(0, 99, rng.random(n) < rng.uniform(0.1, 0.7))
    return cols


def make(root, people, seed):
    base = FIXTURE_HEADER.read_text().splitlines()[0].split(",")
    flags = [f"F{c}P" for c in base[7:] if not c.startswith("RAC")][:85]
    header = base + flags + [f"PWGTP{i}" for i in range(1, 81)]
    assert len(header) == 286, len(header)
    rng = np.random.default_rng(seed)
    after_st = header[7:]
    cols = draw_columns(rng, after_st, POOL)
    pool = [",".join(row) for row in zip(*(cols[c] for c in after_st))]
    folder = Path(root) / "2018" / "1-Year"
    folder.mkdir(parents=True, exist_ok=True)
    import folktables  # noqa: F401  (registers folktables.load_acs)

    codes = sys.modules["folktables.load_acs"]._STATE_CODES
    total = sum(POPULATION.values())
    written = 0
    for state, pop in POPULATION.items():
        n = round(people * pop / total)
        picks = rng.integers(0, POOL, n)
        division = rng.integers(1, 10)
        with open(folder / f"psam_p{codes[state]}.csv", "w") as f:
            f.write(",".join(header) + "\n")
            for i, p in enumerate(picks):
                f.write(f"P,2018HU{i // 2:07d},{division},{i % 2 + 1},{100 + i % 3000:05d},"
                        f"{division // 3 + 1},{codes[state]},{pool[p]}\n")
        written += n
    size = sum(p.stat().st_size for p in folder.glob("psam_p*.csv"))
    print(f"wrote {written} people in {len(POPULATION)} files, {size / 1e9:.2f} GB, "
          f"{len(header)} columns, under {folder}")


def folktables_child(root):
    """Runs in a fresh process: folktables' load and three df_to_numpy, one JSON line."""
    from folktables import (ACSDataSource, ACSEmployment, ACSHealthInsurance,
                            ACSIncomePovertyRatio)
    start = time.perf_counter()
    source = ACSDataSource(survey_year="2018", horizon="1-Year", survey="person",
                           root_dir=str(root))
    df = source.get_data(download=False)
    tasks = []
    for name, problem in [("employment", ACSEmployment),
                          ("income_poverty", ACSIncomePovertyRatio),
                          ("health_insurance", ACSHealthInsurance)]:
        x, y, _ = problem.df_to_numpy(df)
        tasks.append({"name": name, "positives": int(np.sum(y)),
                      "feature_sum": float(np.sum(x, dtype=np.float64))})
    seconds = time.perf_counter() - start
    white = int((df["RAC1P"] == 1).sum())
    print(json.dumps({"seconds": seconds,
                      "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "people": int(len(df)), "white": white, "tasks": tasks}))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def same(a, b):
    if a["people"] != b["people"] or a["white"] != b["white"]:
        return False
    for x, y in zip(a["tasks"], b["tasks"]):
        if x["name"] != y["name"] or x["positives"] != y["positives"]:
            return False
        if abs(x["feature_sum"] - y["feature_sum"]) > 1e-9 * abs(y["feature_sum"]):
            return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make", metavar="ROOT")
    ap.add_argument("--people", type=int, default=3_200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--folktables-child", metavar="ROOT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.folktables_child:
        folktables_child(args.folktables_child)
        return
    if args.make:
        make(args.make, args.people, args.seed)
        return
    folder = Path(args.root) / "2018" / "1-Year"
    results = {"homogen": [], "folktables": []}
    for r in range(args.repeat):
        for who in (["homogen", "folktables"] if r % 2 == 0 else ["folktables", "homogen"]):
            cmd = ([str(BIN), str(folder)] if who == "homogen"
                   else [sys.executable, __file__, "--folktables-child", args.root])
            res = run(cmd)
            results[who].append(res)
            print(json.dumps({"who": who, **res}), flush=True)
    ours, theirs = results["homogen"][0], results["folktables"][0]
    assert same(ours, theirs), "homogen and folktables disagree on the population"
    best = {k: min(v, key=lambda x: x["seconds"]) for k, v in results.items()}
    print(f"same people ({ours['people']}), positives and feature sums: yes")
    print(f"homogen    best {best['homogen']['seconds']:.1f} s, "
          f"peak RSS {best['homogen']['peak_rss_kib'] / 2**20:.2f} GiB")
    print(f"folktables best {best['folktables']['seconds']:.1f} s, "
          f"peak RSS {best['folktables']['peak_rss_kib'] / 2**20:.2f} GiB")
    print(f"ratio folktables / homogen: time "
          f"{best['folktables']['seconds'] / best['homogen']['seconds']:.2f}, memory "
          f"{best['folktables']['peak_rss_kib'] / best['homogen']['peak_rss_kib']:.2f}")


if __name__ == "__main__":
    main()
