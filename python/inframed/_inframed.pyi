"""Type stubs of the extension module ``inframed._inframed`` (see ``inframed``)."""

import os
from typing import Any, Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pandas

_Path = str | os.PathLike[str]
_Signal = str | int
_Pids = Sequence[int] | npt.NDArray[np.integer[Any]]

class Error(Exception):
    """Every error raised by inframed. ``path`` names the file when there is one."""

    path: str | None

class NotFound(Error):
    """A file, signal or signal id that does not exist."""

class CorruptError(Error):
    """A damaged binary file: ``path`` and ``offset`` (byte offset, None when unknown)."""

    offset: int | None

class ParseError(Error):
    """An invalid line of a text file: ``path`` and ``line`` (1-based)."""

    line: int | None

def open(path: _Path, stack: Sequence[_Path] = ...) -> Repository:
    """Opens a repository config or container; ``stack`` adds layers on top (GIL released)."""

def convert(
    config: _Path,
    outdir: _Path | None = None,
    threads: int | None = None,
    *,
    original: bool = False,
    build_dicts: bool = False,
) -> dict[str, Any]:
    """Converts a raw export (MedConvert convert config) into a MODE 3 repository.

    ``build_dicts=True`` builds dictionaries (``dicts/built.<signal>.dict``) for categorical
    values without a code, as ``inframed convert --build-dicts``.
    """

def from_meds(
    meds_dir: _Path,
    outdir: _Path,
    *,
    name: str | None = None,
    max_bad_line_ratio: float = 0.05,
) -> dict[str, Any]:
    """Imports a MEDS dataset folder into a MODE 3 repository (docs/meds.md)."""

class Dictionaries:
    """``rep.dict``: medpython's dictionary API; ``section`` is an id or a section/signal name."""

    @property
    def sections(self) -> list[str]: ...
    def section_id(self, name: str) -> int: ...
    def name(self, section: int | str, code: int) -> str: ...
    def names(self, section: int | str, code: int) -> list[str]: ...
    def id(self, section: int | str, name: str) -> int: ...
    def prep_sets_lookup_table(
        self, section: int | str, sets: Sequence[str]
    ) -> npt.NDArray[np.bool_]: ...

class ArrowStream:
    """Record batches behind the Arrow PyCapsule interface (``__arrow_c_stream__``).

    Each ``__arrow_c_stream__`` call starts a fresh stream from the map that builds one batch
    of at most ``batch_rows`` rows at a time (readable any number of times; never holds the
    whole signal). ``len()`` counts rows from the element lengths.
    """

    @property
    def num_batches(self) -> int:
        """``ceil(len / batch_rows)``: 0 when there are no rows."""
    @property
    def batch_rows(self) -> int: ...
    @property
    def columns(self) -> list[str]: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __len__(self) -> int: ...

class Repository:
    """An open repository; immutable, thread-safe, picklable (re-opened from its paths)."""

    @property
    def pids(self) -> npt.NDArray[np.uint32]:
        """Every pid, ascending: a read-only view (no copy)."""
    @property
    def signals(self) -> list[str]: ...
    @property
    def dict(self) -> Dictionaries: ...
    def sig_id(self, name: str) -> int: ...
    def sig_name(self, sid: int) -> str: ...
    def dtype(self, signal: _Signal) -> np.dtype[np.void]: ...
    def info(self) -> dict[str, Any]: ...
    def get(
        self, pid: int, signal: _Signal, start: int | None = None, end: int | None = None
    ) -> npt.NDArray[np.void]:
        """One patient's vector: a structured array viewing the map where aligned."""
    def uget(self, pid: int, sid: _Signal) -> npt.NDArray[np.void]: ...
    def get_many(
        self, pids: _Pids, signal: _Signal
    ) -> tuple[npt.NDArray[np.void], npt.NDArray[np.int64]]:
        """Concatenated elements of every pid and offsets (len(pids) + 1)."""
    def get_sig(
        self,
        signal: _Signal,
        pids: _Pids | None = None,
        translate: bool = False,
        float32to64: bool = False,
    ) -> pandas.DataFrame: ...
    def to_arrow(
        self, signal: _Signal, pids: _Pids | None = None, *, batch_rows: int = 65536
    ) -> ArrowStream:
        """get_sig's columns as a bounded-batch Arrow stream (pids in the order given)."""
    def patient(self, pid: int) -> dict[str, npt.NDArray[np.void]]: ...
    def export(
        self,
        out: _Path,
        to: str,
        *,
        codec: str | None = None,
        deflate: bool = False,
        dir: bool = False,
        shard_size: int | None = None,
        mode: int | None = None,
        full: bool = False,
        layout: str | None = None,
    ) -> str: ...
    def shard(self, out: _Path, shards: int, *, force: bool = False) -> str: ...
    def verify(self) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[tuple[int, dict[str, npt.NDArray[np.void]]]]: ...
    def __contains__(self, pid: int) -> bool: ...
