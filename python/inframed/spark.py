"""A PySpark data source over inframed repositories and pid-range shards (pyspark >= 4.0).

Register it once per session, then read one signal as a DataFrame::

    import inframed.spark
    inframed.spark.register(spark)
    df = (spark.read.format("inframed")
          .option("signal", "Hemoglobin")
          .load("/data/shards/shards.json"))      # or a single *.repository

Columns are ``get_sig``'s: ``pid`` then ``time0…``, ``val0…`` of the signal's layout. The
schema comes from the catalog. Spark has no unsigned integers: unsigned channels are widened
to the next signed type (``uint8`` → smallint, ``uint16`` → int, ``uint32``/``uint64`` →
bigint; a ``uint64`` above 2^63 fails the cast).

Partitions: one per shard of a manifest (``shards.json``, written by ``inframed shard`` or
``Repository.shard``), each worker opening (memory-mapping) only its shard; for a single
repository, ``option("partitions", N)`` pid ranges of equal patient counts (default 1). Each
partition reads the signal through the package's Arrow batches (``Repository.to_arrow``).

Pid filters: ``pid`` comparisons (``=``, ``<``, ``<=``, ``>``, ``>=``, ``IN``) skip the shards
(or pid ranges) they exclude, when Spark pushes filters to Python data sources (Spark >= 4.1
with ``spark.sql.python.filterPushdown.enabled=true``). Spark refuses to read through a
reader that accepts filters while that setting is off, so ``register`` looks at the setting
when it is called (or takes ``pushdown=True|False``) and registers a reader with or without
filter pushdown accordingly: set the configuration before ``register``. Spark still applies
the filters to the rows read, so the result is the same with or without pushdown. Where
pushdown is not available, ``option("pid_min", …)`` and ``option("pid_max", …)`` (inclusive)
do the skipping; they are a read restriction, applied to the rows too.

The paths must be readable under the same names on every worker (a shared filesystem, or the
shards copied to the same place on each worker's disk; see docs/scale-out.md). The driver
opens the manifest with ``inframed.open`` first, so a missing shard or a shard of another
catalog fails the read at once with an error naming it.

Per-patient features: group by ``pid`` and apply an Arrow function per patient. With
``applyInArrow`` each call gets one whole patient's rows as a ``pyarrow.Table``::

    import pyarrow as pa, pyarrow.compute as pc

    def last_value(t: pa.Table) -> pa.Table:
        t = t.sort_by("time0")
        return pa.table({"pid": t["pid"][:1], "last": t["val0"][-1:]})

    feats = df.groupBy("pid").applyInArrow(last_value, "pid int, last float")

A patient's rows come from one shard, so ``df.repartition`` is not needed for correctness;
``groupBy`` still shuffles. For a shuffle-free pass, ``mapInArrow`` over the batches of each
partition sees every patient whole (a partition is a whole shard or pid range, pids
ascending), and can compute features per pid with ``pyarrow.compute``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

__all__ = [
    "InframedDataSource",
    "InframedDataSourceNoPushdown",
    "InframedFilteringReader",
    "InframedReader",
    "register",
    "spark_type",
]

_PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"

_MANIFEST_FORMAT = "inframed-shards"

# Arrow type name -> (Spark DDL type, Arrow type name cast to).
_TYPES = {
    "int8": ("tinyint", "int8"),
    "int16": ("smallint", "int16"),
    "int32": ("int", "int32"),
    "int64": ("bigint", "int64"),
    "uint8": ("smallint", "int16"),
    "uint16": ("int", "int32"),
    "uint32": ("bigint", "int64"),
    "uint64": ("bigint", "int64"),
    "float": ("float", "float32"),
    "double": ("double", "float64"),
}


def spark_type(arrow_type: Any) -> tuple[str, str]:
    """The Spark DDL type and the Arrow type an inframed Arrow column is cast to."""
    name = str(arrow_type)
    if name not in _TYPES:
        raise TypeError(f"inframed.spark: no Spark type for Arrow type {name}")
    return _TYPES[name]


def _read_manifest(path: str) -> dict | None:
    """The parsed manifest if `path` is one (JSON naming the shard format), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 << 10)
    except OSError:
        return None
    if not head.lstrip().startswith(b"{") or _MANIFEST_FORMAT.encode() not in head:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class _Part:
    """One Spark partition: a repository path and an inclusive pid range (None: all)."""

    path: str
    first: int | None
    last: int | None


def _pid_bound(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"pid bound {value!r} is not an integer")
    return value


def _arrow_columns(rep: Any, signal: str) -> list[tuple[str, str, str]]:
    """(column, Spark type, Arrow type cast to) of `signal`'s Arrow batches."""
    import pyarrow as pa

    schema = pa.RecordBatchReader.from_stream(rep.to_arrow(signal, pids=[])).schema
    return [(f.name, *spark_type(f.type)) for f in schema]


