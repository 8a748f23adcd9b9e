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
