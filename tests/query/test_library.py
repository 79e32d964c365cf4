"""The bundled query library: well-formed, every SQL query runs, and the questions find the sample story."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from support.sample_case import build_sample_case

from viewer.core.case_file import CaseFile
from viewer.core.query import library

QUERIES = library.bundled()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaseFile, dict]:
    return build_sample_case(tmp_path_factory.mktemp("library"))


def _rows(case: CaseFile, name: str) -> list[dict]:
    rel = case.cursor().execute(library.get(name).text("sql"))
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def test_library_has_forty_queries_with_unique_names() -> None:
    assert len(QUERIES) >= 40
    assert len({q.name for q in QUERIES}) == len(QUERIES)
    assert sum(1 for q in QUERIES if {"kql", "insights"} <= set(q.texts)) >= 15


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_every_sql_query_runs_on_a_case(query: library.LibraryQuery, sample: tuple[CaseFile, dict]) -> None:
    case, _ = sample
    case.cursor().execute(query.text("sql")).fetchall()  # binds every column and function


def test_exfiltration_query_finds_the_stolen_data(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    exfil = truth["exfiltration"]
    [row] = [
        r
        for r in _rows(case, "aws_s3_data_access_by_principal")
        if r["principal_id"] == exfil["principal_arn"] and r["bucket"] == exfil["bucket"]
    ]
    assert row["reads"] == exfil["get_object_count"]
    assert row["bytes_out"] == exfil["bytes_transferred_out"]


def test_tampering_query_finds_stop_logging(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    stopped = dt.datetime.fromisoformat(truth["logging_gap"]["stopped_at"])
    rows = _rows(case, "aws_logging_tampering")
    assert any(r["action"] == "StopLogging" and r["ts"] == stopped for r in rows)


def test_recon_query_finds_the_first_attacker_call(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    first = truth["stages"][0]
    assert first["event_names"] == ["GetCallerIdentity"]
    when = dt.datetime.fromisoformat(first["first_event_time"])
    rows = _rows(case, "aws_get_caller_identity")
    assert any(r["ts"] == when and r["src_ip"] in truth["attacker"]["ips"] for r in rows)


def test_cross_account_assume_role_query_finds_the_pivot(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    times = {dt.datetime.fromisoformat(p["eventTime"]) for p in truth["cross_account_assume_role"]}
    rows = _rows(case, "aws_assume_role_cross_account")
    assert times & {r["ts"] for r in rows}
    assert all(r["role_account"] != r["principal_account"] for r in rows)


def test_malformed_library_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        '[[query]]\nname = "Bad Name"\ntitle = "t"\ndescription = "d"\nsql = "SELECT 1"\n'
    )
    with pytest.raises(library.LibraryError, match=r"bad.toml, query 1: name 'Bad Name'"):
        library.load(tmp_path)
    (tmp_path / "bad.toml").write_text('[[query]]\nname = "x"\n')
    with pytest.raises(library.LibraryError, match="missing title, description, sql"):
        library.load(tmp_path)


def _normalized(rows: list[tuple]) -> list[tuple]:
    """Rows comparable across languages: KQL has no NULL strings (they read as ""), sets as sets."""

    def cell(v: object) -> object:
        if v is None:
            return ""
        if isinstance(v, str) and v.startswith("["):  # a KQL dynamic array comes back as JSON text
            try:
                v = json.loads(v)
            except ValueError:
                return v
        if isinstance(v, list):
            return tuple(sorted(map(str, v)))
        if isinstance(v, float):
            return round(v, 6)
        return v

    return sorted((tuple(cell(v) for v in r) for r in rows), key=repr)


@pytest.mark.parametrize("query", [q for q in QUERIES if "kql" in q.texts], ids=lambda q: q.name)
def test_kql_version_answers_like_the_sql_version(
    query: library.LibraryQuery, sample: tuple[CaseFile, dict]
) -> None:
    from viewer.core.query.runner import translate

    case, _ = sample
    cur = case.cursor()
    want_rel = cur.execute(query.text("sql"))
    want_cols = [d[0] for d in want_rel.description]
    want = want_rel.fetchall()
    got_rel = cur.execute(translate("kql", query.text("kql")).sql)
    got_cols = [d[0] for d in got_rel.description]
    got = got_rel.fetchall()
    # The KQL version may leave out a column KQL cannot compute; every column it has must agree.
    assert set(got_cols) <= set(want_cols), f"KQL columns {got_cols} not in the SQL version's {want_cols}"
    pick = [want_cols.index(c) for c in got_cols]
    assert len(got) == len(want)
    assert _normalized(got) == _normalized([tuple(r[i] for i in pick) for r in want])


@pytest.mark.parametrize("query", [q for q in QUERIES if "insights" in q.texts], ids=lambda q: q.name)
def test_insights_version_runs_and_counts_like_the_sql_version(
    query: library.LibraryQuery, sample: tuple[CaseFile, dict]
) -> None:
    """Logs Insights names columns after the JSON fields and sorts its own way, so the check is on
    the shape of the answer: the same number of rows (groups, or events up to its 10,000 limit)."""
    from viewer.core.query.runner import translate

    case, _ = sample
    cur = case.cursor()
    want = cur.execute(query.text("sql")).fetchall()
    got = cur.execute(translate("insights", query.text("insights")).sql).fetchall()
    assert len(got) == min(len(want), 10_000)


def test_insights_exfiltration_figures_match_the_truth(sample: tuple[CaseFile, dict]) -> None:
    from viewer.core.query.runner import translate

    case, truth = sample
    exfil = truth["exfiltration"]
    rel = case.cursor().execute(
        translate("insights", library.get("aws_s3_data_access_by_principal").text("insights")).sql
    )
    cols = [d[0] for d in rel.description]
    rows = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    [row] = [r for r in rows if exfil["principal_arn"] in r.values() and exfil["bucket"] in r.values()]
    assert row["reads"] == exfil["get_object_count"]
    assert float(row["bytes_out"]) == exfil["bytes_transferred_out"]
