"""By-hand compatibility check: TRX patient files written by `inframed export --to trx` load in
trx-python 0.6 (`trx.trx_file_memmap.load`) with the expected counts and values.

    cargo build --release
    B=target/release/inframed; R=testdata/inframed/small/repo/small.repository
    $B export $R /tmp/p.trx --to trx; $B export $R /tmp/pd.trx --to trx --deflate
    $B export $R /tmp/pdir.trx --to trx --dir
    /tmp/trxvenv/bin/python testdata/trx/check_export.py /tmp/p.trx /tmp/pd.trx /tmp/pdir.trx

For each file: header counts against the arrays, then every signal's rows rebuilt from the TRX
(dps/patient, the dpv element bytes viewed with the numpy dtype from the header, and positions
columns) compared with what the original medpython 1.2.1 reader returned for the source
repository (testdata/inframed/small/expected.json). Also checks that trx-python's own `save`
of the loaded file loads again with the same counts (extra header keys survive).
"""

import json
import os
import sys
import tempfile

import numpy as np
import trx.trx_file_memmap as tmm

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "..", "inframed", "small", "expected.json")


def check(path, expected):
    t = tmm.load(path)
    h = t.header
    meta = h["INFRAMED"]
    ns, nv = int(h["NB_STREAMLINES"]), int(h["NB_VERTICES"])
    assert len(t.streamlines) == ns, (len(t.streamlines), ns)
    assert t.streamlines._data.shape == (nv, 3) and t.streamlines._data.dtype == np.float64
    assert int(np.sum(t.streamlines._lengths)) == nv
    patient = np.asarray(t.data_per_streamline["patient"])[:, 0]
    signal = np.asarray(t.data_per_streamline["signal"])[:, 0]
    assert np.all(np.diff(patient.astype(np.int64)) >= 0), "sorted by patient"
    n_rows = 0
    for entry in meta["signals"]:
        name = entry["name"]
        want = expected["signals"][name]
        group = t.groups[entry["group"]]
        assert len(group) == entry["series"], name
        assert np.all(signal[group] == entry["sid"]), name
        rows = []
        if entry["series"]:
            elems = t.data_per_vertex[entry["element_array"]]
            dt = np.dtype([(n, ty) for n, ty in entry["numpy_fields"]])
            for i in group:
                raw = np.ascontiguousarray(elems[int(i)])  # (len, size) uint8 rows of this series
                rec = raw.view(dt).reshape(-1)
                pos = t.streamlines[int(i)]
                for k, r in enumerate(rec):
                    tcols = [r[f] for f, _ in entry["numpy_fields"] if f.startswith("t")]
                    vcols = [r[f] for f, _ in entry["numpy_fields"] if f.startswith("v")]
                    rows.append([int(patient[i])] + [x.item() for x in tcols + vcols])
                    # positions: (time channel 0, value channel 0, value channel 1), NaN if absent
                    for c, src in enumerate([tcols[:1], vcols[:1], vcols[1:2]]):
                        if src:
                            assert pos[k, c] == float(src[0]), (name, i, k, c)
                        else:
                            assert np.isnan(pos[k, c]), (name, i, k, c)
        want_rows = want["rows"]
        assert len(rows) == len(want_rows), (name, len(rows), len(want_rows))
        for a, b in zip(rows, want_rows):
            assert len(a) == len(b) and all(
                (x == y) or (isinstance(x, float) and np.float32(x) == np.float32(y)) for x, y in zip(a, b)
            ), (name, a, b)
        n_rows += len(rows)
    pids_with_data = sorted(set(int(p) for p in patient))
    all_pids = sorted(set(pids_with_data) | set(meta["pids_without_data"]))
    assert all_pids == expected["pids"], "pid list"
    # trx-python's own save of what it loaded loads again (extra keys survive).
    with tempfile.TemporaryDirectory() as tmp:
        again = os.path.join(tmp, "again.trx")
        tmm.save(t, again)
        t2 = tmm.load(again)
        assert int(t2.header["NB_STREAMLINES"]) == ns and "INFRAMED" in t2.header
        t2.close()
    t.close()
    return ns, nv, len(meta["signals"]), n_rows, len(all_pids)


def main():
    expected = json.load(open(EXPECTED))
    for path in sys.argv[1:]:
        ns, nv, nsig, nrows, npids = check(path, expected)
        kind = "folder" if os.path.isdir(path) else "zip"
        print(f"OK {path} ({kind}): tmm.load -> NB_STREAMLINES {ns}, NB_VERTICES {nv}; "
              f"{nsig} signals, {nrows} rows and {npids} pids equal to medpython 1.2.1's reader")


if __name__ == "__main__":
    main()
