"""Importing chunks of files of one format, committed as they go (see `import_chunks`).

Fast path: DuckDB reads the JSON documents itself (no Python per record). When DuckDB refuses a
chunk (a truncated gzip, broken JSON, a bad encoding), the chunk is retried file by file, and a
file DuckDB still refuses goes through the Python salvage readers, which keep every record they
can and report the rest with positions. CSV formats use the Python readers, which know line
numbers. Text formats (text_import), JSON lines (json_lines_import) and Parquet (tabular_import)
are read many files per statement by DuckDB, Python only cutting the lines. Writing and
judging the records is `chunk_writer`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from viewer.core import gc_pause, ingest_sql
from viewer.core.array_extract import (
    DROP_STAGE_SQL,
    MARKS_FOUND_SQL,
    POSITIONS_SQL,
    ArrayFile,
    extract_arrays,
    positions_match,
    scratch_dir,
    scratch_paths,
    stage_sql,
    staged_records_sql,
)
from viewer.core.chunk_writer import ChunkWriter, FileCounts
from viewer.core.entities import import_picks
from viewer.core.insert_batches import ROW_GROUP
from viewer.core.jobs import JobContext
from viewer.core.json_lines_import import as_json, json_lines_table, json_records_sql, read_json_lines_files
from viewer.core.python_batches import PythonBatch, python_batches, up_to_a_batch
from viewer.core.read_ahead import read_ahead
from viewer.core.record_readers import Problem
from viewer.core.tabular_import import parquet_source_sql, unreadable_parquet
from viewer.core.text_import import TextPlan, lines_table, read_text_files
from viewer.core.write_space import resource_failure
from viewer.formats.base import FormatSpec, ReaderKind

#: Decompressed input after which the chunks read so far are committed (see import_chunks).
COMMIT_BYTES = 256 * 1024**2
#: Carried records commit after this many times COMMIT_BYTES: a commit first inserts what the
#: carry holds, whatever its size (1M Kubernetes audit records in 96 MB chunks, committed every
#: three: a third of the rows went in as a group and a little, at 1.3 cores).
CARRIED_COMMITS_APART = 4


def _json_lines(spec: FormatSpec) -> bool:
    """JSON lines read many files per statement (json_lines_import); embedded records (a JSON
    string inside each line) keep the Python path."""
    return spec.reader.kind is ReaderKind.LINES and spec.reader.embedded_json_key is None


def _documents(files: list) -> bool:
    """A chunk of JSON documents, whose records arrays are cut out to scratch files."""
    return files[0][1].spec.reader.kind is ReaderKind.DOCUMENT


class FastPathRefused(Exception):
    """DuckDB's JSON reader refused a chunk; some file in it needs the salvage readers."""

    def __init__(self, message: str, paths: list[str] | None = None) -> None:
        super().__init__(message)
        self.paths = paths or []  # the chunk's files, when no single file can be blamed
        self.chunk = -1  # its index in the work of `ChunkImporter.import_chunks`


def _compression(paths: list[str]) -> str:
    kinds = set()
    for p in paths:
        with open(p, "rb") as fh:
            kinds.add(fh.read(2) == b"\x1f\x8b")
    if len(kinds) > 1:
        raise ValueError("a chunk mixes gzip and plain files")
    return "gzip" if kinds == {True} else "none"


def refused_files(cur: duckdb.DuckDBPyConnection, paths: list[str]) -> set[str]:
    """The files DuckDB's reader cannot read (checked outside any import transaction)."""
    try:
        cur.execute(ingest_sql.probe_sql(paths, _compression(paths))).fetchall()
        return set()
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        if resource_failure(exc):  # a full disk refuses nothing: see write_space
            raise
        if len(paths) == 1:
            return set(paths)
    half = len(paths) // 2
    return refused_files(cur, paths[:half]) | refused_files(cur, paths[half:])


