"""The import pipeline: plan (`core.import_plan`: find files, sniff formats) then run (files
hashed by `core.evidence_hash`, then chunks committed as they go).

    paths -> sources.discover -> sniff each file -> ImportPlan (shown to the user before importing)
    ImportPlan -> chunks of files per format -> stage SQL -> verdicts -> events / warnings / ledger

Memory and temp storage stay bounded by the chunk size, not the evidence size: chunks commit as
they go (DuckDB keeps what a transaction creates until it ends; `ChunkImporter.import_chunks`).
The import counts as done only when its last transaction (ledger, derived structures,
finished_at) commits. Cancel interrupts the running DuckDB statement and `import_undo` takes the
committed chunks back, so the case is as before; a crash is taken back at the next writable
open. Every file reconciles: seen = kept + rejected + duplicate.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
import pyarrow as pa

from viewer import __version__
from viewer.core import derived, gc_pause, import_undo
from viewer.core.arrow_once import read_once
from viewer.core.case_file import WRITE_MEMORY_LIMIT, CaseFile, fetch_one
from viewer.core.chunk_import import ChunkImporter, FastPathRefused, refused_files
from viewer.core.chunk_writer import FileCounts
from viewer.core.evidence_hash import hash_files
from viewer.core.import_plan import ImportPlan, PlannedFile, PlanSummary, plan_import
from viewer.core.ingest_sql import uid_conflict_sql
from viewer.core.jobs import Cancelled, JobContext
from viewer.core.sources import gzip_and_text_size
from viewer.core.space_forecast import SpaceForecast
from viewer.core.write_space import ImportResourceError, resource_failure, unfolded_note
from viewer.formats import registry
from viewer.formats.base import ReaderKind, Role

CHUNK_BYTES = 48 * 1024**2  # compressed input per DuckDB statement: bounds memory, paces progress
#: Files per statement (documents, text, JSON lines, Parquet). Buckets hold thousands of small
#: files: CloudTrail one per account, region and 5 minutes, S3 server access logs a few lines
#: each. At 400 a statement, 1M CloudTrail events in 20,000 files of 50 took 50 statements, each
#: too small for DuckDB to use both cores (48 s in-process; 34 s at 4,096), and 200k S3 access
#: log lines in 20,000 files 17.9 s (9.2 s; files of 200 lines: 6.6 -> 4.8 s, peak RSS 0.79 ->
#: 0.93 GB as the text bound, not the count, now ends their chunks). Big files chunk as before.
CHUNK_FILES = 4096
#: Ledger rows converted to Arrow at a time (see `_write_ledger`).
LEDGER_SLICE = 8192


@dataclass
class FileResult:
    path: str
    format: str | None
    role: str
    evidence_id: int | None
    sha256: str
    counts: FileCounts
    warnings: list[str]  # everything to show the user about this file
    note: str = ""
    file_notes: list[str] = field(default_factory=list)  # file-level warnings still to store

    @property
    def reconciled(self) -> bool:
        c = self.counts
        return c.seen == c.kept + c.rejected + c.duplicate


@dataclass
class ImportReport:
    import_id: int | None
    files: list[FileResult]
    elapsed: float
    #: Set when the import committed but the checkpoint after it found no room to write the case
    #: file (`write_space.unfolded_note`): the import stands, and the case must be opened again.
    unfolded: str | None = None

    def total(self, attr: str) -> int:
        """The files' counts added up (`seen`, `kept`, `rejected`, `duplicate`): summed once, in
        the import's thread, where `run_import` records them (the import window's summary line
        asked for three on its own thread: a 126 ms stall at 200,000 files)."""
        return self._totals[attr]

    @cached_property
    def _totals(self) -> dict[str, int]:
        names = ("seen", "kept", "rejected", "duplicate")
        sums = dict.fromkeys(names, 0)
        for f in self.files:
            for name in names:
                sums[name] += getattr(f.counts, name)
        return sums

    @property
    def unknown_files(self) -> list[FileResult]:
        return [f for f in self.files if f.role == "unknown"]


def run_import(case: CaseFile, plan: ImportPlan, ctx: JobContext | None = None) -> ImportReport:
    """Import a plan into the case, chunks committed as they go; on cancel or error nothing is kept."""
    ctx = ctx or JobContext()
    case.require_writable("import evidence")
    started = time.monotonic()
    prog = ctx.progress
    hashes = hash_files(plan, ctx)
    cur = case.cursor()
    cur.execute(
        f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'"
    )  # keeps peak RSS bounded whatever the evidence size
    # preserve_insertion_order stays on except for the events INSERT (ChunkImporter._insert_events):
    # the records stage numbers records by rowid, and derived tables are stored sorted.
    remove_hook = ctx.token.on_cancel(cur.interrupt)
    try:
        with case.exclusive_writes():
            with case.transaction(cur):
                stale = import_undo.unfinished(cur, case.path)
                if stale:  # left by a failed undo earlier in this process: their ids would be reused
                    import_undo.undo(cur, stale)
                import_id = _open_import(cur, plan)
            import_undo.mark_running(case.path, import_id)
            try:
                with gc_pause.paused():  # parsed records hold no cycles: see core.gc_pause
                    report = _import_files(case, cur, plan, hashes, ctx, import_id)
            except BaseException as exc:
                # On a cursor of its own, which cancel does not interrupt.
                taken_back = _take_back(case, import_id)
                if resource_failure(exc):
                    raise ImportResourceError(case.path, exc, taken_back) from exc
                raise
            finally:
                import_undo.mark_stopped(case.path, import_id)
    except duckdb.InterruptException as exc:
        raise Cancelled() from exc
    except (duckdb.Error, OSError) as exc:
        if resource_failure(exc):  # before the import's first row was written: nothing to take back
            raise ImportResourceError(case.path, exc, True) from exc
        raise
    finally:
        remove_hook()
    # Fold the import into the database file now: it compacts the blocks written during the
    # import, and works around a DuckDB 2.0.1 bug where ORDER BY ... LIMIT after a DELETE and an
    # INSERT in one session returns wrong rows until the next checkpoint.
    try:
        cur.execute("CHECKPOINT")
    except duckdb.Error as exc:
        if not resource_failure(exc):
            raise
        report.unfolded = unfolded_note(case.path, exc)  # committed: the import stands
    report.elapsed = time.monotonic() - started
    prog.phase = "done"
    ctx.report(force=True)
    return report


def _take_back(case: CaseFile, import_id: int) -> bool:
    """Undo the chunks an import committed before it was cancelled or failed; False when that
    failed too (on a full disk, say)."""
    try:
        cur = case.cursor()  # not the import's cursor: its cancel hook must not interrupt the undo
        with case.transaction(cur):
            import_undo.undo(cur, [import_id])
    except duckdb.Error:
        # The import's own error is the one to report; its row stays unfinished, and the next
        # import or writable open of the case takes it back. (A failed checkpoint, the case file
        # unwritable, leaves DuckDB's database unusable until it is opened again: no cursor.)
        return False
    with contextlib.suppress(duckdb.Error):  # the undo is committed; folding it in can wait
        cur.execute("CHECKPOINT")  # drops the deleted row groups, and see run_import's CHECKPOINT
    return True


def _open_import(cur: duckdb.DuckDBPyConnection, plan: ImportPlan) -> int:
    """The import's row, committed before its first chunk (unfinished until its last commit)."""
    import_id = _next_id(cur, "imports", "import_id")
    cur.execute(
        "INSERT INTO imports (import_id, started_at, kind, params, os_user, tool_version) "
        "VALUES (?, now(), ?, ?, ?, ?)",
        [
            import_id,
            plan.origin[0] if plan.origin else "file",
            json.dumps(
                {
                    "paths": [f.source.display_path for f in plan.files if f.source.container is None],
                    "forced_format": plan.forced_format,
                    **({"acquisition": plan.origin[1]} if plan.origin else {}),
                },
                default=str,
            ),
            _user(),
            __version__,
        ],
    )
    return import_id


