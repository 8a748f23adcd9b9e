#!/usr/bin/env python3
"""Writes the MEDS fixtures of tests/meds_*.rs, with pyarrow and the `meds` package's schema,
and records meds_reader's view of the small dataset. Run by hand; the outputs are committed.

    python3 -m venv /tmp/medsvenv
    /tmp/medsvenv/bin/pip install pyarrow==26.0.1 meds==0.4.1 meds_reader==0.2.0
    /tmp/medsvenv/bin/python testdata/meds/make_fixture.py

Last run with CPython 3.11.7, pyarrow 26.0.1, meds 0.4.1, meds_reader 0.2.0 (the script
refuses other pyarrow and meds versions, so that a rerun rewrites the same files).

Outputs (under testdata/meds/):
  small/                       a MEDS 0.4 dataset: two data files whose subject ids interleave
                               (data/train/0.parquet, data/held_out/0.parquet), several row
                               groups, static rows, dates and times of day, numeric and
                               value-less codes, metadata/dataset.json, codes.parquet,
                               subject_splits.parquet
  small_meds_reader.json       meds_reader 0.2.0's events of `small` (meds_reader_convert, then
                               every subject's events): {subject_id: [[time, code, value], …]}
  text/                        a MEDS 0.4 dataset in the full `meds.DataSchema` (with the
                               nullable `text_value` column): rows with a text only, rows with
                               a numeric value and a text, rows with neither
  text_expected.json           what tests/meds_text_value.rs expects of `text` (docs/meds.md):
                               every row, the rows with a text, the stored events, the bad rows
  bad/                         rows the importer must drop (null subject_id, a code that is
                               numeric in some rows only, a static row of a timed code)
  malformed/wrong_schema/      a data file without a `code` column
  malformed/wrong_types/       a data file whose `time` is a string column
"""
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile

import meds
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
VERSIONS = {"pyarrow": "26.0.1", "meds": "0.4.1"}
SCHEMA = pa.schema([f for f in meds.DataSchema.schema() if f.name != "text_value"])
# The real MEDS 0.4.1 data schema: subject_id, time, code, numeric_value, text_value.
FULL = meds.DataSchema.schema()


def t(*a):
    return dt.datetime(*a)


def events():
    """(subject_id, time, code, numeric_value) rows, per subject in time order."""
    rows = []
    for s in [3, 5, 8, 13, 21, 34]:
        rows.append((s, None, "GENDER//F" if s % 2 else "GENDER//M", None))
        rows.append((s, t(1950 + s, 1 + s % 12, 1 + s % 28), meds.birth_code, None))
        for k in range(4):
            day = t(2010 + k, 1 + (s + k) % 12, 1 + (3 * s + k) % 28)
            rows.append((s, day, "LOINC/718-7", 10.0 + s / 4 + k * 0.5))
            rows.append((s, day, "ICD10CM/E11.9" if k % 2 else "ICD10CM/I10", None))
            # a time of day: the Glucose signal becomes a minutes signal
            rows.append((s, day + dt.timedelta(hours=7, minutes=s + k), "Glucose", 90.0 + s + k))
        rows.append((s, t(2014, 6, 1, 12, 30), "LAB//HbA1c", 5.5 + s / 10))
        if s == 34:
            rows.append((s, t(2015, 1, 2), meds.death_code, None))
    rows.sort(key=lambda r: (r[0], r[1] is not None, r[1] or dt.datetime.min))
    return rows


def write(path, rows, schema=SCHEMA, row_group_size=16):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cols = list(zip(*rows))
    table = pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema
    )
    pq.write_table(table, path, row_group_size=row_group_size)


def small():
    d = os.path.join(HERE, "small")
    shutil.rmtree(d, ignore_errors=True)
    rows = events()
    train = [r for r in rows if r[0] in (3, 8, 21)]
    held = [r for r in rows if r[0] not in (3, 8, 21)]
    write(os.path.join(d, "data/train/0.parquet"), train)
    write(os.path.join(d, "data/held_out/0.parquet"), held)
    os.makedirs(os.path.join(d, "metadata"), exist_ok=True)
    codes = sorted({r[2] for r in rows})
    pq.write_table(
        pa.Table.from_pylist(
            [{"code": c, "description": c, "parent_codes": []} for c in codes],
            schema=meds.CodeMetadataSchema.schema(),
        ),
        os.path.join(d, "metadata/codes.parquet"),
    )
    pq.write_table(
        pa.Table.from_pylist(
            [{"subject_id": s, "split": "train" if s in (3, 8, 21) else "held_out"}
             for s in sorted({r[0] for r in rows})],
            schema=meds.SubjectSplitSchema.schema(),
        ),
        os.path.join(d, "metadata/subject_splits.parquet"),
    )
    with open(os.path.join(d, "metadata/dataset.json"), "w") as f:
        json.dump({"dataset_name": "inframed_fixture", "dataset_version": "1",
                   "etl_name": "make_fixture.py", "etl_version": "1",
                   "meds_version": meds.__version__,
                   "created_at": "2026-12-02T00:00:00"}, f, indent=2)
    return d


def reader_view(d):
    import meds_reader

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db")
        subprocess.run(["meds_reader_convert", d, db, "--num_threads", "1"], check=True)
        out = {}
        with meds_reader.SubjectDatabase(db) as database:
            for sid in sorted(database):
                evs = []
                for e in database[sid].events:
                    time = e.time.isoformat() if e.time is not None else None
                    v = e.numeric_value
                    evs.append([time, e.code, None if v is None else float(v)])
                out[str(sid)] = evs
    with open(os.path.join(HERE, "small_meds_reader.json"), "w") as f:
        json.dump(out, f, indent=1)


