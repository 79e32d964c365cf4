"""Records read by Python (nested shapes, CSV, damaged files) gathered into batches, many files to a
DuckDB statement (`chunk_import.ChunkImporter._read_python`).

A statement per file ran on one core (5,000 records are too few for DuckDB to share out). A batch
holds whole files and parts of files in evidence id order, so its event ids are one range no
other batch's rows fall in. Rows come one at a time from the readers, or, for a CSV file that
Arrow's reader takes (`core.csv_fast`), as two Arrow arrays sliced into the batches as they are,
with no Python object per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from viewer.core.record_readers import Problem, records_or_arrays
from viewer.formats.base import FormatSpec

#: Records (and characters of them) per statement from the Python readers: bounds the memory of
#: their text in Python and in Arrow.
PY_BATCH = 100_000
PY_BATCH_CHARS = 32 * 1024**2


# A batch of records, or a file's problems once all its records are in batches.
PythonItem: TypeAlias = "PythonBatch | tuple[int, str, list[Problem]]"


def python_batches(spec: FormatSpec, files: list) -> Iterator[PythonItem]:
    """The records of `files` read by Python, in batches; after each file, its problems."""
    batch = PythonBatch()
    for eid, pf in files:
        problems: list[Problem] = []
        found = records_or_arrays(pf.source.real_path, spec.reader, problems)
        if isinstance(found, tuple):  # a CSV file's rows as Arrow arrays
            yield from batch.add_arrays(eid, *found)
        else:
            for index, text in found:
                if batch.full:
                    yield batch.take()
                batch.add(eid, index, text)
        yield eid, pf.source.display_path, problems
    if batch.rows:
        yield batch.take()


def up_to_a_batch(items: Iterator[PythonItem]) -> Iterator[list[PythonItem]]:
    """`items` in runs that end at a batch: reading ahead by one run then reads a whole batch
    ahead, not just the next file's problems."""
    run: list[PythonItem] = []
    for item in items:
        run.append(item)
        if isinstance(item, PythonBatch):
            yield run
            run = []
    if run:
        yield run


@dataclass
class PythonBatch:
    """Records from the Python readers waiting for their statement, in evidence id order and
    file order within a file (the readers number records in order): rows added one at a time,
    and runs of a file's rows already in Arrow (CSV read by Arrow's reader), kept in order as
    parts of (evidence ids, record indexes, texts)."""

    parts: list[tuple[pa.Array, pa.Array, pa.Array]] = field(default_factory=list)
    evidence_ids: list[int] = field(default_factory=list)  # rows added one at a time since the
    indexes: list[int] = field(default_factory=list)  # last part
    texts: list[str] = field(default_factory=list)
    rows: int = 0
    chars: int = 0  # characters of the rows added one at a time, bytes of the arrays' texts
    first: tuple[int, int] | None = None  # (evidence id, record index) of the first row
    last: tuple[int, int] | None = None

    @property
    def full(self) -> bool:
        return self.rows >= PY_BATCH or self.chars >= PY_BATCH_CHARS

    def _follows(self, evidence_id: int, index: int) -> None:
        # A chunk's files come in evidence id order (ids are given in plan order) and each reader
        # numbers its records in order: the batch's range (`id_range`) relies on it.
        if self.last is not None and (evidence_id, index) <= self.last:
            raise RuntimeError("records reached a Python batch out of evidence id order")
        if self.first is None:
            self.first = (evidence_id, index)

    def add(self, evidence_id: int, index: int, text: str) -> None:
        self._follows(evidence_id, index)
        self.evidence_ids.append(evidence_id)
        self.indexes.append(index)
        self.texts.append(text)
        self.rows += 1
        self.chars += len(text)
        self.last = (evidence_id, index)

    def add_arrays(self, evidence_id: int, indexes: pa.Array, texts: pa.Array) -> Iterator[PythonBatch]:
        """Add a file's rows (increasing `indexes`), yielding each batch they fill; slices, not
        copies, cut them where a batch ends."""
        sizes = np.cumsum(pc.binary_length(texts).to_numpy(zero_copy_only=False), dtype=np.int64)
        start = 0
        while start < len(indexes):
            if self.full:
                yield self.take()
            used = int(sizes[start - 1]) if start else 0
            # Up to the row that fills the batch, in count or in bytes, as rows added one at a
            # time would fill it.
            to_bound = int(np.searchsorted(sizes, used + PY_BATCH_CHARS - self.chars, side="left")) + 1
            n = min(len(indexes), to_bound, start + PY_BATCH - self.rows) - start
            self._follows(evidence_id, indexes[start].as_py())
            self._close_rows()
            self.parts.append(
                (
                    pa.array(np.full(n, evidence_id, np.int32)),
                    indexes.slice(start, n),
                    texts.slice(start, n),
                )
            )
            self.rows += n
            self.chars += int(sizes[start + n - 1]) - used
            self.last = (evidence_id, indexes[start + n - 1].as_py())
            start += n

    def _close_rows(self) -> None:
        """The rows added one at a time, as a part."""
        if self.texts:
            self.parts.append(
                (
                    pa.array(self.evidence_ids, pa.int32()),
                    pa.array(self.indexes, pa.int64()),
                    pa.array(self.texts, pa.string()),
                )
            )
            self.evidence_ids, self.indexes, self.texts = [], [], []

    def take(self) -> PythonBatch:
        self._close_rows()
        taken = PythonBatch(self.parts, rows=self.rows, chars=self.chars, first=self.first, last=self.last)
        self.parts, self.rows, self.chars, self.first, self.last = [], 0, 0, None, None
        return taken

    def columns(self) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Evidence ids, record indexes and texts of a taken batch, each one array."""
        return tuple(  # type: ignore[return-value]
            pa.concat_arrays([part[k].cast(kind) for part in self.parts])
            for k, kind in enumerate((pa.int32(), pa.int64(), pa.string()))
        )

    def id_range(self) -> tuple[int, int]:
        """The event ids of the batch's rows: [first, last + 1)."""
        assert self.first is not None and self.last is not None
        return (self.first[0] << 32) + self.first[1], (self.last[0] << 32) + self.last[1] + 1