def _import_files(
    case: CaseFile,
    cur: duckdb.DuckDBPyConnection,
    plan: ImportPlan,
    hashes: list[str],
    ctx: JobContext,
    import_id: int,
) -> ImportReport:
    """Chunks, committed as they go (`ChunkImporter.import_chunks`), then the ledger and derived
    structures in one last transaction that marks the import finished."""
    known = dict(
        cur.execute("SELECT sha256, evidence_id FROM evidence WHERE role IN ('events', 'digest')").fetchall()
    )
    next_eid = _next_id(cur, "evidence", "evidence_id")
    results: list[FileResult] = []
    ids: dict[int, int] = {}  # plan index -> evidence id
    taken: set[str] = set()  # hashes of the files this import adds (a set: 20k files once took 24 s)
    to_read: list[tuple[int, PlannedFile]] = []
    for i, (pf, sha) in enumerate(zip(plan.files, hashes, strict=True)):
        res = FileResult(
            pf.source.display_path,
            pf.spec.name if pf.spec else None,
            pf.role,
            None,
            sha,
            FileCounts(),
            list(pf.notes),
            file_notes=list(pf.notes),
        )
        results.append(res)
        if pf.role in ("events", "digest") and sha in known:
            res.note = f"already in the case as evidence #{known[sha]}; nothing added"
            res.role = "skipped"
            continue
        if pf.role in ("events", "digest") and sha in taken:
            res.note = "same content as another file of this import; nothing added"
            res.role = "skipped"
            continue
        taken.add(sha)
        ids[i] = res.evidence_id = next_eid
        next_eid += 1
        if pf.role == "unknown":
            res.file_notes.append(
                "unknown format: not imported (known formats: " + ", ".join(registry.names()) + ")"
            )
            res.warnings.append(res.file_notes[-1])
        if pf.role == "events":
            to_read.append((i, pf))
    importer = ChunkImporter(cur, import_id, ctx, lambda: case.transaction(cur))
    salvage: set[str] = set()  # files DuckDB's reader refused: read by the Python salvage readers
    prog = ctx.progress
    forecast = SpaceForecast(case.path)
    prog.message = ""
    while to_read:
        prog.phase = "importing"
        chunks, texts = zip(*_chunks(to_read, salvage), strict=True)
        work = [
            ([(ids[i], pf) for i, pf in c], str(c[0][1].source.real_path) in salvage, text)
            for c, text in zip(chunks, texts, strict=True)
        ]
        done = 0  # chunks committed
        committed = (prog.files_done, prog.bytes_done, prog.records)
        try:
            for k, counts in importer.import_chunks(work):
                for i, _pf in chunks[k]:
                    results[i].counts = counts.get(ids[i], FileCounts())
                    results[i].warnings.extend(importer.problems.pop(ids[i], []))
                    if results[i].counts.seen == 0 and not results[i].warnings:
                        results[i].file_notes.append("no records found in the file")
                        results[i].warnings.append("no records found in the file")
                done = k + 1
                committed = (prog.files_done, prog.bytes_done, prog.records)
                said = forecast.warning(prog.bytes_done, prog.bytes_total or 0)
                if said != prog.message:
                    prog.message = said
                    ctx.report(force=True)
            to_read = []
        except FastPathRefused as refused:
            # The chunks since the last commit rolled back with it (DuckDB aborts a transaction on
            # any error); the committed ones stay. Its files at fault go to the salvage readers.
            for i, _pf in (item for c in chunks[done:] for item in c):
                importer.problems.pop(ids[i], None)
            prog.files_done, prog.bytes_done, prog.records = committed
            found = _find_refused(cur, chunks[refused.chunk], ctx) or (set(refused.paths) - salvage)
            if not found:
                raise
            salvage |= found
            to_read = [item for c in chunks[done:] for item in c]
    with case.transaction(cur):
        if ids:
            kept = sum(r.counts.kept for r in results)
            total = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
            cur.execute(uid_conflict_sql(2 * kept >= total), [min(ids.values()), max(ids.values())])
        derived.update_all(cur, ctx)
        _write_ledger(cur, import_id, plan, results, ids)
        report = ImportReport(import_id, results, 0.0)
        cur.execute(
            "UPDATE imports SET finished_at = now(), records_seen = ?, records_kept = ?, "
            "records_rejected = ?, records_duplicate = ? WHERE import_id = ?",
            [
                report.total("seen"),
                report.total("kept"),
                report.total("rejected"),
                report.total("duplicate"),
                import_id,
            ],
        )
        case.log_activity(
            "import", {"import_id": import_id, "files": len(ids), "kept": report.total("kept")}, cur
        )
        ctx.check()  # a cancel that arrived during the last statement still rolls back
    return report


