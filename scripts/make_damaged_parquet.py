#!/usr/bin/env python3
"""Damaged Parquet files that made the arrow/parquet 60.1 readers panic (found by byte-flip
fuzzing in an input audit, 3 of 2,340 mutants): tests/fixtures/failures/damaged/*.parquet.

Each is a small failure table written by pyarrow, then a few bytes changed at fixed offsets
(1-based offset, new byte value). `homogen measure` must exit 2 naming the file, not panic.
Made with pyarrow 26.0.1; another version may lay the file out differently, so the script
checks each source file's size before changing it.

Usage: /work/venv/bin/python scripts/make_damaged_parquet.py
"""

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/failures/damaged"

N = 200
TABLE = pa.table(
    dict(
        deployment=["a", "b"] * N,
        example_id=[str(i // 2) for i in range(2 * N)],
        label=[i % 2 for i in range(2 * N)],
        prediction=[(i // 3) % 2 for i in range(2 * N)],
        loss=[0.1 * (i % 7) for i in range(2 * N)],
        group=pa.array(["x", "y", "z", "x"] * (N // 2)).dictionary_encode(),
    )
)

# name: (compression, use_dictionary, expected source size, [(offset, new byte)]), with the
# panic each produced in arrow/parquet 60.1.
CASES = {
    # arrow-buffer bit_chunk_iterator.rs: "offset + len out of bounds"
    "bitchunk": ("NONE", True, 6203, [(938, 0o225), (1113, 0o65), (1931, 0o372)]),
    # parquet file/metadata/mod.rs: "column start and length should not be negative"
    "colstart": ("NONE", False, 19545, [(18217, 0o211)]),
    # parquet column/reader/decoder.rs: "Decoder for dict should have been set"
    "dict_decoder": ("SNAPPY", True, 5554, [(2954, 0o173), (3251, 0o205), (4631, 0o341)]),
}


def source(compression, use_dictionary):
    buf = io.BytesIO()
    pq.write_table(
        TABLE,
        buf,
        compression=compression,
        use_dictionary=use_dictionary,
        row_group_size=150,
        write_statistics=True,
    )
    return bytearray(buf.getvalue())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (compression, dictionary, size, changes) in CASES.items():
        data = source(compression, dictionary)
        if len(data) != size:
            raise SystemExit(
                f"{name}: pyarrow {pa.__version__} wrote {len(data)} bytes, not {size}: the "
                "offsets would damage other places; keep the committed files"
            )
        for offset, value in changes:
            data[offset - 1] = value
        (OUT / f"{name}.parquet").write_bytes(bytes(data))
        print(f"{name}.parquet: {len(data)} bytes, {len(changes)} changed")


if __name__ == "__main__":
    main()
