#!/usr/bin/env python3
"""Run the original loader (medpython 1.2.1 `MedConvert.create_rep`) on a convert config, the way the golden
fixture was made: OMP_NUM_THREADS=1, cwd = the config's directory, `./<config>` (see testdata/inframed/README.md).
OUTDIR and OUTDIR/data must exist; they are created here.

    /tmp/mpvenv/bin/python testdata/convert/run_original.py IN_DIR/synth.convert_config [full_error_file]

Prints the wall time of create_rep. Compare with inframed by hand, e.g.:
    inframed convert IN_DIR/synth.convert_config --original --outdir /tmp/ours
    for f in REPO/data/*; do cmp $f /tmp/ours/data/$(basename $f); done
"""
import os
import subprocess
import sys
import time

if len(sys.argv) > 1 and sys.argv[1] == "--child":
    import med  # noqa: E402  (medpython)
    cfg, err = sys.argv[2], sys.argv[3]
    mc = med.MedConvert()
    if err:
        mc.init_load_params("full_error_file=" + err)
    t = time.time()
    mc.create_rep("./" + os.path.basename(cfg))
    print(f"create_rep wall {time.time() - t:.2f} s", flush=True)
    sys.exit(0)

cfg = os.path.abspath(sys.argv[1])
err = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else ""
d = os.path.dirname(cfg)
outdir = None
for line in open(cfg):
    f = line.replace("\t", " ").split(" ")
    if f[0] == "OUTDIR" and len(f) > 1:
        outdir = os.path.join(d, f[1].strip())
os.makedirs(os.path.join(outdir, "data"), exist_ok=True)
env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", cfg, err], cwd=d, env=env)
sys.exit(p.returncode)
