"""Builds the indexed-tar fixtures under testdata/itar/ (see README.md).

Shards are written with Python's `tarfile` the way glzn's `iTarDatasetWriter` writes them
(USTAR, flat `<key>.<ext>`, mode 0o444, uid/gid 0, gname `defaultgroup`; mtime fixed here so the
files are reproducible), and each `.taridx` with numpy using glzn's own dtypes `_HDR_DT` /
`_ARR_DT` and the rules of glzn/data/itar/entry.py (writer rows, or the `_scan` parse path that
indexes *every* header). `expected.json` lists, for every dataset, each member as Python's
`tarfile` sees it (name, stem, ext, shard, header offset, size, sha256 of the payload) and the
index rows, and what webdataset 1.0.2 yields when it streams the shards.

    python3 -m venv /tmp/itarvenv && /tmp/itarvenv/bin/pip install webdataset==1.0.2 numpy xxhash
    /tmp/itarvenv/bin/python testdata/itar/make_fixture.py
"""

import hashlib
import io
import json
import os
import random
import shutil
import tarfile

import numpy as np
import xxhash

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1_700_000_000
BLK = 512

# glzn/data/itar/entry.py
_ARR_DT = np.dtype([('fid', '<u2'), ('offset', '<u8'), ('size', '<u8'), ('extid', '<u2'),
                    ('crashid', '<u4'), ('keyhash', '<u8')])
_HDR_DT = np.dtype([('magic', 'S8'), ('major', '<u2'), ('minor', '<u2'), ('rec_size', '<u2'),
                    ('hdr_size', '<u2'), ('n_stems', '<u8'), ('n_rows', '<u8'), ('n_ext', '<u4'),
                    ('n_crash', '<u4'), ('off_crash', '<u8'), ('off_arr', '<u8'), ('flags', '<u1'),
                    ('reserved', '<V7')])
assert _HDR_DT.itemsize == 64 and _ARR_DT.itemsize == 32


def stem_ext(name):
    """glzn's StemHelper: basename, split at the first dot, ext lowercased."""
    base = name.rsplit('/', 1)[-1]
    stem, dot, ext = base.partition('.')
    return stem, (ext.lower() if dot else '')


class State:
    """glzn's iTarState, reduced to what save() needs."""

    def __init__(self):
        self.rows, self.ext2id, self.crashstem, self.hashinfo, self.stems = [], {}, {}, {}, set()

    def add(self, fid, off, size, stem, ext):
        key = xxhash.xxh64(stem.encode()).intdigest()
        extid = self.ext2id.setdefault(ext, len(self.ext2id))
        self.stems.add(stem)
        canon = self.hashinfo.get(key)
        if canon is None:
            self.hashinfo[key] = stem
            crashid = 0
        elif canon == stem:
            crashid = 0
        else:
            crashid = self.crashstem.setdefault(stem, len(self.crashstem) + 1)
        self.rows.append((fid, off, size, extid, crashid, key))

    def save(self, path):
        arr = np.array(self.rows, dtype=_ARR_DT)
        n = len(arr)
        if n < 2:
            contiguous = True
        else:
            diff = (arr['keyhash'][1:] != arr['keyhash'][:-1]) | (arr['crashid'][1:] != arr['crashid'][:-1])
            contiguous = int(diff.sum()) + 1 == len(self.stems)
        ext_b = '\n'.join(sorted(self.ext2id, key=self.ext2id.get)).encode()
        crash_b = '\n'.join(sorted(self.crashstem, key=self.crashstem.get)).encode()
        hdr = np.zeros(1, dtype=_HDR_DT)
        hdr['magic'] = b'TARIDX'
        hdr['major'], hdr['minor'], hdr['rec_size'], hdr['hdr_size'] = 1, 0, 32, 64
        hdr['n_stems'], hdr['n_rows'] = len(self.stems), n
        hdr['n_ext'], hdr['n_crash'] = len(self.ext2id), len(self.crashstem)
        hdr['off_crash'] = 64 + len(ext_b)
        hdr['off_arr'] = 64 + len(ext_b) + len(crash_b)
        hdr['flags'] = 1 if contiguous else 0
        with open(path, 'wb') as f:
            f.write(hdr.tobytes() + ext_b + crash_b + arr.tobytes())


