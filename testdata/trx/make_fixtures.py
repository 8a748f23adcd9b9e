"""Writes the TRX fixtures of testdata/trx/ with trx-python 0.6 and dumps what its loader returns.

    python3 -m venv /tmp/trxvenv && /tmp/trxvenv/bin/pip install trx-python==0.6
    /tmp/trxvenv/bin/python testdata/trx/make_fixtures.py

Each fixture is built as a plain folder of raw arrays (numpy `tofile`, the dtypes we want), loaded
with `trx.trx_file_memmap.load` and written with `trx.trx_file_memmap.save` (stored zip, deflate
zip, or folder), so every fixture file is trx-python's own output. Then each written fixture is
loaded again with `load` and its content dumped to `expected.json` (positions, offsets, lengths,
dps, dpv, groups, dpg as the loader returns them). Values are JSON numbers (float16/float32 values
are exact in float64), so the cargo tests compare without Python.

Streamlines all have >= 1 vertex: trx-python's save drops data after a 0-length streamline
(trx.md bug 1). Empty streamlines are covered by our own writer's round-trip tests.
"""

import json
import os
import shutil
import tempfile
import zipfile

import numpy as np
import trx
import trx.trx_file_memmap as tmm

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240601)


def raw_folder(root, header, arrays):
    """A TRX folder written by hand: header.json + arrays {relative path: ndarray}."""
    os.makedirs(root)
    with open(os.path.join(root, "header.json"), "w") as f:
        json.dump(header, f)
    for rel, arr in arrays.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tofile(path)


