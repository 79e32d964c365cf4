"""Records of consecutive batches inserted in statements of whole row groups, as many per thread.

How fast DuckDB (2.0.1) inserts a statement's rows depends on whether every thread gets whole row
groups (see `insert_batches` for how it writes them). Kubernetes audit records inserted from
Arrow into a fresh case in one statement, with the commit, on 2 cores:

    122,880 rows (one group)             1.22 s   0.98 cores
    125,000 (one group and a few)        1.03 s   1.27 cores
    245,760 (two groups, one a thread)   1.22 s   1.90 cores
    300,000 (two groups and a rest)      1.86 s   1.25 cores
    491,520 (four groups)                2.27 s   1.86 cores

GCP audit records (1.2 KB each): 80,000 rows 1.34 s (16.8 us a row), 245,760 rows 1.73 s (7.0 us).
Two statements at once, in two transactions, were slower (491,520 records: 2.7-2.9 s, 1.6 cores).

A chunk of JSON lines (96 MB) is one or two groups and a rest, so each was inserted at one core
or a little more. Its rows are carried here instead (`chunk_import` carries JSON lines): a
statement takes the oldest rows in whole multiples of a group per thread, and the rest waits for
the next batch of the same records. What is left when the records change (another
format, another reader) or before a commit is inserted as `insert_batches` lays it out.

A batch's rows are judged (verdicts, counts: its `settle`) once all of them are in: settles run in
the order the batches came, after every row before them, so a duplicate is still judged against
every earlier record. Memory: records are held only while a group per thread of them fits in
`max_bytes`; bigger ones go in as they come.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import pyarrow as pa

#: Statement runner: (the rows of a statement, whether every one of them passed the check).
Insert = Callable[[pa.Table, bool], None]


@dataclass
class _Batch:
    start: int  # its rows are the carry's rows [start, end)
    end: int
    known_good: bool  # its first read found no record with a problem
    settle: Callable[[], None]


class InsertCarry:
    def __init__(self, row_group: int, threads: int, max_bytes: int) -> None:
        self.row_group = row_group
        self.unit = row_group * max(1, threads)  # a whole group for each thread
        self.max_bytes = max_bytes
        self.key: Hashable = None
        self.insert: Insert | None = None
        self.schema: pa.Schema | None = None
        # Rows held: whole groups, each one batch (copied together from the pieces of the
        # batches it spans as it fills, so the statement reads it without another copy and the
        # batches it came from can go), then the pieces of the group filling.
        self.groups: list[pa.RecordBatch] = []
        self.filling: list[pa.RecordBatch] = []
        self.filling_rows = 0
        self.added = 0  # rows taken in since the carry was last empty
        self.inserted = 0
        self.batches: deque[_Batch] = deque()

    @property
    def holding(self) -> bool:
        """Rows not yet inserted, or batches not yet settled."""
        return bool(self.batches)

    def add(
        self, key: Hashable, table: pa.Table, known_good: bool, insert: Insert, settle: Callable[[], None]
    ) -> None:
        """Take a batch's rows; insert whole groups for every thread once there are enough.

        `key`: records of the same key share statements (same format, reader and Arrow schema);
        another key first flushes what is held. `insert` runs a statement; `settle` judges this
        batch's rows once they are all in."""
        if self.holding and (key != self.key or table.schema != self.schema):
            self.flush()
        self.key, self.insert, self.schema = key, insert, table.schema
        self.batches.append(_Batch(self.added, self.added + table.num_rows, known_good, settle))
        self.added += table.num_rows
        for batch in table.to_batches():
            self._fill(batch)
        del table
        whole = len(self.groups) * self.row_group
        held = self.added - self.inserted
        if whole >= self.unit:
            self._insert(whole - whole % self.unit)
        elif held and sum(b.nbytes for b in self.groups + self.filling) * self.unit >= self.max_bytes * held:
            # Records this big would need more than `max_bytes` for a group per thread: they go
            # in as they come (GuardDuty findings of ~4 KB held up to 0.7 GB more for no gain).
            self._insert(held)
        self._settle_done()

    def flush(self) -> None:
        """Insert every row held and judge every batch (before a commit or other records)."""
        if self.holding:
            self._insert(self.added - self.inserted)
            self._settle_done()
        self.clear()

    def clear(self) -> None:
        """Forget everything held (its transaction rolled back: the chunks are read again)."""
        self.groups, self.filling, self.filling_rows = [], [], 0
        self.batches.clear()
        self.added = self.inserted = 0
        self.key = self.insert = self.schema = None

    def _fill(self, batch: pa.RecordBatch) -> None:
        while batch.num_rows:
            take = min(batch.num_rows, self.row_group - self.filling_rows)
            self.filling.append(batch.slice(0, take))
            self.filling_rows += take
            batch = batch.slice(take)
            if self.filling_rows == self.row_group:
                pieces, self.filling, self.filling_rows = self.filling, [], 0
                self.groups.append(pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces))

    def _insert(self, rows: int) -> None:
        """The oldest `rows` rows: whole groups, or everything held."""
        assert self.insert is not None and self.schema is not None
        count = rows // self.row_group
        taken, self.groups = self.groups[:count], self.groups[count:]
        if rows % self.row_group:
            assert rows == self.added - self.inserted, "a part-filled group only with everything held"
            taken += self.filling
            self.filling, self.filling_rows = [], 0
        table = pa.Table.from_batches(taken, self.schema)
        del taken
        start, end = self.inserted, self.inserted + rows
        known_good = all(b.known_good for b in self.batches if b.start < end and b.end > start)
        self.inserted = end
        self.insert(table, known_good)

    def _settle_done(self) -> None:
        while self.batches and self.batches[0].end <= self.inserted:
            self.batches.popleft().settle()