def scan(buf, fid, st):
    """glzn's _scan: every header becomes a row; name = name field, prefix ignored."""
    off = 0
    while True:
        hdr = buf[off:off + BLK]
        if len(hdr) < BLK or hdr == b'\0' * BLK:
            break
        size = int(hdr[124:136].split(b'\0', 1)[0] or b'0', 8)
        name = hdr[:100].split(b'\0', 1)[0].decode('utf-8', 'replace')
        stem, ext = stem_ext(name)
        st.add(fid, off, size, stem, ext)
        off += BLK + ((size + BLK - 1) // BLK) * BLK
    return st


def tarinfo(name, size, fmt_type=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode, ti.uid, ti.gid = size, MTIME, 0o444, 0, 0
    ti.uname, ti.gname, ti.type = 'fixture', 'defaultgroup', fmt_type
    return ti


def write_glzn_fold(root, fold, samples, maxfiles):
    """iTarFoldWriter.write for each sample; a new shard when `maxfiles` samples are in one."""
    st, shard, fid, count, f, tf = State(), -1, -1, 0, None, None
    for key, members in samples:
        if tf is None or count >= maxfiles:
            if tf is not None:
                tf.close()
                f.close()
            shard += 1
            fid = shard
            f = open(os.path.join(root, f'{fold}_{shard:04d}.tar'), 'wb')
            tf = tarfile.open(fileobj=f, mode='w', format=tarfile.USTAR_FORMAT)
            count = 0
        for ext, data in members:
            ext = ext.lstrip('.').lower()
            off = f.tell()
            tf.addfile(tarinfo(f'{key}.{ext}', len(data)), io.BytesIO(data))
            st.add(fid, off, len(data), key, ext)
        count += 1
    tf.close()
    f.close()
    st.save(os.path.join(root, f'{fold}.taridx'))


def members_of(root):
    """Every regular member of every shard, as tarfile lists it."""
    out = []
    for shard in sorted(p for p in os.listdir(root) if p.endswith('.tar')):
        with tarfile.open(os.path.join(root, shard)) as tf:
            for m in tf.getmembers():
                if not m.isfile():
                    continue
                data = tf.extractfile(m).read()
                stem, ext = stem_ext(m.name)
                out.append({'shard': shard, 'name': m.name, 'stem': stem, 'ext': ext,
                            'offset': m.offset, 'data_offset': m.offset_data, 'size': m.size,
                            'sha256': hashlib.sha256(data).hexdigest(),
                            'keyhash': xxhash.xxh64(stem.encode()).intdigest()})
    return out


def index_rows(path):
    raw = open(path, 'rb').read()
    hdr = np.frombuffer(raw[:64], _HDR_DT)[0]
    exts = raw[64:int(hdr['off_crash'])].decode().split('\n') if int(hdr['n_ext']) else []
    crash = raw[int(hdr['off_crash']):int(hdr['off_arr'])].decode().split('\n') if int(hdr['n_crash']) else []
    arr = np.frombuffer(raw[int(hdr['off_arr']):], _ARR_DT)
    return {'n_stems': int(hdr['n_stems']), 'flags': int(hdr['flags']), 'extensions': exts,
            'crash_stems': crash,
            'rows': [[int(r['fid']), int(r['offset']), int(r['size']), int(r['extid']),
                      int(r['crashid']), int(r['keyhash'])] for r in arr]}


def webdataset_samples(root, fold):
    import webdataset as wds
    urls = [os.path.join(root, p) for p in sorted(os.listdir(root))
            if p.startswith(fold + '_') and p.endswith('.tar')]
    out = []
    for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        out.append({'key': s['__key__'],
                    'exts': {k: hashlib.sha256(v).hexdigest() for k, v in s.items()
                             if not k.startswith('__')}})
    return out


def main():
    rng = random.Random(20240901)
    expected = {}

    # 1. glzn-writer style dataset: fold `train` (3 shards of ≤ 2 samples), fold `val`.
    root = os.path.join(HERE, 'glzn')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    train = []
    for i in range(5):
        members = [('.JPG', rng.randbytes(rng.randrange(1, 1500))), ('cls', str(i % 3).encode())]
        if i % 2 == 0:
            members.append(('seg.png', rng.randbytes(600)))
        train.append((f'sample{i:03d}', members))
    write_glzn_fold(root, 'train', train, maxfiles=2)
    write_glzn_fold(root, 'val', [('v0', [('json', b'{"label": 1}'), ('txt', b'')])], maxfiles=10)
    for fold in ['train', 'val']:
        expected[f'glzn/{fold}'] = {
            'members': [m for m in members_of(root) if m['shard'].startswith(fold + '_')],
            'index': index_rows(os.path.join(root, f'{fold}.taridx')),
            'webdataset': webdataset_samples(root, fold),
        }

    # 2. Edge tars indexed by glzn's parse path (every header is a row).
    root = os.path.join(HERE, 'edge')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    entries = [('a.jpg', b'A1'), ('b.jpg', b'B1'), ('a.cls', b'A2'),  # interleaved key
               ('multi.dot.name.txt', b'multi'), ('UPPER.JPG', b'upper'), ('noext', b'no ext'),
               ('__meta__.json', b'{}'), ('dir/', None), ('dir/y.txt', b'in dir'),
               ('empty.bin', b'')]
    with tarfile.open(os.path.join(root, 'edge_0000.tar'), 'w', format=tarfile.GNU_FORMAT) as tf:
        for name, data in entries:
            if data is None:
                tf.addfile(tarinfo(name, 0, tarfile.DIRTYPE))
            else:
                tf.addfile(tarinfo(name, len(data)), io.BytesIO(data))
        long = 'l' * 120 + '.long.txt'
        tf.addfile(tarinfo(long, 4), io.BytesIO(b'long'))
        tf.addfile(tarinfo('ünï.txt', 7), io.BytesIO(b'unicode'))  # GNU: UTF-8 in the name field
    with tarfile.open(os.path.join(root, 'edge_0001.tar'), 'w', format=tarfile.PAX_FORMAT) as tf:
        name = 'p' * 110 + '.pax.txt'
        tf.addfile(tarinfo(name, 3), io.BytesIO(b'pax'))
    st = State()
    for fid, shard in enumerate(['edge_0000.tar', 'edge_0001.tar']):
        scan(open(os.path.join(root, shard), 'rb').read(), fid, st)
    st.save(os.path.join(root, 'edge.taridx'))
    expected['edge/edge'] = {'members': members_of(root),
                             'index': index_rows(os.path.join(root, 'edge.taridx')),
                             'webdataset': webdataset_samples(root, 'edge')}

    # 3. A hand-built crash table: `beta` is declared a collision (crashid 1).
    root = os.path.join(HERE, 'crash')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    write_glzn_fold(root, 'crash', [('alpha', [('txt', b'alpha')]), ('beta', [('txt', b'beta'), ('json', b'[]')]),
                                     ('gamma', [('txt', b'gamma')])], maxfiles=10)
    st = State()
    st.hashinfo[xxhash.xxh64(b'beta').intdigest()] = '<absent canonical stem>'
    scan(open(os.path.join(root, 'crash_0000.tar'), 'rb').read(), 0, st)
    st.save(os.path.join(root, 'crash.taridx'))
    expected['crash/crash'] = {'members': members_of(root),
                               'index': index_rows(os.path.join(root, 'crash.taridx'))}

    # 4. Two members with one key and extension (`dir/x.txt` and `x.txt`, glzn stems merge).
    root = os.path.join(HERE, 'dup')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    with tarfile.open(os.path.join(root, 'dup_0000.tar'), 'w', format=tarfile.USTAR_FORMAT) as tf:
        for name in ['dir/x.txt', 'x.txt']:
            tf.addfile(tarinfo(name, 1), io.BytesIO(b'x'))
    st = State()
    scan(open(os.path.join(root, 'dup_0000.tar'), 'rb').read(), 0, st)
    st.save(os.path.join(root, 'dup.taridx'))
    expected['dup/dup'] = {'members': members_of(root),
                           'index': index_rows(os.path.join(root, 'dup.taridx'))}

    with open(os.path.join(HERE, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write('\n')


if __name__ == '__main__':
    main()