def _find_refused(
    cur: duckdb.DuckDBPyConnection, chunk: list[tuple[int, PlannedFile]], ctx: JobContext
) -> set[str]:
    """Probe a refused document chunk's files outside any transaction; return those DuckDB refuses."""
    ctx.progress.phase = "checking damaged files"
    ctx.report(force=True)
    spec = chunk[0][1].spec
    if spec is None or spec.reader.kind is not ReaderKind.DOCUMENT:
        return set()
    return refused_files(cur, [str(pf.source.real_path) for _, pf in chunk])


def _chunks(
    files: list[tuple[int, PlannedFile]], salvage: set[str]
) -> Iterator[tuple[list[tuple[int, PlannedFile]], int]]:
    """Consecutive files read the same way (format, compression, path), bounded in bytes and count,
    each with the text it holds once decompressed (estimated: what `import_chunks` commits by).

    Files share DuckDB statements with others of their kind (S3 access logs are thousands of
    tiny files; the Python readers' records go many files to a statement too); salvaged files are
    read one by one. Text and JSON lines are bounded by their estimated decompressed size, since
    Python holds it while DuckDB reads.
    """

    from viewer.core.text_import import JSON_LINES_CHUNK_BYTES, TEXT_CHUNK_BYTES, TEXT_GZIP_RATIO

    batched = (
        ReaderKind.DOCUMENT,
        ReaderKind.TEXT,
        ReaderKind.PARQUET,
        ReaderKind.LINES,
        ReaderKind.CSV,
        ReaderKind.EXPLODE,
    )
    chunk: list[tuple[int, PlannedFile]] = []
    chunk_key: tuple[str, bool, bool] | None = None
    size = held = 0
    for item in files:
        pf = item[1]
        kind = pf.spec.reader.kind if pf.spec else None
        text = kind in (ReaderKind.TEXT, ReaderKind.LINES)
        gz, decompressed = gzip_and_text_size(
            pf.source.real_path, pf.source.size, TEXT_GZIP_RATIO if text else 1
        )
        salvaged = str(pf.source.real_path) in salvage
        k = (pf.spec.name if pf.spec else "", gz, salvaged)
        single = kind not in batched or salvaged
        weight = decompressed if text else pf.source.size
        limit = CHUNK_BYTES
        if text:
            limit = TEXT_CHUNK_BYTES if kind is ReaderKind.TEXT else JSON_LINES_CHUNK_BYTES
        if chunk and (chunk_key != k or size + weight > limit or len(chunk) >= CHUNK_FILES):
            yield chunk, held
            chunk, size, held = [], 0, 0
        if not chunk:
            chunk_key = k
        chunk.append(item)
        size += weight
        held += decompressed
        if single:
            yield chunk, held
            chunk, size, held = [], 0, 0
    if chunk:
        yield chunk, held


