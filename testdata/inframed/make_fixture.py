#!/usr/bin/env python3
"""Regenerate the InfraMed MODE 3 golden fixture under testdata/inframed/small/.

Tool: medpython==1.2.1 (PyPI; the compiled C++ MedConvert / PidRepository of Medial EarlySign),
      with numpy and pandas (pulled in by medpython; fixture was made with numpy 2.4.6, pandas 3.1.1,
      CPython 3.11.7, linux x86-64 wheel).

How to run (from anywhere):
    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install medpython==1.2.1
    /tmp/mpvenv/bin/python testdata/inframed/make_fixture.py

What it does (deterministic; the input text is generated from a fixed seed plus hand-written edge cases):
  1. deletes small/ and writes small/input/ (convert config, signals file, dicts/dict.*, data/*.tsv);
  2. in a child process with OMP_NUM_THREADS=1 and cwd = small/input:
        mc = med.MedConvert(); mc.init_load_params("full_error_file=...")
        mc.create_rep("./small.convert_config")   -> small/repo/   (needs the "./", see README)
        med.MedConvert().create_index("../repo/small.repository")  -> by-pid transpose
     the child's stdout/stderr (C++ output included, captured at fd level) goes to small/build.log,
     the converter's error file to small/build_errors.tsv (absolute paths replaced by <FIXTURE>);
  3. reads the repository back with med.PidRepository().read_all(repo, [], []) and writes small/expected.json
     (get_sig / uget of every signal) and small/expected_dict.json (dictionary API answers).
Re-running reproduces every file byte for byte except the 6 garbage padding bytes of each 24-byte record in
small/repo/data/small_rep__pids__all.pid_idx.
"""
import datetime
import json
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = os.path.join(HERE, "small")
INPUT = os.path.join(SMALL, "input")
REPO = os.path.join(SMALL, "repo")
REPO_CONFIG = os.path.join(REPO, "small.repository")
MEDPYTHON_VERSION = "1.2.1"

# --------------------------------------------------------------------------------------------------
# Input text
# --------------------------------------------------------------------------------------------------

CONVERT_CONFIG = "\n".join([
    "#",
    "# convert config file",
    "#",
    "DESCRIPTION\tSMALL data - full version",
    "RELATIVE \t1",
    "SAFE_MODE\t1",
    "MODE\t3",
    "PREFIX\tdata/small_rep",
    "CONFIG\tsmall.repository",
    "SIGNAL\tsmall.signals",
    "FORCE_SIGNAL\tGENDER,BDATE",
    "DIR\t.",
    "OUTDIR\t../repo",
    # ETL order: def files first, set files last (SET names must already be defined)
    "DICTIONARY\tdicts/dict.defs_DIAGNOSIS_Fromclient",
    "DICTIONARY\tdicts/dict.def_ADMISSION_value_1",
    "DICTIONARY\tdicts/dict.gender",
    "DICTIONARY\tdicts/dict.def_DIAGNOSIS",
    "DICTIONARY\tdicts/dict.def_ADMISSION_value_0",
    "DICTIONARY\tdicts/dict.sets_DIAGNOSIS_Fromclient",
    "DATA\tdata/admission.tsv",
    "DATA\tdata/demographic.tsv",
    "DATA\tdata/diagnosis.tsv",
    "DATA\tdata/labs.tsv",
    "",
    "",
])

GENERIC_TYPES = [
    ("my_SVal", "V(f)"),
    ("my_SInt", "V(i)"),
    ("my_SDateVal", "T(i),V(f)"),
    ("my_SDateInt", "T(i),V(i)"),
    ("my_S2Date", "T(i,i)"),
    ("my_DateShort2", "T(i),V(s,s)"),
    ("my_DateRangeInt2", "T(i,i),V(i,i)"),
]

