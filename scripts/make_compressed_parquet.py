#!/usr/bin/env python3
"""The bundled example failure table (data/example/failures.csv) as Parquet in every codec
writers use: tests/fixtures/failures/compressed/<codec>.parquet for zstd (polars' default),
gzip, lz4 and brotli (snappy, pyarrow's and pandas' default, is the other fixtures' codec).
`homogen measure` must give each the CSV's numbers.

Usage: /work/venv/bin/python scripts/make_compressed_parquet.py
"""

from pathlib import Path

import pyarrow.csv as pv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/failures/compressed"


def main():
    table = pv.read_csv(ROOT / "data/example/failures.csv")
    OUT.mkdir(parents=True, exist_ok=True)
    for codec in ["zstd", "gzip", "lz4", "brotli"]:
        path = OUT / f"{codec}.parquet"
        pq.write_table(table, path, compression=codec)
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
