"""Every layout and container the CLI opens, opened from Python."""

from __future__ import annotations

import pytest

import inframed
from conftest import GOLDEN, TESTDATA, assert_get_many_matches, assert_same_content

LEGACY = ["mode0_full", "mode1", "mode2", "trap"]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_layouts(golden, name):
    rep = inframed.open(TESTDATA / "legacy" / name / "legacy.repository")
    assert "MODE" in rep.info()["format"]
    assert_same_content(rep, golden)
    assert_get_many_matches(rep)


EXPORTS = [
    ("mode3", "m3", {}),
    ("transpose", "tr", {}),
    ("legacy", "lg0", {"mode": 0}),
    ("legacy", "lg0full", {"mode": 0, "full": True}),
    ("legacy", "lg1", {"mode": 1}),
    ("legacy", "lg2", {"mode": 2}),
    ("iac", "small.iac", {}),
    ("iac", "small_zstd.iac", {"codec": "zstd"}),
    ("gnz", "small.gnz", {}),
    ("trx", "small.trx", {}),
    ("trx", "small_deflate.trx", {"deflate": True}),
    ("trx", "small_dir.trx", {"dir": True}),
    ("itar", "itar", {}),
]


@pytest.mark.parametrize("to,out,options", EXPORTS, ids=[e[1] for e in EXPORTS])
def test_export_and_open(golden, tmp_path, to, out, options):
    written = golden.export(tmp_path / out, to=to, **options)
    rep = inframed.open(written)
    assert_same_content(rep, golden)
    assert_get_many_matches(rep)
    assert rep.get_sig("DIAGNOSIS", translate=True).equals(golden.get_sig("DIAGNOSIS", translate=True))
    # get_sig counts rows, then fills numpy columns: from the map, or (compressed containers)
    # from the bytes the count kept; both give the rows of the golden repository.
    for name in golden.signals:
        assert rep.get_sig(name).equals(golden.get_sig(name)), name
    some = [int(p) for p in golden.pids[::-2]] + [10**9]
    assert rep.get_sig("Hemoglobin", pids=some).equals(golden.get_sig("Hemoglobin", pids=some))
    if to == "transpose":
        for pid in golden.pids:
            rec = rep.patient(int(pid))
            assert all(a.base is rep for a in rec.values())


def test_unknown_export_target(golden, tmp_path):
    with pytest.raises(ValueError, match="unknown target"):
        golden.export(tmp_path / "x", to="csv")


def test_stacked(golden, tmp_path):
    top = golden.export(tmp_path / "top.gnz", to="gnz")
    rep = inframed.open(GOLDEN, stack=[top])
    assert rep.info()["paths"] == [str(GOLDEN), str(top)]
    assert_same_content(rep, golden)
    assert_get_many_matches(rep)
    assert {s["layer"] for s in rep.info()["signals"]} == {1}
