#!/usr/bin/env python3
"""Builds hand-made MODE 0-2 repositories from the golden MODE 3 repository.

Independent of inframed's Rust code: it parses the MODE 3 files written by medpython 1.2.1
(testdata/inframed/small/repo) with its own decoder and writes the legacy layouts by the
rules of docs/formats/inframed.md section 8 (hexdumps of 8.3/8.4). No third-party module.

    python3 testdata/legacy/make_legacy.py      # rewrites testdata/legacy/{mode0_full,mode1,mode2,trap}
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "inframed", "small", "repo")
MED_MAGIC = 0x0123456789ABCDEF
SPEC_SIZE = {"c": 1, "s": 2, "i": 4, "l": 8, "f": 4, "d": 8, "p": 1}
LEGACY = {"0": "V(f)", "1": "T(i),V(f)", "3": "T(i,i),V(f)"}


def spec_size(spec):
    n = 0
    for part in spec.replace("T(", ",").replace("V(", ",").replace(")", "").split(","):
        part = part.strip()
        if part:
            n += SPEC_SIZE[part[-1]]
    return n


def read_signals():
    aliases, sigs = {}, []
    for line in open(os.path.join(GOLDEN, "small.signals"), encoding="utf-8"):
        f = line.rstrip("\r\n").split("\t")
        if f[0] == "GENERIC_SIGNAL_TYPE":
            aliases[f[1]] = f[2]
        elif f[0] == "SIGNAL":
            t = f[3]
            spec = aliases.get(t[3:], t[3:]) if t.startswith("16:") else LEGACY[t]
            sigs.append((f[1], int(f[2]), spec_size(spec)))
    return sigs


def fixed(name):
    return name.replace("/", "_div_").replace(":", "_over_").replace("%", "_percent_")


def read_mode3(name, size):
    """{pid: bytes} of one signal from its .idx (IndexTable + MedSparseVec) and .data."""
    base = os.path.join(GOLDEN, "data", "small_rep_" + fixed(name))
    idx = open(base + ".idx", "rb").read()
    data = open(base + ".data", "rb").read()
    last_len = struct.unpack_from("<i", idx, 0)[0]
    assert struct.unpack_from("<Q", idx, 8)[0] == 4 and struct.unpack_from("<I", idx, 16)[0] == size
    at = 20 + 16
    min_val = struct.unpack_from("<I", idx, at)[0]
    at += 16 + 4  # min, max_val, max_set, max_key, def_val
    n_counts = struct.unpack_from("<I", idx, at)[0]
    at += 4 + 4 * n_counts
    n_words = struct.unpack_from("<I", idx, at)[0]
    words = struct.unpack_from("<%dQ" % n_words, idx, at + 4)
    at += 4 + 8 * n_words
    n_data = struct.unpack_from("<I", idx, at)[0]
    starts = struct.unpack_from("<%dI" % n_data, idx, at + 4)[1:]
    pids = [min_val + 64 * w + b for w, word in enumerate(words) for b in range(64) if word >> (63 - b) & 1]
    out = {}
    for k, pid in enumerate(pids):
        n = (starts[k + 1] - starts[k]) if k + 1 < len(pids) else last_len
        out[pid] = data[4 + starts[k] * size: 4 + (starts[k] + n) * size]
    return out


def packet(pid, entries):
    b = struct.pack("<Qii", MED_MAGIC, pid, len(entries))
    for sid, fno, pos, ln in entries:
        b += struct.pack("<iHQi", sid, fno, pos, ln)
    return b


def write_files(root, groups, full, pad, data_of):
    """groups: [(data rel, index rel, fno, [(name, sid, size)])]; returns nothing."""
    for data_rel, index_rel, fno, sigs in groups:
        data = bytearray(struct.pack("<i", 0 if full else 1))
        index = bytearray(struct.pack("<Qi", MED_MAGIC, 0))
        starts = bytearray()
        sizes = {s[2] for s in sigs}
        align = sizes.pop() if len(sizes) == 1 else 1
        pids = sorted({p for s in sigs for p in data_of[s[0]]})
        for pid in pids:
            vecs = [(sid, data_of[name][pid]) for name, sid, _ in sigs if pid in data_of[name]]
            if not vecs:
                continue
            entries = []
            if full:
                start = len(data)
                starts += struct.pack("<Q", start)
                table = 16 + 8 * len(vecs)
                first = start + table
                if pad and align > 1 and (first - 4) % align:
                    first += align - (first - 4) % align
                rec = bytearray(struct.pack("<Qii", MED_MAGIC, pid, len(vecs)))
                rel = first - start
                for sid, v in vecs:
                    rec += struct.pack("<ii", sid, rel)
                    entries.append((sid, fno, start + rel, len(v)))
                    rel += len(v)
                rec += bytes(first - start - table)
                for _, v in vecs:
                    rec += v
                data += rec
            else:
                for sid, v in vecs:
                    entries.append((sid, fno, len(data), len(v)))
                    data += v
            index += packet(pid, entries)
        os.makedirs(os.path.dirname(os.path.join(root, data_rel)), exist_ok=True)
        open(os.path.join(root, data_rel), "wb").write(data)
        open(os.path.join(root, index_rel), "wb").write(index)
        if full:
            open(os.path.join(root, data_rel + ".idx"), "wb").write(starts)


def copy_texts(root):
    os.makedirs(os.path.join(root, "dicts"), exist_ok=True)
    shutil.copy(os.path.join(GOLDEN, "small.signals"), root)
    names = []
    for line in open(os.path.join(GOLDEN, "small.repository")):
        f = line.rstrip("\n").split("\t")
        if f[0] == "DICTIONARY" and f[1].startswith("dicts/"):
            shutil.copy(os.path.join(GOLDEN, f[1]), os.path.join(root, f[1]))
            names.append(f[1])
    return "".join("DICTIONARY\t%s\n" % n for n in ["small.signals"] + names) + "SIGNAL\tsmall.signals\n"


def main():
    sigs = read_signals()
    data_of = {name: read_mode3(name, size) for name, _, size in sigs}
    position = {name: i for i, (name, _, _) in enumerate(sigs)}

    def build(dirname, mode, groups, full, pad, prefix_line, data_lines=True):
        root = os.path.join(HERE, dirname)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        texts = copy_texts(root)
        write_files(root, groups, full, pad, data_of)
        conf = "DESCRIPTION\tLEGACY\nDIR\t.\n" + texts + "MODE\t%d\n" % mode
        if prefix_line:
            conf += "PREFIX\t%s\n" % prefix_line
        if data_lines:
            conf += "".join("DATA\t%d\t%s\n" % (g[2], g[0]) for g in groups)
            conf += "".join("INDEX\t%s\n" % g[1] for g in groups)
        conf += "TIMEUNIT\t1\n"
        open(os.path.join(root, "legacy.repository"), "w").write(conf)

    per_signal = lambda prefix: [  # noqa: E731
        ("%s_%s.data" % (prefix, fixed(n)), "%s_%s.idx" % (prefix, fixed(n)), position[n], [(n, s, z)])
        for n, s, z in sigs
    ]
    # MODE 2, stripped: the file number of a signal is its position in the signals file.
    build("mode2", 2, per_signal("data/lg"), False, True, "data/lg")
    # MODE 1, stripped, two data files (demographics / the rest).
    demo = [s for s in sigs if s[0] in ("GENDER", "BDATE", "MEMBERSHIP", "DEATH")]
    rest = [s for s in sigs if s not in demo]
    build("mode1", 1, [("data/lg_0.data", "data/lg_0.idx", 0, demo),
                       ("data/lg_1.data", "data/lg_1.idx", 1, rest)], False, True, None)
    # MODE 0, one full data file with every signal (mixed sizes: position unit 1).
    build("mode0_full", 0, [("data/lg_0.data", "data/lg_0.idx", 0, sigs)], True, True, None)
    # Both traps at once: MODE 2 full files WITHOUT padding (ADMISSION's 16-byte elements after
    # 24-byte record headers) and no PREFIX line (the original's reader would use "rep").
    build("trap", 2, per_signal("data/lg"), True, False, None)


if __name__ == "__main__":
    main()
