"""By-hand compatibility check of a patient dataset exported by inframed (not run by cargo).

    inframed export testdata/inframed/small/repo/small.repository /tmp/small-itar --to itar
    /tmp/itarvenv/bin/python testdata/itar/check_webdataset.py /tmp/small-itar

1. Streams the shards with webdataset 1.0.2 (`wds.WebDataset(...).decode()`), which decodes each
   `<pid>.<signal>.npy` with numpy into a record array; rebuilds medpython's `get_sig` rows
   (pid, time channels, value channels) and compares them with what medpython 1.2.1 returned
   for the golden repository (testdata/inframed/small/expected.json).
2. Loads the `.taridx` as glzn's `iTarState.load` does (numpy `_HDR_DT` / `_ARR_DT`) and checks
   that every row's payload (shard bytes at offset + 512) is the member webdataset yielded, that
   keyhash = xxh64(stem), and that element data is 64-byte aligned in the shard.
"""

import glob
import json
import os
import sys

import numpy as np
import webdataset as wds
import xxhash

_ARR_DT = np.dtype([('fid', '<u2'), ('offset', '<u8'), ('size', '<u8'), ('extid', '<u2'),
                    ('crashid', '<u4'), ('keyhash', '<u8')])
_HDR_DT = np.dtype([('magic', 'S8'), ('major', '<u2'), ('minor', '<u2'), ('rec_size', '<u2'),
                    ('hdr_size', '<u2'), ('n_stems', '<u8'), ('n_rows', '<u8'), ('n_ext', '<u4'),
                    ('n_crash', '<u4'), ('off_crash', '<u8'), ('off_arr', '<u8'), ('flags', '<u1'),
                    ('reserved', '<V7')])
HERE = os.path.dirname(os.path.abspath(__file__))


def main(root):
    expected = json.load(open(os.path.join(HERE, '..', 'inframed', 'small', 'expected.json')))
    shards = sorted(glob.glob(os.path.join(root, '*_*.tar')))
    raw = {}
    rows_by_signal = {}
    meta = None
    n_samples = 0
    for s in wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode():
        key = s['__key__']
        n_samples += 1
        if key == '__meta__':
            meta = s['json']
            pids = s['pids.npy']
            assert pids.dtype == np.dtype('<u4'), pids.dtype
            assert list(pids) == expected['pids'], 'pid list'
            ext2sig = {m['ext']: m for m in meta['signals']}
            continue
        pid = int(key)
        assert len(key) == 10
        for ext, arr in s.items():
            if ext.startswith('__'):
                continue
            sig = ext2sig[ext]
            assert isinstance(arr, np.ndarray) and arr.dtype.names, (key, ext)
            assert arr.dtype.descr == [tuple(f) for f in sig['dtype']], (arr.dtype.descr, sig['dtype'])
            raw[(key, ext)] = arr.tobytes()
            names = [n for n in arr.dtype.names if not n.startswith('_pad')]
            for rec in arr:
                rows_by_signal.setdefault(sig['name'], []).append([pid] + [rec[n].item() for n in names])
    assert meta is not None, 'no __meta__ sample'
    compared = 0
    for name, sig in expected['signals'].items():
        got = rows_by_signal.get(name, [])
        want = sig['rows']
        assert len(got) == len(want), (name, len(got), len(want))
        for g, w in zip(got, want):
            assert len(g) == len(w), (name, g, w)
            for a, b in zip(g, w):
                if isinstance(b, float) or isinstance(a, float):
                    assert np.float32(a) == np.float32(b) or (a == b), (name, g, w)
                else:
                    assert a == b, (name, g, w)
            compared += 1
    print(f'webdataset: {n_samples} samples, {len(raw)} npy members, {compared} rows equal to medpython get_sig')

    # glzn's iTarState.load, then payload = shard[offset + 512 : + size]
    (idx_path,) = glob.glob(os.path.join(root, '*.taridx'))
    fold = os.path.basename(idx_path)[:-len('.taridx')]
    with open(idx_path, 'rb') as f:
        hdr = np.frombuffer(f.read(64), _HDR_DT)
        assert hdr['magic'] == b'TARIDX'
        exts = f.read(int(hdr['off_crash'][0]) - 64).decode('utf8').split()
        crash = f.read(int(hdr['off_arr'][0]) - int(hdr['off_crash'][0])).decode('utf8').split()
        arr = np.frombuffer(f.read(), _ARR_DT)
    assert hdr['n_rows'][0] == len(arr) and hdr['n_ext'][0] == len(exts) and not crash
    fold_shards = sorted(p for p in shards if os.path.basename(p).startswith(fold + '_'))
    data = [open(p, 'rb').read() for p in fold_shards]
    checked = 0
    for r in arr:
        buf = data[int(r['fid'])]
        off = int(r['offset'])
        name = buf[off:off + 100].split(b'\0', 1)[0].decode()
        stem, _, ext = name.partition('.')
        assert ext == exts[int(r['extid'])], (name, exts[int(r['extid'])])
        assert xxhash.xxh64(stem.encode()).intdigest() == int(r['keyhash']), name
        payload = buf[off + 512: off + 512 + int(r['size'])]
        if ext.endswith('npy') and stem != '__meta__':
            hlen = int.from_bytes(payload[8:10], 'little')
            assert (off + 512 + 10 + hlen) % 64 == 0, name
            assert payload[10 + hlen:] == raw[(stem, ext)], name
        checked += 1
    print(f'glzn-style index: {checked} rows, flags={int(hdr["flags"][0])}, n_stems={int(hdr["n_stems"][0])}, '
          f'extensions={len(exts)}: payloads at offset+512 match, element data 64-byte aligned')


if __name__ == '__main__':
    main(sys.argv[1])
