"""KQL translation: refusals with positions, render hints, names, and semantics SQL alone can miss."""

from __future__ import annotations

import duckdb
import pytest

from viewer.core.query.common import TranslationError
from viewer.core.query.kql import RenderHint, translate


@pytest.mark.parametrize(
    ("query", "line", "column", "construct"),
    [
        ("events | mv-expand raw", 1, 10, "mv-expand"),
        ("events\n| where action == 'x'\n| parse action with x", 3, 3, "parse"),
        ("events | join (events) on action", 1, 10, "join kind=innerunique"),
        ("events | join kind=innerunique (events) on action", 1, 10, "join kind=innerunique"),
        ("events | join kind=fullouter (events) on action", 1, 15, "kind=fullouter"),
        ("events | where action has_any ('a')", 1, 23, "has_any"),
        ("events | where strlen(action) > 3", 1, 16, "strlen"),
        ("events | where Action == 'x'", 1, 16, "Action"),
        ("Nope | take 1", 1, 1, "Nope"),
        ("events | render piechart", 1, 17, "piechart"),
        ("events | take 1 | render timechart | take 2", 1, 19, "render"),
        ("events | summarize by raw.eventName", 1, 23, "by"),
        ("events | summarize dcount(action, 2)", 1, 20, "dcount"),
        ("events | summarize n = count() * 2", 1, 20, "summarize"),
        ("events | project tostring(raw.x)", 1, 18, "project"),
        ("events | where action == 1", 1, 16, "=="),
        ("events | union withsource=T events", 1, 16, "withsource"),
        ("events | extend Ts = 1", 1, 17, "Ts"),
        ("events | where ts > datetime(March 1)", 1, 21, "datetime"),
        ("events | where ts > ago(1tick)", 1, 25, "1tick"),
        ("events | where action has ''", 1, 27, "has"),
        ("events | where tostring(ts) == ''", 1, 25, "tostring"),
        ("events | where raw.requestParameters.maxResults > 100", 1, 16, ">"),
        ("events | summarize make_set(raw)", 1, 20, "make_set"),
        ("events |", 1, 9, ""),
    ],
)
def test_refusals_name_the_construct_and_where_it_is(
    query: str, line: int, column: int, construct: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        translate(query)
    assert (caught.value.line, caught.value.column, caught.value.construct) == (line, column, construct)


def _run(sql: str, rows: str) -> list[tuple]:
    """Run a translation over a tiny `events` table with the given VALUES for (action, user_agent)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {rows}) v(action, user_agent)")
    return con.execute(sql.replace("FROM events", "FROM t")).fetchall()


def _translate_small(query: str) -> str:
    # project the two columns the small table has, in the translator's column naming
    sql = translate(query).sql
    first = sql.index("SELECT ", sql.index("_k1 AS")) + len("SELECT ")
    end = sql.index(" FROM events", first)
    return sql[:first] + "action, user_agent" + sql[end:]


def test_has_matches_whole_terms_only_and_contains_any_substring() -> None:
    rows = "('a', 'North America'), ('b', 'amzn2.x86'), ('c', 'xamzn2'), ('d', NULL)"
    has = _run(
        _translate_small(
            "events | where user_agent has 'AMERICA' or user_agent has 'amzn2' | project action"
        ),
        rows,
    )
    assert sorted(has) == [("a",), ("b",)]
    amer = _run(_translate_small("events | where user_agent has 'amer' | project action"), rows)
    assert amer == []
    contains = _run(_translate_small("events | where user_agent contains 'AMZN' | project action"), rows)
    assert sorted(contains) == [("b",), ("c",)]
    has_cs = _run(_translate_small("events | where user_agent has_cs 'america' | project action"), rows)
    assert has_cs == []


def test_negated_string_operators_keep_missing_values_as_kql_empty_strings() -> None:
    rows = "('a', 'curl'), ('b', NULL)"
    got = _run(_translate_small("events | where user_agent !contains 'curl' | project action"), rows)
    assert got == [("b",)]


def test_render_hint_defaults_and_overrides() -> None:
    t = translate("events | summarize n = count() by bin(ts, 1h), outcome | render timechart")
    assert t.render == RenderHint("timechart", "ts", ("n",), ("outcome",), None)
    t = translate(
        'events | summarize n = count(), e = dcount(action) by region | render barchart with (title="By region", '
        "xcolumn=region, ycolumns=n, e)"
    )
    assert t.render == RenderHint("barchart", "region", ("n", "e"), (), "By region")
    assert translate("events | take 1").render is None


def test_timechart_needs_a_datetime_x_axis() -> None:
    with pytest.raises(TranslationError, match="datetime x axis"):
        translate("events | summarize n = count() by action | render timechart")


def test_default_aggregate_names_follow_kql() -> None:
    sql = translate("events | summarize count(), dcount(action), sum(bytes), min(ts) by region").sql
    assert sql.rstrip().endswith("SELECT region, count_, dcount_action, sum_bytes, min_ts FROM _k2")


def test_sort_defaults_to_descending_nulls_last() -> None:
    sql = translate("events | sort by ts").sql
    assert "ts AS _kql_row1" in sql and sql.endswith("ORDER BY _kql_row1 DESC NULLS LAST")
    assert translate("events | sort by ts asc").sql.endswith("ORDER BY _kql_row1 ASC NULLS FIRST")


def test_timespans_are_exact_microseconds() -> None:
    sql = translate("events | where ts > ago(7d) and ts < ago(1.5h) and ts > ago(100ms)").sql
    assert (
        "INTERVAL '168 hours'" in sql
        and "INTERVAL '90 minutes'" in sql
        and "INTERVAL '100 milliseconds'" in sql
    )


def test_translation_is_a_single_select_statement() -> None:
    sql = translate("let t = events | take 3; t | union t | project action").sql
    assert sql.startswith("WITH ") and ";" not in sql
    con = duckdb.connect()
    assert len(con.extract_statements(sql)) == 1


def test_sentinel_alias_keeps_the_written_name() -> None:
    sql = translate("AWSCloudTrail | project TimeGenerated, EventName").sql
    assert 'ts AS "TimeGenerated"' in sql and 'action AS "EventName"' in sql
    with pytest.raises(TranslationError, match="EventName"):
        translate("events | project EventName")  # CloudTrail aliases only on AWSCloudTrail


@pytest.mark.parametrize(
    ("where", "floor"),
    [
        ("where d >= 5", 5),
        ("where d > 4 and n >= 2", 5),
        ("where count_ > 9", 10),
        ("where d >= 1", None),  # every group has a row: no floor
        ("where n > 1", None),  # a floor of 2 drops only one-row groups: not worth its grouping
        ("where d < 5", None),
        ("where d >= 5 or n > 100", None),  # an `or` bounds nothing
        ("where a >= 5", None),  # a max() column is no count
        ("project d", None),
    ],
)
def test_a_where_on_counts_after_summarize_sets_a_row_floor(where: str, floor: int | None) -> None:
    """The groups that cannot reach the count are dropped before the summarize (group_floor);
    the conformance cases compare such queries with hand-written SQL."""
    sql = translate(
        f"events | summarize d = dcount(action), n = count(), count(), a = max(bytes) by src_ip | {where}"
    ).sql
    assert (f"HAVING count(*) >= {floor}" in sql) == (floor is not None)
    assert (") IN (SELECT hash(" in sql) == (floor is not None)
    # The CTE read twice is inlined, not materialized with the event rows it reads.
    assert ("NOT MATERIALIZED" in sql) == (floor is not None)
