"""The filter language: parsing, error positions, and SQL checked against brute force in Python."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core import search_index
from viewer.core.case_file import CaseFile
from viewer.core.event_query import (
    ALIASES,
    EventFilter,
    FilterError,
    parse_filter,
    where_sql,
)
from viewer.schema import searchable_fields


# -- parsing --------------------------------------------------------------------------------------
def test_parse_terms_aliases_quotes_negation_prefix() -> None:
    text = 'ip:10.0.0.1 -user:"alice smith" action:Get* hello "two words"'
    p = parse_filter(text)
    t = p.terms
    assert [x.columns for x in t[:3]] == [("src_ip",), ALIASES["user"], ("action",)]
    assert t[0].value == "10.0.0.1" and not t[0].negated
    assert t[1].value == "alice smith" and t[1].negated
    assert t[2].value == "Get" and t[2].prefix
    assert [(x.value, x.is_text) for x in p.text_terms] == [("hello", True), ("two words", True)]
    starts = ["ip:", "-user", "action:", "hello", '"two']
    assert [x.position for x in t] == [text.index(s) for s in starts]


def test_quoted_star_is_literal_but_star_after_quote_is_prefix() -> None:
    (term,) = parse_filter('action:"Get*"').terms
    assert term.value == "Get*" and not term.prefix
    (term,) = parse_filter('"arn:aws:s3"*').terms
    assert term.value == "arn:aws:s3" and term.prefix and term.is_text


@pytest.mark.parametrize(
    ("text", "position", "needle"),
    [
        ("bogus:1", 0, "bogus"),
        ("action:x  nope:2", 10, "nope"),
        ("-nope:2", 1, "nope"),
        ('action:x "open', 9, "unclosed"),
        ("action:", 0, "no value"),
    ],
)
def test_errors_carry_positions(text: str, position: int, needle: str) -> None:
    with pytest.raises(FilterError) as err:
        parse_filter(text)
    assert err.value.position == position
    assert needle in err.value.message


def test_unknown_field_lists_valid_fields() -> None:
    with pytest.raises(FilterError) as err:
        parse_filter("usr:alice")
    assert "principal_id" in err.value.message and "ip" in err.value.message


def test_values_are_parameters_never_sql() -> None:
    sql, params = where_sql(EventFilter(text="action:\"x' OR 1=1 --\" o'brien"), use_index=False)
    assert "OR 1=1" not in sql and "brien" not in sql
    assert "x' OR 1=1 --" in params


def test_with_field_and_time_range_validate() -> None:
    with pytest.raises(FilterError):
        EventFilter().with_field("nosuch", "x")
    with pytest.raises(ValueError):
        EventFilter().with_time_range((dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)))


# -- SQL against brute force ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = build_synthetic_case(tmp_path_factory.mktemp("q") / "case.duckdb", 6_000, seed=3)
    c = CaseFile.open(path)
    cur = c.cursor()
    search_index.update_index(cur)
    yield c
    c.close()


@pytest.fixture(scope="module")
def rows(case: CaseFile) -> list[dict[str, Any]]:
    rel = case.cursor().execute("SELECT *, raw::VARCHAR AS raw_text FROM events")
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def _ids(case: CaseFile, f: EventFilter, use_index: bool) -> set[int]:
    sql, params = where_sql(f, use_index=use_index)
    return {
        r[0] for r in case.cursor().execute(f"SELECT event_id FROM events WHERE {sql}", params).fetchall()
    }


def _matches(row: dict[str, Any], word: str, prefix: bool = False) -> bool:
    """An independent Python rendition of the documented free-text rule (search_index docstring)."""
    vals = [str(row[f.name]) for f in searchable_fields() if row[f.name] is not None]
    text = "\n".join([*vals, row["raw_text"]]).lower()
    sep = r"[^a-z0-9_.@-]"
    tail = "" if prefix else f"(?:{sep}|$)"
    return re.search(f"(?:^|{sep}){re.escape(word.lower())}{tail}", text) is not None


def test_field_filters_match_python(case: CaseFile, rows: list[dict[str, Any]]) -> None:
    some = next(r for r in rows[17:] if r["credential_id"] and r["error_code"])
    key6 = some["credential_id"][:6]
    checks = {
        f"action:{some['action']}": lambda r: r["action"] == some["action"],
        f"-outcome:success source:{some['source_type']}": lambda r: (
            r["outcome"] != "success" and r["source_type"] == some["source_type"]
        ),
        f"user:{some['principal_name']}": lambda r: (
            some["principal_name"] in (r["principal_id"], r["principal_name"])
        ),
        "ip:10.1*": lambda r: (r["src_ip"] or "").startswith("10.1"),
        f"-key:{key6}*": lambda r: not (r["credential_id"] or "").startswith(key6),
        "-error:AccessDenied": lambda r: r["error_code"] != "AccessDenied",
        "read_only:true": lambda r: r["read_only"] is True,
    }
    for text, pred in checks.items():
        expected = {r["event_id"] for r in rows if pred(r)}
        assert _ids(case, EventFilter(text=text), use_index=False) == expected, text
        assert expected and len(expected) < len(rows), f"{text} should split the data"


def test_pivots_and_time_range_match_python(case: CaseFile, rows: list[dict[str, Any]]) -> None:
    times = sorted(r["ts"] for r in rows)
    lo, hi = times[1000], times[4000]
    some = rows[5]
    f = EventFilter().with_field("region", some["region"]).with_time_range((lo, hi))
    expected = {r["event_id"] for r in rows if r["region"] == some["region"] and lo <= r["ts"] < hi}
    assert _ids(case, f, use_index=False) == expected


def test_free_text_matches_python_with_and_without_index(case: CaseFile, rows: list[dict[str, Any]]) -> None:
    r0 = rows[42]
    checks: dict[str, Any] = {
        r0["src_ip"]: lambda r: _matches(r, r0["src_ip"]),  # 10.x.y.1 must not match 10.x.y.10
        r0["event_uid"].upper(): lambda r: _matches(r, r0["event_uid"]),
        f"{r0['principal_name']} {r0['action']}": lambda r: (
            _matches(r, r0["principal_name"]) and _matches(r, r0["action"])
        ),
        f"-{r0['region']}": lambda r: not _matches(r, r0["region"]),
        "quarterly": lambda r: _matches(r, "quarterly"),
        '"arn:aws:s3:::re"*': lambda r: _matches(r, "arn:aws:s3:::re", prefix=True),
        '"not authorized"': lambda r: _matches(r, "not authorized"),
        "alice*": lambda r: _matches(r, "alice", prefix=True),
    }
    cur = case.cursor()
    for q, pred in checks.items():
        expected = {r["event_id"] for r in rows if pred(r)}
        assert expected and len(expected) < len(rows), q
        for use_index in (True, False):
            sql, params = where_sql(EventFilter(text=q), cur, use_index=use_index)
            got = {r[0] for r in cur.execute(f"SELECT event_id FROM events WHERE {sql}", params).fetchall()}
            assert got == expected, (q, use_index)
        assert _ids(case, EventFilter(text=q), use_index=False) == expected, q  # no cursor: scan


def test_words_inside_tokens_are_not_found(case: CaseFile, rows: list[dict[str, Any]]) -> None:
    """`alic` is not a token of `alice` (only `alic*` is); `user/alice` does hold `alice`."""
    sql, params = where_sql(EventFilter(text="alic"), case.cursor())
    assert case.cursor().execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0] == 0
    assert any("/alice" in r["raw_text"] for r in rows if _matches(r, "alice"))
