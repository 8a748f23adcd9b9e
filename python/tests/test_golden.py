"""inframed against what medpython 1.2.1 returns on the repository it wrote."""

from __future__ import annotations

import numpy as np
import pandas as pd

import inframed
from conftest import assert_get_many_matches


def test_pids_and_signals(golden, expected):
    assert [int(p) for p in golden.pids] == expected["pids"]
    assert len(golden) == len(expected["pids"])
    assert set(golden.signals) == set(expected["signals"])
    for name, sig in expected["signals"].items():
        assert golden.sig_id(name) == sig["sid"]
        assert golden.sig_name(sig["sid"]) == name


def test_get_sig_equals_medpython(golden, expected):
    for name, sig in expected["signals"].items():
        df = golden.get_sig(name)
        assert isinstance(df, pd.DataFrame)
        assert list(df.columns) == sig["columns"], name
        assert [str(t) for t in df.dtypes] == sig["dtypes"], name
        rows = [list(r) for r in df.itertuples(index=False, name=None)]
        assert rows == sig["rows"], name


def test_get_sig_by_sid_and_pids(golden, expected):
    sig = expected["signals"]["Hemoglobin"]
    pids = [1025, 30000]
    df = golden.get_sig(sig["sid"], pids=np.array(pids, dtype=np.int32))
    want = [r for p in pids for r in sig["rows"] if r[0] == p]
    assert [list(r) for r in df.itertuples(index=False, name=None)] == want
    wide = golden.get_sig("Hemoglobin", float32to64=True)
    assert str(wide["val0"].dtype) == "float64"


def test_get_sig_translate_equals_medpython(golden, expected):
    for name, tr in expected["translated"].items():
        df = golden.get_sig(name, translate=True)
        assert list(df.columns) == tr["columns"]
        rows = [list(r) for r in df.head(10).itertuples(index=False, name=None)]
        assert [[*r[:-1], str(r[-1])] for r in rows] == tr["rows"], name
        assert isinstance(df[tr["columns"][-1]].dtype, pd.CategoricalDtype)


def test_uget_equals_medpython(golden, expected):
    for name, sig in expected["signals"].items():
        for u in sig["uget"]:
            arr = golden.uget(u["pid"], sig["sid"])
            assert len(arr) == u["len"], (name, u["pid"])
            fields = arr.dtype.names
            nt, nv = sig["n_time_channels"], sig["n_val_channels"]
            assert len(fields) == nt + nv
            for i, e in enumerate(arr):
                assert [int(e[f]) for f in fields[:nt]] == u["times"][i]
                # medpython's val(c) is a C float for every channel type.
                assert [float(np.float32(e[f])) for f in fields[nt:]] == u["vals"][i]


def test_field_names_follow_medpython(golden, expected):
    for name, sig in expected["signals"].items():
        assert list(golden.dtype(name).names) == sig["columns"][1:], name


def test_get_window_and_patient(golden):
    hgb = golden.get(1025, "Hemoglobin")
    win = golden.get(1025, "Hemoglobin", start=20110101, end=20131231)
    want = hgb[(hgb["time0"] >= 20110101) & (hgb["time0"] <= 20131231)]
    assert win.tobytes() == want.tobytes() and len(win) > 0
    assert len(golden.get(1025, "Hemoglobin", start=20110101)) == np.sum(hgb["time0"] >= 20110101)
    rec = golden.patient(1025)
    assert set(rec) == {s for s in golden.signals if len(golden.get(1025, s))}
    for s, arr in rec.items():
        assert arr.tobytes() == golden.get(1025, s).tobytes()
    assert golden.get(1024, "Hemoglobin").size == 0
    assert 1025 in golden and 1024 not in golden


def test_iteration(golden):
    seen = []
    for pid, rec in golden:
        seen.append(pid)
        for s, arr in rec.items():
            assert arr.tobytes() == golden.get(pid, s).tobytes()
    assert seen == [int(p) for p in golden.pids]


def test_get_many(golden):
    pids = [1025, 1024, 30000, 1026, 1025]
    arr, offsets = golden.get_many(pids, "Hemoglobin")
    assert offsets.dtype == np.int64 and len(offsets) == len(pids) + 1
    for i, p in enumerate(pids):
        assert arr[offsets[i] : offsets[i + 1]].tobytes() == golden.get(p, "Hemoglobin").tobytes()
    assert offsets[-1] == len(arr)
    assert_get_many_matches(golden)
    # More pids than one batched lookup takes (4096): the lanes join up in order.
    many = [int(p) for p in golden.pids] * 120 + [7]
    arr, offsets = golden.get_many(many, "Hemoglobin")
    assert len(many) > 4096 and offsets[-1] == len(arr)
    for i in (0, 4095, 4096, 4097, len(many) - 2, len(many) - 1):
        assert arr[offsets[i] : offsets[i + 1]].tobytes() == golden.get(many[i], "Hemoglobin").tobytes()
    assert len(arr) == 120 * sum(len(golden.get(int(p), "Hemoglobin")) for p in golden.pids)
    empty, offsets = golden.get_many([], "Hemoglobin")
    assert len(empty) == 0 and list(offsets) == [0]


def test_info(golden):
    info = golden.info()
    assert info["n_patients"] == 40
    assert "MODE 3" in info["format"]
    hgb = next(s for s in info["signals"] if s["name"] == "Hemoglobin")
    assert (hgb["sid"], hgb["spec"], hgb["fields"]) == (1000, "T(i),V(f)", ["time0", "val0"])
    assert any(f.endswith("small_rep_Hemoglobin.data") for f, _ in info["files"])


def test_help_teaches():
    assert "container" in inframed.open.__doc__
    assert "views" in inframed.Repository.get.__doc__
