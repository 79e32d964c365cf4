"""Arrow batches laid out so that a parallel INSERT leaves no small row groups behind.

How DuckDB (2.0.1) writes an INSERT that need not keep the row order, on every thread: each
thread appends the batches it takes (a batch is one task) to a collection of its own and
compresses every row group as it fills, in parallel. When it runs out of batches, a thread that
got a row group or more writes its last, part-filled group while holding the INSERT's lock; one
that got less copies its rows into the transaction's own collection, which the next such copies
keep filling (`PhysicalInsert::Combine`). At a checkpoint DuckDB then rewrites, on one thread,
any run of up to four row groups whose rows fit in one group fewer
(`RowGroupCollection::ScheduleVacuumTasks`). 500k S3 access-log lines in chunks of 162k rows
left a 39k-row group per chunk, and the last commit's checkpoint merged them with the full
groups between them: 2.8 s on one core, a quarter of the import.

So a statement reads whole row groups, and the rest of its rows with one more group in two
batches of at least half a group each (more than a group together), which two threads take
side by side: a thread's rows are whole groups plus at most one such batch, so no two
part-filled groups fit in one and no run of groups fits in fewer.
Rows that make one group and less than half another are copied into the transaction's
collection instead: in two statements of small batches, each under a group, so that no thread
reaches one. Two groups and a rest of more than half a group: the rest is one batch, read
first, the statement's only part-filled group (see `statement_sizes`).
Runs of chunks can still leave a group under half full in mid-table, from the rows copied into
the transaction: three chunks of 300k rows left groups of 54,240, 122,880, 88,560 and 88,560
rows side by side, which fit in three.
"""

from __future__ import annotations

import pyarrow as pa

#: DuckDB's rows per row group (its default; Caseline does not change it).
ROW_GROUP = 122_880
#: Batches of a statement under a row group: small enough to spread it over every thread.
SMALL_BATCH = 16_384


def statement_sizes(rows: int, row_group: int = ROW_GROUP, small: int = SMALL_BATCH) -> list[list[int]]:
    """Rows of each batch of each statement, batches in the order DuckDB should read them (the
    part-filled ones first, so that each thread starts with one of them)."""
    whole, rest = divmod(rows, row_group)
    if whole == 0:
        return [_smalls(rows, small)]
    if whole == 1 and 0 < rest <= row_group // 2:
        half = rows // 2
        return [_smalls(half, small), _smalls(rows - half, small)]
    if rest == 0:
        return [[row_group] * whole]
    if whole == 2 and rest > row_group // 2:
        # Halves beside one whole group: only the thread that took the group reaches a second
        # one, and both part-filled groups were written in turn (1.3 cores). A rest of more than
        # half a group is read first beside the two groups instead, the statement's only
        # part-filled group: 2 chunks of 335,760 ALB lines 9.0-10.9 -> 7.0-7.8 s with the
        # commit; a whole import of 1M ALB lines in chunks of 318k, 20.6-22.0 -> 19.0-20.6 s.
        # A smaller rest stays in halves: read first, or as a statement of its own after the
        # groups, it was left as a group under half full (DuckDB starts a new group for rows
        # copied into the transaction after whole groups were merged in), which a checkpoint may
        # rewrite. From three groups up the halves were faster (400k and 450k lines: 6.4-7.5 s
        # against 7.3-9.3).
        return [[rest, row_group, row_group]]
    # The rest and one group as two batches of at least half a group (the two more than one
    # together), one per thread: a rest of more than half a group read as one batch beside a
    # whole group left one thread finishing the group alone (Azure activity JSONL: 0.9 s, most
    # of it on one core).
    first = (row_group + rest) // 2
    return [[first, row_group + rest - first] + [row_group] * (whole - 1)]


def statements(
    batches: list[pa.RecordBatch], row_group: int = ROW_GROUP, small: int = SMALL_BATCH
) -> list[list[pa.RecordBatch]]:
    """The rows of `batches` (one schema) as the batches of `statement_sizes`, cut from them in
    order (copied only where a batch spans two of them); the part-filled batches are then moved
    first. The order of rows changes, which an INSERT of rows that carry their own ids does not
    mind."""
    rest = list(batches)
    plan = statement_sizes(sum(b.num_rows for b in rest), row_group, small)
    out = []
    for sizes in plan:
        # Cut in the order of the rows (whole groups first), then put the part-filled ones first.
        cut = _cut(rest, sorted(sizes, key=lambda n: n != row_group))
        out.append(sorted(cut, key=lambda b: b.num_rows == row_group))
    return [s for s in out if s] or [[]]  # no rows: one statement over none (it still runs)


def _smalls(rows: int, small: int) -> list[int]:
    return [min(small, rows - start) for start in range(0, rows, small)]


def _cut(batches: list[pa.RecordBatch], sizes: list[int]) -> list[pa.RecordBatch]:
    """The next `sizes` rows of `batches` (consumed from the front), one batch each."""
    batches[:] = [b for b in batches if b.num_rows]
    out = []
    for size in sizes:
        pieces = []
        while size:
            head = batches[0]
            take = min(size, head.num_rows)
            pieces.append(head.slice(0, take))
            if take == head.num_rows:
                batches.pop(0)
            else:
                batches[0] = head.slice(take)
            size -= take
        out.append(_one(pieces))
    return out


def _one(pieces: list[pa.RecordBatch]) -> pa.RecordBatch:
    return pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces)
