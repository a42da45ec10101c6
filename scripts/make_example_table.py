"""Writes data/example/failures.csv: a small, seeded example failure table for the README.

Two systems of three deployments deciding about the same 600 people:
- `shared`: the three deployments' errors share a per-person difficulty (as when decision-makers
  build on the same foundation model), so the same people are failed everywhere;
- `independent`: each deployment errs independently at the same rates.
A `region` group column (north/south/east) makes group-level metrics meaningful: people in
`east` are harder for every deployment of both systems.
Only the standard library is used, so the output is the same on every machine.
"""
import csv
import random

rng = random.Random(20221128)
people = [f"p{j:04d}" for j in range(600)]
region = {p: rng.choice(["north", "south", "east"]) for p in people}
difficulty = {p: rng.random() for p in people}
base_rate = {"bank": 0.15, "insurer": 0.2, "landlord": 0.25}

rows = []
for system in ["shared", "independent"]:
    for dep, rate in base_rate.items():
        for p in people:
            bump = 0.1 if region[p] == "east" else 0.0
            if system == "shared":
                # Fail when the person's shared difficulty is above the deployment's threshold.
                fail = difficulty[p] > 1.0 - rate - bump
            else:
                fail = rng.random() < rate + bump
            label = rng.randint(0, 1)
            prediction = 1 - label if fail else label
            rows.append([system, dep, p, label, prediction, region[p]])

with open("data/example/failures.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["system", "deployment", "example_id", "label", "prediction", "region"])
    w.writerows(rows)
print(f"wrote {len(rows)} rows")
