"""Running an editor query: translate, check, materialize a bounded result, page it, export it.

The result is materialized once into a temporary table (TEMP works on read-only cases too), so
paging is a rowid range and never re-runs the query; it is bounded by `max_rows` and the UI says
"N of more than N" when the bound was hit. Cancel interrupts DuckDB, which stops within
milliseconds. Exports run from that table on our side, so they need no file access in the
user's SQL.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from viewer.core import raw_fields, search_index
from viewer.core.case_file import CaseFile
from viewer.core.doc_keys import DocKeys
from viewer.core.jobs import Cancelled, CancelToken
from viewer.core.query import guard
from viewer.core.query.common import TranslationError
from viewer.core.query.languages import LANGUAGES
from viewer.core.search_regex import RangesLookup

EXPORT_FORMATS = {"csv": "(FORMAT csv, HEADER)", "jsonl": "(FORMAT json)", "parquet": "(FORMAT parquet)"}
_ids = itertools.count(1)


@dataclass(frozen=True)
class Translated:
    language: str
    text: str
    sql: str
    chart: str | None = None  # a chart the query asks for (KQL render, a stats-by-bin series)
    notes: tuple[str, ...] = ()  # implicit semantics the translation applied, for the user to see

    @property
    def shown_sql(self) -> str:
        """The SQL as Show SQL displays it: the notes first, as SQL comments."""
        return "".join(f"-- {note}\n" for note in self.notes) + self.sql


@dataclass
class QueryResult:
    translated: Translated
    table: str  # the temp table holding the rows
    columns: list[str]
    types: list[str]
    rows: int  # rows held (at most max_rows)
    limited: bool  # the query had more rows than max_rows
    elapsed: float

    @property
    def count_text(self) -> str:
        return f"{self.rows:,} of more than {self.rows:,}" if self.limited else f"{self.rows:,}"

    @property
    def event_id_column(self) -> str | None:
        return "event_id" if "event_id" in self.columns else None

    @property
    def time_column(self) -> str | None:
        for name, typ in zip(self.columns, self.types, strict=True):
            if typ.startswith("TIMESTAMP"):
                return name
        return None


def translate(
    language: str, text: str, known: DocKeys | None = None, ranges: RangesLookup | None = None
) -> Translated:
    """The DuckDB SQL for a query in any supported language (SQL passes through). `known`, the
    case's key sets (`raw_fields.stored_doc_keys`), lets Logs Insights skip sources that lack a
    field; `ranges`, the case's free-text index, the records its `@message` filters cannot match."""
    if language == "sql":
        return Translated("sql", text, text.strip().rstrip(";"))
    t: Any
    if language == "kql":
        from viewer.core.query import kql

        t = kql.translate(text)
    elif language == "insights":
        from viewer.core.query import insights

        t = insights.translate(text, known, ranges)
    else:
        raise ValueError(f"unknown query language {language!r}; known: {', '.join(LANGUAGES)}")
    chart = getattr(t, "render", None) or getattr(t, "chart", None)
    return Translated(language, text, t.sql, str(chart) if chart else None, tuple(getattr(t, "notes", ())))


def translate_on(cur: duckdb.DuckDBPyConnection, language: str, text: str) -> Translated:
    """The SQL a query runs as on the case behind `cur`: Logs Insights reads its key sets and
    its free-text index."""
    if language != "insights":
        return translate(language, text)
    return translate(
        language,
        text,
        raw_fields.stored_doc_keys(cur),
        lambda need: search_index.token_ranges_sql(cur, need, "events.event_id"),
    )


def error_position(message: str, sql: str) -> tuple[int, int]:
    """Line and column of a DuckDB error, from the `LINE n:` excerpt and its caret."""
    m = re.search(r"LINE (\d+): (.*)\n( *)\^", message)
    if not m:
        return 1, 1
    line = int(m.group(1))
    col = len(m.group(3)) - len(f"LINE {line}: ") + 1
    shown = m.group(2)
    lines = sql.split("\n")
    if shown.startswith("...") and 0 < line <= len(lines):  # DuckDB shows a window of long lines
        start = lines[line - 1].find(shown[3:].rstrip(".")[:40])
        if start >= 0:
            col = start + col - 3
    return line, max(col, 1)


class QueryRunner:
    def __init__(self, case: CaseFile, allow_external: bool = False, max_rows: int = 1_000_000) -> None:
        self.case = case
        self.allow_external = allow_external
        self.max_rows = max_rows
        self._cur = case.cursor()

    def run(self, language: str, text: str, token: CancelToken | None = None) -> QueryResult:
        """Translate, check and run; raises TranslationError (with position) or Cancelled."""
        translated = translate_on(self._cur, language, text)
        sql = translated.sql
        guard.check(self._cur, sql, self.allow_external)
        table = f"query_result_{next(_ids)}"
        started = time.monotonic()
        remove = token.on_cancel(self._cur.interrupt) if token else (lambda: None)
        try:
            self._cur.execute(
                f"CREATE TEMP TABLE {table} AS SELECT * FROM ({sql}) LIMIT {int(self.max_rows) + 1}"
            )
        except duckdb.InterruptException as exc:
            raise Cancelled() from exc
        except duckdb.Error as exc:
            message = str(exc)
            if translated.language != "sql":  # positions refer to the generated SQL, not the text
                raise TranslationError(f"{message}\n(in the generated SQL; see Show SQL)", 1, 1) from exc
            line, col = error_position(message, sql)
            raise TranslationError(message.split("\n\nLINE")[0], line, col) from exc
        finally:
            remove()
        if token is not None and token.cancelled:
            self.discard_table(table)
            raise Cancelled()
        rel = self._cur.execute(f"SELECT * FROM {table} LIMIT 0")
        columns = [d[0] for d in rel.description]
        types = [str(d[1]) for d in rel.description]
        held = self._cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        # One row past the bound tells "more than"; it stays in the table but is never shown.
        limited = held > self.max_rows
        rows = min(held, self.max_rows)
        # Chain of custody: what was asked of the evidence (a no-op on a read-only case).
        self.case.log_activity(
            "query_run",
            {"language": language, "text": text[:4000], "rows": rows, "limited": limited},
            self._cur,
        )
        return QueryResult(translated, table, columns, types, rows, limited, time.monotonic() - started)

    def page(self, result: QueryResult, start: int, n: int, columns: list[str] | None = None) -> pa.Table:
        """Rows start..start+n of the result (within its bound), all columns or those named."""
        picked = ", ".join('"' + c.replace('"', '""') + '"' for c in columns) if columns else "*"
        rel = self._cur.sql(
            f"SELECT {picked} FROM {result.table} WHERE rowid >= {int(start)} AND rowid < {int(min(start + n, result.rows))} "
            "ORDER BY rowid"
        )
        return rel.to_arrow_table()

    def export(self, result: QueryResult, path: str | Path, fmt: str) -> int:
        """Write the whole result to `path` as csv, jsonl or parquet; returns the rows written."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
        target = str(path).replace("'", "''")
        self._cur.execute(
            f"COPY (SELECT * FROM {result.table} WHERE rowid < {int(result.rows)} ORDER BY rowid) "
            f"TO '{target}' {EXPORT_FORMATS[fmt]}"
        )
        return result.rows

    def discard(self, result: QueryResult) -> None:
        self.discard_table(result.table)

    def discard_table(self, table: str) -> None:
        self._cur.execute(f"DROP TABLE IF EXISTS {table}")

    def close(self) -> None:
        self._cur.close()
