"""The filter bar's annotation terms (`tag:`, `is:`, `has:`) against independent SQL on the views.

Qt-free: it drives `viewer.core.event_query` on a real case, the same path the table and the
timeline take."""

from __future__ import annotations

import duckdb
import pytest

from viewer.core.case_file import CaseFile
from viewer.core.casework import annotations as edits
from viewer.core.event_query import EventFilter, FilterError, parse_filter, where_sql


@pytest.fixture
def annotated(work_case):
    case = CaseFile.open(work_case)
    ids = [r[0] for r in case.cursor().execute("SELECT event_id FROM events ORDER BY event_id").fetchall()]
    edits.tag_events(case, ids[0:10], "malicious")
    edits.tag_events(case, ids[5:15], "suspicious")
    edits.tag_events(case, ids[20:22], "stage-2")
    edits.set_starred(case, ids[8:30])
    edits.set_event_note(case, ids[3], "look")
    edits.untag_events(case, ids[0:2], "malicious")  # removed tags must not match
    yield case
    case.close()


def _count(case: CaseFile, text: str) -> int:
    cur = case.cursor()
    where, params = where_sql(EventFilter(text=text), cur)
    return int(cur.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchall()[0][0])


def _sql(case: CaseFile, query: str) -> int:
    return int(case.cursor().execute(query).fetchall()[0][0])


@pytest.mark.parametrize(
    ("text", "expected_sql"),
    [
        ("tag:malicious", "SELECT count(*) FROM event_tags WHERE tag = 'malicious'"),
        ("tag:Malicious", "SELECT count(*) FROM event_tags WHERE tag = 'malicious'"),
        ("tag:stage*", "SELECT count(*) FROM event_tags WHERE tag LIKE 'stage%'"),
        ("is:starred", "SELECT count(*) FROM event_stars"),
        ("has:note", "SELECT count(*) FROM event_notes"),
        ("is:annotated", "SELECT count(*) FROM event_annotations"),
        (
            "tag:malicious tag:suspicious",
            "SELECT count(*) FROM (SELECT event_id FROM event_tags WHERE tag = 'malicious' "
            "INTERSECT SELECT event_id FROM event_tags WHERE tag = 'suspicious')",
        ),
        (
            "is:starred -tag:suspicious",
            "SELECT count(*) FROM (SELECT event_id FROM event_stars "
            "EXCEPT SELECT event_id FROM event_tags WHERE tag = 'suspicious')",
        ),
        ("-has:tag", "SELECT count(*) FROM events WHERE event_id NOT IN (SELECT event_id FROM event_tags)"),
    ],
)
def test_terms_select_what_the_views_hold(annotated, text, expected_sql):
    assert _count(annotated, text) == _sql(annotated, expected_sql)
    assert _count(annotated, text) > 0


def test_terms_mix_with_field_terms_and_are_not_free_text(annotated):
    parsed = parse_filter("tag:malicious source:cloudtrail")
    assert [t.annotation for t in parsed.terms] == ["tag", None]
    assert not parsed.text_terms
    expected = _sql(
        annotated,
        "SELECT count(*) FROM events WHERE source_type = 'cloudtrail' AND event_id IN "
        "(SELECT event_id FROM event_tags WHERE tag = 'malicious')",
    )
    assert _count(annotated, "tag:malicious source:cloudtrail") == expected


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("is:flagged", "unknown annotation term 'is:flagged'", 0),
        ("action:X -has:comments", "unknown annotation term 'has:comments'", 10),
        ('tag:"two words"', "invalid tag", 0),
    ],
)
def test_bad_terms_say_what_and_where(text, message, position):
    with pytest.raises(FilterError, match=message) as err:
        parse_filter(text)
    assert err.value.position == position


def test_terms_read_the_case_as_it_is_now(work_case):
    """Edits after the filter was compiled count: the SQL names the views, not a snapshot."""
    with CaseFile.open(work_case) as case:
        where, params = where_sql(EventFilter(text="is:starred"), case.cursor())
        ids = [r[0] for r in case.cursor().execute("SELECT event_id FROM events LIMIT 4").fetchall()]
        edits.set_starred(case, ids)
        n = case.cursor().execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchall()[0][0]
        assert n == 4
    con = duckdb.connect(str(work_case), read_only=True)
    try:  # and any DuckDB client sees the same through the views
        assert con.execute("SELECT count(*) FROM event_stars").fetchall() == [(4,)]
    finally:
        con.close()
