#!/usr/bin/env python3
"""The original reader (medpython 1.2.1, `med.PidRepository`) on the same repository as
`inframed bench`: read_all time, uget per call, export_to_numpy per record. Outside cargo test.

    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install medpython==1.2.1 numpy pandas
    target/release/inframed synth /tmp/synth100k --patients 100000 --repository
    OMP_NUM_THREADS=1 /tmp/mpvenv/bin/python benches/peers/medpython_peer.py /tmp/synth100k/synth.repository

Prints `metric<TAB>value` lines (compare with `inframed bench` on the same path).
"""
import random
import sys
import time

import med  # medpython

def main(path, lookups=200_000, seed=1):
    rep = med.PidRepository()
    t = time.perf_counter()
    rep.read_all(path, [], [])
    read_all = time.perf_counter() - t
    pids = list(rep.pids)
    sigs = [(name, rep.sig_id(name)) for name in rep.sigs.signals_names] if hasattr(rep, "sigs") else []
    if not sigs:
        sigs = [(n, rep.sig_id(n)) for n in ("GENDER", "BDATE", "Hemoglobin", "Glucose", "DIAGNOSIS", "ADMISSION")]
    rng = random.Random(seed)
    keys = [(rng.choice(pids), rng.choice(sigs)[1]) for _ in range(lookups)]
    t = time.perf_counter()
    total = 0
    for pid, sid in keys:
        total += len(rep.uget(pid, sid))
    uget = (time.perf_counter() - t) / lookups
    print(f"read_all_s\t{read_all:.3f}")
    print(f"uget_ns\t{uget * 1e9:.0f}\t({lookups} random (pid, sid) calls, {total} elements)")
    for name in ("Hemoglobin", "DIAGNOSIS"):
        t = time.perf_counter()
        exp = rep.export_to_numpy(name, [], True, False, False, "")
        n = exp.record_count
        dt = time.perf_counter() - t
        print(f"export_to_numpy_{name}\t{dt:.3f} s\t{n} records\t{dt / max(n, 1) * 1e9:.1f} ns/record")

if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
