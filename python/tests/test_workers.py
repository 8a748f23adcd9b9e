"""Worker processes (fork and spawn), as a torch DataLoader starts them; torch not needed."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pytest

import inframed
from conftest import GOLDEN


def load(ds_and_index):
    ds, i = ds_and_index
    item = ds[i]
    return {k: (v if k == "pid" else (v.dtype.descr, v.tobytes())) for k, v in item.items()}


def load_with(ds, i):
    return load((ds, i))


def reference(ds):
    return [load((ds, i)) for i in range(len(ds))]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataset_in_worker_processes(method):
    ds = inframed.Dataset(GOLDEN)
    want = reference(ds)  # opened in this process first: children must re-open lazily
    ctx = mp.get_context(method)
    with ctx.Pool(2) as pool:
        got = pool.map(load, [(ds, i) for i in range(len(ds))])
    assert got == want
    assert len(want) == 40 and want[0]["pid"] == 1025


def test_dataset_signals_and_negative_index():
    ds = inframed.Dataset(GOLDEN, signals=["Hemoglobin", "GENDER"])
    item = ds[-1]
    assert set(item) == {"pid", "Hemoglobin", "GENDER"}
    assert item["pid"] == 30000
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_dataset_pickles_without_the_map():
    ds = inframed.Dataset(GOLDEN)
    len(ds)
    state = pickle.loads(pickle.dumps(ds))
    assert state._rep is None
    assert len(state) == 40


def test_repository_pickles_as_its_paths(golden):
    rep = pickle.loads(pickle.dumps(golden))
    assert list(rep.pids) == list(golden.pids)
    assert rep.get(1025, "Hemoglobin").tobytes() == golden.get(1025, "Hemoglobin").tobytes()


def test_collate_like_a_dataloader():
    # What a DataLoader with a batch sampler does: get_many for a batch of patients.
    ds = inframed.Dataset(GOLDEN)
    rep = ds.repository
    arr, offsets = rep.get_many(rep.pids[:8], "Hemoglobin")
    assert np.array_equal(np.diff(offsets), [len(ds[i]["Hemoglobin"]) if "Hemoglobin" in ds[i] else 0 for i in range(8)])