def text_events():
    """(subject_id, time, code, numeric_value, text_value) rows, per subject in time order."""
    rows = []
    for s in [1, 2, 4]:
        rows.append((s, None, "GENDER//F" if s % 2 else "GENDER//M", None, None))
        for k in range(3):
            day = t(2020, 1 + k, 1 + s)
            # a text only, code with a vocabulary prefix: the categorical signal NOTE
            rows.append((s, day, "NOTE/discharge" if k % 2 else "NOTE/progress", None,
                         f"note {s}.{k}"))
            # a numeric value and a text (a flag), a time of day: the numeric signal LAB/K
            rows.append((s, day + dt.timedelta(hours=8, minutes=k), "LAB/K", 3.5 + s / 10 + k / 4,
                         "H" if k == 1 else None))
        # a text only, a plain code: the time-only signal COMMENT
        rows.append((s, t(2020, 6, s), "COMMENT", None, f"free text {s}"))
    # a text instead of the number of a numeric code: a bad row (no numeric_value)
    rows.append((4, t(2020, 7, 1, 9, 0), "LAB/K", None, "hemolysed"))
    rows.sort(key=lambda r: (r[0], r[1] is not None, r[1] or dt.datetime.min))
    return rows


def text():
    d = os.path.join(HERE, "text")
    shutil.rmtree(d, ignore_errors=True)
    rows = text_events()
    write(os.path.join(d, "data/0.parquet"), rows, schema=FULL, row_group_size=4)
    os.makedirs(os.path.join(d, "metadata"), exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(
            [{"code": c, "description": c, "parent_codes": []}
             for c in sorted({r[2] for r in rows})],
            schema=meds.CodeMetadataSchema.schema(),
        ),
        os.path.join(d, "metadata/codes.parquet"),
    )
    with open(os.path.join(d, "metadata/dataset.json"), "w") as f:
        json.dump({"dataset_name": "inframed_text_fixture", "meds_version": meds.__version__,
                   "created_at": "2026-12-02T00:00:00"}, f, indent=2)
    # The file as pyarrow reads it back: text_value is there, large_string, with nulls.
    back = pq.read_table(os.path.join(d, "data/0.parquet"))
    assert back.schema.field("text_value").type == pa.large_string(), back.schema
    assert back.column("text_value").null_count == sum(r[4] is None for r in rows)

    def iso(x):
        return None if x is None else x.isoformat()

    # docs/meds.md: the text is not stored; the row's code and numeric_value are imported as
    # any other row, so a text-only row of a code with numeric values elsewhere is a bad row.
    numeric_codes = {r[2] for r in rows if r[3] is not None}
    bad = [r for r in rows if r[3] is None and r[2] in numeric_codes]
    stored = [r for r in rows if r not in bad]
    expected = {
        "rows": [[r[0], iso(r[1]), r[2], r[3], r[4]] for r in rows],
        "text_rows": sum(r[4] is not None for r in rows),
        "stored": [[r[0], iso(r[1]), r[2], r[3]] for r in stored],
        "bad": [[r[0], iso(r[1]), r[2], "no numeric_value"] for r in bad],
        "signals": {"COMMENT": 3, "GENDER": 3, "LAB/K": 9, "NOTE": 9},
    }
    assert sum(expected["signals"].values()) == len(stored)
    with open(os.path.join(HERE, "text_expected.json"), "w") as f:
        # one row a line
        parts = []
        for k, v in expected.items():
            if isinstance(v, list):
                v = "[\n  " + ",\n  ".join(json.dumps(r) for r in v) + "\n ]"
            else:
                v = json.dumps(v)
            parts.append(f" {json.dumps(k)}: {v}")
        f.write("{\n" + ",\n".join(parts) + "\n}\n")
    return d


def bad():
    d = os.path.join(HERE, "bad")
    shutil.rmtree(d, ignore_errors=True)
    rows = [
        (1, t(2020, 1, 1), "HR", 60.0),
        (1, t(2020, 1, 2), "HR", None),  # numeric elsewhere: dropped
        (None, t(2020, 1, 3), "HR", 70.0),  # null subject: dropped
        (2, None, "HR", 80.0),  # a static row of a timed code: dropped
        (2, t(2020, 1, 4), "HR", 75.0),
    ]
    write(os.path.join(d, "data/0.parquet"), rows)


def malformed():
    d = os.path.join(HERE, "malformed")
    shutil.rmtree(d, ignore_errors=True)
    no_code = pa.schema([f for f in SCHEMA if f.name != "code"])
    write(os.path.join(d, "wrong_schema/data/0.parquet"),
          [(1, t(2020, 1, 1), 1.0)], schema=no_code)
    str_time = pa.schema([pa.field("subject_id", pa.int64()), pa.field("time", pa.string()),
                          pa.field("code", pa.string()), pa.field("numeric_value", pa.float32())])
    write(os.path.join(d, "wrong_types/data/0.parquet"),
          [(1, "2020-01-01", "HR", 1.0)], schema=str_time)


if __name__ == "__main__":
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    for mod, want in [(pa, VERSIONS["pyarrow"]), (meds, VERSIONS["meds"])]:
        if mod.__version__ != want:
            sys.exit(f"{mod.__name__} {mod.__version__}: this script pins {want}")
    d = small()
    reader_view(d)
    d = text()
    # meds_reader accepts the text dataset (it reads text_value): checked, not recorded.
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["meds_reader_convert", d, os.path.join(tmp, "db"), "--num_threads", "1"],
                       check=True)
    bad()
    malformed()
