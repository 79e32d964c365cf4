"""Exports of events and query results to CSV, JSONL and Parquet, with provenance.

Every exported event carries where it came from: the evidence file's path as recorded in the
ledger, that file's SHA-256 and the record's index in it, so a row in a spreadsheet can be traced
back to the bytes in the evidence. Each export is logged in the activity log (when the case is
writable) with what was selected, the row count and the SHA-256 of the file written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from viewer.core.case_file import CaseFile
from viewer.core.casework.annotation_views import filter_sql
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.jobs import Cancelled, CancelToken
from viewer.core.query.runner import QueryResult, QueryRunner

FORMATS = {"csv": "(FORMAT csv, HEADER)", "jsonl": "(FORMAT json)", "parquet": "(FORMAT parquet)"}
PROVENANCE_COLUMNS = ("evidence_id", "evidence_path", "evidence_sha256", "record_index")
_PROVENANCE_SQL = "e.evidence_id, v.path AS evidence_path, v.sha256 AS evidence_sha256, e.record_index"


@dataclass(frozen=True)
class ExportReport:
    path: Path
    format: str
    rows: int
    sha256: str  # of the file written, for the activity log and the recipient
    provenance: bool  # False when a query result had no event_id column to trace


def format_for(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The export format: as given, or from the file extension (.csv, .jsonl/.json, .parquet)."""
    if fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        fmt = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def export_events(
    case: CaseFile,
    out_path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    event_filter: EventFilter | None = None,
    annotation_filter: str = "",
    event_ids: Iterable[int] | None = None,
    include_raw: bool = True,
    overwrite: bool = False,
    token: CancelToken | None = None,
) -> ExportReport:
    """Events of the current filter (and annotation filter), or the given event ids, in time order."""
    out = _target(out_path, overwrite)
    fmt = format_for(out, fmt)
    cur = case.cursor()
    where, params = where_sql(event_filter or EventFilter(), cur)
    ann_sql, ann_params = filter_sql(annotation_filter, "e.event_id")
    ids_table = None
    if event_ids is not None:
        ids_table = pa.table({"event_id": pa.array(sorted({int(i) for i in event_ids}), type=pa.int64())})
        cur.register("export_ids", ids_table)
    try:
        raw = "" if include_raw else " EXCLUDE (raw)"
        select = (
            f"SELECT e.* EXCLUDE (dedup_key, evidence_id, record_index){raw}, {_PROVENANCE_SQL} "
            "FROM (SELECT * FROM events WHERE "
            + where
            + ") e JOIN evidence v USING (evidence_id) "
            + ("SEMI JOIN export_ids x ON x.event_id = e.event_id " if ids_table is not None else "")
            + f"WHERE {ann_sql} ORDER BY e.ts, e.event_id"
        )
        rows = _copy(cur, select, [*params, *ann_params], out, fmt, token)
    finally:
        if ids_table is not None:
            cur.unregister("export_ids")
    selection = {
        "filter": event_filter.text if event_filter else "",
        "time_range": [str(t) for t in event_filter.time_range]
        if event_filter and event_filter.time_range
        else None,
        "annotation_filter": annotation_filter,
        "event_ids": len(ids_table) if ids_table is not None else None,
    }
    return _finish(case, out, fmt, rows, True, {"what": "events", **selection})


def export_table(
    case: CaseFile,
    table: pa.Table,
    out_path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    label: str = "query result",
    overwrite: bool = False,
    token: CancelToken | None = None,
) -> ExportReport:
    """A query result (as Arrow) with provenance joined in when it has an `event_id` column."""
    out = _target(out_path, overwrite)
    fmt = format_for(out, fmt)
    cur = case.cursor()
    cur.register("export_result", table)
    try:
        traceable = "event_id" in table.column_names
        if traceable:
            clash = [c for c in PROVENANCE_COLUMNS if c in table.column_names and c != "event_id"]
            keep = f" EXCLUDE ({', '.join(clash)})" if clash else ""
            select = (
                f"SELECT r.*{keep}, {_PROVENANCE_SQL} FROM export_result r "
                "LEFT JOIN events e ON e.event_id = r.event_id LEFT JOIN evidence v ON v.evidence_id = e.evidence_id"
            )
        else:
            select = "SELECT * FROM export_result"
        rows = _copy(cur, select, [], out, fmt, token)
    finally:
        cur.unregister("export_result")
    return _finish(case, out, fmt, rows, traceable, {"what": label})


def export_query_result(
    case: CaseFile,
    runner: QueryRunner,
    result: QueryResult,
    out_path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    overwrite: bool = False,
) -> ExportReport:
    """A `QueryRunner` result, every row it holds, with provenance (see `export_table`)."""
    table = runner.page(result, 0, result.rows)
    label = f"query result ({result.translated.language}): {result.translated.sql[:500]}"
    return export_table(case, table, out_path, fmt, label=label, overwrite=overwrite)


def _target(out_path: str | os.PathLike[str], overwrite: bool) -> Path:
    out = Path(out_path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; choose another name or allow overwriting")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _copy(
    cur: duckdb.DuckDBPyConnection,
    select: str,
    params: list[object],
    out: Path,
    fmt: str,
    token: CancelToken | None = None,
) -> int:
    # Write beside the target and rename, so a failed export never leaves half a file under its name.
    tmp = out.with_name(out.name + ".partial")
    target = str(tmp).replace("'", "''")
    remove = token.on_cancel(cur.interrupt) if token is not None else (lambda: None)
    try:
        if token is not None:
            token.raise_if_cancelled()
        cur.execute(f"COPY ({select}) TO '{target}' {FORMATS[fmt]}", params)
        rows = cur.fetchall()
        if token is not None:
            token.raise_if_cancelled()  # an interrupt that came after the statement ended
        os.replace(tmp, out)
    except duckdb.InterruptException as exc:
        raise Cancelled() from exc
    finally:
        remove()
        tmp.unlink(missing_ok=True)
    return int(rows[0][0]) if rows and rows[0] else 0


def _finish(
    case: CaseFile, out: Path, fmt: str, rows: int, provenance: bool, detail: dict[str, object]
) -> ExportReport:
    h = hashlib.sha256()
    with out.open("rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            h.update(block)
    report = ExportReport(out, fmt, rows, h.hexdigest(), provenance)
    if not case.read_only:
        case.log_activity(
            "export",
            {
                "path": str(out),
                "format": fmt,
                "rows": rows,
                "sha256": report.sha256,
                "provenance": provenance,
                **detail,
            },
        )
    return report
