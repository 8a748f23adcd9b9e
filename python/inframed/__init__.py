"""inframed: memory-mapped InfraMed / medpython patient repositories.

``inframed.open(path)`` opens a repository config (``*.repository``, any MODE) or a
container (``.iac``, ``.gnz``, ``.trx``, an indexed-tar dataset). ``rep.get(pid, signal)``
returns a numpy structured array (fields ``time0…``, ``val0…`` as medpython names them)
that views the memory-mapped file without a copy where the bytes are aligned.

Example::

    import inframed
    rep = inframed.open("testdata/inframed/small/repo/small.repository")
    hgb = rep.get(1025, "Hemoglobin", start=20190101, end=20211231)
    print(hgb["time0"], hgb["val0"])
    df = rep.get_sig("Hemoglobin")              # pandas: pid, time0, val0
    dx = rep.dict.prep_sets_lookup_table("DIAGNOSIS", ["DIABETES_ALL"])
    import pyarrow as pa; t = pa.table(rep.to_arrow("Glucose"))

``inframed.open("…/shards.json")`` opens pid-range shards (``inframed shard``,
``Repository.shard``) as one repository; ``inframed.spark`` (needs pyspark >= 4.0) reads
them, or a single repository, as a Spark data source (docs/scale-out.md).

The work is done by the Rust library; this package only translates.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from ._inframed import (
    ArrowStream,
    CorruptError,
    Dictionaries,
    Error,
    NotFound,
    ParseError,
    Repository,
    convert,
    from_meds,
    open,
)

__all__ = [
    "ArrowStream",
    "CorruptError",
    "Dataset",
    "Dictionaries",
    "Error",
    "NotFound",
    "ParseError",
    "Repository",
    "convert",
    "from_meds",
    "open",
]

__version__ = "0.1.0"


def _reopen(path: str, stack: list[str]) -> Repository:
    """Unpickles a Repository: opens (maps) it again from its paths."""
    return open(path, stack=stack)


class Dataset:
    """A map-style dataset over a repository's patients, for ``torch.utils.data.DataLoader``.

    ``len(ds)`` is the number of patients; ``ds[i]`` is patient ``i`` (pids ascending) as a
    dict ``{"pid": pid, signal: structured array, ...}`` with every non-empty signal, or only
    those of ``signals``. The repository is opened lazily on first use in each process (after
    ``fork`` or in a ``spawn`` worker) and is never pickled: a Dataset pickles as its paths.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        stack: Sequence[str | os.PathLike[str]] = (),
        signals: Iterable[str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.stack = [os.fspath(p) for p in stack]
        self.signals = None if signals is None else list(signals)
        self._rep: Repository | None = None
        self._owner: int | None = None

    @property
    def repository(self) -> Repository:
        """This process's Repository (opened on first use, re-opened after a fork)."""
        if self._rep is None or self._owner != os.getpid():
            self._rep = open(self.path, stack=self.stack)
            self._owner = os.getpid()
        return self._rep

    def __len__(self) -> int:
        return len(self.repository)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rep = self.repository
        pid = int(rep.pids[index])
        if self.signals is None:
            out: dict[str, Any] = {"pid": pid}
            out.update(rep.patient(pid))
            return out
        out = {"pid": pid}
        for s in self.signals:
            out[s] = rep.get(pid, s)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rep"] = None
        state["_owner"] = None
        return state

    def __repr__(self) -> str:
        return f"inframed.Dataset({self.path!r}, stack={self.stack!r}, signals={self.signals!r})"
