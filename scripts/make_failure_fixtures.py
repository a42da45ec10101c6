"""Writes tests/fixtures/failures/: failure tables as pandas and pyarrow write them, to check that
homogen reads other tools' files (dtypes pandas picks, categoricals, integral floats, large
strings), with the values they must read to in a JSON file.

Run with an environment that has pandas and pyarrow:  python scripts/make_failure_fixtures.py
"""
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

out = "tests/fixtures/failures"
os.makedirs(out, exist_ok=True)

# pandas: integer example ids, a float prediction column holding whole numbers (what pandas makes
# after a NaN was once in it), a categorical group column, float32 loss, no `failure` column.
df = pd.DataFrame(
    {
        "deployment": ["a", "a", "a", "b", "b", "b"],
        "example_id": [10, 11, 12, 10, 11, 12],
        "label": [1, 0, 1, 1, 0, 1],
        "prediction": [1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "loss": pd.array([0.1, 2.5, 1.75, 3.0, 0.25, 0.5], dtype="float32"),
        "hair": pd.Categorical(["Blond", "Black", "Blond", "Blond", "Black", "Blond"]),
        "seed": [3, 3, 3, 3, 3, 3],
    }
)
df.to_parquet(f"{out}/pandas.parquet", index=False)

# pyarrow: large_string and dictionary columns, a boolean failure column, a system column.
table = pa.table(
    {
        "system": pa.array(["s1", "s1", "s2", "s2"], type=pa.large_string()),
        "deployment": pa.array(["x", "y", "x", "y"]).dictionary_encode(),
        "example_id": pa.array(["p", "p", "p", "p"], type=pa.large_string()),
        "failure": pa.array([True, False, False, True]),
    }
)
pq.write_table(table, f"{out}/pyarrow.parquet")

expected = {
    "pandas.parquet": {
        "deployments": ["a", "a", "a", "b", "b", "b"],
        "example_ids": ["10", "11", "12", "10", "11", "12"],
        "failure": [bool(l != p) for l, p in zip(df.label, df.prediction)],
        "prediction": [int(p) for p in df.prediction],
        "loss": [float(x) for x in df.loss],
        "hair": list(df.hair.astype(str)),
        "seed": [str(s) for s in df.seed],
    },
    "pyarrow.parquet": {
        "systems": ["s1", "s1", "s2", "s2"],
        "deployments": ["x", "y", "x", "y"],
        "failure": [True, False, False, True],
    },
}
with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f, indent=1)
print("wrote", out)
