"""By-hand check: packs WRITTEN BY INFRAMED, read by the ORIGINAL reader (iatro-base-iac 0.1.4,
iatro-iac-adapters 0.1.4). Not run by cargo test.

    INFRAMED_IAC_INTEROP_DIR=/tmp/iac_interop cargo test --release --no-default-features \
        --features iac --test iac_interop
    /tmp/iacvenv/bin/python testdata/iac/check_with_original.py /tmp/iac_interop

For each pack in `written.json`:
- raw packs: `PackReader` opens it (header, both tables, row counts, every span), `read_payload`
  and `VariableRecordPack.read` give what inframed wrote; zlib.crc32 matches the crc32 column;
  the adapters' validator is not used (it rejects these payload types by design);
- text packs: `ClinicalTextPairReader` / `ClinicalTextReader.read_patient` give the documents;
- patient packs: every record, decoded by the original reader and viewed with the numpy dtype
  from the header's catalog, equals medpython's `get_sig` rows of the same repository
  (testdata/inframed/small/expected.json) — an independent reference.
Prints one line per pack and exits 1 on the first difference.
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np

from iatro.iac import PackReader, VariableRecordPack
from iatro.iac.adapters.text import ClinicalTextReader
from iatro.iac.adapters.text_pair import ClinicalTextPairReader

HERE = Path(__file__).resolve().parent


def fail(msg: str) -> None:
    print("FAIL", msg)
    sys.exit(1)


def check_common(path: Path) -> PackReader:
    r = PackReader(path)
    h = r.header
    assert h["format"] == "IatroCache" and h["version"] == 2, h
    n = len(r.index_table)
    for row in range(n):
        stored = r.read_payload(row)
        crc = r.index_table.column("crc32")[row].as_py()
        if zlib.crc32(stored) & 0xFFFFFFFF != crc:
            fail(f"{path.name} row {row}: crc32")
    return r


def check_raw(path: Path, w: dict) -> str:
    r = check_common(path)
    p = VariableRecordPack(path)
    decoded = [bytes(p.read(i)).hex() for i in range(len(r.index_table))]
    if decoded != w["decoded"]:
        fail(f"{path.name}: decoded payloads differ")
    batches = len(r.index_table.to_batches())
    if batches != w["index_batches"]:
        fail(f"{path.name}: {batches} index batches, wrote {w['index_batches']}")
    return f"{len(decoded)} records, {batches} index batches, codec {r.header.get('codec')}"


def docs_of(p) -> list:
    return [{k: getattr(d, k) for k in d.__dataclass_fields__} for d in p.docs]


def check_text(path: Path, w: dict, pairs: bool) -> str:
    check_common(path)
    R = ClinicalTextPairReader if pairs else ClinicalTextReader
    r = R(path)
    for want in w["patients"]:
        got = r.read_patient(want["patient_id"])
        got = {"patient_id": got.patient_id, "institution": got.institution, "docs": docs_of(got)}
        if got != want:
            fail(f"{path.name}: patient {want['patient_id']}: {got} != {want}")
    return f"{len(w['patients'])} patients"


def check_patient(path: Path) -> str:
    r = check_common(path)
    p = VariableRecordPack(path)
    h = r.header
    assert h["payload_type"] == "inframed_patient_signals", h["payload_type"]
    cat = h["inframed_catalog"]
    sid_name = {}
    for line in cat["signals"].splitlines():
        f = line.split("\t")
        if f[0] == "SIGNAL":
            sid_name[int(f[2])] = f[1]
    exp = json.loads((HERE.parent / "inframed/small/expected.json").read_text())
    want_pids = exp["pids"]
    got_pids = r.slide_table.column("pid").to_pylist()
    if got_pids != want_pids:
        fail(f"{path.name}: pids differ")
    got_rows = {name: [] for name in exp["signals"]}
    idx = r.index_table
    for row in range(len(idx)):
        pid = idx.column("pid")[row].as_py()
        sid = idx.column("sid")[row].as_py()
        n = idx.column("n")[row].as_py()
        name = sid_name[sid]
        dtype = np.dtype([tuple(f) for f in cat["numpy_dtypes"][name]])
        arr = np.frombuffer(bytes(p.read(row)), dtype=dtype)
        if len(arr) != n:
            fail(f"{path.name} row {row}: {len(arr)} elements, n={n}")
        names = [f for f in dtype.names if not f.startswith("_pad")]
        times = [f for f in names if f.startswith("t")]
        vals = [f for f in names if f.startswith("v")]
        for e in arr:
            got_rows[name].append([pid] + [e[f].item() for f in times + vals])
    total = 0
    for name, s in exp["signals"].items():
        want = s["rows"]
        got = got_rows[name]
        if len(got) != len(want):
            fail(f"{path.name} {name}: {len(got)} rows, medpython {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            for a, b in zip(g, w):
                if isinstance(b, float):
                    ok = np.float32(a) == np.float32(b) or (a == b)
                else:
                    ok = a == b
                if not ok:
                    fail(f"{path.name} {name} row {i}: {g} != {w}")
        total += len(got)
    return f"{len(idx)} records, {total} elements equal to medpython get_sig, codec {h.get('codec')}"


def main() -> None:
    d = Path(sys.argv[1])
    written = json.loads((d / "written.json").read_text())
    for name, w in sorted(written.items()):
        path = d / f"{name}.iac"
        kind = w["kind"]
        if kind == "raw":
            msg = check_raw(path, w)
        elif kind == "text_pair":
            msg = check_text(path, w, True)
        elif kind == "text":
            msg = check_text(path, w, False)
        else:
            msg = check_patient(path)
        print(f"ok {name}: {msg}")
    print(f"all {len(written)} packs written by inframed read identically with iatro-base-iac 0.1.4")


if __name__ == "__main__":
    main()
