"""The search index finds exactly what brute force finds, and builds incrementally."""

from __future__ import annotations

from typing import Any

import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core import search_index
from viewer.core.case_file import CaseFile
from viewer.core.jobs import Cancelled, CancelToken, JobContext
from viewer.schema import searchable_fields


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = build_synthetic_case(tmp_path_factory.mktemp("s") / "case.duckdb", 4_000, seed=2)
    c = CaseFile.open(path)
    cur = c.cursor()
    search_index.create_tables(cur)
    search_index.build_index(cur)
    yield c
    c.close()


def _ilike_ids(case: CaseFile, word: str) -> set[int]:
    """Brute force: case-insensitive substring anywhere in raw or the searchable fields."""
    cols = [f.name for f in searchable_fields()] + ["raw::VARCHAR"]
    where = " OR ".join(f"coalesce({c} ILIKE ?, false)" for c in cols)
    rows = case.cursor().execute(f"SELECT event_id FROM events WHERE {where}", [f"%{word}%"] * len(cols))
    return {r[0] for r in rows.fetchall()}


def _search_all(case: CaseFile, text: str) -> tuple[list[int], int]:
    msgs = list(search_index.search(case.cursor(), text, limit=50))
    assert msgs[-1].done and msgs[-1].total is not None
    return msgs[0].event_ids, msgs[-1].total


def test_token_queries_equal_ilike(case: CaseFile) -> None:
    """Words chosen so that substring and token matching coincide (whole, distinctive tokens)."""
    cur = case.cursor()
    uid, name, ident = cur.execute(
        "SELECT event_uid, principal_name, credential_id FROM events "
        "WHERE credential_id IS NOT NULL AND principal_name LIKE '%_1' LIMIT 1"
    ).fetchone()
    for word in [uid, uid.upper(), name, ident.lower(), "AssumeRoleWithSAML", "nosuchword"]:
        expected = _ilike_ids(case, word)
        sql, params = search_index.search_event_ids_sql(search_index.query_tokens(word))
        got = {r[0] for r in cur.execute(sql, params).fetchall()}
        assert got == expected, word
        assert _search_all(case, word)[1] == len(expected)


def test_words_inside_compound_tokens_are_not_found(case: CaseFile) -> None:
    """ "quarterly" also occurs inside paths like quarterly/ledger/x.json, one token: documented."""
    cur = case.cursor()
    sql, params = search_index.search_event_ids_sql(["quarterly"])
    got = {r[0] for r in cur.execute(sql, params).fetchall()}
    assert got and got < _ilike_ids(case, "quarterly")
    sql, params = search_index.search_event_ids_sql(["quarterly*"])
    by_prefix = {r[0] for r in cur.execute(sql, params).fetchall()}
    assert got < by_prefix <= _ilike_ids(case, "quarterly")  # paths starting with it are prefix hits


def test_tokens_not_substrings(case: CaseFile) -> None:
    """10.a.b.1 must not match 10.a.b.10, which ILIKE would; documented behaviour."""
    cur = case.cursor()
    ip = cur.execute("SELECT src_ip FROM events WHERE src_ip LIKE '10.%.1' LIMIT 1").fetchone()[0]
    exact = {r[0] for r in cur.execute("SELECT event_id FROM events WHERE src_ip = ?", [ip]).fetchall()}
    sql, params = search_index.search_event_ids_sql([ip])
    assert {r[0] for r in cur.execute(sql, params).fetchall()} == exact
    assert exact < _ilike_ids(case, ip)  # the substring scan also finds 10.a.b.10


def test_first_hits_are_earliest_matches(case: CaseFile) -> None:
    cur = case.cursor()
    msgs = list(search_index.search(cur, "quarterly invoice", limit=10))
    first, total = msgs[0].event_ids, msgs[-1].total
    sql, params = search_index.search_event_ids_sql(["quarterly", "invoice"])
    both = {r[0] for r in cur.execute(sql, params).fetchall()}
    one = {r[0] for r in cur.execute(*search_index.search_event_ids_sql(["quarterly"])).fetchall()}
    assert 10 < len(both) < len(one)  # the intersection narrows, and there is more than one page
    assert total == len(both)
    expected = cur.execute(
        "SELECT event_id FROM events WHERE list_contains(?, event_id) ORDER BY ts, event_id LIMIT 10",
        [sorted(both)],
    ).fetchall()
    assert first == [r[0] for r in expected]


def test_incremental_build_indexes_only_new_events(tmp_path: Any) -> None:
    path = build_synthetic_case(tmp_path / "inc.duckdb", 1_500, seed=4)
    with CaseFile.open(path) as c:
        cur = c.cursor()
        search_index.create_tables(cur)
        # Index the first "import" (evidence 1 only), then pretend evidence 2 arrived later.
        cur.execute(
            "CREATE TEMP TABLE later AS SELECT * FROM events WHERE evidence_id > 0 AND record_index >= 1000"
        )
        cur.execute("DELETE FROM events WHERE record_index >= 1000")
        first = search_index.build_index(cur)
        assert first.events == 1000 and search_index.is_ready(cur)
        cur.execute("UPDATE later SET event_id = event_id + 2 * 4294967296, evidence_id = evidence_id + 2")
        cur.execute("INSERT INTO events SELECT * FROM later")
        assert not search_index.is_ready(cur)
        again = search_index.build_index(cur)
        assert again.events == 500 and search_index.is_ready(cur)
        assert search_index.build_index(cur).events == 0
        dupes = cur.execute(
            "SELECT count(*) FROM (SELECT term_hash, event_id FROM search_postings GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0


def test_cancelled_build_raises(tmp_path: Any) -> None:
    path = build_synthetic_case(tmp_path / "cancel.duckdb", 500, seed=1)
    with CaseFile.open(path) as c:
        cur = c.cursor()
        search_index.create_tables(cur)
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            search_index.build_index(cur, ctx=JobContext(token))
        assert not search_index.is_ready(cur)


def test_query_tokens() -> None:
    assert search_index.query_tokens('Alice "10.0.0.1," x arn:aws:iam::1:user/Bob.') == [
        "alice",
        "10.0.0.1",
        "arn:aws:iam::1:user/bob",
    ]
