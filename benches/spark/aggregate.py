"""A whole-signal aggregate (row count, sum of val0) over a shard manifest or repository:
Spark (``local[N]``, the inframed data source) vs. one process (the Python package, Arrow +
pyarrow.compute), run by hand; the Rust side is ``examples/signal_aggregate.rs``. Figures go
to BENCHMARKS.md ("Shards").

    .venv/bin/python benches/spark/aggregate.py /tmp/sh8/shards.json Hemoglobin --rounds 3

Prints one line per timing: the session start (JVM) once, then per round the Spark job (read +
aggregate + collect) and the one-process figure, alternated so that both see the same load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def one_process(path: str, signal: str) -> tuple[int, float, float]:
    import pyarrow as pa
    import pyarrow.compute as pc

    import inframed

    t = time.perf_counter()
    rep = inframed.open(path)
    rows, total = 0, 0.0
    for batch in pa.RecordBatchReader.from_stream(rep.to_arrow(signal)):
        rows += batch.num_rows
        total += pc.sum(batch.column("val0").cast(pa.float64())).as_py() or 0.0
    return rows, total, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("signal")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    a = ap.parse_args()

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import inframed.spark

    t = time.perf_counter()
    spark = (
        SparkSession.builder.master(a.master)
        .appName("inframed-aggregate")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    inframed.spark.register(spark)
    print(f"spark_session_start_s {time.perf_counter() - t:.3f}", flush=True)

    for r in range(a.rounds):
        t = time.perf_counter()
        df = spark.read.format("inframed").option("signal", a.signal).load(a.path)
        row = df.agg(F.count("*").alias("n"), F.sum(F.col("val0").cast("double")).alias("s")).collect()[0]
        spark_s = time.perf_counter() - t
        rows, total, one_s = one_process(a.path, a.signal)
        same = rows == row["n"] and abs(total - row["s"]) <= 1e-6 * max(1.0, abs(total))
        print(
            f"round {r} spark_s {spark_s:.3f} one_process_s {one_s:.3f} "
            f"ratio {spark_s / one_s:.1f} rows {rows} sum {total:.6g} equal {same}",
            flush=True,
        )
        if not same:
            sys.exit(f"Spark gave {row['n']} rows, sum {row['s']}; one process {rows}, {total}")
    spark.stop()


if __name__ == "__main__":
    main()
