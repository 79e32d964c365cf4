"""Writing a chunk's records into `events` and judging them: the part of an import every
reader shares (`chunk_import.ChunkImporter` reads; this class writes).

An INSERT runs with its rows in any order and, from a table, a thread per row group
(`_insert_events`); Arrow rows go in whole row groups (`_each_statement`); records with a
problem are counted and warned before the others are inserted (`_insert_records`); the rows
just written are then settled: rejects to warnings, identical duplicates dropped (`_settle`).
Every path counts what it leaves out, so each file reconciles seen = kept + rejected + duplicate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from viewer.core import ingest_sql
from viewer.core.arrow_once import batches_once, read_once
from viewer.core.insert_batches import ROW_GROUP, SMALL_BATCH, statements
from viewer.core.insert_carry import InsertCarry
from viewer.core.lone_surrogates import keep_refused
from viewer.core.record_readers import Problem
from viewer.formats.base import FormatSpec

#: How a statement's rows are cut into Arrow batches (`insert_batches`): whole row groups of
#: DuckDB's size, the rest in one or two batches of at least half a group; small batches for a
#: statement under a group (an Arrow stream is read a batch per task, so they spread it over
#: every thread). Tests make them small to cut a few lines into many groups and batches.
INSERT_ROW_GROUP = ROW_GROUP
INSERT_SMALL_BATCH = SMALL_BATCH
#: Threads an INSERT from the records stage may run, per configured thread (`_insert_events`).
INSERT_THREADS_PER_CORE = 2
#: Arrow bytes a group per thread of records may take for the carry to hold them (a thread's
#: group of GCP audit records, 1.2 KB each, is 155 MB; GuardDuty findings, ~4 KB, are not held).
CARRY_BYTES = 384 * 1024**2


@dataclass
class FileCounts:
    seen: int = 0
    kept: int = 0
    rejected: int = 0
    duplicate: int = 0
    first_ts: dt.datetime | None = None
    last_ts: dt.datetime | None = None

    def add(self, other: FileCounts) -> None:
        self.seen += other.seen
        self.kept += other.kept
        self.rejected += other.rejected
        self.duplicate += other.duplicate
        ts = [t for t in (self.first_ts, other.first_ts) if t is not None]
        self.first_ts = min(ts) if ts else None
        ts = [t for t in (self.last_ts, other.last_ts) if t is not None]
        self.last_ts = max(ts) if ts else None


class ChunkWriter:
    """What an import writes and counts, over one cursor inside the import's transaction."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, import_id: int) -> None:
        self.cur = cur
        self.import_id = import_id
        self.problems: dict[int, list[str]] = {}  # evidence id -> messages for the report
        self.threads = int(cur.execute("SELECT current_setting('threads')").fetchall()[0][0])
        self.threads_raised = False  # by `_insert_events`, and not yet set back
        #: JSON lines of consecutive chunks waiting to fill a row group for every thread
        #: (`_insert_records`); flushed before each commit.
        self.carry = InsertCarry(INSERT_ROW_GROUP, self.threads, CARRY_BYTES)

    def _insert_events(self, sql: str, row_groups: int = 0) -> int:
        """Run an INSERT INTO events with its rows written in any order. Rows carry their
        event_id, so the order is not needed, and keeping it made the INSERT of a stage's 250k
        CloudTrail records mostly serial (zstd-compressing the raw column: 1.05 s wall, 1.19
        CPU-s; 0.59 s wall unordered). Each thread still writes whole ranges of event ids, so
        the zone maps stay as narrow (1M import: 25.0/26.9 s -> 23.0/25.1 s, same row groups
        and file size). The setting is restored for the statements that need the order (the
        records stage numbers records by rowid; derived tables are stored sorted).

        `row_groups`: when the rows come from a table (the records stage), its row groups. DuckDB
        scans a row group on one thread, and a chunk of CloudTrail records fills two or three
        of them, the last one partly: with a thread per core, one core idled while the other
        finished the last group. A thread per row group lets the OS share the cores among all
        of them (1M records in files of 1,000: the INSERTs 11.2-11.5 -> 9.1-9.6 s, same CPU and
        peak RSS; 3, 4 or 6 threads measured the same). At most twice the usual threads: a
        stage of one big file has tens of groups, and each thread builds row groups of its own.
        Not for Arrow sources: they are cut into balanced batches already, and more threads
        there only cost CPU and memory (measured on VPC and ALB lines)."""
        self.cur.execute("SET preserve_insertion_order = false")
        threads = min(row_groups, INSERT_THREADS_PER_CORE * self.threads)
        if threads > self.threads:
            self.cur.execute(f"SET threads = {int(threads)}")
            self.threads_raised = True
        try:
            return self._count(sql)  # an INSERT answers with the rows it inserted
        finally:
            # In an aborted transaction the SETs fail: `import_chunk` restores them in the next,
            # and `import_chunks` once it has rolled back.
            with contextlib.suppress(duckdb.TransactionException):
                self.cur.execute("SET preserve_insertion_order = true")
            with contextlib.suppress(duckdb.TransactionException):
                self._restore_threads()

    def _count(self, sql: str) -> int:
        return int(self.cur.execute(sql).fetchall()[0][0])

    def _restore_threads(self) -> None:
        """Back to the usual threads after `_insert_events` raised them (a SET waits for the
        running tasks: ~12 ms during an import, so it is not repeated when nothing changed)."""
        if self.threads_raised:
            self.cur.execute(f"SET threads = {self.threads}")
            self.threads_raised = False

    def _each_statement(self, name: str, table: pa.Table, run: Callable[[int, str], object]) -> None:
        """Run `run(k, sql)` for each statement k of a chunk's lines `table`: `sql` reads that
        statement's rows from Arrow, in the batches of `insert_batches.statements` (whole row
        groups, each read by one thread, or small batches under a group)."""
        schema = table.schema
        parts = statements(table.to_batches(), INSERT_ROW_GROUP, INSERT_SMALL_BATCH)
        del table
        for k in range(len(parts)):
            self.cur.register(f"{name}_arrow", batches_once(schema, parts[k]))
            try:
                run(k, f"SELECT * FROM {name}_arrow")
            finally:
                # After a failed statement the transaction is aborted and this fails too: the
                # statement's own error is the one to report (the rollback drops the view).
                with contextlib.suppress(duckdb.TransactionException):
                    self.cur.unregister(f"{name}_arrow")

    def _register_files(self, files: list, spec: FormatSpec) -> None:
        table = pa.table(
            {
                "evidence_id": pa.array([eid for eid, _ in files], pa.int32()),
                "real_path": [str(pf.source.real_path) for _, pf in files],
                "display_path": [pf.source.display_path for _, pf in files],
                "position_kind": [spec.reader.position_kind] * len(files),
            }
        )
        self.cur.register("chunk_files_arrow", read_once(table))
        if self.carry.holding:  # earlier chunks' files, for the warnings of their carried rows
            self.cur.execute("INSERT INTO chunk_files SELECT * FROM chunk_files_arrow")
        else:
            self.cur.execute("CREATE OR REPLACE TEMP TABLE chunk_files AS SELECT * FROM chunk_files_arrow")
        self.cur.unregister("chunk_files_arrow")

    def _insert_records(
        self,
        spec: FormatSpec,
        name: str,
        table: pa.Table,
        checked: Callable[[str, bool], str],
        evidence_ids: list[int],
        counts: dict,
        id_range: tuple[int, int] | None = None,
        carried: bool = True,
    ) -> None:
        """The records of `table` into events, `checked(sql, known_good)` giving each its problem
        (if any), then the verdicts on the rows inserted. Read from Arrow twice: once for the few
        records with a problem (temp table py_problems: their warnings and counts), once by the
        INSERT of the others, in whole row groups (`_each_statement`) so that it runs on every
        thread. When the first read found no problem (nearly always), the INSERT checks nothing
        again: checking is a parse of every record (GuardDuty findings, 200k JSON lines: ~1 of
        9 CPU-s).
        Staged first into one temp table of every checked record, a chunk of fewer records than a
        row group (80k GCP audit records, 96 MB) was a single row group, which DuckDB scans on
        one thread: the INSERT ran on one core.

        `carried`: the rows wait in the carry (`insert_carry`) until there is a whole row group
        for each thread, and are judged once in. JSON lines are; the Python readers' batches are
        not: their INSERTs run while the next batch is read (`_read_python`), and held they only
        took memory (200k OTLP records or Entra sign-in CSV rows: the same time, peak RSS
        0.62-0.76 -> 1.07-1.25 GB)."""
        small = table.to_batches(max_chunksize=INSERT_SMALL_BATCH)  # a batch per task: every thread
        self.cur.register(f"{name}_checked", batches_once(table.schema, small))
        try:
            self.cur.execute(
                f"""CREATE OR REPLACE TEMP TABLE py_problems AS
                    SELECT evidence_id, record_index, r, problem FROM ({checked(f"SELECT * FROM {name}_checked", False)})
                    WHERE problem IS NOT NULL"""
            )
        finally:
            with contextlib.suppress(duckdb.TransactionException):  # as in _each_statement
                self.cur.unregister(f"{name}_checked")
        table, surrogates = keep_refused(self.cur, table, "py_problems")
        for kept in surrogates:
            self._record_problems(
                kept.evidence_id,
                self._display_path(kept.evidence_id),
                [Problem(kept.first_index, spec.reader.position_kind, kept.note())],
                counts,
            )
        found = self._count_problems(spec, counts)

        def insert(rows: pa.Table, known_good: bool) -> None:
            self._each_statement(
                name,
                rows,
                lambda _, source: self._insert_events(
                    ingest_sql.insert_events_sql(spec, checked(source, known_good))
                ),
            )

        if carried:
            self.carry.add(
                (spec.name, name),
                table,
                not found,
                insert,
                lambda: self._settle(spec, evidence_ids, counts, id_range),
            )
        else:
            insert(table, not found)
            self._settle(spec, evidence_ids, counts, id_range)

    def _count_problems(self, spec: FormatSpec, counts: dict[int, FileCounts]) -> list[tuple[int, int]]:
        """The rows of the temp table py_problems (records with the `problem` that keeps them out
        of the INSERT): each a warning and a rejection. Returns (evidence id, problems) per file."""
        problems = "SELECT * FROM py_problems"
        self.cur.execute(ingest_sql.problem_warnings_sql(problems), [self.import_id])
        found = self.cur.execute(ingest_sql.problem_counts_sql(problems)).fetchall()
        for evid, n in found:
            counts.setdefault(evid, FileCounts()).add(FileCounts(seen=n, rejected=n))
        for evid, pos, reason in self.cur.execute(
            "SELECT evidence_id, record_index, problem FROM py_problems LIMIT 1000"
        ).fetchall():
            self.problems.setdefault(evid, []).append(f"{spec.reader.position_kind} {pos}: {reason}")
        self.cur.execute("DROP TABLE py_problems")
        return found

    def _settle(
        self,
        spec: FormatSpec,
        evidence_ids: list[int],
        counts: dict[int, FileCounts],
        id_range: tuple[int, int] | None = None,
    ) -> None:
        """Judge the rows just inserted (event ids in `id_range`, else all rows of the files):
        move rejects to warnings, drop identical duplicates."""
        assert spec.mapping is not None
        cur = self.cur
        lo, hi = id_range or (min(evidence_ids) << 32, (max(evidence_ids) + 1) << 32)
        bounds = {"lo": lo, "hi": hi}
        cur.execute(ingest_sql.VERDICT_SQL, bounds)
        cur.execute(ingest_sql.REJECT_WARNINGS_SQL, [self.import_id, spec.mapping.ts_missing_reason])
        for eid, seen, kept, rej, dup, first, last in cur.execute(ingest_sql.FILE_COUNTS_SQL).fetchall():
            counts.setdefault(eid, FileCounts()).add(FileCounts(seen, kept, rej, dup, first, last))
        for eid, pos in cur.execute(
            "SELECT evidence_id, record_index FROM verdict WHERE verdict = 'rejected' ORDER BY ALL LIMIT 1000"
        ).fetchall():
            self.problems.setdefault(eid, []).append(
                f"{spec.reader.position_kind} {pos}: {spec.mapping.ts_missing_reason}"
            )
        cur.execute(ingest_sql.DROP_UNKEPT_SQL)

    def _display_path(self, evidence_id: int) -> str:
        return str(
            self.cur.execute(
                "SELECT display_path FROM chunk_files WHERE evidence_id = ?", [evidence_id]
            ).fetchall()[0][0]
        )

    def _record_problems(self, eid: int, path: str, problems: list[Problem], counts: dict) -> None:
        """Damage found while splitting records: each is a warning, and a lost record a rejection."""
        for p in problems:
            self.cur.execute(
                "INSERT INTO import_warnings (import_id, evidence_id, path, position, position_kind, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [self.import_id, eid, path, p.position, p.position_kind, p.reason],
            )
            where = f"{p.position_kind} {p.position}: " if p.position is not None else ""
            self.problems.setdefault(eid, []).append(where + p.reason)
            if p.lost_record:
                c = counts.setdefault(eid, FileCounts())
                c.seen += 1
                c.rejected += 1
