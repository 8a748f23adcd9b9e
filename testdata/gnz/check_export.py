#!/usr/bin/env python3
"""By-hand compatibility check of inframed's GNZ patient mapping with numpy only.

    inframed export testdata/inframed/small/repo/small.repository /tmp/small.gnz --to gnz
    python3 testdata/gnz/check_export.py /tmp/small.gnz testdata/inframed/small/expected.json

Reads the container the way the original reader does (parse the JSON header, np.memmap each
array at its recorded offset with its dtype.str, shape and order), views `<SIG>.elements` as a
record array through the field list stored in the metadata, and compares every row
[pid, t.., v..] with what medpython 1.2.1's reader returned for the same repository
(testdata/inframed/small/expected.json). Exits 1 on the first difference.
"""
import json
import struct
import sys

import numpy as np


def open_gnz(path):
    with open(path, "rb") as f:
        head = f.read(8)
        assert head[:4] == b"GNZ1", head
        (n,) = struct.unpack("<I", head[4:])
        hdr = json.loads(f.read(n))
    arrays = {}
    for name, e in hdr["arrays"].items():
        shape = tuple(e["shape"])
        if np.prod(shape, dtype=np.int64) == 0:
            arrays[name] = np.zeros(shape, dtype=np.dtype(e["dtype"]))
        else:
            arrays[name] = np.memmap(path, mode="r", dtype=np.dtype(e["dtype"]), shape=shape,
                                     offset=e["offset"], order=e["order"])
    return hdr, arrays


def main(gnz_path, expected_path):
    hdr, arrays = open_gnz(gnz_path)
    meta = hdr["metadata"]["inframed"]
    expected = json.load(open(expected_path))
    assert [int(p) for p in arrays[meta["pids"]]] == expected["pids"], "pids"
    checked = 0
    for s in meta["signals"]:
        name = s["name"]
        want = expected["signals"][name]["rows"]
        # The field list gives the record array directly (padding bytes as |V1 fields).
        rec_dtype = np.dtype([tuple(f) for f in s["fields"]])
        assert rec_dtype.itemsize == s["size"], name
        assert np.dtype(s["numpy_dtype"]).itemsize == s["size"], name
        raw = arrays[s["elements"]]
        assert raw.dtype.str == "|V%d" % s["size"], raw.dtype
        recs = raw.view(rec_dtype) if raw.size else np.zeros(0, rec_dtype)
        recs2 = raw.view(np.dtype(s["numpy_dtype"])) if raw.size else recs
        pids, starts = arrays[s["pids"]], arrays[s["starts"]]
        assert len(starts) == len(pids) + 1 and starts[0] == 0 and starts[-1] == len(recs), name
        chans = [f[0] for f in s["fields"] if not f[0].startswith("_pad")]
        chans = sorted([c for c in chans if c[0] == "t"]) + sorted([c for c in chans if c[0] == "v"])
        rows = []
        for i, pid in enumerate(pids):
            for r, r2 in zip(recs[starts[i]:starts[i + 1]], recs2[starts[i]:starts[i + 1]]):
                row = [int(pid)]
                for c in chans:
                    v = r[c]
                    assert v == r2[c] or (v != v and r2[c] != r2[c]), (name, c)
                    row.append(float(v) if np.issubdtype(type(v), np.floating) else int(v))
                rows.append(row)
        if rows != want:
            for k, (a, b) in enumerate(zip(rows, want)):
                if a != b:
                    print(f"{name}: row {k}: gnz {a} != medpython {b}")
                    break
            print(f"{name}: {len(rows)} rows vs {len(want)}")
            return 1
        checked += len(rows)
        print(f"{name:18s} {s['spec']:14s} {len(pids):3d} patients {len(rows):4d} rows identical")
    print(f"OK: {len(meta['signals'])} signals, {checked} rows identical to medpython's reader "
          f"(numpy {np.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