# name, sid, type, tags, categorical bitmap, units, time unit (empty, as ETL writes it)
SIGNALS = [
    ("GENDER", 100, "16:my_SInt", "demographic,singleton", "1", "", ""),
    ("BDATE", 102, "16:my_SInt", "demographic,singleton,date", "0", "date", ""),
    ("MEMBERSHIP", 103, "16:my_S2Date", "demographic", "", "", ""),
    ("DEATH", 104, "16:my_SInt", "demographic,singleton,date", "0", "date", ""),
    ("BP", 500, "16:my_DateShort2", "labs,vitals,systolic_diastolic", "00", "mmHg|mmHg", ""),
    ("Weight", 903, "1", "labs,measurements,legacy_type_1", "0", "kg", ""),
    ("Hemoglobin", 1000, "16:my_SDateVal", "labs,cbc", "0", "g/dL", ""),
    ("Albumin", 1010, "16:my_SDateVal", "labs,biochemestry,no_data", "0", "g/L", ""),
    ("Glucose", 1090, "16:my_SDateVal", "labs,biochemestry", "0", "mg/dL", ""),
    ("Eosinophils%", 1120, "16:my_SDateVal", "labs,cbc", "0", "%", ""),
    ("Urine/Creatinine", 1124, "16:my_SDateVal", "labs,urine", "0", "mmol/L", ""),
    ("DIAGNOSIS", 2000, "16:my_SDateInt", "categorical,icd10", "1", "", ""),
    ("ADMISSION", 2003, "16:my_DateRangeInt2", "categorical", "11", "", ""),
    ("DrugDose", 2010, "3", "drugs,legacy_type_3", "0", "mg", ""),
]


def signals_text():
    out = []
    for alias, spec in GENERIC_TYPES:
        out.append("GENERIC_SIGNAL_TYPE\t%s\t%s" % (alias, spec))
    out.append("# SIGNAL <name> <signal id> <signal type num> <description> <is_categorical_per_val_channel> "
               "<unit_per_val_channel separated by '|' char>")
    out.append("#" + "=" * 79)
    out.append("")
    for s in SIGNALS:
        out.append("SIGNAL\t" + "\t".join(str(x) for x in s))
    return "\n".join(out) + "\n"


DICTS = {
    "dict.gender": [
        "SECTION\tGENDER",
        "DEF\t1\t1", "DEF\t2\t2",
        "DEF\t1\tMale", "DEF\t2\tFemale",
        "DEF\t1\tM", "DEF\t2\tF",
    ],
    "dict.defs_DIAGNOSIS_Fromclient": [
        "SECTION\tDIAGNOSIS",
        "DEF\t10000\tE11", "DEF\t10000\tType_2_diabetes",
        "DEF\t10001\tT2D_without_complications", "DEF\t10001\tE119",
        "DEF\t10002\tE1165", "DEF\t10002\tT2D_with_hyperglycemia",
        "DEF\t10003\tI10", "DEF\t10003\tEssential hypertension",
        "DEF\t10004\tI21", "DEF\t10004\tAcute MI", "DEF\t10004\tSTEMI",
        "DEF\t10005\tJ45",
    ],
    # set-only names get new codes (ETL: 10000 + max code)
    "dict.def_DIAGNOSIS": [
        "SECTION\tDIAGNOSIS",
        "DEF\t20012\tCARDIO",
        "DEF\t20013\tDIABETES_ALL",
        "DEF\t20014\tCHRONIC",
    ],
    "dict.sets_DIAGNOSIS_Fromclient": [
        "SECTION\tDIAGNOSIS",
        "SET\tE11\tE119",
        "SET\tE11\tE1165",
        "SET\tDIABETES_ALL\tE11",
        "SET\tCARDIO\tI10",
        "SET\tCARDIO\tI21",
        "SET\tCHRONIC\tDIABETES_ALL",
        "SET\tCHRONIC\tCARDIO",
    ],
    "dict.def_ADMISSION_value_0": [
        "SECTION\tADMISSION",
        "DEF\t10000\tELECTIVE", "DEF\t10001\tEMERGENCY", "DEF\t10002\tTRANSFER",
    ],
    "dict.def_ADMISSION_value_1": [
        "SECTION\tADMISSION",
        "DEF\t20002\tCARDIOLOGY", "DEF\t20003\tINTERNAL", "DEF\t20005\tSURGERY",
    ],
}

# 42 pids over 1025..30000: adjacent runs, gaps of exactly 63/64/65, 64-word boundaries
PIDS = [1025, 1026, 1027, 1090, 1155, 1300, 1301, 1500, 2048, 2111, 2200, 3001, 3500, 4096, 4097,
        4160, 5000, 5555, 6100, 7000, 7777, 8191, 8192, 8256, 9000, 10001, 11000, 12345, 13000,
        14000, 15000, 16383, 16384, 17000, 18000, 19000, 20000, 22222, 25000, 27000, 29999, 30000]
