#!/usr/bin/env python3
"""The peer workload (issue 20 item 7): inframed, medpython, meds_reader, DuckDB and Polars
on the same data, measured the same way. Driven by benches/peers/run (see README.md there).

    peers.py convert duckdb|polars DIR     build that system's store from DIR/meds; prints s
    peers.py one SYSTEM DIR                one system's figures as JSON (a fresh process)
    peers.py table DIR N                   keys, every system (one process each), the table

DIR holds what run made: repo/ (inframed convert), meds/ (export --to meds), medsdb/
(meds_reader_convert), duckdb/events.duckdb, polars/events.parquet, convert.tsv (times).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import time

SYSTEMS = ["inframed", "medpython", "meds_reader", "duckdb", "polars"]
SCAN_SIGNAL = "Hemoglobin"
LABS = ["Hemoglobin", "WBC", "Platelets", "Glucose", "Creatinine", "Sodium", "Potassium",
        "Cholesterol", "HDL", "LDL"]
WINDOW = (20120101, 20141231)  # inclusive dates (YYYYMMDD); MEDS times are midnights
N_KEYS = 10_000
BUDGET_S = float(os.environ.get("PEERS_BUDGET_S", "20"))  # per timed loop and system
WARMUP = 200
# Each system's store, read once before its query process starts (see `page_in`).
STORES = {"inframed": "repo", "medpython": "repo", "meds_reader": "medsdb",
          "duckdb": "duckdb", "polars": "polars"}


def ymd_to_dt(d: int) -> dt.datetime:
    return dt.datetime(d // 10000, d // 100 % 100, d % 100)


def page_in(path: str) -> None:
    """Reads every file under `path` once, so that a system's queries start with its store in
    the page cache: the peer converts that run before the queries (several GB of memory at
    1M patients) can push an earlier store out, which would charge a mapped store (inframed)
    with disk faults that a store read into memory at open (medpython) never sees."""
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                while fh.read(1 << 22):
                    pass


def dir_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def repo_config(d: str) -> str:
    for f in os.listdir(os.path.join(d, "repo")):
        if f.endswith(".repository"):
            return os.path.join(d, "repo", f)
    raise SystemExit(f"no *.repository in {d}/repo")


def timed_loop(fn, keys):
    """Calls fn(key) over keys (after WARMUP untimed calls) until done or BUDGET_S is spent.
    Returns (seconds per call, calls made, [result per call])."""
    for k in keys[:WARMUP]:
        fn(k)
    out = []
    t0 = time.perf_counter()
    deadline = t0 + BUDGET_S
    for i, k in enumerate(keys):
        out.append(fn(k))
        if i % 50 == 49 and time.perf_counter() > deadline:
            break
    el = time.perf_counter() - t0
    return el / len(out), len(out), out


def best_of(fn, repeat=3):
    """Best of up to `repeat` runs (fewer when one run eats the budget); (s, result)."""
    best, res, spent = None, None, 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        d = time.perf_counter() - t
        spent += d
        best = d if best is None else min(best, d)
        if spent > BUDGET_S:
            break
    return best, res


# ----------------------------------------------------------------------------- converts

def convert(system: str, d: str) -> None:
    src = os.path.join(d, "meds", "data", "**", "*.parquet")
    t = time.perf_counter()
    if system == "duckdb":
        import duckdb

        out = os.path.join(d, "duckdb", "events.duckdb")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(out):
            os.remove(out)
        con = duckdb.connect(out)
        con.execute("SET threads=2")
        con.execute(
            "CREATE TABLE events AS SELECT subject_id, split_part(code, '//', 1) AS signal, "
            "code, time, time1, numeric_value, value0, value1 "
            f"FROM read_parquet('{src}') ORDER BY subject_id, signal, time"
        )
        con.execute("CHECKPOINT")
        con.close()
    elif system == "polars":
        import polars as pl

        out = os.path.join(d, "polars", "events.parquet")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        (
            pl.scan_parquet(src)
            .with_columns(signal=pl.col("code").str.split("//").list.first())
            .sort(["subject_id", "signal", "time"])
            .sink_parquet(out)
        )
    else:
        raise SystemExit(f"no convert step for {system}")
    print(f"{time.perf_counter() - t:.3f}")


# ----------------------------------------------------------------------------- one system

def one(system: str, d: str) -> dict:
    keys = [tuple(k) for k in json.load(open(os.path.join(d, "keys.json")))["get"]]
    rkeys = [tuple(k) for k in json.load(open(os.path.join(d, "keys.json")))["range"]]
    lo, hi = WINDOW
    lo_t, hi_t = ymd_to_dt(lo), ymd_to_dt(hi)
    r: dict = {"system": system}
    t0 = time.perf_counter()

    if system == "inframed":
        import inframed

        rep = inframed.open(repo_config(d))
        rep.get(*keys[0])
        r["open_s"] = time.perf_counter() - t0
        get = rep.get
        r["get"] = timed_loop(lambda k: len(get(k[0], k[1])), keys)
        r["range"] = timed_loop(lambda k: len(get(k[0], k[1], lo, hi)), rkeys)

        def scan():
            arr, _ = rep.get_many(rep.pids, SCAN_SIGNAL)
            return float(arr["val0"].sum(dtype="float64"))

        r["scan"] = best_of(scan)
        r["size_bytes"] = dir_bytes(os.path.join(d, "repo"))

    elif system == "medpython":
        import med

        rep = med.PidRepository()
        rep.read_all(repo_config(d), [], [])
        sids = {s: rep.sig_id(s) for s in set(k[1] for k in keys + rkeys) | {SCAN_SIGNAL}}
        rep.uget(keys[0][0], sids[keys[0][1]])
        r["open_s"] = time.perf_counter() - t0
        uget = rep.uget
        r["get"] = timed_loop(lambda k: len(uget(k[0], sids[k[1]])), keys)

        def rng(k):  # no windowed get in medpython: the whole vector, then its elements
            return sum(1 for e in uget(k[0], sids[k[1]]) if lo <= e.time(0) <= hi)

        r["range"] = timed_loop(rng, rkeys)

        def scan():
            e = rep.export_to_numpy(SCAN_SIGNAL, [], True, False, False, "")
            return float(e.transfer_column("val0").sum(dtype="float64"))

        r["scan"] = best_of(scan)
        r["size_bytes"] = dir_bytes(os.path.join(d, "repo"))

    elif system == "meds_reader":
        import meds_reader

        db = meds_reader.SubjectDatabase(os.path.join(d, "medsdb"), num_threads=1)

        def match(code, s):
            return code == s or code.startswith(s + "//")

        def get(k):
            return sum(1 for e in db[k[0]].events if match(e.code, k[1]))

        get(keys[0])
        r["open_s"] = time.perf_counter() - t0
        r["get"] = timed_loop(get, keys)

        def rng(k):
            return sum(
                1
                for e in db[k[0]].events
                if match(e.code, k[1]) and e.time is not None and lo_t <= e.time <= hi_t
            )

        r["range"] = timed_loop(rng, rkeys)

        def scan():
            total = 0.0
            for pid in db:
                for e in db[pid].events:
                    if e.code == SCAN_SIGNAL:
                        total += e.numeric_value
            return total

        r["scan"] = best_of(scan)
        r["size_bytes"] = dir_bytes(os.path.join(d, "medsdb"))

    elif system == "duckdb":
        import duckdb

        path = os.path.join(d, "duckdb", "events.duckdb")
        con = duckdb.connect(path, read_only=True)
        con.execute("SET threads=1")
        q_get = ("SELECT time, time1, numeric_value, value0, value1 FROM events "
                 "WHERE subject_id = ? AND signal = ?")
        q_rng = q_get + " AND time BETWEEN ? AND ?"

        def get(k):
            return len(con.execute(q_get, [k[0], k[1]]).fetchnumpy()["time"])

        get(keys[0])
        r["open_s"] = time.perf_counter() - t0
        r["get"] = timed_loop(get, keys)
        r["range"] = timed_loop(
            lambda k: len(con.execute(q_rng, [k[0], k[1], lo_t, hi_t]).fetchnumpy()["time"]),
            rkeys,
        )
        r["scan"] = best_of(
            lambda: float(con.execute(
                "SELECT sum(numeric_value::DOUBLE) FROM events WHERE signal = ?",
                [SCAN_SIGNAL]).fetchone()[0])
        )
        r["size_bytes"] = dir_bytes(path)

    elif system == "polars":
        import polars as pl

        path = os.path.join(d, "polars", "events.parquet")
        df = pl.read_parquet(path)
        sid, sig, tm = pl.col("subject_id"), pl.col("signal"), pl.col("time")

        def get(k):
            return df.filter((sid == k[0]) & (sig == k[1])).height

        get(keys[0])
        r["open_s"] = time.perf_counter() - t0
        r["get"] = timed_loop(get, keys)
        r["range"] = timed_loop(
            lambda k: df.filter((sid == k[0]) & (sig == k[1]) & tm.is_between(lo_t, hi_t)).height,
            rkeys,
        )
        r["scan"] = best_of(
            lambda: float(df.filter(sig == SCAN_SIGNAL)["numeric_value"]
                          .cast(pl.Float64).sum())
        )
        r["size_bytes"] = dir_bytes(path)
    else:
        raise SystemExit(f"unknown system {system}")

    for w in ("get", "range"):
        per, n, counts = r[w]
        r[w] = {"s_per_call": per, "calls": n, "elements": sum(counts), "counts": counts}
    s, val = r["scan"]
    r["scan"] = {"s": s, "sum": val}
    return r


# ----------------------------------------------------------------------------- table

def fmt_time(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_size(b: int | None) -> str:
    if b is None:
        return "n/a"
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.1f} {unit}"
    return f"{b} B"


def fmt_ratio(x: float, base: float) -> str:
    if not base:
        return ""
    r = x / base
    return f" ({r:.0f}×)" if r >= 10 else f" ({r:.1f}×)" if r >= 0.095 else f" ({r:.3f}×)"


def sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def cpu_model() -> str:
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def versions() -> str:
    from importlib.metadata import version

    out = []
    for p in ("inframed", "medpython", "meds_reader", "duckdb", "polars", "pyarrow", "numpy"):
        try:
            out.append(f"{p} {version(p)}")
        except Exception:
            out.append(f"{p} ?")
    return ", ".join(out)


def table(d: str, n: int) -> str:
    import inframed

    rep = inframed.open(repo_config(d))
    pids = [int(p) for p in rep.pids]
    signals = list(rep.signals)
    rng = random.Random(1)
    keys = {
        "get": [(rng.choice(pids), rng.choice(signals)) for _ in range(N_KEYS)],
        "range": [(rng.choice(pids), rng.choice(LABS)) for _ in range(N_KEYS)],
    }
    del rep
    with open(os.path.join(d, "keys.json"), "w") as f:
        json.dump(keys, f)

    load_before = sh("uptime")
    started = dt.datetime.now(dt.timezone.utc)
    res: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for s in SYSTEMS:
        env = dict(os.environ, OMP_NUM_THREADS="1", POLARS_MAX_THREADS="1",
                   RAYON_NUM_THREADS="1")
        page_in(os.path.join(d, STORES[s]))
        p = subprocess.run([sys.executable, __file__, "one", s, d], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            errors[s] = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
            print(f"{s}: FAILED: {errors[s]}", file=sys.stderr)
            continue
        res[s] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"{s}: done", file=sys.stderr)
    load_after = sh("uptime")

    conv: dict[str, float] = {}
    cpath = os.path.join(d, "convert.tsv")
    if os.path.exists(cpath):
        for line in open(cpath):
            k, v = line.split("\t")[:2]
            conv[k] = float(v)

    cols = [s for s in SYSTEMS]
    base = res.get("inframed")
    notes: list[str] = []

    def cell(s, val, fmt, bval):
        if s in errors:
            return "failed¹"
        if val is None:
            return "n/a"
        if s == "inframed" or bval is None:
            return fmt(val)
        return fmt(val) + fmt_ratio(val, bval)

    rows = []
    ref_counts = {w: base[w]["counts"] if base else None for w in ("get", "range")}
    check: dict[str, list[str]] = {}
    for w, label in (("get", f"random get (per call; {N_KEYS:,} random (pid, signal) keys, all signals)"),
                     ("range", f"range (per call; one pid, one lab signal, {WINDOW[0]}–{WINDOW[1]})")):
        line = [label]
        for s in cols:
            r = res.get(s)
            v = r[w]["s_per_call"] if r else None
            line.append(cell(s, v, fmt_time, base[w]["s_per_call"] if base else None))
            if r and r[w]["calls"] < N_KEYS:
                notes.append(f"{s} {w}: the first {r[w]['calls']:,} of the {N_KEYS:,} keys "
                             f"(time budget {BUDGET_S:.0f} s reached)")
            if r and ref_counts[w] is not None:
                m = min(len(ref_counts[w]), len(r[w]["counts"]))
                ok = ref_counts[w][:m] == r[w]["counts"][:m]
                check.setdefault(s, []).append(
                    f"{w}: {sum(r[w]['counts'][:m]):,} elements over {m:,} keys"
                    + ("" if ok else " (DIFFERS from inframed)"))
        rows.append(line)
    line = [f"whole-signal scan (sum of {SCAN_SIGNAL} over all patients)"]
    for s in cols:
        r = res.get(s)
        line.append(cell(s, r["scan"]["s"] if r else None, fmt_time,
                         base["scan"]["s"] if base else None))
        if r:
            check.setdefault(s, []).append(f"scan sum {r['scan']['sum']:.6g}")
    rows.append(line)
    line = ["open (to the first get)"]
    for s in cols:
        r = res.get(s)
        line.append(cell(s, r["open_s"] if r else None, fmt_time, base["open_s"] if base else None))
    rows.append(line)
    line = ["convert"]
    for s in cols:
        v = conv.get(s)
        line.append(cell(s, v, fmt_time, conv.get("inframed")) if s != "medpython"
                    else "n/a²")
    rows.append(line)
    line = ["size on disk"]
    for s in cols:
        r = res.get(s)
        line.append(cell(s, r["size_bytes"] if r else None, fmt_size,
                         base["size_bytes"] if base else None))
    rows.append(line)

    hdr = ["workload"] + cols
    md = []
    md.append(f"### Peers at {n:,} patients")
    md.append("")
    md.append(f"{started:%Y-%m-%d %H:%M} UTC, `nproc` {os.cpu_count()}, {cpu_model()}, "
              f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    md.append("")
    md.append(f"- load before: `{load_before}`")
    md.append(f"- load after: `{load_after}`")
    md.append(f"- data: `inframed synth --patients {n}` ({len(pids):,} patients, "
              f"{len(signals)} signals); "
              f"MEDS {fmt_size(dir_bytes(os.path.join(d, 'meds')))}")
    md.append(f"- versions: {versions()}")
    md.append("")
    md.append("| " + " | ".join(hdr) + " |")
    md.append("|" + "|".join(["---"] + ["---:"] * len(cols)) + "|")
    for r in rows:
        md.append("| " + " | ".join(r) + " |")
    md.append("")
    md.append("Ratios are system / inframed (above 1× is slower or larger than inframed). "
              "Queries single-threaded in every system (OMP_NUM_THREADS, POLARS_MAX_THREADS=1, "
              "DuckDB `SET threads=1`), converts with 2 threads; each system's store read once "
              "just before its queries (page cache warm); one run on a shared machine.")
    md.append("")
    if errors:
        for s, e in errors.items():
            md.append(f"¹ {s} failed: `{e}`")
    md.append("² medpython has no convert here: it reads the MODE 3 repository that "
              "`inframed convert` wrote (same files, hence the same size).")
    for k in ("export_meds", "export_parquet_long"):
        if k in conv:
            md.append(f"- `inframed export --to {'meds' if k == 'export_meds' else 'parquet --layout long'}`"
                      f": {fmt_time(conv[k])} (the peers' input; not in the convert row)")
    for nt in notes:
        md.append(f"- {nt}")
    md.append("- checks (same keys, same answers): " + "; ".join(
        f"{s}: " + ", ".join(v) for s, v in check.items()))
    text = "\n".join(md) + "\n"
    with open(os.path.join(d, f"results-{n}.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, f"results-{n}.json"), "w") as f:
        json.dump({s: {k: v for k, v in r.items()} for s, r in res.items()}
                  | {"convert": conv, "errors": errors}, f)
    return text


def main() -> None:
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "convert":
        convert(a[1], a[2])
    elif len(a) == 3 and a[0] == "one":
        r = one(a[1], a[2])
        print(json.dumps(r))
    elif len(a) == 3 and a[0] == "table":
        print(table(a[1], int(a[2])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
