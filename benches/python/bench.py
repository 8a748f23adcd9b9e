"""Python-side figures of inframed (run by hand; not part of the test suite).

    cargo run --release -- synth /tmp/synth100k --patients 100000 --repository
    .venv/bin/python benches/python/bench.py /tmp/synth100k/<name>.repository [--signal Hemoglobin]

Prints ns per `get` call, ns per patient of `get_many`, `get_sig` seconds, `open` ms and the
RSS after open. With medpython (and/or meds_reader) importable in the same interpreter, the
same calls are timed on the same data beside ours: `--medpython` (uget, get_sig, read_all).
Figures go into BENCHMARKS.md as ratios, with the command and the machine.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import inframed


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--signal", default="Hemoglobin")
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--medpython", action="store_true")
    a = ap.parse_args()

    base = rss_mb()
    t = time.perf_counter()
    rep = inframed.open(a.repo)
    open_ms = (time.perf_counter() - t) * 1e3
    print(f"open: {open_ms:.2f} ms, RSS +{rss_mb() - base:.1f} MB")

    pids = [int(p) for p in rep.pids]
    rng = random.Random(1)
    keys = [rng.choice(pids) for _ in range(a.calls)]
    sig = a.signal
    get = rep.get

    def loop():
        for p in keys:
            get(p, sig)

    s = best(loop, 3)
    print(f"get: {s / len(keys) * 1e9:.0f} ns per call")
    batch = keys[:10_000]
    s = best(lambda: rep.get_many(batch, sig))
    print(f"get_many: {s / len(batch) * 1e9:.0f} ns per patient")
    s = best(lambda: rep.get_sig(sig), 3)
    n = len(rep.get_sig(sig))
    print(f"get_sig({sig}): {s:.3f} s for {n} rows")

    if a.medpython:
        import med  # medpython

        mrep = med.PidRepository()
        t = time.perf_counter()
        mrep.read_all(a.repo, [], [])
        print(f"medpython read_all: {time.perf_counter() - t:.3f} s, RSS {rss_mb():.0f} MB")
        sid = mrep.sigs.sid(sig)
        uget = mrep.uget

        def mloop():
            for p in keys:
                uget(p, sid)

        s = best(mloop, 3)
        print(f"medpython uget: {s / len(keys) * 1e9:.0f} ns per call")
        s = best(lambda: mrep.get_sig(sig, translate=False, float32to64=False, free_signal=False), 3)
        print(f"medpython get_sig({sig}): {s:.3f} s")


if __name__ == "__main__":
    main()
