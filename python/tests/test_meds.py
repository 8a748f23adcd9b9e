"""Parquet, Arrow IPC and MEDS from Python: rep.export(to="parquet"|"arrow"|"meds") read by
DuckDB, Polars and pyarrow, and inframed.from_meds on the fixture made with the meds schema."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc
import pytest

import inframed

from conftest import TESTDATA


def totals(rep: inframed.Repository, name: str) -> tuple[int, float]:
    """Element count and sum of the first value channel (as float32), from get."""
    n, s = 0, 0.0
    for pid in rep.pids:
        a = rep.get(int(pid), name)
        # the first value channel: `val0`, or `val` when the signal's type names its channels
        field = next(f for f in a.dtype.names if f.startswith("val"))
        n += len(a)
        s += float(np.sum(a[field].astype(np.float32).astype(np.float64)))
    return n, s


def test_meds_export_totals_per_code_in_duckdb_and_polars(golden, tmp_path):
    out = tmp_path / "meds"
    assert golden.export(out, to="meds") == str(out)
    glob = str(out / "data" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT code, count(*), sum(numeric_value) FROM read_parquet('{glob}') GROUP BY code"
    ).fetchall()
    by_code = {c: (n, s) for c, n, s in rows}
    for name in ["Hemoglobin", "Glucose", "Weight"]:
        n, s = totals(golden, name)
        assert by_code[name][0] == n, name
        assert by_code[name][1] == pytest.approx(s, rel=1e-6), name
    df = pl.read_parquet(glob)
    assert df.schema["subject_id"] == pl.Int64
    assert df.schema["numeric_value"] == pl.Float32
    assert df.height == sum(n for n, _ in by_code.values())
    # sorted by subject, then time with static rows first
    keys = df.select(["subject_id", pl.col("time").is_not_null().alias("timed"), "time"]).rows()
    assert keys == sorted(keys, key=lambda k: (k[0], k[1], k[2] or 0))


def test_parquet_and_arrow_exports_are_read_by_duckdb_and_pyarrow(golden, tmp_path):
    golden.export(tmp_path / "pq", to="parquet")
    p = tmp_path / "pq" / "Hemoglobin.parquet"
    n, s = totals(golden, "Hemoglobin")
    got = duckdb.sql(f"SELECT count(*), sum(value0) FROM '{p}'").fetchall()[0]
    assert got[0] == n and got[1] == pytest.approx(s, rel=1e-6)
    # a pid filter reads only what it needs and finds the patient's rows
    pid = int(golden.pids[0])
    k = duckdb.sql(f"SELECT count(*) FROM '{p}' WHERE pid = {pid}").fetchall()[0][0]
    assert k == len(golden.get(pid, "Hemoglobin"))
    golden.export(tmp_path / "long", to="parquet", layout="long")
    t = pl.read_parquet(tmp_path / "long" / "events.parquet")
    assert "signal" in t.columns and t.height > n
    golden.export(tmp_path / "ipc", to="arrow")
    with pa.memory_map(str(tmp_path / "ipc" / "Hemoglobin.arrow")) as f:
        table = pyarrow.ipc.open_file(f).read_all()
    assert table.num_rows == n
    with pytest.raises(ValueError):
        golden.export(tmp_path / "x", to="parquet", layout="tall")


def test_from_meds_imports_the_fixture(tmp_path):
    r = inframed.from_meds(TESTDATA / "meds" / "small", tmp_path / "fixture")
    assert r["subjects"] == 6 and r["bad_rows"] == 0
    rep = inframed.open(r["config"])
    assert "LOINC/718-7" in rep.signals and "ICD10CM" in rep.signals
    a = rep.get(3, "LOINC/718-7")
    assert len(a) == 4 and a["val0"][0] == pytest.approx(10.75)
    names = {rep.dict.name("ICD10CM", int(c)) for c in rep.get(3, "ICD10CM")["val0"]}
    assert names == {"ICD10CM/I10", "ICD10CM/E11.9"}


def test_from_meds_errors_name_the_file(tmp_path):
    with pytest.raises(inframed.Error, match="no column code"):
        inframed.from_meds(TESTDATA / "meds" / "malformed" / "wrong_schema", tmp_path / "x")
    r = inframed.from_meds(TESTDATA / "meds" / "bad", tmp_path / "bad")
    assert r["bad_rows"] == 3 and len(r["warnings"]) == 1