PID_NO_BDATE = 5555        # no BDATE line -> dropped by FORCE_SIGNAL
PID_TWO_GENDERS = 12345    # GENDER M and F -> 2 elements -> dropped by FORCE_SIGNAL
PID_GENDER_SYNONYMS = 2048 # GENDER "M" and "Male" -> same code, byte-duplicate, deduped -> kept
PID_GENDER_DUP = 7777      # exact duplicate GENDER row -> deduped -> kept
DEATH_PIDS = [1027, 4097, 9000, 20000, 30000]


def rdate(rng, y0=2005, y1=2020):
    d0 = datetime.date(y0, 1, 1).toordinal()
    d1 = datetime.date(y1, 12, 31).toordinal()
    return int(datetime.date.fromordinal(rng.randint(d0, d1)).strftime("%Y%m%d"))


def make_data():
    rng = random.Random(20240601)
    demo, labs, diag, adm = [], [], [], []
    gender_names = ["1", "2", "Male", "Female", "M", "F"]
    diag_names = ["E11", "Type_2_diabetes", "E119", "T2D_without_complications", "E1165", "I10",
                  "Essential hypertension", "I21", "Acute MI", "STEMI", "J45", "CARDIO"]
    lab_specs = [("Hemoglobin", 9.0, 17.0, 1), ("Glucose", 70.0, 250.0, 1),
                 ("Eosinophils%", 0.0, 9.0, 2), ("Urine/Creatinine", 2.0, 25.0, 2),
                 ("Weight", 45.0, 120.0, 1)]
    for pid in PIDS:
        p = str(pid)
        # ---- demographic.tsv: GENDER, BDATE, MEMBERSHIP, DEATH
        if pid == PID_TWO_GENDERS:
            demo += [p + "\tGENDER\tM", p + "\tGENDER\tF"]
        elif pid == PID_GENDER_SYNONYMS:
            demo += [p + "\tGENDER\tM", p + "\tGENDER\tMale"]
        elif pid == PID_GENDER_DUP:
            demo += [p + "\tGENDER\tFemale", p + "\tGENDER\tFemale"]
        else:
            demo.append(p + "\tGENDER\t" + rng.choice(gender_names))
        if pid != PID_NO_BDATE:
            demo.append(p + "\tBDATE\t%d" % rdate(rng, 1930, 2000))
        for _ in range(rng.randint(0, 2)):
            a = rdate(rng, 2003, 2012)
            b = rdate(rng, 2013, 2022)
            demo.append(p + "\tMEMBERSHIP\t%d\t%d" % (a, b))
        if pid in DEATH_PIDS:
            demo.append(p + "\tDEATH\t%d" % rdate(rng, 2018, 2022))
        # ---- labs.tsv: BP, labs, legacy types; rows of one pid shuffled (unsorted times)
        rows = []
        for _ in range(rng.randint(0, 4)):
            rows.append(p + "\tBP\t%d\t%d\t%d" % (rdate(rng), rng.randint(95, 190), rng.randint(50, 110)))
        for name, lo, hi, nd in lab_specs:
            for _ in range(rng.randint(0, 6)):
                rows.append(p + "\t%s\t%d\t%.*f" % (name, rdate(rng), nd, rng.uniform(lo, hi)))
        for _ in range(rng.randint(0, 2)):
            a = rdate(rng)
            rows.append(p + "\tDrugDose\t%d\t%d\t%.1f" % (a, a + rng.randint(1, 20), rng.choice([2.5, 5.0, 10.0, 20.0])))
        rng.shuffle(rows)
        labs += rows
        # ---- diagnosis.tsv
        rows = []
        for _ in range(rng.randint(0, 4)):
            rows.append(p + "\tDIAGNOSIS\t%d\t%s" % (rdate(rng), rng.choice(diag_names)))
        rng.shuffle(rows)
        diag += rows
        # ---- admission.tsv
        for _ in range(rng.randint(0, 2)):
            a = rdate(rng)
            adm.append(p + "\tADMISSION\t%d\t%d\t%s\t%s" % (
                a, a + rng.randint(0, 9), rng.choice(["ELECTIVE", "EMERGENCY", "TRANSFER"]),
                rng.choice(["CARDIOLOGY", "INTERNAL", "SURGERY"])))

    def insert_after_pid(lines, pid, extra):
        """insert extra lines after the last line whose pid is <= pid (keeps files pid-sorted)."""
        idx = max([i for i, l in enumerate(lines) if l.split("\t")[0].isdigit() and int(l.split("\t")[0]) <= pid] + [-1])
        lines[idx + 1:idx + 1] = extra

    # ---- hand-written edge cases (pid-sorted positions)
    insert_after_pid(labs, 1025, [
        # equal timestamp, different values (input order 13.5, 12.0, 14.1)
        "1025\tHemoglobin\t20100101\t13.5",
        "1025\tHemoglobin\t20100101\t12.0",
        "1025\tHemoglobin\t20100101\t14.1",
        # exact duplicate rows
        "1025\tGlucose\t20090505\t101.5",
        "1025\tGlucose\t20090505\t101.5",
        # same time, same value, different text -> identical bytes -> deduped
        "1025\tGlucose\t20090606\t100",
        "1025\tGlucose\t20090606\t1e2",
        # time later than the previous one, then earlier (unsorted)
        "1025\tEosinophils%\t20150101\t2.5",
        "1025\tEosinophils%\t20080101\t3.25",
        # extra trailing field (ignored) and a CRLF line ending
        "1025\tUrine/Creatinine\t20110303\t7.75\textra_field",
        "1025\tUrine/Creatinine\t20110304\t8.5\r",
        # BP equal time, different values; negative short
        "1025\tBP\t20120101\t120\t80",
        "1025\tBP\t20120101\t118\t79",
        "1025\tBP\t20120102\t-5\t32767",
        # equal time: numeric order differs from byte (memcmp) order and from input order
        "1025\tBP\t20120103\t256\t70",
        "1025\tBP\t20120103\t1\t70",
        "1025\tBP\t20120103\t-1\t70",
        "1025\tHemoglobin\t20100202\t2.0",
        "1025\tHemoglobin\t20100202\t0.5",
        "1025\tHemoglobin\t20100202\t1.1",
        "1025\tHemoglobin\t20100202\t-1.5",
        # legacy type 3 equal start
        "1025\tDrugDose\t20100101\t20100111\t5.0",
        "1025\tDrugDose\t20100101\t20100105\t10.0",
    ])
    insert_after_pid(labs, 1300, [
        "1300\tHemoglobin",                               # bad: too few fields
        "1300\tFerritin\t20100101\t55",                    # bad: unknown signal
        "1300\tHemoglobin\t20100101\tabc",                 # bad: number
        "1300\tHemoglobin\t20100102",                      # bad: missing value field
        "1300\tHemoglobin\t2010-13-45\t12.5",              # bad: date
        "1300\tGlucose\t2011-02-03\t99.5",                 # dashed date
        "abc\tHemoglobin\t20100101\t12.5",                 # bad: pid not a number
    ])
    insert_after_pid(labs, 4096, [
        "1026\tHemoglobin\t20100101\t11.1",                # bad: pid lower than current (unsorted file)
    ])
    insert_after_pid(demo, 1090, [
        # two DEATH values (DEATH is not forced) that differ as int32 but are equal as float32
        # (20200104 first, 20200103 second; both round to 20200104.0f)
        "1090\tDEATH\t20200104",
        "1090\tDEATH\t20200103",
        # and two that differ as float32 too, in descending input order
        "1090\tDEATH\t20200102",
        "1090\tDEATH\t20200100",
    ])
    insert_after_pid(diag, 1025, [
        "1025\tDIAGNOSIS\t20100101\tE11",
        "1025\tDIAGNOSIS\t20100101\tI10",
        "1025\tDIAGNOSIS\t20100101\tType_2_diabetes",  # same code as E11 -> duplicate -> deduped
        "1025\tDIAGNOSIS\t20100101\tZ99",              # bad: dictionary miss
        "1025\tDIAGNOSIS\t20100101\te11",              # bad: dictionary miss (case)
    ])
    insert_after_pid(adm, 1026, [
        "1026\tADMISSION\t20081212\t20081212\tELECTIVE\tSURGERY",
        "1026\tADMISSION\t20081212\t20081212\tEMERGENCY\tCARDIOLOGY",
        "1026\tADMISSION\t20081212\t20081212\tELECTIVE\tCARDIOLOGY",
    ])
    return {"demographic.tsv": demo, "labs.tsv": labs, "diagnosis.tsv": diag, "admission.tsv": adm}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(text)