class InframedReader(DataSourceReader):
    """Partitions (shards or pid ranges) and their Arrow batches; see the module doc. Takes
    no filters from Spark (see :class:`InframedFilteringReader`)."""

    def __init__(self, path: str, signal: str, options: dict[str, str], columns: list) -> None:
        self.path = path
        self.signal = signal
        self.columns = columns
        self.n_parts = int(options.get("partitions", "1"))
        self.lo = int(options["pid_min"]) if "pid_min" in options else None
        self.hi = int(options["pid_max"]) if "pid_max" in options else None

    def _narrow(self, lo: int | None, hi: int | None) -> None:
        if lo is not None:
            self.lo = lo if self.lo is None else max(self.lo, lo)
        if hi is not None:
            self.hi = hi if self.hi is None else min(self.hi, hi)

    def _overlaps(self, first: int, last: int) -> bool:
        return (self.lo is None or last >= self.lo) and (self.hi is None or first <= self.hi)

    def partitions(self) -> list:
        """One partition per shard (or pid range) that the pid bounds do not exclude."""
        manifest = _read_manifest(self.path)
        parts: list[_Part] = []
        if manifest is not None:
            base = os.path.dirname(os.path.abspath(self.path))
            for s in manifest["shards"]:
                if s["patients"] and self._overlaps(s["first_pid"], s["last_pid"]):
                    parts.append(_Part(os.path.join(base, s["path"]), s["first_pid"], s["last_pid"]))
        else:
            import inframed

            pids = inframed.open(self.path).pids
            n = max(1, min(self.n_parts, len(pids)))
            for k in range(n):
                a, b = len(pids) * k // n, len(pids) * (k + 1) // n
                if a < b and self._overlaps(int(pids[a]), int(pids[b - 1])):
                    parts.append(_Part(os.path.abspath(self.path), int(pids[a]), int(pids[b - 1])))
        if not parts:
            # Spark wants at least one partition: an empty range reads nothing.
            parts.append(_Part(os.path.abspath(self.path), 1, 0))
        return [InputPartition(p) for p in parts]

    def read(self, partition: Any) -> Iterator:
        """The signal's rows of the partition's pids as Arrow record batches."""
        import numpy as np
        import pyarrow as pa

        import inframed

        part: _Part = partition.value
        lo = part.first if self.lo is None else max(part.first, self.lo)
        hi = part.last if self.hi is None else min(part.last, self.hi)
        if lo > hi:
            return
        rep = inframed.open(part.path)
        pids = rep.pids
        sel = pids[(pids >= lo) & (pids <= hi)]
        if len(sel) == 0:
            return
        if len(sel) == len(pids):
            stream = rep.to_arrow(self.signal)
        else:
            stream = rep.to_arrow(self.signal, pids=np.asarray(sel))
        target = pa.schema([pa.field(n, t) for n, _, t in self.columns])
        for batch in pa.RecordBatchReader.from_stream(stream):
            yield batch.cast(target)


class InframedFilteringReader(InframedReader):
    """:class:`InframedReader` that also takes Spark's pushed ``pid`` filters to skip shards
    (needs ``spark.sql.python.filterPushdown.enabled=true``)."""

    def pushFilters(self, filters: list) -> Iterator:  # noqa: N802 (Spark's name)
        """Narrows the pid range by the pid comparisons; returns every filter (Spark still
        applies them to the rows: pushdown only skips shards)."""
        from pyspark.sql import datasource as ds

        for f in filters:
            if getattr(f, "attribute", None) == ("pid",):
                try:
                    if isinstance(f, ds.EqualTo):
                        v = _pid_bound(f.value)
                        self._narrow(v, v)
                    elif isinstance(f, ds.GreaterThan):
                        self._narrow(_pid_bound(f.value) + 1, None)
                    elif isinstance(f, ds.GreaterThanOrEqual):
                        self._narrow(_pid_bound(f.value), None)
                    elif isinstance(f, ds.LessThan):
                        self._narrow(None, _pid_bound(f.value) - 1)
                    elif isinstance(f, ds.LessThanOrEqual):
                        self._narrow(None, _pid_bound(f.value))
                    elif isinstance(f, ds.In):
                        vals = [_pid_bound(v) for v in f.value]
                        if vals:
                            self._narrow(min(vals), max(vals))
                except TypeError:
                    pass
            yield f


class InframedDataSource(DataSource):
    """``spark.read.format("inframed")``: options ``signal`` (required), ``path`` (the
    ``load`` argument: a ``shards.json`` or a repository), ``partitions`` (a single
    repository's pid ranges), ``pid_min``/``pid_max`` (inclusive)."""

    @classmethod
    def name(cls) -> str:
        return "inframed"

    def _path_signal(self) -> tuple[str, str]:
        path = self.options.get("path")
        if not path:
            raise ValueError("inframed: load(PATH) needs a shards.json or repository path")
        signal = self.options.get("signal")
        if not signal:
            raise ValueError('inframed: option("signal", NAME) is required')
        return path, signal

    def _columns(self) -> list:
        import inframed

        path, signal = self._path_signal()
        # Opening a manifest opens every shard: a missing shard or one of another catalog
        # fails here, naming it.
        return _arrow_columns(inframed.open(path), signal)

    def schema(self) -> str:
        """`pid` and the signal's channels, from the catalog."""
        return ", ".join(f"{n} {t}" for n, t, _ in self._columns())

    #: Whether the reader takes Spark's pushed filters (set by :func:`register`).
    pushdown = True

    def reader(self, schema: Any) -> InframedReader:
        path, signal = self._path_signal()
        cls = InframedFilteringReader if self.pushdown else InframedReader
        return cls(path, signal, dict(self.options), self._columns())


class InframedDataSourceNoPushdown(InframedDataSource):
    """``inframed`` for a session without Python filter pushdown: the same reads, pid
    filters applied by Spark to the rows only (``pid_min``/``pid_max`` still skip shards)."""

    pushdown = False


def register(spark: Any, pushdown: bool | None = None) -> None:
    """Registers the ``inframed`` format with a SparkSession (pyspark >= 4.0).

    ``pushdown`` (default: the session's ``spark.sql.python.filterPushdown.enabled`` now)
    chooses a reader that takes Spark's pushed ``pid`` filters; Spark refuses such a reader
    while the setting is off, so a default session gets one without."""
    if pushdown is None:
        pushdown = str(spark.conf.get(_PUSHDOWN_CONF, "false")).strip().lower() == "true"
    spark.dataSource.register(InframedDataSource if pushdown else InframedDataSourceNoPushdown)
