"""Errors: inframed.Error subclasses with the Rust message and its location."""

from __future__ import annotations

import shutil

import pytest

import inframed
from conftest import GOLDEN, TESTDATA


def copy_golden(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(GOLDEN.parent, dst)
    return dst


def test_hierarchy():
    for cls in (inframed.NotFound, inframed.CorruptError, inframed.ParseError):
        assert issubclass(cls, inframed.Error)
    assert issubclass(inframed.Error, Exception)


def test_missing_file(tmp_path):
    path = tmp_path / "nothing.repository"
    with pytest.raises(inframed.NotFound) as e:
        inframed.open(path)
    assert e.value.path == str(path)
    assert "cannot open" in str(e.value) and str(path) in str(e.value)


def test_unknown_signal(golden):
    with pytest.raises(inframed.NotFound, match="Ferritin"):
        golden.get(1025, "Ferritin")
    with pytest.raises(inframed.NotFound, match="99999"):
        golden.uget(1025, 99999)
    with pytest.raises(inframed.NotFound):
        golden.sig_id("Ferritin")
    with pytest.raises(TypeError):
        golden.get(1025, 1.5)
    with pytest.raises(ValueError):
        golden.get(-1, "Hemoglobin")


def test_parse_error(tmp_path):
    repo = copy_golden(tmp_path)
    signals = repo / "small.signals"
    lines = signals.read_text().splitlines(keepends=True)
    n = next(i for i, l in enumerate(lines) if l.startswith("SIGNAL\tHemoglobin\t"))
    fields = lines[n].split("\t")
    fields[2] = "not_a_number"
    lines[n] = "\t".join(fields)
    signals.write_text("".join(lines))
    with pytest.raises(inframed.ParseError) as e:
        inframed.open(repo / "small.repository")
    assert e.value.path == str(signals)
    assert e.value.line == n + 1
    assert f"small.signals:{n + 1}" in str(e.value)


def test_corrupt_error(tmp_path):
    repo = copy_golden(tmp_path)
    idx = repo / "data" / "small_rep_Hemoglobin.idx"
    data = bytearray(idx.read_bytes())
    data[28:36] = b"\xff" * 8  # the sparse vector's magic (after the 20-byte header, sv_len)
    idx.write_bytes(bytes(data))
    with pytest.raises(inframed.CorruptError) as e:
        rep = inframed.open(repo / "small.repository")
        rep.get(1025, "Hemoglobin")
        rep.verify()
    assert e.value.path == str(idx)
    assert isinstance(e.value.offset, int)
    assert f"corrupt at byte {e.value.offset}" in str(e.value)


def test_damaged_container_names_the_byte(tmp_path):
    # A GNZ whose header JSON is damaged (made by testdata/gnz/make_fixtures.py): the error is
    # the container's, and the byte the JSON parser stopped at is `.offset`.
    src = TESTDATA / "gnz" / "invalid" / "bad_json.gnz"
    path = tmp_path / "bad.gnz"
    shutil.copy(src, path)
    with pytest.raises(inframed.CorruptError) as e:
        inframed.open(path)
    assert e.value.path == str(path)
    text = src.read_bytes()
    assert e.value.offset == text.index(b']"')
    assert f"byte {e.value.offset}" in str(e.value)


def test_truncated_container(tmp_path, golden):
    out = tmp_path / "small.gnz"
    golden.export(out, to="gnz")
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    with pytest.raises(inframed.Error) as e:
        rep = inframed.open(out)
        for sig in rep.signals:
            for pid in rep.pids:
                rep.get(int(pid), sig)
    assert e.value.path == str(out)


@pytest.mark.parametrize(
    "rel", ["trx/a_stored.trx", "gnz/dtypes.gnz", "itar/glzn/train.taridx"]
)
def test_original_tools_files_that_are_not_patient_files(rel):
    # Written by trx-python / the GNZ reference / webdataset (testdata/*/README.md): valid
    # containers without inframed's patient metadata.
    from conftest import TESTDATA

    path = TESTDATA / rel
    with pytest.raises(inframed.CorruptError, match="not an inframed p") as e:
        inframed.open(path)
    assert e.value.path == str(path)
