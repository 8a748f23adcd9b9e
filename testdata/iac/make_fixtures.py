"""Writes the `.iac` fixtures with the ORIGINAL package and dumps what its reader returns.

Run (twice: once per writer generation; see README.md):

    python3 -m venv /tmp/iacvenv && /tmp/iacvenv/bin/pip install iatro-base-iac==0.1.4 iatro-iac-adapters==0.1.4
    /tmp/iacvenv/bin/python testdata/iac/make_fixtures.py new
    python3 -m venv /tmp/iacvenv_old && /tmp/iacvenv_old/bin/pip install iatro-base-iac==0.0.3
    /tmp/iacvenv_old/bin/python testdata/iac/make_fixtures.py old

Each pack is stored zstd-compressed (`<name>.iac.zst`: a pack is at least 64 KiB of mostly zero
header) and `expected.json` (merged per generation) holds, per pack, what the original reader
returns: header dict, table schemas / batch counts / rows, stored and decoded payloads (hex), and
for the text adapters `read_patient` results. The Rust tests decompress and compare content.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent


def jsonable(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return {"float": repr(v)}
        return v
    if isinstance(v, (datetime.datetime, datetime.date)):
        return {"iso": v.isoformat()}
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def table_json(t: pa.Table) -> dict:
    return {
        "schema": [[f.name, str(f.type), f.nullable] for f in t.schema],
        "metadata": {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()},
        "num_rows": t.num_rows,
        "batches": len(t.to_batches()),
        "rows": jsonable(t.to_pylist()),
    }


def dump_pack(path: Path, decode: bool, text_kind: str | None):
    from iatro.iac import PackReader

    r = PackReader(path)
    out = {
        "header": jsonable(dict(r.header)),
        "slide_table": table_json(r.slide_table),
        "index_table": table_json(r.index_table),
    }
    if "offset" in r.index_table.column_names:
        out["stored"] = [r.read_payload(i).hex() for i in range(r.index_table.num_rows)]
        if decode:
            from iatro.iac import VariableRecordPack

            p = VariableRecordPack(path)
            out["decoded"] = [bytes(p.read(i)).hex() for i in range(r.index_table.num_rows)]
    else:
        d = r.header["data_length"]
        out["data_segment"] = r.read_data_span(0, d).hex()
    if text_kind:
        out["patients"] = read_text(path, text_kind)
    r.close()
    return out


def read_text(path: Path, kind: str):
    if kind == "pair":
        from iatro.iac.adapters.text_pair import ClinicalTextPairReader as R
    else:
        from iatro.iac.adapters.text import ClinicalTextReader as R
    r = R(path)
    pats = []
    for pid in r.patient_ids:
        p = r.read_patient(pid)
        docs = []
        for d in p.docs:
            docs.append({k: getattr(d, k) for k in d.__dataclass_fields__})
        pats.append({"patient_id": p.patient_id, "institution": p.institution, "docs": docs})
    return pats


def caller_header_extras():
    return {
        "payload_type": "raw_bytes",
        "dataset": "inframed fixture — ünïcödé 病案",
        "escape me": "tab\there \"quoted\" back\\slash /slash \u0001",
        "floats": [0.1, 1.0, -0.0, 3.141592653589793, 1e16, 1e20, 1e300, 1.5e-7, 2.5e-300],
        "ints": [0, -1, 2**63 - 1, 2**64 - 1, -(2**63)],
        "big": 2**64,
        "nested": {"z": {"b": [], "a": {}}, "A": True, "m": None},
        "data_offset": 12345,  # overwritten by the container
    }


def payload_set():
    return [
        b"first",
        b"",
        bytes(range(256)) * 3,
        "naïve text 病案文书\n".encode() * 20,
        b"\x00" * 1000,
    ]


def index_for(n: int, batches: int = 1) -> pa.Table:
    keys = ["α", None, "日本語", "plain", "tab\tnl\n"][:n]
    t = pa.table(
        {
            "key": pa.array(keys, type=pa.string()),
            "score": pa.array([1.5, None, -0.25, 1e300, float("nan")][:n], type=pa.float64()),
            "flag": pa.array([True, False, None, True, False][:n], type=pa.bool_()),
            "blob": pa.array([b"\x00\x01", None, b"", b"xyz", b"\xff"][:n], type=pa.binary()),
            "when": pa.array([datetime.datetime(2020, 1, 2, 3, 4, 5)] * n, type=pa.timestamp("us")),
            "i8": pa.array([-128, 127, 0, None, 5][:n], type=pa.int8()),
        }
    )
    if batches > 1:
        step = max(1, n // batches)
        parts = [t.slice(i, step) for i in range(0, n, step)]
        t = pa.concat_tables(parts)
    return t


def slides(n=1):
    return pa.table(
        {
            "slide_idx": pa.array(list(range(n)), type=pa.uint8()),
            "slide_id": [f"slide-{i:03d}" for i in range(1, n + 1)],
            "patient_id": [f"patient-{i:03d}" for i in range(1, n + 1)],
        }
    )


def build_new(out: Path, expected: dict):
    from iatro.iac import Codec, FixedRecordPack, VariableRecordPack, build_pack, build_pack_streaming
    from iatro.iac.adapters.text import ClinicalDoc, PatientText, build_clinical_text_pack
    from iatro.iac.adapters.text_pair import (
        ClinicalTextPairDoc,
        PatientTextPairs,
        build_clinical_text_pair_pack,
    )
    import numpy as np

    packs = {}

    # 1. The README quick-start (formats/iac.md §9).
    p = out / "quickstart.iac"
    build_pack(
        p,
        {"payload_type": "raw_bytes", "codec": "none"},
        slides(1),
        pa.table({"item_id": ["a", "b"]}),
        [b"first", b"second"],
    )
    packs["quickstart"] = (p, True, None)

    # 2. build_pack, codec none, odd caller header, extra index columns (nulls, non-ASCII).
    p = out / "none_extras.iac"
    build_pack(p, {**caller_header_extras(), "codec": "none"}, slides(2), index_for(5), payload_set())
    packs["none_extras"] = (p, True, None)

    # 3. VariableRecordPack.build brotli (default quality 11, lgwin 24), 3-batch index.
    p = out / "brotli.iac"
    VariableRecordPack.build(
        p,
        payload_type="raw_bytes",
        slide_table=slides(1),
        index_table=index_for(5, batches=3),
        objects=payload_set(),
        codec=Codec.create(Codec.BROTLI),
        extra_header={"note": "brotli default"},
    )
    packs["brotli"] = (p, True, None)

    # 4. brotli with explicit quality/lgwin, streaming builder.
    p = out / "brotli_q5_w18_streaming.iac"
    VariableRecordPack.build(
        p,
        payload_type="raw_bytes",
        slide_table=slides(1),
        index_table=pa.table({"n": pa.array(range(5), type=pa.int32())}),
        objects=payload_set(),
        codec=Codec.create(Codec.BROTLI, quality=5, lgwin=18),
        streaming=True,
    )
    packs["brotli_q5_w18_streaming"] = (p, True, None)

    # 5. zstd (default level 19), streaming.
    p = out / "zstd.iac"
    VariableRecordPack.build(
        p,
        payload_type="raw_bytes",
        slide_table=slides(1),
        index_table=pa.table({"n": pa.array(range(5), type=pa.uint16())}),
        objects=payload_set(),
        codec=Codec.create(Codec.ZSTD),
        streaming=True,
    )
    packs["zstd"] = (p, True, None)

    # 6. zstd level 3.
    p = out / "zstd_l3.iac"
    VariableRecordPack.build(
        p,
        payload_type="raw_bytes",
        slide_table=slides(1),
        index_table=pa.table({"n": pa.array(range(5), type=pa.uint16())}),
        objects=payload_set(),
        codec=Codec.create(Codec.ZSTD, level=3),
    )
    packs["zstd_l3"] = (p, True, None)

    # 7. build_pack_streaming (generator) with pre-declared crc32/offset columns, chunked index.
    p = out / "streaming_predeclared.iac"
    idx = pa.concat_tables(
        [
            pa.table({"crc32": pa.array([7], pa.int64()), "key": ["x"], "offset": pa.array([9], pa.int64())}),
            pa.table({"crc32": pa.array([8, 9], pa.int64()), "key": ["y", "z"], "offset": pa.array([1, 2], pa.int64())}),
        ]
    )
    build_pack_streaming(
        p,
        {"payload_type": "raw_bytes", "codec": "none"},
        slides(1),
        idx,
        (x for x in [b"alpha", b"", b"gamma!"]),
    )
    packs["streaming_predeclared"] = (p, True, None)

    # 8. Empty pack: 0 slides, 0 records.
    p = out / "empty.iac"
    build_pack(
        p,
        {"payload_type": "raw_bytes", "codec": "none"},
        pa.table({"slide_idx": pa.array([], pa.uint8())}),
        pa.table({"key": pa.array([], pa.string())}),
        [],
    )
    packs["empty"] = (p, True, None)

    # 9. Fixed-width records (no offset column).
    p = out / "fixed.iac"
    FixedRecordPack.build(
        p,
        payload_type="teacher_features",
        slide_table=slides(1),
        index_table=pa.table({"tile_id": ["t0", "t1", "t2"]}),
        matrix=np.arange(12, dtype=np.float32).reshape(3, 4),
    )
    packs["fixed"] = (p, False, None)

    # 10. clinical_text_pair adapter (brotli q11), non-ASCII, a zero-doc patient.
    p = out / "text_pair.iac"
    build_clinical_text_pair_pack(
        p,
        [
            PatientTextPairs(
                "P001",
                "医院A",
                [
                    ClinicalTextPairDoc("d1", "入院记录：患者男，65岁。", "男65岁入院", doc_type="入院记录",
                                        encounter="E1", doc_category="病案文书", source="emr",
                                        doc_timestamp="2020-01-02T03:04", episode_index=0),
                    ClinicalTextPairDoc("d2", "Discharge summary\nline 2", "", episode_index=1),
                ],
            ),
            PatientTextPairs("P002", "", []),
            PatientTextPairs("P003", "inst", [ClinicalTextPairDoc("x", "s" * 300, "c" * 10)]),
        ],
        extra_header={"corpus": "fixture"},
    )
    packs["text_pair"] = (p, True, "pair")

    # 11. clinical_text adapter.
    p = out / "text.iac"
    build_clinical_text_pack(
        p,
        [
            PatientText("P1", "H", [ClinicalDoc("a", "第一份文书", doc_type="t", episode_index=2),
                                     ClinicalDoc("b", "second doc")]),
            PatientText("P2", "", []),
        ],
        quality=9,
    )
    packs["text"] = (p, True, "single")

    for name, (path, decode, text_kind) in packs.items():
        expected[name] = dump_pack(path, decode, text_kind)
        expected[name]["writer"] = "iatro-base-iac 0.1.4"
    return packs


def build_old(out: Path, expected: dict):
    # iatro-base-iac 0.0.3: pure Python writer (json.dumps indent=2, ASCII escapes, C brotli).
    from iatro_base.iac import VariableRecordPack, build_pack
    from iatro_base.iac.codecs import BrotliCodec
    from iatro_base.iac.adapters.text_pair import (
        ClinicalTextPairDoc,
        PatientTextPairs,
        build_clinical_text_pair_pack,
    )

    packs = {}
    p = out / "old_none.iac"
    build_pack(p, {**caller_header_extras(), "codec": "none"}, slides(2), index_for(5), payload_set())
    packs["old_none"] = (p, True, None)

    p = out / "old_brotli.iac"
    VariableRecordPack.build(
        p,
        payload_type="raw_bytes",
        slide_table=slides(1),
        index_table=index_for(5, batches=2),
        objects=payload_set(),
        codec=BrotliCodec(),
    )
    packs["old_brotli"] = (p, True, None)

    p = out / "old_text_pair.iac"
    build_clinical_text_pair_pack(
        p,
        [PatientTextPairs("Q1", "院", [ClinicalTextPairDoc("d", "源文本", "摘要", old_doc_id="o1")])],
    )
    packs["old_text_pair"] = (p, True, "pair")
    # The expected values of old packs are read with the NEW reader (run `verify` below) and the
    # old one alike; dump with the old package here.
    for name, (path, decode, text_kind) in packs.items():
        expected[name] = dump_pack_old(path, decode)
        if text_kind:
            expected[name]["patients"] = read_text(path, text_kind)
        expected[name]["writer"] = "iatro-base-iac 0.0.3"
    return packs


def dump_pack_old(path: Path, decode: bool):
    from iatro_base.iac import PackReader, VariableRecordPack

    r = PackReader(path)
    out = {
        "header": jsonable(dict(r.header)),
        "slide_table": table_json(r.slide_table),
        "index_table": table_json(r.index_table),
        "stored": [r.read_payload(i).hex() for i in range(r.index_table.num_rows)],
    }
    if decode:
        p = VariableRecordPack(path)
        out["decoded"] = [bytes(p.read(i)).hex() for i in range(r.index_table.num_rows)]
    return out


def main():
    import zstandard  # noqa: F401  (pip install zstandard) — to store fixtures compressed

    gen = sys.argv[1]
    exp_path = HERE / "expected.json"
    expected = json.loads(exp_path.read_text()) if exp_path.exists() else {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        packs = build_new(d, expected) if gen == "new" else build_old(d, expected)
        import zstandard as zstd

        for name, (path, _, _) in packs.items():
            data = path.read_bytes()
            (HERE / f"{name}.iac.zst").write_bytes(zstd.ZstdCompressor(level=19).compress(data))
    exp_path.write_text(json.dumps(dict(sorted(expected.items())), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
