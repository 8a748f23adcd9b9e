"""Python-side figures of inframed (run by hand; not part of the test suite).

    cargo run --release -- synth /tmp/synth100k --patients 100000 --repository
    .venv/bin/python benches/python/bench.py /tmp/synth100k/<name>.repository [--signal Hemoglobin]

Prints ns per `get` call, ns per patient of `get_many`, `get_sig` and `to_arrow` seconds,
`open` ms and the RSS after open. With medpython (and/or meds_reader) importable in the same
interpreter, the same calls are timed on the same data beside ours: `--medpython` (uget,
get_sig, read_all), `--meds-reader DB` (a `meds_reader_convert` database of the same data,
e.g. of `rep.export(out, to="meds")`: `SubjectDatabase` open, `db[pid]` per call, and the
Hemoglobin measurements of one subject). Figures go into BENCHMARKS.md as ratios, with the
command and the machine.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import numpy as np

import inframed


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


GET_SIG_CALLS = 15


def best(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def per_call(call, keys, signal) -> float:
    """ns per `call(pid, signal)` over `keys`, best of 5 loops."""

    def run():
        for p in keys:
            call(p, signal)

    return best(run, 5) / len(keys) * 1e9


def key_lists(keys, scattered):
    return [("keys created in loop order", keys), ("keys scattered in memory", scattered)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--signal", default="Hemoglobin")
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--medpython", action="store_true")
    ap.add_argument("--meds-reader", metavar="DB")
    a = ap.parse_args()

    base = rss_mb()
    t = time.perf_counter()
    rep = inframed.open(a.repo)
    open_ms = (time.perf_counter() - t) * 1e3
    print(f"open: {open_ms:.2f} ms, RSS +{rss_mb() - base:.1f} MB")

    pids = [int(p) for p in rep.pids]
    rng = random.Random(1)
    # `scattered`: random picks from one list of int objects, so each key is an object
    # somewhere in a 100k-object heap, and the loop itself takes a cache miss per key to read
    # it (listiter_next was 21 % of a perf profile of this loop). `keys`: the same pids as
    # int objects created in loop order (as `arr.tolist()` or `range` give them), so that the
    # figure is the call's own cost. Both are printed; every system is timed on both.
    scattered = [rng.choice(pids) for _ in range(a.calls)]
    keys = [int(str(p)) for p in scattered]
    sig = a.signal
    get = rep.get

    for label, ks in key_lists(keys, scattered):
        print(f"get: {per_call(get, ks, sig):.0f} ns per call ({label})")

    # The floor of any call that returns a new numpy array, in the same kind of loop.
    def floor():
        empty, i32 = np.empty, np.int32
        for _ in keys:
            empty(3, dtype=i32)

    s = best(floor, 5)
    print(f"np.empty(3) in the same loop: {s / len(keys) * 1e9:.0f} ns per call")
    batch = keys[:10_000]
    arr = np.asarray(batch, dtype=np.int64)
    s = best(lambda: rep.get_many(arr, sig), 20)
    print(f"get_many: {s / len(batch) * 1e9:.0f} ns per patient (int64 array of 10 000 pids)")
    s = best(lambda: rep.get_many(batch, sig), 20)
    print(f"get_many: {s / len(batch) * 1e9:.0f} ns per patient (list of 10 000 ints)")
    # 15 calls (both sides): the first few of a process pay first touches of fresh
    # multi-MB allocations (3-5x the later ones here); best of 3 measured the allocator.
    s = best(lambda: rep.get_sig(sig), GET_SIG_CALLS)
    n = len(rep.get_sig(sig))
    print(f"get_sig({sig}): {s:.3f} s for {n} rows")
    try:
        import pyarrow as pa
    except ImportError:
        pa = None
    if pa is not None:
        s = best(lambda: pa.table(rep.to_arrow(sig)), 3)
        print(f"to_arrow({sig}) -> pyarrow.table: {s:.3f} s")
        peak = rss_mb()

        def stream():
            return sum(b.num_rows for b in pa.RecordBatchReader.from_stream(rep.to_arrow(sig)))

        s = best(stream, 3)
        print(f"to_arrow({sig}) batch by batch: {s:.3f} s, RSS +{rss_mb() - peak:.1f} MB")
    print(f"RSS now {rss_mb():.0f} MB")

    if a.medpython:
        import med  # medpython

        mrep = med.PidRepository()
        before = rss_mb()
        t = time.perf_counter()
        mrep.read_all(a.repo, [], [])
        dt = time.perf_counter() - t
        print(f"medpython read_all: {dt:.3f} s, RSS +{rss_mb() - before:.0f} MB")
        sid = mrep.sig_id(sig)
        uget = mrep.uget

        for label, ks in key_lists(keys, scattered):
            print(f"medpython uget: {per_call(uget, ks, sid):.0f} ns per call ({label})")
        s = best(
            lambda: mrep.get_sig(sig, translate=False, float32to64=False, free_signal=False),
            GET_SIG_CALLS,
        )
        print(f"medpython get_sig({sig}): {s:.3f} s")

    if a.meds_reader:
        import meds_reader

        before = rss_mb()
        t = time.perf_counter()
        db = meds_reader.SubjectDatabase(a.meds_reader, num_threads=1)
        dt = (time.perf_counter() - t) * 1e3
        print(f"meds_reader open: {dt:.2f} ms, RSS +{rss_mb() - before:.1f} MB")
        mkeys = keys[: max(1, len(keys) // 10)]

        def dloop():
            for p in mkeys:
                db[p]

        s = best(dloop, 3)
        print(f"meds_reader db[pid]: {s / len(mkeys) * 1e9:.0f} ns per call")

        def dsig():
            for p in mkeys:
                [e for e in db[p].events if e.code == sig]

        s = best(dsig, 3)
        print(f"meds_reader db[pid] + {sig} events: {s / len(mkeys) * 1e9:.0f} ns per call")


if __name__ == "__main__":
    main()
