"""`aws_security_group_open_to_world` in its three languages, on security-group calls whose answer
is known: a rule's address range counts, a description naming 0.0.0.0/0 does not, egress does not.

The rules are read from `raw_fields` (`ip_permissions`, `sg_rule_request`); the case is queried
both before the deferred build (the view extracts them from the events) and after it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from viewer.core import derived
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.query import library
from viewer.core.query.runner import translate_on

EVIDENCE = Path(__file__).resolve().parents[1] / "data" / "queries" / "security_group_calls.json"

#: Records 1 (SSH from 0.0.0.0/0), 2 (RDP from ::/0 in its second rule), 4 (a rule modified to
#: 0.0.0.0/0) and 6 (refused); not 3 (a partner range), 5 (egress), 7 (an internal range whose
#: description names 0.0.0.0/0) nor 8 (a group created with such a description).
OPENED = [
    (datetime(2024, 5, 2, 9, 11, tzinfo=UTC), "AuthorizeSecurityGroupIngress", "success"),
    (datetime(2024, 5, 2, 9, 12, tzinfo=UTC), "AuthorizeSecurityGroupIngress", "success"),
    (datetime(2024, 5, 2, 9, 14, tzinfo=UTC), "ModifySecurityGroupRules", "success"),
    (datetime(2024, 5, 2, 9, 16, tzinfo=UTC), "AuthorizeSecurityGroupIngress", "failure"),
]


def _imported(folder: Path) -> CaseFile:
    case = CaseFile.create(folder / "sg.caseline")
    summary = import_paths(case, [EVIDENCE])
    assert summary.total("kept") == 8
    return case


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    """Imported, deferred structures not built: raw_fields reads the events."""
    return _imported(tmp_path_factory.mktemp("security_groups"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    case = _imported(tmp_path_factory.mktemp("security_groups_built"))
    derived.update_deferred(case)
    return case


def _answer(case: CaseFile, language: str) -> list[tuple]:
    cur = case.cursor()
    sql = translate_on(cur, language, library.get("aws_security_group_open_to_world").text(language)).sql
    rel = cur.execute(sql)
    names = [d[0] for d in rel.description]
    at = {"sql": ("ts", "action"), "kql": ("ts", "action"), "insights": ("@timestamp", "eventName")}[language]
    rows = rel.fetchall()
    return [(r[names.index(at[0])], r[names.index(at[1])]) for r in rows]


@pytest.mark.parametrize("case_name", ["case", "built"])
@pytest.mark.parametrize("language", ["sql", "kql", "insights"])
def test_only_rules_open_to_the_world_are_found(
    case_name: str, language: str, request: pytest.FixtureRequest
) -> None:
    case: CaseFile = request.getfixturevalue(case_name)
    want = [(ts, action) for ts, action, _ in OPENED]
    assert sorted(_answer(case, language)) == want


def test_the_refused_attempt_keeps_its_outcome_and_each_row_its_group(case: CaseFile) -> None:
    rows = case.cursor().execute(library.get("aws_security_group_open_to_world").text("sql")).fetchall()
    assert [(r[0], r[2], r[5]) for r in rows] == OPENED
    # The modified rule's group is inside ModifySecurityGroupRulesRequest, not requestParameters.
    assert [r[3] for r in rows] == [f"sg-0a1b2c3d4e5f6000{i}" for i in (1, 2, 4, 6)]


def test_kql_reads_the_rules_without_the_raw_record(built: CaseFile) -> None:
    sql = translate_on(built.cursor(), "kql", library.get("aws_security_group_open_to_world").text("kql")).sql
    assert "ip_permissions" in sql and "sg_rule_request" in sql
    assert "requestParameters.ipPermissions" not in sql