def write_inputs():
    write(os.path.join(INPUT, "small.convert_config"), CONVERT_CONFIG)
    write(os.path.join(INPUT, "small.signals"), signals_text())
    for name, lines in DICTS.items():
        write(os.path.join(INPUT, "dicts", name), "\n".join(lines) + "\n")
    for name, lines in make_data().items():
        write(os.path.join(INPUT, "data", name), "".join(l + "\n" for l in lines))


# --------------------------------------------------------------------------------------------------
# Conversion (child process, so that C++ stdout/stderr can be captured at fd level)
# --------------------------------------------------------------------------------------------------

def convert_child():
    import med
    # MedConvert does not create OUTDIR (ETL_Infra does os.makedirs(<dest>/data) before loading)
    os.makedirs(os.path.join(REPO, "data"), exist_ok=True)
    os.chdir(INPUT)
    print("### create_rep(./small.convert_config)", flush=True)
    mc = med.MedConvert()
    mc.init_load_params("full_error_file=" + os.path.join(SMALL, "build_errors.tsv"))
    # DIR "." is replaced by the config path up to its last "/" (no "/" -> the whole name: breaks), so pass "./"
    rc = mc.create_rep("./small.convert_config")
    print("### create_rep returned", rc, flush=True)
    print("### create_index(../repo/small.repository)", flush=True)
    rc = med.MedConvert().create_index("../repo/small.repository")
    print("### create_index returned", rc, flush=True)


