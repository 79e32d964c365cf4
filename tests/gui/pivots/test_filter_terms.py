"""The filter-language terms pivots write (Qt-free): lists, any address column, the actor; each
selects what the equivalent SQL selects on the real multi-source case."""

from __future__ import annotations

import pytest
from entities import stories

from viewer.core.entities.filter_terms import actor_text, kind_for_field, pivot_text, values_text
from viewer.core.event_query import EventFilter, FilterError, parse_filter, where_sql


def _n(con, text: str) -> int:  # type: ignore[no-untyped-def]
    where, params = where_sql(EventFilter(text=text), con, use_index=False)
    return int(con.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchall()[0][0])


def test_list_values_parse_and_keep_free_text_in_parentheses() -> None:
    (term,) = parse_filter('principal_id:(a|"b c"|d)').terms
    assert term.columns == ("principal_id",) and term.values == ("a", "b c", "d")
    assert parse_filter("(foo)").terms[0].is_text  # no field: still free text
    assert parse_filter("action:(x)y").terms[0].value == "(x)y"  # not a list: a plain value
    with pytest.raises(FilterError):
        parse_filter("nosuchfield:(a|b)")


def test_values_text_quotes_what_the_language_needs() -> None:
    assert values_text("user_agent", ["aws-cli/2 (x)"]) == 'user_agent:"aws-cli/2 (x)"'
    assert values_text("principal_id", ["a", "b"], negate=True) == "-principal_id:(a|b)"
    assert values_text("principal_id", ['say "hi"']) is None
    assert kind_for_field("dst_ip").name == kind_for_field("src_ip").name == "ip"
    assert kind_for_field("ts") is None


def test_pivot_text_selects_what_sql_selects(pivot_sql) -> None:  # type: ignore[no-untyped-def]
    con = pivot_sql
    ip = stories.ATTACKER_IP
    text = pivot_text(con, "src_ip", [ip])
    assert text is not None and text.startswith("anyip:(") and f"::ffff:{ip}" in text
    spellings = [ip, f"::ffff:{ip}"]
    (expected,) = con.execute(
        "SELECT count(*) FROM events WHERE list_contains(?, src_ip) OR list_contains(?, dst_ip)",
        [spellings, spellings],
    ).fetchall()[0]
    assert _n(con, text) == expected > 0
    pair = [stories.USER_ARN, stories.SESSION_ARN]
    (both,) = con.execute(
        "SELECT count(*) FROM events WHERE list_contains(?, principal_id)", [pair]
    ).fetchall()[0]
    assert _n(con, pivot_text(con, "principal_id", pair) or "") == both
    (total,) = con.execute("SELECT count(*) FROM events").fetchall()[0]
    assert _n(con, pivot_text(con, "principal_id", pair, negate=True) or "") == total - both


def test_actor_term_is_everything_the_human_did(pivot_sql) -> None:  # type: ignore[no-untyped-def]
    con = pivot_sql
    (expected,) = con.execute(
        "SELECT count(*) FROM events WHERE principal_id = ? OR credential_id IN (?, ?)",
        [stories.USER_ARN, stories.USER_KEY, stories.SESSION_KEY],
    ).fetchall()[0]
    assert _n(con, actor_text([stories.USER_ARN]) or "") == expected
