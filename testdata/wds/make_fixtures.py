"""Fixtures for issue 14 written by the original tools (run with trx-python 0.6, webdataset 1.0.2,
xxhash, numpy in a venv, from this folder). Every payload each tool reads back goes into
expected.json (hex), so the Rust tests compare with what the tools return.

- dash/train-00000{0,1,2}.tar: webdataset ShardWriter output (maxcount 3), no index.
- pax/pax.tar, gnu/gnu.tar: Python tarfile PAX_FORMAT / GNU_FORMAT with a 120-byte name and a
  non-ASCII name (pax headers / GNU ././@LongLink), plus plain members.
- paxidx/pax_0000.tar + pax.taridx: the pax tar with an index built by glzn's parse path
  (itar.md §4: every header is a row, pax `x` headers included, name = bytes [0:100]), and a
  duplicate stem (dir/x.txt + x.txt) that glzn's stem rule merges.
- out_dir/: trx-python `save(trx, "out_dir")` (a folder, no extension).
"""
import io
import json
import os
import shutil
import struct
import tarfile

import numpy as np
import webdataset as wds
import xxhash

MTIME = 1_700_000_000
out = {}


def add(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = MTIME
    ti.mode = 0o444
    tf.addfile(ti, io.BytesIO(data))


def members(path):
    """name -> payload hex, as tarfile reads the archive (regular files, later duplicates win)."""
    got = {}
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            if m.isfile():
                got[m.name] = tf.extractfile(m).read().hex()
    return got


# 1. WebDataset ShardWriter, dash-numbered, no index.
shutil.rmtree("dash", ignore_errors=True)
os.makedirs("dash")
with wds.ShardWriter("dash/train-%06d.tar", maxcount=3, verbose=0) as sink:
    for i in range(7):
        s = {"__key__": f"sample{i:03d}", "txt": f"text {i}", "cls": str(i % 3)}
        if i % 2 == 0:
            s["json"] = {"i": i}
        sink.write(s)
shards = sorted(os.listdir("dash"))
out["dash"] = {
    "shards": shards,
    "members": {s: members(f"dash/{s}") for s in shards},
    "samples": [
        {k: (v.hex() if isinstance(v, bytes) else v) for k, v in s.items() if k != "__url__"}
        for s in wds.WebDataset("dash/train-{000000..000002}.tar", shardshuffle=False)
    ],
}

# 2. pax and GNU long names.
LONG = "d" * 60 + "/" + "long_" + "n" * 50 + ".txt"  # 117 bytes
UNI = "caf\u00e9.txt"
for fmt, folder in [(tarfile.PAX_FORMAT, "pax"), (tarfile.GNU_FORMAT, "gnu")]:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    path = f"{folder}/{folder}.tar"
    with tarfile.open(path, "w", format=fmt) as tf:
        add(tf, "a.txt", b"alpha")
        add(tf, LONG, b"long name payload")
        add(tf, UNI, "caf\u00e9 payload".encode())
        add(tf, "b.cls", b"7")
    out[folder] = members(path)

# 3. The pax tar with a glzn parse-path index, plus a duplicate stem.
shutil.rmtree("paxidx", ignore_errors=True)
os.makedirs("paxidx")
shard = "paxidx/pax_0000.tar"
with tarfile.open(shard, "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "a.txt", b"alpha")
    add(tf, LONG, b"long name payload")
    add(tf, UNI, "caf\u00e9 payload".encode())
    add(tf, "dir/x.txt", b"first x")
    add(tf, "x.txt", b"second x")
    add(tf, "b.cls", b"7")


def split(name):
    base = name.rsplit("/", 1)[-1]
    stem, _, ext = base.partition(".")
    return stem, ext.lower()


def glzn_index(tars):
    rows, exts, crash, canon, stems = [], [], [], {}, []
    for fid, tar in enumerate(tars):
        data = open(tar, "rb").read()
        off = 0
        while off + 512 <= len(data):
            h = data[off:off + 512]
            if h == b"\0" * 512:
                break
            name = h[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
            size = int(h[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
            stem, ext = split(name)
            kh = xxhash.xxh64(stem.encode(), seed=0).intdigest()
            if kh not in canon:
                canon[kh] = stem
                cid = 0
            elif canon[kh] == stem:
                cid = 0
            else:
                if stem not in crash:
                    crash.append(stem)
                cid = crash.index(stem) + 1
            if (kh, cid) not in stems:
                stems.append((kh, cid))
            if ext not in exts:
                exts.append(ext)
            rows.append((fid, off, size, exts.index(ext), cid, kh))
            off += 512 + (size + 511) // 512 * 512
    runs = sum(1 for i, r in enumerate(rows) if i == 0 or (r[5], r[4]) != (rows[i - 1][5], rows[i - 1][4]))
    flags = 1 if runs == len(stems) or len(rows) < 2 else 0
    ext_block = "\n".join(exts).encode()
    crash_block = "\n".join(crash).encode()
    off_crash = 64 + len(ext_block)
    off_arr = off_crash + len(crash_block)
    hdr = struct.pack("<8sHHHHQQIIQQB7s", b"TARIDX\0\0", 1, 0, 32, 64, len(stems), len(rows),
                      len(exts), len(crash), off_crash, off_arr, flags, b"\0" * 7)
    body = b"".join(struct.pack("<HQQHIQ", *r) for r in rows)
    return hdr + ext_block + crash_block + body, rows, exts


idx, rows, exts = glzn_index([shard])
open("paxidx/pax.taridx", "wb").write(idx)
out["paxidx"] = {"members": members(shard), "rows": len(rows), "exts": exts}

# 4. trx-python save to a folder without extension.
from trx import trx_file_memmap as tmm  # noqa: E402

shutil.rmtree("out_dir", ignore_errors=True)
t = tmm.TrxFile(nb_vertices=7, nb_streamlines=3)
t.streamlines._data[:] = np.arange(21, dtype=np.float16).reshape(7, 3) / 4
t.streamlines._offsets[:] = np.array([0, 2, 5], dtype=np.uint32)
t.streamlines._lengths[:] = np.array([2, 3, 2], dtype=np.uint32)
tmm.save(t, "out_dir")
t.close()
back = tmm.load("out_dir")
out["out_dir"] = {
    "positions": [float(x) for x in np.asarray(back.streamlines._data).ravel()],
    "offsets": [int(x) for x in back.streamlines._offsets],
    "files": sorted(os.path.relpath(os.path.join(r, f), "out_dir") for r, _, fs in os.walk("out_dir") for f in fs),
}
back.close()

json.dump(out, open("expected.json", "w"), indent=1, sort_keys=True)