def tractogram(lengths, pos_dtype, off_dtype):
    lengths = np.asarray(lengths)
    nv, ns = int(lengths.sum()), len(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(off_dtype)
    positions = (rng.standard_normal((nv, 3)) * 40).astype(pos_dtype)
    header = {
        "DIMENSIONS": [145, 174, 145],
        "VOXEL_TO_RASMM": [[1.25, 0, 0, -90], [0, 1.25, 0, -126], [0, 0, 1.25, -72], [0, 0, 0, 1]],
        "NB_VERTICES": nv,
        "NB_STREAMLINES": ns,
    }
    return header, positions, offsets, nv, ns


def fixture_a(root):
    """float16 positions, uint32 offsets, dps/dpv of several dtypes and dims, groups, dpg."""
    header, pos, off, nv, ns = tractogram([3, 5, 1, 4, 2, 7, 6, 2], np.float16, np.uint32)
    header["EXTRA_NOTE"] = "kept by load and save"
    raw_folder(root, header, {
        f"positions.3.{pos.dtype.name}": pos,
        f"offsets.{off.dtype.name}": off,
        "dps/algo.uint8": rng.integers(0, 5, ns).astype(np.uint8),
        "dps/clusters_QB.float32": rng.standard_normal(ns).astype(np.float32),
        "dps/mean.2.float64": rng.standard_normal((ns, 2)),
        "dps/flag.bit": (rng.integers(0, 2, ns) == 1),
        "dpv/fa.float32": rng.random(nv).astype(np.float32),
        "dpv/color.3.uint8": rng.integers(0, 256, (nv, 3)).astype(np.uint8),
        "groups/AF_L.uint32": np.array([0, 2, 5], dtype=np.uint32),
        "groups/CST_R.uint32": np.array([7, 1], dtype=np.uint32),
        "groups/EMPTY.uint32": np.array([], dtype=np.uint32),
        "dpg/AF_L/mean_fa.float32": np.array([0.45], dtype=np.float32),
        "dpg/AF_L/color.3.uint8": np.array([255, 0, 128], dtype=np.uint8),
        "dpg/CST_R/volume.int64": np.array([123456789012], dtype=np.int64),
    })


def fixture_b(root):
    """float32 positions, uint64 offsets, int16 dps, 2-column float64 dpv, int32 group."""
    header, pos, off, nv, ns = tractogram([2, 9, 4, 1, 3], np.float32, np.uint64)
    raw_folder(root, header, {
        f"positions.3.{pos.dtype.name}": pos,
        f"offsets.{off.dtype.name}": off,
        "dps/id.int16": np.array([-3, 7, 32000, -32000, 0], dtype=np.int16),
        "dpv/curv.2.float64": rng.standard_normal((nv, 2)),
        "groups/G1.int32": np.array([4, 0, 3], dtype=np.int32),
    })


def fixture_c(root):
    """float64 positions (the patient mapping's), uint64 offsets, one streamline."""
    header, pos, off, nv, ns = tractogram([5], np.float64, np.uint64)
    raw_folder(root, header, {
        f"positions.3.{pos.dtype.name}": pos,
        f"offsets.{off.dtype.name}": off,
    })


def floats(a):
    """Float values as repr strings: exact through any JSON parser (serde_json's default float
    parsing is not correctly rounded)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return repr(float(a))
    return [floats(x) for x in a]


def dump(trx_obj):
    """What the loader returns, as plain JSON."""
    h = trx_obj.header
    out = {
        "NB_VERTICES": int(h["NB_VERTICES"]),
        "NB_STREAMLINES": int(h["NB_STREAMLINES"]),
        "DIMENSIONS": [int(x) for x in h["DIMENSIONS"]],
        "VOXEL_TO_RASMM": floats(h["VOXEL_TO_RASMM"]),
        "extra_header_keys": sorted(k for k in h if k not in
                                    ("NB_VERTICES", "NB_STREAMLINES", "DIMENSIONS", "VOXEL_TO_RASMM")),
    }
    if out["NB_STREAMLINES"] == 0:
        out.update(positions_dtype=None, offsets=[], lengths=[], positions=[], dps={}, dpv={}, groups={}, dpg={})
        return out
    s = trx_obj.streamlines
    out["positions_dtype"] = s._data.dtype.name
    out["offsets_dtype"] = s._offsets.dtype.name
    out["positions"] = [floats(s[i]) for i in range(len(s))]
    out["offsets"] = [int(x) for x in s._offsets] + [int(h["NB_VERTICES"])]
    out["lengths"] = [int(x) for x in s._lengths]
    out["dps"] = {k: {"dtype": v.dtype.name, "shape": list(v.shape),
                      "values": floats(v)}
                  for k, v in trx_obj.data_per_streamline.items()}
    out["dpv"] = {k: {"dtype": v._data.dtype.name, "shape": list(v._data.shape),
                      "values": floats(v._data)}
                  for k, v in trx_obj.data_per_vertex.items()}
    out["groups"] = {k: {"dtype": v.dtype.name, "values": [int(x) for x in v]}
                     for k, v in trx_obj.groups.items()}
    out["dpg"] = {g: {k: {"dtype": v.dtype.name, "shape": list(v.shape),
                          "values": floats(v)}
                      for k, v in d.items()}
                  for g, d in trx_obj.data_per_group.items()}
    # select(): the view trx-python returns for indices [5, 0, 2, 0] (keep_group=True).
    if out["NB_STREAMLINES"] >= 6:
        sel = trx_obj.select([5, 0, 2, 0])
        out["select_5_0_2_0"] = {
            "lengths": [int(x) for x in sel.streamlines._lengths],
            "positions": [floats(sel.streamlines[i])
                          for i in range(len(sel.streamlines))],
            "groups": {k: sorted(int(x) for x in v) for k, v in sel.groups.items()},
        }
    return out


def dump_numpy_dtypes():
    """numpy_dtypes.json: for candidate extensions, what np.dtype() says ([kind, itemsize] or null)."""
    import warnings
    warnings.simplefilter("ignore")
    names = ["bool", "bool_", "byte", "ubyte", "short", "ushort", "intc", "uintc", "int", "int_", "intp", "long",
             "longlong", "uint", "uintp", "ulong", "ulonglong", "int8", "int16", "int32", "int64", "uint8", "uint16",
             "uint32", "uint64", "half", "single", "double", "float", "float16", "float32", "float64", "float128",
             "longdouble", "complex", "cdouble", "complex64", "complex128", "complex256", "csingle", "clongdouble",
             "datetime64", "timedelta64", "object", "object_", "bytes", "bytes_", "str", "str_", "unicode", "void",
             "bit", "float33", "txt", "int128", "uint128", "float8", "Float32", "INT8", "", "f", "a"]
    codes = list("?bBhHiIlLqQpPefdgFDGMmOSUVaxXzZ") + [k + str(n) for k in "biufcSUVMma" for n in (0, 1, 2, 3, 4, 8, 16, 32)]
    cands = set(names) | set(codes)
    for p in "<>=|":
        for c in list(codes) + list(names):
            cands.add(p + c)
    out = {}
    for c in sorted(cands):
        try:
            d = np.dtype(c)
            out[c] = [d.kind, d.itemsize]
        except Exception:
            out[c] = None
    with open(os.path.join(HERE, "numpy_dtypes.json"), "w") as f:
        json.dump({"numpy": np.__version__, "dtypes": out}, f, indent=0, sort_keys=True)


def main():
    dump_numpy_dtypes()
    # Deterministic zip timestamps: trx-python's save uses the files' mtimes.
    os.environ.setdefault("SOURCE_DATE_EPOCH", "315532800")
    expected = {"trx_python": trx.__version__ if hasattr(trx, "__version__") else "0.6",
                "numpy": np.__version__, "fixtures": {}}
    for name in os.listdir(HERE):
        p = os.path.join(HERE, name)
        if name.endswith(".trx") or name.endswith("_dir"):
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    with tempfile.TemporaryDirectory() as tmp:
        plan = [
            ("a", fixture_a, [("a_stored.trx", zipfile.ZIP_STORED), ("a_deflate.trx", zipfile.ZIP_DEFLATED),
                              ("a_dir", None)]),
            ("b", fixture_b, [("b_stored.trx", zipfile.ZIP_STORED), ("b_dir", None)]),
            ("c", fixture_c, [("c_deflate.trx", zipfile.ZIP_DEFLATED)]),
        ]
        for key, build, outputs in plan:
            src = os.path.join(tmp, key)
            build(src)
            loaded = tmm.load(src)
            for out_name, compression in outputs:
                out = os.path.join(HERE, out_name)
                if compression is None:
                    tmm.save(loaded, out)  # no extension: folder
                else:
                    tmm.save(loaded, out, compression_standard=compression)
            loaded.close()
            for out_name, _ in outputs:
                back = tmm.load(os.path.join(HERE, out_name))
                expected["fixtures"][out_name] = dump(back)
                back.close()
        # An empty TRX (0 streamlines) as trx-python writes it.
        empty = tmm.TrxFile(nb_vertices=0, nb_streamlines=0)
        tmm.save(empty, os.path.join(HERE, "empty.trx"))
        back = tmm.load(os.path.join(HERE, "empty.trx"))
        expected["fixtures"]["empty.trx"] = dump(back)
        # numpy dtype aliases in names (`f2`, `<u4`) load in trx-python: a zip made with zipfile.
        header, pos, off, nv, ns = tractogram([2, 3], np.float16, np.uint32)
        alias = os.path.join(HERE, "alias_names.trx")
        with zipfile.ZipFile(alias, "w") as z:
            z.writestr("header.json", json.dumps(header))
            z.writestr("positions.3.f2", pos.tobytes())
            z.writestr("offsets.<u4", off.tobytes())
            z.writestr("dps/w.double", np.array([0.5, -1.25]).tobytes())
            z.writestr("notes.txt", b"a stray file: trx-python skips it")
        back = tmm.load(alias)
        expected["fixtures"]["alias_names.trx"] = dump(back)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
