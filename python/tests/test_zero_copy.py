"""Arrays from get/uget/patient/pids view the memory map: no copy, the Repository kept alive."""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import inframed
from conftest import GOLDEN, TESTDATA


def test_get_views_the_map(golden):
    a = golden.get(1025, "Hemoglobin")
    b = golden.get(1025, "Hemoglobin")
    assert a.base is golden
    assert not a.flags.owndata and not a.flags.writeable and a.flags.aligned
    # Two gets see the very same bytes: nothing was copied.
    assert np.shares_memory(a, b)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    c = golden.get(1025, "Hemoglobin", start=20110101, end=20131231)
    assert np.shares_memory(a, c)
    with pytest.raises(ValueError):
        a["val0"][0] = 1.0


def test_patient_and_pids_view(golden):
    rec = golden.patient(1025)
    assert all(arr.base is golden for arr in rec.values())
    pids = golden.pids
    assert pids.base is golden and not pids.flags.writeable
    assert pids.dtype == np.uint32


def test_array_keeps_repository_alive():
    rep = inframed.open(GOLDEN)
    arr = rep.get(1025, "Hemoglobin")
    want = arr.tobytes()
    refs = sys.getrefcount(rep)
    del rep
    gc.collect()
    assert arr.base is not None and refs > 2
    assert arr.tobytes() == want  # the map is still there


def test_get_many_is_a_copy(golden):
    arr, _ = golden.get_many([1025], "Hemoglobin")
    assert arr.flags.owndata or arr.base is not golden
    assert not np.shares_memory(arr, golden.get(1025, "Hemoglobin"))


def packed_repository(tmp_path):
    """A MODE 3 repository (converted here) with a packed signal `T(i),V(c,f)`: its float
    sits at byte 5 of a 9-byte element, so no element pointer aligns it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "p.signals").write_text("SIGNAL\tPacked\t1\t16:T(i),V(c,f)\tt\t0\t\n")
    (tmp_path / "data" / "p.tsv").write_text(
        "".join(f"{pid}\tPacked\t2020010{d}\t{d}\t{pid + d / 4}\n" for pid in (1, 2, 3) for d in (1, 2, 3))
    )
    (tmp_path / "p.convert_config").write_text(
        "MODE\t3\nPREFIX\tdata/p\nCONFIG\tp.repository\nSIGNAL\tp.signals\nDIR\t.\n"
        f"OUTDIR\t{tmp_path / 'repo'}\nDATA\tdata/p.tsv\n"
    )
    report = inframed.convert(tmp_path / "p.convert_config")
    return inframed.open(report["config"])


def test_misaligned_bytes_are_copied(tmp_path):
    rep = packed_repository(tmp_path)
    assert rep.dtype("Packed").itemsize == 9
    for pid in (1, 2, 3):
        arr = rep.get(pid, "Packed")
        assert arr.flags.owndata and arr.base is None and arr.flags.writeable
        assert arr["time0"].tolist() == [20200101, 20200102, 20200103]
        assert arr["val0"].tolist() == [1, 2, 3]
        assert arr["val1"].tolist() == [pid + d / 4 for d in (1, 2, 3)]
    assert rep.get_sig("Packed")["val1"].tolist()[:3] == [1.25, 1.5, 1.75]
