"""Each KQL case, translated and run, returns what its hand-written SQL returns on a real case."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from query.kql_cases import CASES
from query.kql_fixture import build_multi_source_case, build_sample_case
from viewer.core.case_file import CaseFile
from viewer.core.query.kql import translate


@pytest.fixture(scope="session")
def kql_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaseFile]:
    return {
        "sample": build_sample_case(tmp_path_factory.mktemp("kql_sample")),
        "multi": build_multi_source_case(tmp_path_factory.mktemp("kql_multi")),
    }


def _value(v: Any) -> Any:
    """Normalize one cell: JSON arrays and lists as sorted tuples (make_set has no order)."""
    if isinstance(v, str) and v.startswith("["):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    if isinstance(v, list):
        return tuple(sorted(v, key=repr))
    if isinstance(v, float | Decimal):
        return round(float(v), 9)
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC)
    return v


def _rows(cursor: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(_value(v) for v in row) for row in cursor.execute(sql).fetchall()]


@pytest.mark.parametrize(
    ("fixture", "kql", "sql", "ordered"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_kql_matches_hand_written_sql(
    kql_cases: dict[str, CaseFile], fixture: str, kql: str, sql: str, ordered: bool
) -> None:
    cursor = kql_cases[fixture].cursor()
    got = _rows(cursor, translate(kql).sql)
    expected = _rows(cursor, sql)
    assert expected, "a case that returns nothing proves nothing"
    if not ordered:
        got, expected = sorted(got, key=repr), sorted(expected, key=repr)
    assert got == expected


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_row_floor_stays_exact_when_group_hashes_collide(
    kql_cases: dict[str, CaseFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor finds large groups by a hash of their keys; groups sharing a hash count together
    and may pass when they should not. A hash of three values makes nearly every group collide:
    the answer must still be the hand-written one (the summarize and its where are exact)."""
    from viewer.core.query.kql import group_floor

    monkeypatch.setattr(group_floor, "group_hash", lambda keys: f"(hash({', '.join(keys)}) % 3)")
    kql = (
        "AWSCloudTrail | summarize calls = count(), actions = dcount(action) by principal_id, w = bin(ts, 1h)"
        " | where actions >= 3"
    )
    sql = (
        "SELECT coalesce(principal_id, ''), date_trunc('hour', ts), count(*), count(DISTINCT coalesce(action, '')) "
        "FROM events WHERE source_type = 'cloudtrail' GROUP BY 1, 2 HAVING count(DISTINCT coalesce(action, '')) >= 3"
    )
    cursor = kql_cases["sample"].cursor()
    translated = translate(kql).sql
    assert "% 3)" in translated
    got, expected = _rows(cursor, translated), _rows(cursor, sql)
    assert expected and sorted(got, key=repr) == sorted(expected, key=repr)