class ChunkImporter(ChunkWriter):
    """Reads each chunk of files by its format's path and writes it with `ChunkWriter`."""

    def __init__(
        self,
        cur: duckdb.DuckDBPyConnection,
        import_id: int,
        ctx: JobContext,
        transaction: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        super().__init__(cur, import_id)
        self.ctx = ctx
        self.transaction = transaction  # chunks run in one, committed every COMMIT_BYTES

    def import_chunks(
        self, work: list[tuple[list, bool, int]]
    ) -> Iterator[tuple[int, dict[int, FileCounts]]]:
        """Import each (files, python_only, decompressed bytes) chunk in turn, yielding (chunk
        index, its counts) once the chunk is committed.

        Chunks share a transaction until they have read COMMIT_BYTES of text: DuckDB keeps what
        a transaction creates until it ends (a records stage per chunk), but a commit also
        writes the rows not yet on disk, a checkpoint each time: 1M S3 access log lines in 13
        chunks of 77k rows spent 19 s in commits, one per chunk. Chunks of JSON lines, carried
        (`_insert_records`), commit CARRIED_COMMITS_APART times further apart, and the carry inserts
        what it holds before each commit, so every chunk yielded is in and judged. A chunk DuckDB
        refuses raises FastPathRefused with its index in `chunk`; the chunks since the last
        commit are then rolled back with it, and the carry forgets their rows.

        While DuckDB reads one chunk, a thread already gunzips the next one's records arrays
        (inflating releases the GIL), so decompression no longer waits for the database; so
        are the next chunk's JSON lines (1M GCP audit records: 14.4-15.5 s read in turn, 12.6 s
        read ahead). Text lines are read when their chunk's turn comes: a chunk is a few hundred
        MB of text, and reading the next one beside an INSERT, before it or once DuckDB had
        taken the lines, only held more memory (1M S3 access or ALB lines, alternating:
        14.3-15.2 and 13.9-15.0 s read in turn, 15.1-15.4 and 15.0-16.5 s read ahead, peak RSS
        0.02-0.07 GB more).
        """
        # The scratch folder holds a chunk's records arrays while the next chunk's are written.
        array_texts = [text for files, python_only, text in work if not python_only and _documents(files)]
        need = 2 * max(array_texts, default=0)
        with scratch_dir(need) as folder, ThreadPoolExecutor(1, thread_name_prefix="arrays") as ahead:
            pending: dict[int, Future[Any]] = {}

            def prefetch(k: int) -> None:
                if k < len(work) and not work[k][1]:
                    spec: FormatSpec = work[k][0][0][1].spec
                    files = [(eid, pf.source.real_path) for eid, pf in work[k][0]]
                    if _json_lines(spec):
                        pending[k] = ahead.submit(read_json_lines_files, files)
                    elif spec.reader.kind is ReaderKind.DOCUMENT:
                        pending[k] = ahead.submit(
                            extract_arrays, files, spec.reader.records_path, Path(folder)
                        )

            prefetch(0)
            txn: contextlib.ExitStack | None = None
            held: list[tuple[int, dict[int, FileCounts]]] = []
            text = 0
            k = 0
            try:
                for k, (files, python_only, decompressed) in enumerate(work):
                    self.ctx.check()
                    gc_pause.collect_young()
                    prefetch(k + 1)
                    if txn is None:
                        txn = contextlib.ExitStack()
                        txn.enter_context(self.transaction())
                        records = self.ctx.progress.records
                    held.append((k, self.import_chunk(files, python_only, pending.pop(k, None))))
                    text += decompressed
                    apart = CARRIED_COMMITS_APART if _json_lines(files[0][1].spec) else 1
                    commit = text >= COMMIT_BYTES * apart or k == len(work) - 1
                    if commit:
                        self.carry.flush()  # every chunk's rows in and judged
                    self._report(records, held)
                    if commit:
                        finished, txn = txn, None
                        finished.close()  # commits
                        yield from held
                        held, text = [], 0
            except BaseException as exc:
                self.carry.clear()  # its rows are the rolled-back chunks'
                if isinstance(exc, FastPathRefused):
                    exc.chunk = k
                if txn is not None:
                    txn.__exit__(type(exc), exc, exc.__traceback__)  # rolls back, re-raises
                raise
            finally:
                for f in pending.values():
                    f.cancel()
                with contextlib.suppress(duckdb.Error):  # after a rollback: see _insert_events
                    self._restore_threads()

    def import_chunk(
        self, files: list, python_only: bool = False, arrays: Future[Any] | None = None
    ) -> dict[int, FileCounts]:
        """Import files (list of (evidence id, PlannedFile)) of one format.

        `arrays`: the files' records arrays, already being extracted by `import_chunks`.

        Raises FastPathRefused when DuckDB's reader fails on a document chunk: the open
        transaction is then aborted (DuckDB aborts it on any error), so the caller rolls it back,
        finds the files at fault with `refused_files` outside any transaction and runs the chunk
        again with them on the Python path. Good evidence never pays for that.
        """
        spec: FormatSpec = files[0][1].spec
        # After a refused chunk (its transaction aborted) `_insert_events` could not restore it.
        self.cur.execute("SET preserve_insertion_order = true")
        self._restore_threads()
        self._register_files(files, spec)
        counts: dict[int, FileCounts] = {}
        if not _json_lines(spec):
            self.carry.flush()  # their rows come after every carried one
        if spec.reader.kind is ReaderKind.DOCUMENT and not python_only:
            self._read_documents(spec, files, arrays, counts)
            self._settle(spec, [eid for eid, _ in files], counts)
        elif spec.reader.kind is ReaderKind.TEXT:
            self._read_text(spec, files, counts)
        elif spec.reader.kind is ReaderKind.PARQUET:
            self._read_parquet(spec, files, counts)
        elif _json_lines(spec):
            self._read_json_lines(spec, files, counts, arrays)
        else:
            self._read_python(spec, files, counts)
        prog = self.ctx.progress
        prog.files_done += len(files)
        prog.bytes_done += sum(pf.source.size for _, pf in files)
        return counts

    def _report(self, records: int, held: list[tuple[int, dict[int, FileCounts]]]) -> None:
        """Progress: the records counted so far in this transaction's chunks (some of a chunk's
        records are counted during a later chunk, once the carry inserts them)."""
        self.ctx.progress.records = records + sum(c.seen for _, counts in held for c in counts.values())
        self.ctx.report()

    def _read_documents(
        self,
        spec: FormatSpec,
        files: list,
        arrays: Future[list[ArrayFile]] | None,
        counts: dict[int, FileCounts],
    ) -> None:
        """Array path for plain documents, DuckDB's document reader for the others."""
        if arrays is None:
            with scratch_dir() as folder:
                extracted = extract_arrays(
                    [(eid, pf.source.real_path) for eid, pf in files], spec.reader.records_path, Path(folder)
                )
                self._read_arrays(spec, extracted, counts)
        else:
            extracted = arrays.result()
            self._read_arrays(spec, extracted, counts)
        others = [str(a.source) for a in extracted if a.array_path is None]
        if others:
            src = ingest_sql.document_source_sql(spec, "chunk_files", others, _compression(others))
            self._insert_trusted(spec, src, counts)

    def _read_arrays(
        self, spec: FormatSpec, extracted: list[ArrayFile], counts: dict[int, FileCounts]
    ) -> None:
        ready = [a for a in extracted if a.array_path is not None]
        if not ready:
            return
        try:
            self.cur.execute(stage_sql(ready))
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            if resource_failure(exc):
                raise
            # A cut that was not the records array (a document ending in another array key) reads
            # fine as a whole document, so the probe may find no culprit: the files are named here.
            raise FastPathRefused(str(exc), [str(a.source) for a in ready]) from exc
        finally:
            for path in scratch_paths(ready):  # staged (or refused): the scratch copy has done its job
                path.unlink(missing_ok=True)
        self.cur.execute(POSITIONS_SQL)
        if not positions_match(ready, self.cur.execute(MARKS_FOUND_SQL).fetchall()[0]):
            # A record that copies a marker string: the files are read by the other paths.
            raise FastPathRefused("a record looks like a scratch-file marker", [str(a.source) for a in ready])
        staged = self.cur.execute("SELECT count(*) FROM array_stage").fetchall()[0][0]
        self._insert_trusted(spec, staged_records_sql(ready), counts, -(-staged // ROW_GROUP))
        # The correlation build's few JSON paths, parsed while the records are still text.
        import_picks.capture(
            self.cur, spec.source_type, [a.evidence_id for a in ready], staged_records_sql(ready)
        )
        self.cur.execute(DROP_STAGE_SQL)

    def _insert_trusted(
        self, spec: FormatSpec, source_sql: str, counts: dict[int, FileCounts], row_groups: int = 0
    ) -> None:
        """Records from DuckDB's JSON readers; any DuckDB error means the fast path refused them.
        `row_groups`: of the table `source_sql` reads (see `_insert_events`).

        DuckDB's reader vouches for the envelopes only: a record carried as a string inside one
        (LookupEvents' CloudTrailEvent) may be missing, cut or not an object. Those are counted
        and warned here, as on every other path; the INSERT leaves them out, and they were once
        left out of every count too (three events in a file, one with a cut CloudTrailEvent:
        seen 2 = kept 2, nothing said)."""
        records = ingest_sql.records_sql(spec, source_sql, True)
        try:
            inserted = self._insert_events(ingest_sql.insert_events_sql(spec, records), row_groups)
            # Looked for only when the INSERT took fewer rows than the source holds: a second
            # parse of every embedded record cost 10% of a LookupEvents import (200k records).
            if spec.reader.embedded_json_key and inserted < self._count(
                f"SELECT count(*) FROM ({source_sql})"
            ):
                self.cur.execute(
                    f"""CREATE OR REPLACE TEMP TABLE py_problems AS
                        SELECT evidence_id, record_index, r, problem FROM ({records})
                        WHERE problem IS NOT NULL"""
                )
                self._count_problems(spec, counts)
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            if resource_failure(exc):
                raise
            raise FastPathRefused(str(exc)) from exc

    def _read_text(self, spec: FormatSpec, files: list, counts: dict[int, FileCounts]) -> None:
        """Text lines, many files per statement (see text_import); then the usual verdicts."""
        syntax = spec.reader.text
        assert syntax is not None and spec.mapping is not None
        text_files = read_text_files([(eid, pf.source.real_path) for eid, pf in files], syntax)
        plan, file_layout = TextPlan.for_files(syntax, text_files)
        self._each_statement(
            "text_lines",
            lines_table(text_files, file_layout),
            lambda _, source: self._insert_events(plan.insert_sql(spec, source)),
        )
        import_picks.note_flow_layouts(
            self.cur, spec.source_type, {eid: plan.layouts[lid].names for eid, lid in file_layout.items()}
        )
        ids = [eid for eid, _ in files]
        bounds = {"lo": min(ids) << 32, "hi": (max(ids) + 1) << 32}
        self.cur.execute(
            ingest_sql.TEXT_UNMATCHED_WARNINGS_SQL,
            {**bounds, "import_id": self.import_id, "what": spec.title},
        )
        for eid, n in self.cur.execute(ingest_sql.TEXT_UNMATCHED_COUNTS_SQL, bounds).fetchall():
            counts.setdefault(eid, FileCounts()).add(FileCounts(seen=n, rejected=n))
        for eid, pos, tokens in self.cur.execute(ingest_sql.TEXT_UNMATCHED_SAMPLE_SQL, bounds).fetchall():
            self.problems.setdefault(eid, []).append(
                f"line {pos}: {tokens} space-separated tokens match no known field order of {spec.title}"
            )
        self.cur.execute(ingest_sql.TEXT_UNMATCHED_DELETE_SQL, bounds)
        for tf, (_, pf) in zip(text_files, files, strict=True):
            self._record_problems(tf.evidence_id, pf.source.display_path, tf.problems, counts)
        self._settle(spec, ids, counts)

    def _read_parquet(self, spec: FormatSpec, files: list, counts: dict[int, FileCounts]) -> None:
        """Parquet rows read by DuckDB, each row's columns as the raw JSON record."""
        good = []
        for eid, pf in files:
            reason = unreadable_parquet(pf.source.real_path)
            if reason:
                self._record_problems(eid, pf.source.display_path, [Problem(None, "byte", reason)], counts)
            else:
                good.append(str(pf.source.real_path))
        if good:
            records = ingest_sql.records_sql(spec, parquet_source_sql("chunk_files", good), True)
            self._insert_events(ingest_sql.insert_events_sql(spec, records))
            self._settle(spec, [eid for eid, _ in files], counts)

    def _read_json_lines(
        self, spec: FormatSpec, files: list, counts: dict[int, FileCounts], lines: Future[Any] | None
    ) -> None:
        """JSON lines, many files per statement (see json_lines_import); then the usual verdicts."""
        if lines is None:
            text_files = read_json_lines_files([(eid, pf.source.real_path) for eid, pf in files])
        else:
            text_files = lines.result()
        ids = [eid for eid, _ in files]
        self._insert_records(
            spec,
            "json_lines",
            json_lines_table(text_files),
            lambda src, known_good: json_records_sql(spec, src, known_good),
            ids,
            counts,
        )
        for tf, (_, pf) in zip(text_files, files, strict=True):
            self._record_problems(tf.evidence_id, pf.source.display_path, tf.problems, counts)

    def _read_python(self, spec: FormatSpec, files: list, counts: dict[int, FileCounts]) -> None:
        """Records split by Python (CSV, nested and embedded shapes, damaged files), many files
        per statement: a statement per file ran on one core, its 5,000 records too few for
        DuckDB to share out (CloudTrail in CloudWatch Logs subscriptions, 40 files: 9.5 s on
        one core). A batch holds whole files and parts of files in evidence id order, so its
        event ids are one range that no other batch's rows fall in. The next batch is read in a
        thread while DuckDB takes this one (`read_ahead`), a whole batch ahead: reading only the
        next item ahead (often a file's problems) had left the reader idle during each INSERT
        and saved nothing. 200k records: AKS audit 6.1-6.4 -> 4.7-4.8 s, OTLP 6.1-6.6 -> 5.6-5.8 s."""
        for items in read_ahead(up_to_a_batch(python_batches(spec, files))):
            for item in items:
                if isinstance(item, PythonBatch):
                    self._python_batch(spec, item, counts)
                else:
                    self._record_problems(*item, counts)

    def _python_batch(self, spec: FormatSpec, batch: PythonBatch, counts: dict) -> None:
        self.ctx.check()
        evidence_ids, indexes, texts = batch.columns()
        key = spec.reader.embedded_json_key
        exploded = spec.reader.kind is ReaderKind.EXPLODE
        # Envelopes of embedded records (CloudTrail's CloudTrailEvent lines) are judged and opened
        # in SQL; an exploding reader hands over the embedded records themselves.
        envelopes = key is not None and not exploded
        table = pa.table(
            {
                "evidence_id": evidence_ids,
                "record_index": indexes,
                "r": texts if envelopes else as_json(texts),
            }
        )
        del texts

        def checked(source: str, known_good: bool) -> str:
            if envelopes:
                return ingest_sql.records_sql(spec, source, False, known_good)
            if key is not None:  # user text from inside the records: checked in full
                return json_records_sql(spec, source, known_good, embedded_key=key)
            return json_records_sql(spec, source, known_good, serialized=exploded)  # orjson wrote them

        # Judge this batch's rows only: earlier batches of its first file are already counted.
        ids = sorted(pc.unique(evidence_ids).to_pylist())
        self._insert_records(spec, "py_records", table, checked, ids, counts, batch.id_range(), carried=False)
