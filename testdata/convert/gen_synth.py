#!/usr/bin/env python3
"""Deterministic synthetic ETL-style export for `inframed convert` (stdlib only).

    python3 testdata/convert/gen_synth.py OUT_DIR [--pids N] [--rows R] [--seed S] [--bursts]

writes OUT_DIR/{synth.convert_config, synth.signals, dicts/dict.*, data/*.tsv}: 15 signals of 6 layouts
(V(i), T(i),V(f), T(i),V(i) categorical and not, T(i,i),V(i,i) categorical, T(i),V(s,s)), labs split over two
files (so one pid's equal-time elements come from several files), about R rows in total over N patients
(pids 1001 + 10*k, sorted by pid in every file). With --bursts, many (pid, signal, time) groups of 17-80
elements with tied values (float-equal ints above 2^24, repeated floats, exact duplicates): the case where the
original loader's std::sort is not stable, to compare equal-time order against the real loader by hand.
Used for the by-hand compatibility check (run_original.py) and the throughput figures (see docs/convert.md).
Big outputs belong in /tmp, never in the repository.
"""
import argparse
import os
import random

SIGNALS = """GENERIC_SIGNAL_TYPE\tmy_SInt\tV(i)
GENERIC_SIGNAL_TYPE\tmy_SDateVal\tT(i),V(f)
GENERIC_SIGNAL_TYPE\tmy_SDateInt\tT(i),V(i)
GENERIC_SIGNAL_TYPE\tmy_DateRangeInt2\tT(i,i),V(i,i)
GENERIC_SIGNAL_TYPE\tmy_DateShort2\tT(i),V(s,s)
SIGNAL\tGENDER\t100\t16:my_SInt\tdemographic,singleton\t1\t\t
SIGNAL\tBDATE\t102\t16:my_SInt\tdemographic,singleton,date\t0\tdate\t
SIGNAL\tDEATH\t104\t16:my_SInt\tdemographic,date\t0\tdate\t
SIGNAL\tBP\t500\t16:my_DateShort2\tvitals\t00\tmmHg|mmHg\t
""" + "".join(f"SIGNAL\tLab{i}\t{1000 + i}\t16:my_SDateVal\tlabs\t0\tu\t\n" for i in range(8)) + \
"""SIGNAL\tDIAGNOSIS\t2000\t16:my_SDateInt\tcategorical\t1\t\t
SIGNAL\tADMISSION\t2003\t16:my_DateRangeInt2\tcategorical\t11\t\t
SIGNAL\tCode\t3000\t16:my_SDateInt\tcodes\t0\t\t
"""

DIAG = [f"D{i:03d}" for i in range(300)]
ADM_TYPE = ["ELECTIVE", "URGENT", "EMERGENCY"]
ADM_DEPT = ["CARDIOLOGY", "SURGERY", "ICU", "ONCOLOGY"]


