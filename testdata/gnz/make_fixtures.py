#!/usr/bin/env python3
"""Writes the GNZ1 container fixtures of testdata/gnz/ and expected.json.

The writer below follows the original writer's algorithm as docs/formats/gnz.md describes it
(no public implementation exists): sorted-key json.dumps header, u32 LE length, header pages
grown until the header fits, arrays in insertion order at 4096-aligned absolute offsets
(0-byte arrays do not advance), file sized with truncate(), array bytes written through
np.memmap(path, 'r+', dtype, shape, offset, order); streaming arrays are reserved (header
entry only) and filled later by chunks through np.memmap.

expected.json holds what numpy's memmap reads back at the recorded offsets (the original
reader), never values produced by inframed. Run: python3 make_fixtures.py (numpy >= 1.26).
"""
import copy
import json
import math
import os
import struct
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ALIGN = 4096


def align_up(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


class GnzWriter:
    def __init__(self, path, metadata=None):
        self.path = path
        self.metadata = metadata or {}
        self.arrays = []  # (name, dtype, shape, order, data or None)

    def add_array(self, name, arr, order="C"):
        arr = np.asarray(arr)
        self.arrays.append((name, arr.dtype, tuple(arr.shape), order, arr))

    def reserve(self, name, dtype, shape, order="C"):
        self.arrays.append((name, np.dtype(dtype), tuple(shape), order, None))

    def layout(self, override=None):
        pages = 1
        while True:
            off = pages * ALIGN
            entries = {}
            for name, dtype, shape, order, _ in self.arrays:
                nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                entries[name] = {"dtype": dtype.str, "offset": off, "order": order,
                                 "shape": [int(s) for s in shape]}
                off = align_up(off + nbytes)
            shown = entries
            if override:  # damage the header only; data goes to the laid-out offsets
                shown = copy.deepcopy(entries)
                override(shown)
            hdr = json.dumps({"version": 1, "metadata": self.metadata, "arrays": shown},
                             sort_keys=True).encode("utf-8")
            need = max(1, math.ceil((8 + len(hdr)) / ALIGN))
            if need > pages:
                pages = need
                continue
            return hdr, entries, off

    def write(self, override=None):
        hdr, entries, total = self.layout(override)
        with open(self.path, "wb") as f:
            f.truncate(total)
            f.write(b"GNZ1" + struct.pack("<I", len(hdr)) + hdr)
        for name, dtype, shape, order, data in self.arrays:
            if data is None or data.nbytes == 0:
                continue
            mm = np.memmap(self.path, mode="r+", dtype=dtype, shape=shape,
                           offset=entries[name]["offset"], order=order)
            mm[...] = data
            mm.flush()
            del mm
        self.entries = entries
        return entries

    def fill(self, name, index, values):
        e = self.entries[name]
        dtype = next(a[1] for a in self.arrays if a[0] == name)
        mm = np.memmap(self.path, mode="r+", dtype=dtype, shape=tuple(e["shape"]),
                       offset=e["offset"], order=e["order"])
        mm[index] = values
        mm.flush()
        del mm


def read_header(path):
    with open(path, "rb") as f:
        b = f.read()
    assert b[:4] == b"GNZ1"
    (n,) = struct.unpack("<I", b[4:8])
    return b, n, json.loads(b[8:8 + n])


def float_text(x):
    """repr() of the exact double: readers parse it with a correctly rounded parser."""
    return repr(float(x))


def nan_to_none(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [nan_to_none(x) for x in v]
    return v


TYPED = {"b", "i", "u"}


def describe(path, insertion, sources=None):
    """What the original reader (numpy memmap at the recorded offsets) sees."""
    b, n, hdr = read_header(path)
    out = {"file_size": len(b), "header_len": n,
           "data_start": max(1, math.ceil((8 + n) / ALIGN)) * ALIGN,
           "version": hdr["version"], "metadata": nan_to_none(hdr["metadata"]),
           "insertion_order": insertion, "arrays": {}}
    for name, e in hdr["arrays"].items():
        dt = np.dtype(e["dtype"])
        shape = tuple(e["shape"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        raw = b[e["offset"]:e["offset"] + nbytes]
        assert len(raw) == nbytes
        values = None
        typed = dt.kind in TYPED or (dt.kind == "f" and dt.itemsize in (4, 8))
        if typed and dt.fields is None:
            if nbytes:
                mm = np.memmap(path, mode="r", dtype=dt, shape=shape, offset=e["offset"],
                               order=e["order"])
                arr = np.array(mm)
                del mm
            else:
                arr = np.zeros(shape, dtype=dt)
            if sources and name in sources:
                src = np.asarray(sources[name])
                assert src.dtype == dt and src.shape == arr.shape, name
                assert src.tobytes() == arr.tobytes() or np.array_equal(src, arr, equal_nan=True), name
            flat = arr.ravel(order="C")
            if dt.kind == "f":
                values = [float_text(x) for x in flat]
            elif dt.kind == "b":
                values = [bool(x) for x in flat]
            else:
                values = [int(x) for x in flat]
        out["arrays"][name] = dict(e, nbytes=nbytes, crc32=zlib.crc32(raw), values=values)
    return out


def fixture_dtypes(expected):
    path = os.path.join(HERE, "dtypes.gnz")
    meta = {"name": "dtypes", "note": "caf\u00e9 \u2615 \U0001F600 \"q\" \\ tab\t",
            "floats": [0.1, 1e300, 1e-300, -0.0, 1e16, 1e-05, 123456.789],
            "nested": {"b": 1, "a": [True, False, None]}, "big": 2**63 - 1, "neg": -5}
    w = GnzWriter(path, meta)
    rec = np.zeros(2, dtype=[("t0", "<i4"), ("v0", "<f4")])
    rec["t0"] = [20200101, 20211231]
    rec["v0"] = [1.5, -2.25]
    arrays = [
        ("z_i4", np.array([-2**31, -1, 0, 1, 2**31 - 1], dtype="<i4"), "C"),
        ("y_i8", np.array([-2**63, -1, 0, 2**63 - 1], dtype="<i8"), "C"),
        ("f8", np.array([0.0, -0.0, 1e300, 1e-300, -1.5, 5e-324, np.inf, -np.inf, np.nan], dtype="<f8"), "C"),
        ("f4", np.array([0.1, -0.0, 3.4028235e38, 1e-45, np.nan], dtype="<f4"), "C"),
        ("u2", np.array([0, 65535, 4660], dtype="<u2"), "C"),
        ("u1", np.array([0, 255, 7], dtype="|u1"), "C"),
        ("i1", np.array([-128, 127, 0], dtype="|i1"), "C"),
        ("i2", np.array([-32768, 32767], dtype="<i2"), "C"),
        ("u4", np.array([0, 4294967295], dtype="<u4"), "C"),
        ("u8", np.array([0, 2**64 - 1], dtype="<u8"), "C"),
        ("b1", np.array([True, False, True]), "C"),
        ("empty_f8", np.zeros(0, dtype="<f8"), "C"),
        ("scalar", np.array(3.25, dtype="<f8"), "C"),
        ("mat_f", np.arange(6, dtype="<f4").reshape(2, 3) * 1.5, "F"),
        ("mat_c", np.arange(6, dtype="<i4").reshape(2, 3) - 3, "C"),
        ("empty_2d", np.zeros((0, 4), dtype="<u2"), "C"),
        ("v8", np.frombuffer(bytes(range(16)), dtype="V8"), "C"),
        ("rec", rec, "C"),
        ("f2", np.array([1.0, -2.5, 65504.0], dtype="<f2"), "C"),
        ("c16", np.array([1 + 2j, -0.5j], dtype="<c16"), "C"),
        ("dt", np.array(["2020-01-01", "1970-01-02"], dtype="<M8[D]"), "C"),
        ("s3", np.array([b"ab", b"xyz"], dtype="|S3"), "C"),
        ("u_2", np.array(["h\u00e9", "z"], dtype="<U2"), "C"),
        ("a_last_empty", np.zeros(0, dtype="<f8"), "C"),
    ]
    for name, arr, order in arrays:
        w.add_array(name, arr, order)
    w.write()
    assert w.entries["rec"]["dtype"] == "|V8"
    expected["dtypes.gnz"] = describe(path, [a[0] for a in arrays], {a[0]: a[1] for a in arrays})
    e = expected["dtypes.gnz"]
    assert e["arrays"]["a_last_empty"]["offset"] == e["file_size"]
    assert e["arrays"]["empty_f8"]["offset"] == e["arrays"]["scalar"]["offset"]


def fixture_nan_metadata(expected):
    path = os.path.join(HERE, "nan_metadata.gnz")
    w = GnzWriter(path, {"a": float("nan"), "b": [float("inf"), -float("inf"), "NaN"], "c": 1})
    w.add_array("x", np.array([1, 2], dtype="<i4"))
    w.write()
    expected["nan_metadata.gnz"] = describe(path, ["x"])


def fixture_spill(expected):
    path = os.path.join(HERE, "spill.gnz")
    meta = {"description": ["row %03d: the header of this file spills over several pages" % i
                            for i in range(110)]}
    w = GnzWriter(path, meta)
    names = []
    for i in range(40):
        name = "arr_%02d" % (39 - i)  # insertion runs z..a-ward: offsets fall as keys rise
        n = 3 + i if i % 4 == 0 else 0
        w.add_array(name, (np.arange(n, dtype="<i8") * (i + 1)) - 7)
        names.append(name)
    w.write()
    e = describe(path, names)
    assert e["data_start"] == 3 * ALIGN, e["data_start"]
    expected["spill.gnz"] = e


def fixture_streaming(expected):
    path = os.path.join(HERE, "streaming.gnz")
    w = GnzWriter(path, {"kind": "streaming"})
    w.add_array("ids", np.arange(5, dtype="<i4"))
    w.reserve("stream_a", "<f8", (600,))
    w.reserve("stream_b", "<u2", (600,))
    w.reserve("stream_c", "<i4", (50, 3))
    w.reserve("stream_f", "<f4", (4, 5), order="F")
    w.write()
    for k in range(6):  # six chunks of 100
        w.fill("stream_a", slice(100 * k, 100 * (k + 1)), np.arange(100) * 0.5 + k)
    w.fill("stream_b", slice(0, 100), np.arange(100, dtype="<u2") + 1000)  # 100 of 600
    for r in range(0, 50, 10):
        w.fill("stream_c", slice(r, r + 10), np.arange(30, dtype="<i4").reshape(10, 3) + r)
    w.fill("stream_f", (slice(None), slice(0, 2)), np.arange(8, dtype="<f4").reshape(4, 2))
    e = describe(path, ["ids", "stream_a", "stream_b", "stream_c", "stream_f"])
    assert e["arrays"]["stream_b"]["values"][100:] == [0] * 500
    e["filled"] = {"stream_a": 600, "stream_b": 100, "stream_c": 50, "stream_f": 2}
    expected["streaming.gnz"] = e


def fixture_bigendian(expected):
    path = os.path.join(HERE, "bigendian.gnz")
    w = GnzWriter(path, {})
    cube = np.arange(24, dtype="<u2").reshape(2, 3, 4) * 257
    arrays = [
        ("be_i4", np.array([1, -2, 305419896], dtype=">i4"), "C"),
        ("be_f8", np.array([1.5, -0.0, 1e300], dtype=">f8"), "C"),
        ("be_u2_f", cube.astype(">u2"), "F"),
        ("le_u2_f", cube, "F"),
        ("be_f4_c", (np.arange(6, dtype=">f4") / 4).reshape(3, 2), "C"),
    ]
    for name, arr, order in arrays:
        w.add_array(name, arr, order)
    w.write()
    expected["bigendian.gnz"] = describe(path, [a[0] for a in arrays], {a[0]: a[1] for a in arrays})


def fixture_cut(expected):
    path = os.path.join(HERE, "cut.gnz")
    w = GnzWriter(path, {"cut": True})
    w.add_array("a", np.arange(10, dtype="<f8"))
    w.add_array("b", np.arange(1000, dtype="<i4"))
    ent = w.write()
    end = ent["b"]["offset"] + 4000
    with open(path, "r+b") as f:
        f.truncate(end)  # the original may size the file to the end of its last array
    e = describe(path, ["a", "b"])
    assert e["file_size"] == end and end % ALIGN != 0
    expected["cut.gnz"] = e


def small_writer(path, two=False):
    w = GnzWriter(path, {"small": 1})
    w.add_array("a", np.arange(4, dtype="<i4"))
    if two:
        w.add_array("b", np.arange(3, dtype="<f8"))
    return w


def fixtures_invalid(expected):
    """Damaged files and the error docs/formats/gnz.md §5 requires (by GnzError name)."""
    inv = {}
    d = os.path.join(HERE, "invalid")
    os.makedirs(d, exist_ok=True)

    def p(name):
        return os.path.join(d, name)

    def mutate(name, fn):
        small_writer(p(name)).write()
        with open(p(name), "rb") as f:
            b = bytearray(f.read())
        b = fn(b)
        with open(p(name), "wb") as f:
            f.write(b)

    def set_header(b, text):
        b[4:8] = struct.pack("<I", len(text))
        b[8:8 + len(text)] = text
        return b

    mutate("bad_magic.gnz", lambda b: b"GNZ2" + b[4:])
    inv["bad_magic.gnz"] = {"error": "BadMagic", "context": "byte 0"}
    mutate("truncated_preamble.gnz", lambda b: b[:6])
    inv["truncated_preamble.gnz"] = {"error": "TruncatedPreamble", "context": "byte 0"}
    mutate("header_len_beyond_eof.gnz", lambda b: b[:4] + struct.pack("<I", len(b)) + b[8:])
    inv["header_len_beyond_eof.gnz"] = {"error": "HeaderBeyondEof", "context": "byte 4"}
    mutate("array_beyond_eof.gnz", lambda b: b[:4096 + 15])  # "a" holds 16 bytes at 4096
    inv["array_beyond_eof.gnz"] = {"error": "BeyondEof", "context": "array \"a\""}

    def bad_json(b):
        (n,) = struct.unpack("<I", b[4:8])
        text = bytes(b[8:8 + n])
        i = text.index(b'"metadata": ') + len(b'"metadata": ')
        b[8 + i] = ord("]")  # '{' of metadata becomes ']'
        return b
    mutate("bad_json.gnz", bad_json)
    inv["bad_json.gnz"] = {"error": "Json", "context": None}

    def write_override(name, fn, two=False):
        small_writer(p(name), two).write(override=fn)

    write_override("offset_in_header.gnz", lambda e: e["a"].update(offset=0))
    inv["offset_in_header.gnz"] = {"error": "OffsetInHeader", "context": "array \"a\""}
    write_override("misaligned.gnz", lambda e: e["a"].update(offset=e["a"]["offset"] + 8))
    inv["misaligned.gnz"] = {"error": "Misaligned", "context": "array \"a\""}
    write_override("overlap.gnz", lambda e: e["b"].update(offset=e["a"]["offset"]), two=True)
    inv["overlap.gnz"] = {"error": "Overlap", "context": None}
    write_override("bad_dtype.gnz", lambda e: e["a"].update(dtype="|O8"))
    inv["bad_dtype.gnz"] = {"error": "UnsupportedDtype", "context": "array \"a\""}
    write_override("bad_order.gnz", lambda e: e["a"].update(order="K"))
    inv["bad_order.gnz"] = {"error": "BadOrder", "context": "array \"a\""}
    write_override("missing_shape.gnz", lambda e: e["a"].pop("shape"))
    inv["missing_shape.gnz"] = {"error": "MissingKey", "context": "array \"a\""}
    write_override("negative_shape.gnz", lambda e: e["a"].update(shape=[-4]))
    inv["negative_shape.gnz"] = {"error": "WrongType", "context": "array \"a\""}
    # shape/dtype mismatch: the declared shape needs more bytes than the file holds
    write_override("shape_dtype_mismatch.gnz", lambda e: e["a"].update(dtype="<c16", shape=[300]))
    inv["shape_dtype_mismatch.gnz"] = {"error": "BeyondEof", "context": "array \"a\""}

    def no_version(b):
        (n,) = struct.unpack("<I", b[4:8])
        hdr = json.loads(bytes(b[8:8 + n]))
        hdr["version"] = 2
        text = json.dumps(hdr, sort_keys=True).encode()
        assert len(text) == n
        return set_header(b, text)
    mutate("version_2.gnz", no_version)
    inv["version_2.gnz"] = {"error": "Version", "context": None}
    expected["invalid"] = inv


def main():
    expected = {"numpy": np.__version__}
    fixture_dtypes(expected)
    fixture_nan_metadata(expected)
    fixture_spill(expected)
    fixture_streaming(expected)
    fixture_bigendian(expected)
    fixture_cut(expected)
    fixtures_invalid(expected)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
