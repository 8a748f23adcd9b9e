"""Writes the signals fixtures from the golden repository's small.signals (run from this folder).

two_files/: a repository config with two SIGNAL lines, the golden signals split in two files
(each with its own GENERIC_SIGNAL_TYPE aliases; GENDER defined identically in both), data and
dictionaries taken from ../inframed/small/repo.
bare_name/: the same config with one signals file holding a bare-name line (`Hemoglobin` alone),
which the original's MedSignals::read rejects ("can't parse line").
"""
import os

SRC = "../inframed/small/repo"
lines = open(os.path.join(SRC, "small.signals")).read().split("\n")
aliases = [l for l in lines if l.startswith("GENERIC_SIGNAL_TYPE")]
sigs = [l for l in lines if l.startswith("SIGNAL")]
demo = [l for l in sigs if "demographic" in l]
rest = [l for l in sigs if "demographic" not in l]
cfg = open(os.path.join(SRC, "small.repository")).read().split("\n")
dicts = [l.split("\t")[1] for l in cfg if l.startswith("DICTIONARY\tdicts/")]


def config(name, signals):
    out = [f"DESCRIPTION\t{name}", f"DIR\t../{SRC}", "METADATA_DIR\t."]
    out += [f"DICTIONARY\t{s}" for s in signals]
    out += [f"DICTIONARY\t../{SRC}/{d}" for d in dicts]
    out += [f"SIGNAL\t{s}" for s in signals]
    out += ["MODE\t3", "PREFIX\tdata/small_rep", "TIMEUNIT\t1", ""]
    return "\n".join(out)


os.makedirs("two_files", exist_ok=True)
open("two_files/demo.signals", "w").write("\n".join(aliases + demo) + "\n")
open("two_files/labs.signals", "w").write("\n".join(aliases + [demo[0]] + rest) + "\n")
open("two_files/two.repository", "w").write(config("TWO", ["demo.signals", "labs.signals"]))

os.makedirs("bare_name", exist_ok=True)
body = aliases + sigs[:6] + ["Hemoglobin"] + sigs[6:]
open("bare_name/bare.signals", "w").write("\n".join(body) + "\n")
open("bare_name/bare.repository", "w").write(config("BARE", ["bare.signals"]))