def date(rng):
    return 20000101 + rng.randrange(20) * 10000 + rng.randrange(12) * 100 + rng.randrange(28)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--pids", type=int, default=300)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--bursts", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "dicts"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
    with open(os.path.join(a.out, "synth.signals"), "w") as f:
        f.write(SIGNALS)
    with open(os.path.join(a.out, "dicts", "dict.gender"), "w") as f:
        f.write("SECTION\tGENDER\nDEF\t1\tM\nDEF\t2\tF\n")
    with open(os.path.join(a.out, "dicts", "dict.diagnosis"), "w") as f:
        f.write("SECTION\tDIAGNOSIS\n" + "".join(f"DEF\t{10000 + i}\t{d}\n" for i, d in enumerate(DIAG)))
    with open(os.path.join(a.out, "dicts", "dict.admission"), "w") as f:
        f.write("SECTION\tADMISSION\n" + "".join(f"DEF\t{10000 + i}\t{d}\n" for i, d in enumerate(ADM_TYPE))
                + "".join(f"DEF\t{20000 + i}\t{d}\n" for i, d in enumerate(ADM_DEPT)))
    files = ["demographic", "labs_a", "labs_b", "diagnosis", "admission", "misc"]
    with open(os.path.join(a.out, "synth.convert_config"), "w") as f:
        f.write("DESCRIPTION\tSYNTH\nRELATIVE\t1\nSAFE_MODE\t1\nMODE\t3\nPREFIX\tdata/synth\n"
                "CONFIG\tsynth.repository\nSIGNAL\tsynth.signals\nFORCE_SIGNAL\tGENDER,BDATE\nDIR\t.\n"
                "OUTDIR\t../repo\nDICTIONARY\tdicts/dict.gender\nDICTIONARY\tdicts/dict.diagnosis\n"
                "DICTIONARY\tdicts/dict.admission\n" + "".join(f"DATA\tdata/{n}.tsv\n" for n in files))
    outs = {n: open(os.path.join(a.out, "data", n + ".tsv"), "w", buffering=1 << 20) for n in files}
    per_pid = max(1, a.rows // a.pids)
    for k in range(a.pids):
        pid = 1001 + 10 * k
        w = outs["demographic"].write
        w(f"{pid}\tGENDER\t{'M' if rng.random() < 0.5 else 'F'}\n")
        w(f"{pid}\tBDATE\t{19300101 + rng.randrange(80) * 10000 + rng.randrange(12) * 100 + rng.randrange(28)}\n")
        if rng.random() < 0.05:
            for _ in range(rng.choice([1, 1, 1, 3])):
                w(f"{pid}\tDEATH\t{date(rng)}\n")
        n = max(0, per_pid - 3 + rng.randrange(-2, 3))
        labs_a, labs_b = outs["labs_a"].write, outs["labs_b"].write
        diag, adm, misc = outs["diagnosis"].write, outs["admission"].write, outs["misc"].write
        lines = []
        for _ in range(n):
            r = rng.random()
            if r < 0.6:
                lab = rng.randrange(8)
                lines.append((labs_a if rng.random() < 0.5 else labs_b,
                              f"{pid}\tLab{lab}\t{date(rng)}\t{round(rng.uniform(0, 200), 2)}\n"))
            elif r < 0.8:
                lines.append((diag, f"{pid}\tDIAGNOSIS\t{date(rng)}\t{rng.choice(DIAG)}\n"))
            elif r < 0.87:
                d = date(rng)
                lines.append((adm, f"{pid}\tADMISSION\t{d}\t{d + rng.randrange(5)}\t{rng.choice(ADM_TYPE)}\t{rng.choice(ADM_DEPT)}\n"))
            elif r < 0.95:
                lines.append((misc, f"{pid}\tBP\t{date(rng)}\t{rng.randrange(90, 180)}\t{rng.randrange(50, 110)}\n"))
            else:
                lines.append((misc, f"{pid}\tCode\t{date(rng)}\t{rng.randrange(1 << 30)}\n"))
        if a.bursts and rng.random() < 0.5:
            # Equal-time groups bigger than std::sort's insertion threshold (16).
            d = date(rng)
            size = rng.randrange(17, 80)
            lab = rng.randrange(8)
            for _ in range(size):
                v = rng.choice([1.5, 2.0, 2.0, 7.25, round(rng.uniform(0, 3), 1)])
                lines.append((labs_a if rng.random() < 0.5 else labs_b, f"{pid}\tLab{lab}\t{d}\t{v}\n"))
            base = 20000000 + rng.randrange(1000) * 8
            for _ in range(rng.randrange(17, 60)):
                # ints above 2^24: neighbours compare equal as float but differ in bytes
                lines.append((misc, f"{pid}\tCode\t{d}\t{base + rng.randrange(6)}\n"))
            for _ in range(rng.randrange(17, 40)):
                lines.append((diag, f"{pid}\tDIAGNOSIS\t{d}\t{rng.choice(DIAG[:5])}\n"))
            for _ in range(rng.randrange(0, 30)):
                lines.append((misc, f"{pid}\tBP\t{d}\t{rng.choice([120, 130])}\t{rng.randrange(60, 64)}\n"))
        for wr, line in lines:
            wr(line)
    for f in outs.values():
        f.close()


if __name__ == "__main__":
    main()
