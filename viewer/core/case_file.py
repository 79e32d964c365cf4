"""The case file: one DuckDB database any DuckDB client can open.

It holds the evidence ledger, the normalized events with their raw records and provenance, import
warnings and an append-only activity log. The schema is versioned: `case_meta.schema_version` and
numbered migrations. A case written by a newer Caseline is refused with a clear message instead of
being half-understood.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from viewer import __version__
from viewer.core import import_undo, serial_insert
from viewer.core.migrations import MIGRATIONS, SCHEMA_VERSION


def fetch_one(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...] | None:
    """First row of a query. DuckDB 2.0 refuses new work on a cursor whose result was not read to
    the end, so `fetchone()` must not be used for single-row lookups."""
    rows = cur.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


#: DuckDB's memory for the bulk writes (import, index builds): keeps peak RSS bounded whatever the
#: evidence size (DuckDB spills to its temp folder beyond it). Without it an index build of a 10M
#: event case took 13 GB.
WRITE_MEMORY_LIMIT = "1GB"

#: Columns of `events` a new case compresses with zstd rather than DuckDB's own choice
#: (dictionary + FSST). A table page reads a few rows from each of ~30 places (a bucket of small
#: files); in a column of many distinct values each place costs decoding its segment's whole
#: dictionary, where zstd decodes one vector: src_ip was 5 ms of an 11-12 ms page (200 rows,
#: 1M CloudTrail events in files of 50; 6-7 ms with zstd), for +4 MB of a 319 MB case. Only
#: columns filled in nearly every source: zstd stores ~5 bytes per NULL (a column empty in 1M
#: rows: 0.5 -> 5.3 MB), so session and credential ids (CloudTrail's alone) stay as they are.
ZSTD_COLUMNS = ("src_ip",)


class CaseError(Exception):
    """A case file cannot be created, opened or changed; the message is for the user."""


class CaseVersionError(CaseError):
    """The case was written by a newer Caseline than this one."""


class CaseNeedsUpgradeError(CaseError):
    """A read-only open of a case with an older schema: upgrading it would change the file.

    The caller may offer an upgraded copy (`viewer.core.case_upgrade.upgraded_copy`)."""

    def __init__(self, message: str, path: Path, version: int) -> None:
        super().__init__(message)
        self.path = path
        self.version = version


class CaseInterruptedImportError(CaseError):
    """A read-only open of a case holding the committed part of an import that never finished
    (the process died during it): those events have no ledger entry yet, and removing them
    changes the file, which read-only forbids."""


class ReadOnlyCaseError(CaseError):
    """A change was asked of a case opened read-only."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def _locked_message(path: Path, error: str) -> str | None:
    """What to tell a user whose case another process holds. DuckDB lets one process open a
    file for writing and then no other open it at all, even read-only: a case open in a
    Caseline window cannot be queried from a terminal, nor imported into, until it is closed."""
    if "Could not set lock" not in error:
        return None
    holder = _LOCK_HOLDER.search(error)
    who = f" (PID {holder.group(2)}, {Path(holder.group(1)).name})" if holder else ""
    return (
        f"cannot open case {path}: another program has it open{who}, a Caseline window or a "
        "running `caseline` command perhaps. A case file can be open in one program at a time: "
        "close it there, or wait for that command to finish, then try again."
    )


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise CaseError(_locked_message(path, str(exc)) or f"cannot open case {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise CaseError(f"{path} is not a Caseline case file: {exc}") from exc
    # Times are UTC internally; DuckDB would otherwise render TIMESTAMPTZ in the local zone.
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass(frozen=True)
class CaseSummary:
    path: str
    schema_version: int
    events: int
    evidence_files: int
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    sources: dict[str, int]


class CaseFile:
    """An open case. Thread use: one `cursor()` per thread, never the shared connection."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._con = con
        # Re-entrant: an import holds it across its chunk transactions (`exclusive_writes`).
        self._write_lock = threading.RLock()

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> CaseFile:
        p = Path(path)
        if p.exists():
            raise CaseError(f"{p} already exists; open it instead of creating it")
        p.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(p, read_only=False)
        case = cls(p, con, read_only=False)
        case._migrate(from_version=0)
        case._store_columns_zstd(ZSTD_COLUMNS)
        case.log_activity("case_created", {"path": str(p)})
        return case

    @classmethod
    def open(cls, path: str | os.PathLike[str], read_only: bool = False) -> CaseFile:
        p = Path(path)
        if not p.is_file():
            raise CaseError(f"no case file at {p}")
        con = _connect(p, read_only=read_only)
        version = _schema_version(con, p)
        if version > SCHEMA_VERSION:
            con.close()
            raise CaseVersionError(
                f"{p} was written by a newer Caseline (case schema {version}); this Caseline "
                f"{__version__} reads schema {SCHEMA_VERSION} and older. Upgrade Caseline to open it."
            )
        if version < SCHEMA_VERSION and read_only:
            con.close()
            raise CaseNeedsUpgradeError(
                f"{p} uses case schema {version}; reading it needs schema {SCHEMA_VERSION}, and "
                "upgrading changes the file, which read-only forbids. Open it once without "
                "--read-only, or work on an upgraded copy (`caseline upgrade CASE --to COPY`; "
                "the app offers one), which leaves this file untouched",
                p,
                version,
            )
        case = cls(p, con, read_only=read_only)
        if version < SCHEMA_VERSION:
            case._migrate(from_version=version)
        case._settle_unfinished_imports()
        return case

    @classmethod
    def open_or_create(cls, path: str | os.PathLike[str]) -> CaseFile:
        return cls.open(path) if Path(path).exists() else cls.create(path)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> CaseFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- access ----------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread's work (DuckDB connections are not thread-safe)."""
        cur = self._con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def database_lost(self) -> bool:
        """True when DuckDB has invalidated this case's database for the rest of the process: a
        checkpoint that could not write the file (a full disk) is fatal to it. The file is
        intact; opening the case again (after closing this object) reads it, write-ahead log
        included."""
        try:
            with self._con.cursor() as cur:
                cur.execute("SELECT 1")
        except duckdb.FatalException:
            return True
        return False

    def require_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyCaseError(f"the case is open read-only: cannot {what}")

    @contextmanager
    def transaction(self, cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: on any exception (including cancel) the case stays as it was."""
        self.require_writable("change it")
        with self._write_lock:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                serial_insert.settle(cur)
                raise
            cur.execute("COMMIT")

    @contextmanager
    def exclusive_writes(self) -> Iterator[None]:
        """No other writer of this case object between the transactions run inside (an import's
        chunks: a deferred index build in between would index events a cancel then takes back)."""
        self.require_writable("change it")
        with self._write_lock:
            yield

    def _settle_unfinished_imports(self) -> None:
        """Take back what an import that never finished committed (`viewer.core.import_undo`)."""
        cur = self.cursor()
        ids = import_undo.unfinished(cur, self.path)
        if not ids:
            return
        if self.read_only:
            self._con.close()
            raise CaseInterruptedImportError(
                f"{self.path} holds part of import {', '.join(map(str, ids))}, which never finished "
                "(Caseline stopped during it): those events are not in the evidence ledger yet. Open "
                "it once without --read-only to take the unfinished import back, or work on a copy"
            )
        with self.transaction(cur):
            removed = import_undo.undo(cur, ids)
            self.log_activity(
                "unfinished_import_removed", {"import_ids": ids, "events_removed": removed}, cur
            )
        cur.execute("CHECKPOINT")

    # -- activity log (append-only: there is no code path that updates or deletes it) ------
    def log_activity(
        self, action: str, detail: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        if self.read_only:
            return  # auditor mode: the file must not change at all, not even the log
        c = cur or self._con
        c.execute(
            "INSERT INTO activity_log (logged_at, os_user, tool_version, action, detail) "
            "VALUES (now(), ?, ?, ?, ?)",
            [os_user(), __version__, action, json.dumps(detail, default=str)],
        )

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> CaseSummary:
        cur = self.cursor()
        n, first, last = fetch_one(cur, "SELECT count(*), min(ts), max(ts) FROM events") or (0, None, None)
        files = fetch_one(cur, "SELECT count(*) FROM evidence WHERE role <> 'container'")
        sources = dict(
            cur.execute("SELECT source_type, count(*) FROM events GROUP BY ALL ORDER BY 2 DESC").fetchall()
        )
        return CaseSummary(
            path=str(self.path),
            schema_version=_schema_version(cur, self.path),
            events=int(n),
            evidence_files=int(files[0]) if files else 0,
            first_ts=first,
            last_ts=last,
            sources=sources,
        )

    def ledger(self) -> list[dict[str, Any]]:
        cur = self.cursor()
        rel = cur.execute("SELECT * FROM evidence ORDER BY evidence_id")
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]

    def _store_columns_zstd(self, columns: tuple[str, ...]) -> None:
        """Recreate the new case's (empty) events table with `columns` compressed by zstd.
        Storage only: the columns, their types and the schema version are unchanged, and a case
        created before keeps DuckDB's choice (DuckDB cannot change a column's compression)."""
        with self.transaction(self._con) as cur:
            ddl = fetch_one(cur, "SELECT sql FROM duckdb_tables() WHERE table_name = 'events'")
            assert ddl is not None and fetch_one(cur, "SELECT count(*) FROM events") == (0,)
            sql = str(ddl[0])
            for column in columns:
                sql, n = re.subn(
                    rf"(?<=[ (]){column} VARCHAR(?=[,)])", f"{column} VARCHAR USING COMPRESSION zstd", sql
                )
                assert n == 1, f"events.{column} not found in {sql}"
            cur.execute("DROP TABLE events")
            cur.execute(sql)

    # -- migrations ------------------------------------------------------------------------
    def _migrate(self, from_version: int) -> None:
        with self.transaction(self._con) as cur:
            for version, statements in MIGRATIONS:
                if version <= from_version:
                    continue
                for sql in statements:
                    cur.execute(sql)
                cur.execute("INSERT OR REPLACE INTO case_meta VALUES ('schema_version', ?)", [str(version)])
            cur.execute(
                "INSERT OR REPLACE INTO case_meta VALUES ('last_written_by', ?)", [f"caseline {__version__}"]
            )


def schema_version_of(path: str | os.PathLike[str]) -> int:
    """The schema version a case file declares, read without changing it."""
    p = Path(path)
    if not p.is_file():
        raise CaseError(f"no case file at {p}")
    con = _connect(p, read_only=True)
    try:
        return _schema_version(con, p)
    finally:
        con.close()


def _schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    try:
        row = fetch_one(con, "SELECT value FROM case_meta WHERE key = 'schema_version'")
    except duckdb.CatalogException as exc:
        raise CaseError(f"{path} is a DuckDB file but not a Caseline case (no case_meta table)") from exc
    if row is None:
        raise CaseError(f"{path} has no schema version; it is not a complete Caseline case")
    return int(row[0])


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
