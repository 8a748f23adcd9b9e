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


def _raw_export_without_dictionary(d):
    """A raw export whose categorical DRUG has no dictionary: 60 distinct names, more misses
    than SAFE_MODE's default allowance (allowed_unknown_category_cnt 50)."""
    (d / "x.signals").write_text(
        "GENERIC_SIGNAL_TYPE\tmy_SDateInt\tT(i),V(i)\n"
        "GENERIC_SIGNAL_TYPE\tmy_SDateVal\tT(i),V(f)\n"
        "SIGNAL\tDRUG\t2000\t16:my_SDateInt\tdrugs\t1\t\n"
        "SIGNAL\tWeight\t903\t16:my_SDateVal\tlabs\t0\tkg\n"
    )
    drugs = {pid: f"drug_{pid:02d}" for pid in range(1, 61)}
    lines = [f"{pid}\tDRUG\t201001{1 + pid % 28:02d}\t{name}\n" for pid, name in drugs.items()]
    lines.insert(1, "1\tWeight\t20100102\t71.5\n")
    (d / "data.tsv").write_text("".join(lines))
    config = d / "x.convert_config"
    config.write_text(
        "DESCRIPTION\tbuild\nRELATIVE\t1\nSAFE_MODE\t1\nMODE\t3\nPREFIX\tx\nCONFIG\tx.repository\n"
        "SIGNAL\tx.signals\nDIR\t.\nOUTDIR\tout\nDATA\tdata.tsv\n"
    )
    return config, drugs


def test_build_dicts(tmp_path):
    config, drugs = _raw_export_without_dictionary(tmp_path)
    try:
        inframed.convert(config, outdir=tmp_path / "plain")
    except inframed.Error as e:
        assert "60 dictionary misses exceed allowed_unknown_category_cnt 50" in str(e)
    else:
        raise AssertionError("60 categorical values without a code must fail SAFE_MODE")
    assert not (tmp_path / "plain" / "x.repository").exists()

    report = inframed.convert(config, outdir=tmp_path / "built", build_dicts=True)
    assert report["dictionary_misses"] == 0 and report["pids_written"] == 60
    assert (tmp_path / "built" / "dicts" / "built.DRUG.dict").is_file()
    rep = inframed.open(report["config"])
    for pid, name in drugs.items():
        (code,) = rep.get(pid, "DRUG")["val0"]
        assert rep.dict.name("DRUG", int(code)) == name
        assert rep.dict.id("DRUG", name) == code
    assert rep.get(1, "Weight")["val0"][0] == 71.5
