"""Logs Insights translation: refusals name the construct and its position; hints and defaults."""

from __future__ import annotations

import pytest

from viewer.core.query.common import TranslationError
from viewer.core.query.insights import DEFAULT_LIMIT, ChartHint, translate


@pytest.mark.parametrize(
    ("query", "construct", "line", "column"),
    [
        ("fields a\n| unnest b into c", "unnest", 2, 3),
        ("filter x = 1 | pattern @message", "pattern", 1, 16),
        ("fields pct(latency, 95) as p", "pct", 1, 8),
        ("stats pct(latency, 95)", "pct", 1, 7),
        ("fields sum(bytes) as s", "sum", 1, 8),
        ("stats count(*) as n | stats max(n) as m | stats min(m)", "stats", 1, 43),
        ("sort @timestamp desc | stats count(*)", "sort", 1, 24),
        ("stats count(*) as n by bin(5m) | stats avg(n) by bin(1h)", "@timestamp", 1, 50),
        ("fields @message | limit any 5", "limit any", 1, 25),
        ("filter @message like /(?<=a)b/", "look-around", 1, 22),
        ('parse @message "a=* b=*" as a', "parse", 1, 16),
        ("parse @message /no groups/", "parse", 1, 16),
        ('filter @timestamp > "2024-01-01"', ">", 1, 19),
        ("fields @ptr", "@ptr", 1, 8),
        ("stats count(*) by bin(1w)", "1w", 1, 23),
        ("fields a | dedup a | sort a", "sort", 1, 22),
        ("fields a | limit 5 | filter a = 1", "filter", 1, 22),
        ("fields a | limit 0", "limit", 1, 18),
        ("filter eventName", "", 1, 8),
        ("stats eventName by eventSource", "stats", 1, 7),
        ("fields a |", "", 1, 11),
        ("filter a = 1 ) ", ")", 1, 14),
        ("stats count(*) as n, count(*) as n", "stats", 1, 1),
        ("fields a | sort a | sort b", "sort", 1, 21),
        ("fields strlen(a, b)", "strlen", 1, 8),
    ],
)
def test_refusals_name_the_construct_and_where_it_is(
    query: str, construct: str, line: int, column: int
) -> None:
    with pytest.raises(TranslationError) as caught:
        translate(query)
    error = caught.value
    assert (error.construct, error.line, error.column) == (construct, line, column), str(error)


def test_stats_by_bin_gives_a_time_series_hint() -> None:
    translation = translate("stats count(*) as n, avg(bytes) by bin(5m), eventSource")
    assert translation.chart == ChartHint("timeseries", "bin(5m)", ("n", "avg(bytes)"), ("eventSource",))
    assert translation.columns == ("bin(5m)", "eventSource", "n", "avg(bytes)")


def test_only_bin_stats_are_time_series() -> None:
    assert translate("stats count(*) by eventSource").chart is None
    assert translate("fields @timestamp").chart is None


def test_defaults_are_explicit_in_sql_and_notes() -> None:
    translation = translate("filter eventName = 'x'")
    assert translation.sql.endswith(f"LIMIT {DEFAULT_LIMIT}")
    assert "ORDER BY ts DESC" in translation.sql
    assert translation.columns == ("@timestamp", "@message")
    assert any("10,000" in note for note in translation.notes)
    assert any("most recent" in note for note in translation.notes)


def test_explicit_limit_and_sort_add_no_notes() -> None:
    translation = translate("fields @timestamp | sort @timestamp asc | limit 7")
    assert translation.notes == ()
    assert translation.sql.endswith("LIMIT 7")


def test_translation_is_pure() -> None:
    query = 'parse @message "[*] *" as a, b | stats count(*) by a | sort a'
    assert translate(query) == translate(query)


def test_discovered_fields_use_verbatim_columns_for_cloudtrail_rows() -> None:
    sql = translate("fields eventName, userIdentity.arn, requestParameters.bucketName").sql
    # The CloudTrail branch reads the column; other sources' branch reads the document.
    assert "events.action AS __li_1" in sql and "li_doc->>'$.eventName' AS __li_1" in sql
    # principal_id is derived (a coalesce), so the ARN always comes from the record
    assert "events.raw->>'$.userIdentity.arn' AS __li_2" in sql
    # An extracted field (viewer.core.raw_fields) is read from raw_fields for CloudTrail rows.
    assert "__rf.bucket_name AS __li_3" in sql and "FROM raw_fields WHERE bucket_name IS NOT NULL" in sql
    assert "raw_fields" not in translate("fields eventName").sql


def test_conditions_on_events_apply_inside_each_source_branch() -> None:
    """A filter written outside the branches stays above their projection in DuckDB's plan, so
    the raw JSON of every event would be parsed; inside, each uses the branch's own columns."""
    sql = translate('filter eventName = "GetObject" | stats count(*) by userIdentity.arn').sql
    assert "events.source_type = 'cloudtrail' AND (((events.action) = 'GetObject'))" in sql
    assert "WHERE (((li_doc->>'$.eventName') = 'GetObject'))" in sql
    assert "\x00" not in sql


def test_system_fields_of_other_sources_read_no_raw_record() -> None:
    """@log and @logStream of a CloudTrail row are columns (the kind of log, the evidence file):
    its branch must not reference the raw record, which DuckDB would decompress for every row."""
    sql = translate("stats count(*) as n by @log, @logStream").sql
    cloudtrail = next(b for b in sql.split(" UNION ALL ") if "events.source_type = 'cloudtrail'" in b)
    assert "raw" not in cloudtrail and "events.source_type AS __ls_" in cloudtrail


def test_in_list_and_or_terms_of_a_filter_are_conditions_of_their_own() -> None:
    """Written `(...) IS TRUE` so that DuckDB applies them in the scan (a bare in-list becomes a
    zone-map filter only); a negated one inside a `not` keeps its own SQL (three-valued logic)."""
    sql = translate('filter eventName in ["A", "B"] and (errorCode = "X" or @message like "y") | limit 1').sql
    assert "(((events.action) IN ('A', 'B')) IS TRUE)" in sql
    assert " IS TRUE) AND " in sql  # the `or` term too, as its own condition
    negated = translate('filter not (eventName in ["A", "B"]) | limit 1').sql
    assert "IS TRUE" not in negated
