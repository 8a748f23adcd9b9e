"""rep.dict against medpython 1.2.1's dictionary API (testdata/.../expected_dict.json)."""

from __future__ import annotations

import numpy as np
import pytest

import inframed


def test_section_ids(golden, expected_dict):
    for name, sid in expected_dict["section_id"].items():
        assert golden.dict.section_id(name) == sid, name


def test_id_and_name(golden, expected_dict):
    for section, sec in expected_dict["sections"].items():
        for by in (section, sec["section_id"]):
            for name, code in sec["id"].items():
                assert golden.dict.id(by, name) == code, (section, name)
            for code, name in sec["name"].items():
                assert golden.dict.name(by, int(code)) == name, (section, code)


def test_prep_sets_lookup_table(golden, expected_dict):
    for section, sec in expected_dict["sections"].items():
        for sets, want in sec.get("sets", {}).items():
            lut = golden.dict.prep_sets_lookup_table(section, sets.split("+"))
            assert lut.dtype == np.bool_
            assert len(lut) == want["lut_len"], sets
            assert np.flatnonzero(lut).tolist() == want["codes"], sets


def test_unknown_set(golden):
    with pytest.raises(inframed.NotFound, match="NO_SUCH_SET"):
        golden.dict.prep_sets_lookup_table("DIAGNOSIS", ["E11", "NO_SUCH_SET"])


def test_names(golden):
    assert golden.dict.names("GENDER", 1) == ["1", "Male", "M"]
