"""inframed.convert on the input medpython converted: the same repository."""

from __future__ import annotations

import inframed
from conftest import TESTDATA, assert_same_content


def test_convert_equals_the_original(golden, tmp_path):
    config = TESTDATA / "inframed" / "small" / "input" / "small.convert_config"
    out = tmp_path / "repo"
    report = inframed.convert(config, outdir=out, threads=2, original=True)
    assert report["pids_written"] == 40
    assert report["config"].endswith("small.repository")
    assert report["error_file"] is not None and report["error_lines"] > 0
    assert dict(report["signals"])["Hemoglobin"] == 130
    rep = inframed.open(report["config"])
    assert_same_content(rep, golden)


def test_unsorted_input_is_refused_by_default(tmp_path):
    config = TESTDATA / "inframed" / "small" / "input" / "small.convert_config"
    try:
        inframed.convert(config, outdir=tmp_path / "repo")
    except inframed.Error as e:
        assert "not sorted by pid" in str(e)
        assert e.path.endswith("labs.tsv")
        assert not isinstance(e, inframed.CorruptError)
    else:
        raise AssertionError("the unsorted labs.tsv must be refused")
    assert not (tmp_path / "repo").exists()


def test_convert_errors(tmp_path):
    bad = tmp_path / "bad.convert_config"
    bad.write_text("MODE\t3\nNO_SUCH_KEYWORD\n")
    try:
        inframed.convert(bad, outdir=tmp_path / "out")
    except inframed.Error as e:
        assert str(bad) in str(e)
    else:
        raise AssertionError("a config without SIGNAL must be refused")