def scrub(text):
    """drop absolute paths and run-to-run timing noise from the tool's log."""
    import re
    text = text.replace(SMALL, "<FIXTURE>")
    text = re.sub(r"time [0-9.e+-]+ seconds", "time <t> seconds", text)
    text = re.sub(r"Took [0-9.e+-]+ Seconds", "Took <t> Seconds", text)
    text = re.sub(r"Times \[[^\]]*\]", "Times [<t>]", text)
    return text


def run_convert():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--convert-child"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = p.stdout.decode("utf-8", "replace")
    if log and not log.endswith("\n"):
        log += "\n"
    write(os.path.join(SMALL, "build.log"), scrub(log) + "### exit code %d\n" % p.returncode)
    err = os.path.join(SMALL, "build_errors.tsv")
    if os.path.exists(err):
        with open(err, encoding="utf-8", errors="replace") as f:
            write(err, scrub(f.read()))
    if p.returncode != 0:
        sys.exit("conversion failed, see small/build.log")


# --------------------------------------------------------------------------------------------------
# Dump what the original reader returns
# --------------------------------------------------------------------------------------------------

def jv(v):
    import numpy as np
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (bytes, str)):
        return str(v)
    raise TypeError(type(v))


def dump_expected():
    import med
    rep = med.PidRepository()
    rc = rep.read_all(REPO_CONFIG, [], [])
    assert rc == 0, rc
    pids = [int(x) for x in rep.pids]
    out = {"medpython": MEDPYTHON_VERSION, "pids": pids, "signals": {}, "translated": {}}
    for s in SIGNALS:
        name = s[0]
        sid = rep.sig_id(name)
        # uget first (get_sig with free_signal=True would unload the signal)
        present = []
        for pid in pids:
            if len(rep.uget(pid, sid)) > 0:
                present.append(pid)
        sample = []
        if present:
            sample += [present[0], present[-1]]
        absent = [x for x in pids if x not in present]
        if absent:
            sample.append(absent[len(absent) // 2])
        for pool in (present, absent):  # top up to 3 pids (middle of the remaining ones)
            while len(set(sample)) < 3 and [x for x in pool if x not in sample]:
                rest = [x for x in pool if x not in sample]
                sample.append(rest[len(rest) // 2])
        sample = sorted(set(sample))
        uget = []
        for pid in sample:
            sv = rep.uget(pid, sid)
            n = len(sv)
            uget.append({
                "pid": pid, "len": n,
                "times": [[int(sv[i].time(c)) for c in range(sv.n_time_channels)] for i in range(n)],
                "vals": [[float(sv[i].val(c)) for c in range(sv.n_val_channels)] for i in range(n)],
            })
        sv0 = rep.uget(sample[0], sid)
        df = rep.get_sig(name, translate=False, float32to64=False, free_signal=False)
        rows = [[jv(v) for v in r] for r in df.itertuples(index=False, name=None)]
        out["signals"][name] = {
            "sid": int(sid),
            "n_time_channels": int(sv0.n_time_channels),
            "n_val_channels": int(sv0.n_val_channels),
            "time_unit": int(sv0.time_unit),
            "columns": [str(c) for c in df.columns],
            "dtypes": [str(t) for t in df.dtypes],
            "rows": rows,
            "uget": uget,
        }
    for name in ["DIAGNOSIS", "GENDER"]:
        df = rep.get_sig(name, translate=True, float32to64=False, free_signal=False)
        out["translated"][name] = {
            "columns": [str(c) for c in df.columns],
            "rows": [[jv(v) for v in r] for r in df.head(10).itertuples(index=False, name=None)],
        }
    with open(os.path.join(SMALL, "expected.json"), "w") as f:
        f.write(to_json(out) + "\n")
    dump_dict(rep)


def dump_dict(rep):
    """small/expected_dict.json: what the original dictionary API answers (sections, name<->code, sets)."""
    d = rep.dict
    out = {"medpython": MEDPYTHON_VERSION, "section_id": {}, "sections": {}}
    for sec in ["DEFAULT", "DIAGNOSIS", "ADMISSION", "GENDER", "BDATE", "Hemoglobin", "NO_SUCH_SECTION"]:
        out["section_id"][sec] = int(d.section_id(sec))
    per_sec = {"DEFAULT": [(s[0], s[1]) for s in SIGNALS] + [("NO_SUCH_SIGNAL", 99999)]}
    for lines in DICTS.values():
        sec = lines[0].split("\t")[1]
        for l in lines[1:]:
            f = l.split("\t")
            if f[0] == "DEF":
                per_sec.setdefault(sec, []).append((f[2], int(f[1])))
    per_sec["DIAGNOSIS"].append(("Z99", 99))
    for sec, pairs in per_sec.items():
        sid = int(d.section_id(sec))
        names = list(dict.fromkeys(n for n, _ in pairs))
        codes = sorted(set(c for _, c in pairs))
        entry = {"section_id": sid,
                 "id": {n: int(d.id(sid, n)) for n in names},
                 "name": {str(c): str(d.name(sid, c)) for c in codes}}
        if sec == "DIAGNOSIS":
            entry["sets"] = {}
            for q in [["E11"], ["DIABETES_ALL"], ["CARDIO"], ["CHRONIC"], ["E119"], ["E11", "I10"]]:
                lut = rep.dict_prep_sets_lookup_table(sid, q)
                entry["sets"]["+".join(q)] = {"lut_len": len(lut), "codes": [i for i, v in enumerate(lut) if v]}
        out["sections"][sec] = entry
    with open(os.path.join(SMALL, "expected_dict.json"), "w") as f:
        f.write(to_json(out) + "\n")


def to_json(o, ind=0):
    """json with one row / one scalar list per line (compact but diffable)."""
    pad = " " * ind
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = ["%s %s: %s" % (pad, json.dumps(k), to_json(v, ind + 1)) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, list) and any(isinstance(x, (dict, list)) for x in o):
        if all(isinstance(x, list) and not any(isinstance(y, (dict, list)) for y in x) for x in o):
            return "[\n" + ",\n".join(pad + "  " + json.dumps(x) for x in o) + "\n" + pad + "]"
        return "[\n" + ",\n".join(pad + "  " + to_json(x, ind + 2) for x in o) + "\n" + pad + "]"
    return json.dumps(o)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--convert-child":
        convert_child()
        return
    if os.path.exists(SMALL):
        shutil.rmtree(SMALL)
    write_inputs()
    run_convert()
    dump_expected()
    print("fixture written to", SMALL)


if __name__ == "__main__":
    main()
