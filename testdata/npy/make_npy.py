"""Writes small `.npy` files with numpy's own writer (numpy.save), the headers the indexed-tar
reader parses: plain and structured dtypes, both byte orders, Fortran order, 0-d, empty,
a version 2.0 header (a dictionary past 65535 bytes, from a dtype with many fields).

Run: python make_npy.py   (numpy 2.x; the files are committed, numpy is not needed to test)
"""

import numpy as np

np.save("pids_u4.npy", np.array([1, 2, 5, 9], dtype="<u4"))
np.save("empty_u4.npy", np.zeros(0, dtype="<u4"))
np.save("scalar_f8.npy", np.array(3.5, dtype="<f8"))
np.save("big_endian_i8.npy", np.arange(3, dtype=">i8"))
np.save("fortran_2d.npy", np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3)))
np.save(
    "struct_time_value.npy",
    np.zeros(3, dtype=[("time", "<i4"), ("value", "<f4")]),
)
np.save(
    "struct_two_times.npy",
    np.zeros(2, dtype=[("time0", "<i4"), ("time1", "<i4"), ("value0", "<f4"), ("value1", "<u2")]),
)
wide = np.dtype([(f"field_{i:05d}", "<u1") for i in range(3000)])
np.save("v2_wide.npy", np.zeros(1, dtype=wide))
