"""The editor's runner on a real case: safety checks, bounded results, paging, export, cancel."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import duckdb
import pytest
from support.sample_case import build_sample_case

from viewer.core.case_file import CaseFile
from viewer.core.jobs import Cancelled, CancelToken
from viewer.core.query.common import TranslationError
from viewer.core.query.guard import QueryRefused
from viewer.core.query.runner import QueryRunner, error_position


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    return build_sample_case(tmp_path_factory.mktemp("runner"))[0]


@pytest.mark.parametrize(
    ("sql", "construct", "where"),
    [
        ("DELETE FROM events", "DELETE", (1, 1)),
        ("SELECT *\nFROM read_csv('/etc/passwd')", "read_csv", (2, 6)),
        ("SELECT * FROM '/etc/passwd'", "/etc/passwd", (1, 15)),
        ("SELECT getenv('HOME')", "getenv", (1, 8)),
        ("SELECT * FROM (SELECT * FROM read_parquet('x.parquet'))", "read_parquet", (1, 30)),
    ],
)
def test_unsafe_statements_are_refused_with_position(
    case: CaseFile, sql: str, construct: str, where: tuple[int, int]
) -> None:
    runner = QueryRunner(case)
    with pytest.raises(QueryRefused) as err:
        runner.run("sql", sql)
    assert err.value.construct == construct
    assert (err.value.line, err.value.column) == where


def test_external_access_setting_allows_reading_files(case: CaseFile, tmp_path: Path) -> None:
    csv = tmp_path / "iocs.csv"
    csv.write_text("ip\n203.0.113.45\n")
    sql = (
        f"SELECT e.src_ip, count(*) AS n FROM events e JOIN read_csv('{csv}') i ON e.src_ip = i.ip GROUP BY 1"
    )
    with pytest.raises(QueryRefused):
        QueryRunner(case).run("sql", sql)
    res = QueryRunner(case, allow_external=True).run("sql", sql)
    assert res.rows == 1


def test_result_is_bounded_paged_and_says_more_than(case: CaseFile) -> None:
    runner = QueryRunner(case, max_rows=100)
    res = runner.run("sql", "SELECT event_id, ts, action FROM events ORDER BY ts, event_id")
    assert (res.rows, res.limited, res.count_text) == (100, True, "100 of more than 100")
    assert res.event_id_column == "event_id" and res.time_column == "ts"
    expected = case.cursor().execute("SELECT event_id FROM events ORDER BY ts, event_id LIMIT 100").fetchall()
    page = runner.page(res, 90, 50)  # runs past the bound: stops at it
    assert page.column("event_id").to_pylist() == [r[0] for r in expected[90:]]
    small = runner.run("sql", "SELECT DISTINCT region FROM events")
    assert not small.limited and small.count_text == str(small.rows)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_every_row(case: CaseFile, tmp_path: Path, fmt: str) -> None:
    runner = QueryRunner(case)
    res = runner.run(
        "sql", "SELECT action, count(*) AS n FROM events GROUP BY action ORDER BY n DESC, action"
    )
    out = tmp_path / f"out.{fmt}"
    assert runner.export(res, out, fmt) == res.rows
    reader = {"csv": "read_csv", "jsonl": "read_json", "parquet": "read_parquet"}[fmt]
    back = duckdb.connect().execute(f"SELECT action, n FROM {reader}('{out}')").fetchall()
    assert back == [tuple(r.values()) for r in runner.page(res, 0, res.rows).to_pylist()]


def test_errors_point_at_line_and_column(case: CaseFile) -> None:
    sql = "SELECT action\nFROM events\nWHERE no_such_column = 1"
    with pytest.raises(TranslationError) as err:
        QueryRunner(case).run("sql", sql)
    assert (err.value.line, err.value.column) == (3, 7)
    assert "no_such_column" in err.value.message


def test_error_position_of_a_long_line_shown_as_a_window() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT " + ", ".join(f"1 AS c{i}" for i in range(60)))
    sql = "SELECT " + ", ".join(f"c{i}" for i in range(60)) + ", bad_col FROM t"
    with pytest.raises(duckdb.BinderException) as err:
        con.execute(sql)
    assert "LINE 1: ..." in str(err.value)  # DuckDB shows only a window of the long line
    line, col = error_position(str(err.value), sql)
    assert line == 1 and sql[col - 1 :].startswith("bad_col")


def test_cancel_interrupts_a_running_query(case: CaseFile) -> None:
    token = CancelToken()
    slow = "SELECT count(*) FROM range(2000000000) a, range(10) b WHERE a.range % 7 = b.range"
    timer = threading.Timer(0.3, token.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        QueryRunner(case).run("sql", slow, token)
    assert time.monotonic() - started < 60  # it stopped, rather than running to the end


def test_read_only_case_runs_queries_and_stays_byte_identical(tmp_path: Path) -> None:
    built, _ = build_sample_case(tmp_path)
    path = built.path
    built.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with CaseFile.open(path, read_only=True) as ro:
        runner = QueryRunner(ro)
        res = runner.run("sql", "SELECT principal_id, count(*) FROM events GROUP BY 1")
        assert res.rows > 0
        with pytest.raises(QueryRefused, match="only SELECT"):
            runner.run("sql", "UPDATE events SET action = 'x'")
        runner.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_saved_queries_live_in_the_case_and_are_logged(tmp_path: Path) -> None:
    from viewer.core.query import saved

    with CaseFile.create(tmp_path / "c.caseline") as case:
        saved.save(case, "root use", "kql", 'AWSCloudTrail | where principal_type == "Root"', "who used root")
        saved.save(case, "root use", "sql", "SELECT * FROM events WHERE principal_type = 'Root'", "v2")
        saved.save(case, "admins", "sql", "SELECT 1")
        got = [(q.name, q.language, q.description) for q in saved.list_saved(case)]
        assert got == [("admins", "sql", ""), ("root use", "sql", "v2")]
        assert saved.delete(case, "admins") and not saved.delete(case, "admins")
        actions = [
            r[0]
            for r in case.cursor().execute("SELECT action FROM activity_log ORDER BY logged_at").fetchall()
        ]
        assert actions.count("query_saved") == 3 and actions.count("query_deleted") == 1
        with pytest.raises(ValueError, match="name"):
            saved.save(case, "  ", "sql", "SELECT 1")
    with CaseFile.open(tmp_path / "c.caseline", read_only=True) as ro:
        assert [q.name for q in saved.list_saved(ro)] == ["root use"]
        with pytest.raises(Exception, match="read-only"):
            saved.save(ro, "x", "sql", "SELECT 1")
