"""One Repository shared by threads: the same answers as a serial run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def work(rep, k):
    out = []
    for i, pid in enumerate(rep.pids):
        sig = rep.signals[(i + k) % len(rep.signals)]
        out.append(rep.get(int(pid), sig).tobytes())
    arr, offsets = rep.get_many(rep.pids, "Hemoglobin")
    out.append(arr.tobytes() + offsets.tobytes())
    out.append(rep.get_sig("DIAGNOSIS", translate=True).to_csv())
    out.append(len(rep.to_arrow("Glucose")))
    return out


def test_threads_share_a_repository(golden):
    serial = [work(golden, k) for k in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda k: work(golden, k), range(16)))
    assert threaded == serial
