"""The case file: versioned schema, read-only guarantee, plain-DuckDB readability."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from support.old_cases import schema_1_case

from viewer.core.case_file import CaseError, CaseFile, CaseVersionError, ReadOnlyCaseError
from viewer.core.ingest import import_paths
from viewer.core.migrations import SCHEMA_VERSION, missing_columns
from viewer.schema import field_names

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_cloudtrail"


def test_new_case_is_plain_duckdb_with_expected_tables(tmp_path: Path) -> None:
    CaseFile.create(tmp_path / "c.caseline").close()
    con = duckdb.connect(str(tmp_path / "c.caseline"), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"events", "evidence", "imports", "import_warnings", "activity_log", "case_meta"} <= tables
    version = con.execute("SELECT value FROM case_meta WHERE key = 'schema_version'").fetchall()
    assert version == [(str(SCHEMA_VERSION),)]
    assert con.execute("SELECT action FROM activity_log").fetchall() == [("case_created",)]


def test_newer_case_is_refused_with_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "c.caseline"
    CaseFile.create(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE case_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(CaseVersionError, match="newer Caseline"):
        CaseFile.open(path)


def test_not_a_case_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").fetchall()
    with pytest.raises(CaseError, match="not a Caseline case"):
        CaseFile.open(other)


def test_a_case_another_program_holds_is_refused_naming_that_program(tmp_path: Path) -> None:
    """DuckDB lets no other process open a file one has open for writing, read-only included:
    the user is told which process holds the case and what to do, not a bare lock error."""
    path = tmp_path / "held.caseline"
    CaseFile.create(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('open', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        for read_only in (False, True):
            with pytest.raises(CaseError) as err:
                CaseFile.open(path, read_only=read_only)
            message = str(err.value)
            assert f"another program has it open (PID {holder.pid}, python" in message
            assert "close it there" in message
            assert "Could not set lock" not in message
    finally:
        holder.communicate("")
    CaseFile.open(path, read_only=True).close()  # free again once that program closed it


def test_read_only_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [SAMPLE])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with CaseFile.open(path, read_only=True) as case:
        with pytest.raises(ReadOnlyCaseError):
            import_paths(case, [SAMPLE])
        with pytest.raises(duckdb.Error):
            case.cursor().execute("DELETE FROM events").fetchall()
        assert case.summary().events == 3
        case.log_activity("query", {"sql": "SELECT 1"})  # silently not logged: the file must not change
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_every_schema_field_is_created_by_a_migration(tmp_path: Path) -> None:
    assert missing_columns() == []
    with CaseFile.create(tmp_path / "c.caseline") as case:
        cols = [r[0] for r in case.cursor().execute("DESCRIBE events").fetchall()]
    assert set(field_names()) <= set(cols)


def test_schema_1_case_is_upgraded_in_place_keeping_its_events(tmp_path: Path) -> None:
    path = schema_1_case(tmp_path / "old.caseline")
    with CaseFile.open(path) as case:
        cur = case.cursor()
        assert cur.execute("SELECT value FROM case_meta WHERE key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)
        ]
        row = cur.execute("SELECT action, raw->>'$.a', dst_ip, bytes FROM events").fetchall()
    assert row == [("GetObject", "1", None, None)]


def test_a_new_case_stores_addresses_with_zstd_and_the_same_columns(tmp_path: Path) -> None:
    """New cases compress src_ip with zstd (fast pages); an upgraded old case keeps DuckDB's
    choice. Both have the same columns, types and constraints."""
    with CaseFile.open(schema_1_case(tmp_path / "old.caseline")) as old:
        old_columns = old.cursor().execute("DESCRIBE events").fetchall()
    with CaseFile.create(tmp_path / "new.caseline") as case:
        cur = case.cursor()
        assert cur.execute("DESCRIBE events").fetchall() == old_columns
        import_paths(case, [SAMPLE])
        cur.execute("CHECKPOINT")
        used = cur.execute(
            """SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('events')
               WHERE column_name IN ('src_ip', 'action') AND segment_type = 'VARCHAR' GROUP BY ALL"""
        ).fetchall()
    assert dict(used) == {"src_ip": ["ZSTD"], "action": ["DICT_FSST"]}
