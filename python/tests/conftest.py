"""Shared fixtures: paths into the repository's testdata/ and the golden repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import inframed

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
GOLDEN = TESTDATA / "inframed" / "small" / "repo" / "small.repository"


@pytest.fixture(scope="session")
def golden() -> inframed.Repository:
    """The MODE 3 repository written by medpython 1.2.1 (testdata/inframed/README.md)."""
    return inframed.open(GOLDEN)


@pytest.fixture(scope="session")
def expected() -> dict:
    """What medpython 1.2.1's reader returned on the golden repository."""
    return json.loads((TESTDATA / "inframed" / "small" / "expected.json").read_text())


@pytest.fixture(scope="session")
def expected_dict() -> dict:
    """Answers of medpython 1.2.1's dictionary API on the golden repository."""
    return json.loads((TESTDATA / "inframed" / "small" / "expected_dict.json").read_text())


def assert_same_content(rep: inframed.Repository, ref: inframed.Repository) -> None:
    """Every (pid, signal) of `ref` has the same elements (bytes and dtype) in `rep`."""
    assert rep.signals == ref.signals
    assert list(rep.pids) == list(ref.pids)
    for sig in ref.signals:
        assert rep.sig_id(sig) == ref.sig_id(sig)
        assert rep.dtype(sig) == ref.dtype(sig), sig
        for pid in ref.pids:
            a, b = rep.get(int(pid), sig), ref.get(int(pid), sig)
            assert a.dtype == b.dtype
            assert a.tobytes() == b.tobytes(), (sig, int(pid))


def assert_get_many_matches(rep: inframed.Repository) -> None:
    """`get_many` over every pid (reversed, repeated, plus pids without data) equals `get`."""
    pids = [int(p) for p in rep.pids][::-1]
    pids = pids + pids[:3] + [0, 7, 2**32 - 1]
    for sig in rep.signals:
        arr, offsets = rep.get_many(pids, sig)
        assert arr.dtype == rep.dtype(sig)
        assert len(offsets) == len(pids) + 1 and offsets[0] == 0 and offsets[-1] == len(arr)
        for i, p in enumerate(pids):
            assert arr[offsets[i] : offsets[i + 1]].tobytes() == rep.get(p, sig).tobytes(), (sig, p)
