"""inframed.spark: a real local Spark (``local[2]``, its own JVM) over a sharded synthetic
repository. Counts, sums and a per-patient feature computed by Spark equal inframed's own
(``Repository.get``, no Spark); pid filters skip shards; a missing shard or a shard of
another catalog fails the read naming it. One SparkSession for the module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import inframed
from conftest import GOLDEN, TESTDATA

if shutil.which("java") is None:  # pragma: no cover - the CI machine has Java 17
    pytest.skip("Spark needs a Java runtime", allow_module_level=True)

pyspark = pytest.importorskip("pyspark")

import inframed.spark  # noqa: E402 (needs pyspark)

SIGNALS = ["Lab0", "DIAGNOSIS", "GENDER"]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("inframed-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.python.filterPushdown.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    inframed.spark.register(session)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A synthetic export (testdata/convert/gen_synth.py), converted, sharded into 3."""
    tmp = tmp_path_factory.mktemp("spark")
    subprocess.run(
        [sys.executable, str(TESTDATA / "convert" / "gen_synth.py"), str(tmp / "raw"),
         "--pids", "300", "--rows", "30000", "--seed", "3"],
        check=True,
        capture_output=True,
    )
    report = inframed.convert(tmp / "raw" / "synth.convert_config", outdir=tmp / "repo")
    repo = report["config"]
    rep = inframed.open(repo)
    manifest = rep.shard(tmp / "shards", 3)
    return {"tmp": tmp, "repo": repo, "rep": rep, "manifest": manifest}


def read(spark, path, signal, **options):
    r = spark.read.format("inframed").option("signal", signal)
    for k, v in options.items():
        r = r.option(k, str(v))
    return r.load(str(path))


def own(rep, signal):
    """Per patient (pid -> structured array) through inframed alone."""
    out = {}
    for pid in rep.pids:
        a = rep.get(int(pid), signal)
        if len(a):
            out[int(pid)] = a
    return out


def test_counts_and_sums_equal_inframed(spark, data):
    rep = data["rep"]
    sharded = inframed.open(data["manifest"])
    assert list(sharded.pids) == list(rep.pids)
    for signal in SIGNALS:
        df = read(spark, data["manifest"], signal)
        assert df.columns == ["pid"] + list(rep.dtype(signal).names), signal
        assert df.rdd.getNumPartitions() == 3
        mine = own(rep, signal)
        want_rows = sum(len(a) for a in mine.values())
        from pyspark.sql import functions as F

        row = df.agg(
            F.count("*").alias("n"), F.sum("val0").alias("s"), F.countDistinct("pid").alias("p")
        ).collect()[0]
        assert row["n"] == want_rows, signal
        want_sum = sum(float(np.sum(a["val0"], dtype=np.float64)) for a in mine.values())
        assert row["s"] == pytest.approx(want_sum, rel=1e-9), signal
        assert row["p"] == len(mine), signal


def test_per_patient_feature(spark, data):
    import pyarrow as pa
    import pyarrow.compute as pc

    def feature(t: pa.Table) -> pa.Table:
        return pa.table({
            "pid": pa.array([t["pid"][0].as_py()], pa.int32()),
            "n": pa.array([t.num_rows], pa.int64()),
            "max": pa.array([pc.max(t["val0"]).as_py()], pa.float32()),
            "first_time": pa.array([pc.min(t["time0"]).as_py()], pa.int32()),
        })

    df = read(spark, data["manifest"], "Lab0")
    got = {
        r["pid"]: (r["n"], r["max"], r["first_time"])
        for r in df.groupBy("pid")
        .applyInArrow(feature, "pid int, n long, max float, first_time int")
        .collect()
    }
    want = {
        pid: (len(a), float(np.max(a["val0"])), int(np.min(a["time0"])))
        for pid, a in own(data["rep"], "Lab0").items()
    }
    assert got == want


def test_pid_filters_skip_shards(spark, data):
    m = inframed.open(data["manifest"])

    shards = json.loads(open(data["manifest"]).read())["shards"]
    first_last = shards[0]["last_pid"]
    mine = own(data["rep"], "Lab0")
    want = sum(len(a) for p, a in mine.items() if p <= first_last)
    df = read(spark, data["manifest"], "Lab0").filter(f"pid <= {first_last}")
    assert df.count() == want
    assert df.rdd.getNumPartitions() == 1  # pushed down: shards 1 and 2 not read
    by_option = read(spark, data["manifest"], "Lab0", pid_max=first_last)
    assert by_option.rdd.getNumPartitions() == 1
    assert by_option.count() == want
    # A single repository split into pid ranges reads the same rows.
    single = read(spark, data["repo"], "Lab0", partitions=4)
    assert single.rdd.getNumPartitions() == 4
    assert single.count() == sum(len(a) for a in mine.values())
    assert len(m.pids) == len(data["rep"].pids)


def test_missing_or_foreign_shard_is_named(spark, data):
    tmp = data["tmp"]
    shards = os.path.dirname(data["manifest"])
    gone = tmp / "gone"
    shutil.copytree(shards, gone)
    shutil.rmtree(gone / "shard-0001")
    with pytest.raises(Exception) as e:
        read(spark, gone / "shards.json", "Lab0").count()
    assert "shard-0001" in str(e.value) and "missing" in str(e.value)

    other = inframed.open(GOLDEN).shard(tmp / "other", 3)
    mixed = tmp / "mixed"
    shutil.copytree(shards, mixed)
    shutil.rmtree(mixed / "shard-0002")
    shutil.copytree(os.path.join(os.path.dirname(other), "shard-0002"), mixed / "shard-0002")
    with pytest.raises(Exception) as e:
        read(spark, mixed / "shards.json", "Lab0").count()
    assert "shard-0002" in str(e.value) and "another catalog" in str(e.value)
    # Without Spark, inframed says the same.
    with pytest.raises(inframed.Error, match="another catalog"):
        inframed.open(mixed / "shards.json")


def test_a_session_without_filter_pushdown_reads(spark, data):
    """Spark refuses a reader that takes filters while Python filter pushdown is off (its
    default): `register` then picks the reader without, and filters still hold on the rows."""
    conf = "spark.sql.python.filterPushdown.enabled"
    mine = own(data["rep"], "Lab0")
    shards = json.loads(open(data["manifest"]).read())["shards"]
    first_last = shards[0]["last_pid"]
    spark.conf.set(conf, "false")
    try:
        inframed.spark.register(spark)
        df = read(spark, data["manifest"], "Lab0")
        assert df.count() == sum(len(a) for a in mine.values())
        filtered = df.filter(f"pid <= {first_last}")
        assert filtered.count() == sum(len(a) for p, a in mine.items() if p <= first_last)
        assert filtered.rdd.getNumPartitions() == 3  # not pushed: every shard read
    finally:
        spark.conf.set(conf, "true")
        inframed.spark.register(spark)
    assert read(spark, data["manifest"], "Lab0").filter(f"pid <= {first_last}").rdd.getNumPartitions() == 1
