"""to_arrow through the Arrow PyCapsule interface: pyarrow, Polars and DuckDB read it."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest


def test_pyarrow_equals_get_sig(golden, expected):
    for name, sig in expected["signals"].items():
        t = pa.table(golden.to_arrow(name))
        assert t.column_names == sig["columns"], name
        rows = [list(r.values()) for r in t.to_pylist()]
        assert rows == sig["rows"], name
        df = golden.get_sig(name)
        for c in sig["columns"]:
            assert np.array_equal(t[c].to_numpy(), df[c].to_numpy()), (name, c)
            assert t.schema.field(c).type == pa.from_numpy_dtype(df[c].dtype)


def test_stream_can_be_read_twice_and_in_batches(golden):
    s = golden.to_arrow("Hemoglobin")
    r = pa.RecordBatchReader.from_stream(s)
    assert sum(b.num_rows for b in r) == len(s) == 130
    assert pa.table(s).num_rows == 130
    assert s.columns == ["pid", "time0", "val0"]


def test_batches_bounded_and_stream_reread(golden, expected):
    rows = expected["signals"]["Hemoglobin"]["rows"]
    s = golden.to_arrow("Hemoglobin", batch_rows=7)
    assert s.batch_rows == 7 and s.num_batches == -(-len(rows) // 7)
    for _ in range(2):  # a fresh stream on each read, the same rows each time
        batches = list(pa.RecordBatchReader.from_stream(s))
        assert all(b.num_rows <= 7 for b in batches)
        assert len(batches) == s.num_batches
        got = [list(r.values()) for b in batches for r in b.to_pylist()]
        assert got == rows
    assert pa.table(s).num_rows == len(rows)
    with pytest.raises(ValueError):
        golden.to_arrow("Hemoglobin", batch_rows=0)


def test_pids_in_given_order_with_repeats(golden, expected):
    rows = expected["signals"]["Glucose"]["rows"]
    order = [30000, 1025, 30000]
    s = golden.to_arrow("Glucose", pids=order, batch_rows=3)
    want = [r for p in order for r in rows if r[0] == p]
    assert len(want) > 3
    t = pa.table(s)
    assert [list(r.values()) for r in t.to_pylist()] == want
    assert len(s) == len(want)
    assert t.column_names == ["pid", "time0", "val0"]


def test_pids_filter(golden, expected):
    t = pa.table(golden.to_arrow("Glucose", pids=[1025, 30000]))
    want = [r for p in (1025, 30000) for r in expected["signals"]["Glucose"]["rows"] if r[0] == p]
    assert [list(r.values()) for r in t.to_pylist()] == want


def test_polars(golden, expected):
    df = pl.DataFrame(golden.to_arrow("BP"))
    assert df.columns == ["pid", "time0", "val0", "val1"]
    assert df.dtypes == [pl.Int32, pl.Int32, pl.Int16, pl.Int16]
    assert df.rows() == [tuple(r) for r in expected["signals"]["BP"]["rows"]]
    g = pl.DataFrame(golden.to_arrow("Hemoglobin"))
    assert g.height == 130 and g["val0"].dtype == pl.Float32


def test_duckdb(golden, expected):
    hgb = golden.to_arrow("Hemoglobin")  # noqa: F841 (read by name from the SQL)
    n, pids, mx = duckdb.sql("SELECT count(*), count(DISTINCT pid), max(val0) FROM hgb").fetchall()[0]
    rows = expected["signals"]["Hemoglobin"]["rows"]
    assert n == len(rows)
    assert pids == len({r[0] for r in rows})
    assert mx == max(r[2] for r in rows)
    con = duckdb.connect()
    got = con.execute("SELECT * FROM hgb ORDER BY ALL").fetchall()
    assert got == sorted(tuple(r) for r in rows)


def test_empty_signal(golden):
    t = pa.table(golden.to_arrow("Albumin"))
    assert t.num_rows == 0 and t.column_names == ["pid", "time0", "val0"]