def _write_ledger(
    cur: duckdb.DuckDBPyConnection,
    import_id: int,
    plan: ImportPlan,
    results: list[FileResult],
    ids: dict[int, int],
) -> None:
    by_source = {id(plan.files[i].source): eid for i, eid in ids.items()}
    rows = []
    for i, eid in ids.items():
        pf, res = plan.files[i], results[i]
        c = res.counts
        container = by_source.get(id(pf.source.container)) if pf.source.container else None
        role = "rejected" if res.role == "events" and c.seen == 0 and res.warnings else res.role
        rows.append(
            [
                eid,
                import_id,
                pf.source.display_path,
                pf.source.rel_path,
                container,
                role,
                res.format,
                res.sha256,
                pf.source.size,
                c.seen,
                c.kept,
                c.rejected,
                c.duplicate,
                c.first_ts,
                c.last_ts,
                __version__,
                "; ".join(res.warnings[:3]) or None,
            ]
        )
    if rows:  # through Arrow: executemany costs ~3 ms a row in DuckDB
        names = [
            "evidence_id",
            "import_id",
            "path",
            "rel_path",
            "container_id",
            "role",
            "format",
            "sha256",
            "size_bytes",
            "records_seen",
            "records_kept",
            "records_rejected",
            "records_duplicate",
            "first_ts",
            "last_ts",
            "importer_version",
            "note",
        ]
        # Converted a slice at a time: pyarrow holds the GIL for a whole list, and the window's
        # thread waited ~300 ms for the 200,000 rows of a bucket's ledger (the times the most).
        slices = [
            pa.table({n: [r[i] for r in rows[lo : lo + LEDGER_SLICE]] for i, n in enumerate(names)})
            for lo in range(0, len(rows), LEDGER_SLICE)
        ]
        # A slice whose column is all None (no container, no note) takes the others' type.
        table = pa.concat_tables(slices, promote_options="default")
        cur.register("ledger_rows", read_once(table))
        try:
            cur.execute(
                f"INSERT INTO evidence ({', '.join(names)}, imported_at) SELECT *, now() FROM ledger_rows"
            )
        finally:
            with contextlib.suppress(duckdb.TransactionException):  # aborted: the INSERT's error stands
                cur.unregister("ledger_rows")
    notes = [(eid, results[i].path, w) for i, eid in ids.items() for w in results[i].file_notes]
    if notes:
        table = pa.table(
            {
                "evidence_id": [n[0] for n in notes],
                "path": [n[1] for n in notes],
                "reason": [n[2] for n in notes],
            }
        )
        cur.register("note_rows", read_once(table))
        try:
            cur.execute(
                "INSERT INTO import_warnings (import_id, evidence_id, path, position, position_kind, reason) "
                "SELECT ?, evidence_id, path, NULL, NULL, reason FROM note_rows",
                [import_id],
            )
        finally:
            with contextlib.suppress(duckdb.TransactionException):  # aborted: the INSERT's error stands
                cur.unregister("note_rows")


def _next_id(cur: duckdb.DuckDBPyConnection, table: str, col: str) -> int:
    row = fetch_one(cur, f"SELECT coalesce(max({col}), 0) + 1 FROM {table}")
    return int(row[0]) if row else 1


def _user() -> str:
    from viewer.core.case_file import os_user

    return os_user()


def import_paths(
    case: CaseFile,
    paths: list[str | os.PathLike[str]],
    forced_format: str | None = None,
    ctx: JobContext | None = None,
) -> ImportReport:
    """Plan and run in one call (the CLI and tests)."""
    plan = plan_import(paths, forced_format)
    try:
        return run_import(case, plan, ctx)
    finally:
        plan.cleanup()


__all__ = [
    "ImportPlan",
    "ImportReport",
    "PlanSummary",
    "FileResult",
    "PlannedFile",
    "plan_import",
    "run_import",
    "import_paths",
    "Role",
]
