"""KQL and Logs Insights read extracted raw fields (raw_fields) instead of the raw JSON, same answers.

Each library query's KQL and Logs Insights version is run twice on cases imported by the real
import code: as translated, and as translated with no extracted columns known (every field read
from the raw JSON, the translators' earlier plan). The rows must be identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewer.core import derived
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.query import library, raw_columns
from viewer.core.query.insights import pipeline, stats_split
from viewer.core.query.runner import translate

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"
FIXTURE_DIRS = ("aws_cloudtrail", "aws_cloudtrail_jsonl", "entra_signin", "k8s_audit", "aws_vpc_flow")
VERSIONS = [(q, lang) for q in library.bundled() for lang in ("kql", "insights") if lang in q.texts]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    case = CaseFile.create(tmp_path_factory.mktemp("raw_columns_fixtures") / "fixtures.caseline")
    for name in FIXTURE_DIRS:
        import_paths(case, [p for p in (FORMATS / name).iterdir() if p.name != "expected.json"])
    derived.update_deferred(case)
    return case


def _raw_json_sql(language: str, text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as m:
        m.setattr(raw_columns, "text_columns", lambda source_type: {})
        m.setattr(raw_columns, "number_columns", lambda source_type: {})
        return translate(language, text).sql


def _rows(case: CaseFile, sql: str) -> list[tuple]:
    """The rows in a stable order; sets (KQL make_set, a JSON array text) as sorted tuples, since
    their element order is DuckDB's and differs between two runs of the same query."""

    def cell(v: object) -> object:
        if isinstance(v, str) and v.startswith("["):
            try:
                v = json.loads(v)
            except ValueError:
                return v
        return tuple(sorted(map(str, v))) if isinstance(v, list) else v

    return sorted((tuple(cell(v) for v in r) for r in case.cursor().execute(sql).fetchall()), key=repr)


@pytest.mark.parametrize("case_name", ["sample_built", "fixtures"])
@pytest.mark.parametrize(("query", "language"), VERSIONS, ids=lambda v: getattr(v, "name", v))
def test_extracted_columns_give_the_raw_json_answer(
    query: library.LibraryQuery,
    language: str,
    case_name: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case: CaseFile = request.getfixturevalue(case_name)
    text = query.text(language)
    new_sql, old_sql = translate(language, text).sql, _raw_json_sql(language, text, monkeypatch)
    assert _rows(case, new_sql) == _rows(case, old_sql)


def test_library_versions_do_read_the_extracted_columns(sample_built: CaseFile) -> None:
    """The comparison above proves something only where the columns are used and find rows."""
    used = [(q.name, lang) for q, lang in VERSIONS if "raw_fields" in translate(lang, q.text(lang)).sql]
    assert len(used) >= 8, used
    found = [
        (name, lang)
        for name, lang in used
        if sample_built.cursor().execute(translate(lang, library.get(name).text(lang)).sql).fetchall()
    ]
    assert len(found) >= 5, found


def test_kql_reads_the_raw_json_once_raw_is_no_longer_the_tables_own(sample_built: CaseFile) -> None:
    path = "tostring(raw.requestParameters.bucketName)"
    plain = translate("kql", f"AWSCloudTrail | extend b = {path} | project b").sql
    assert "__rf_bucket_name" in plain
    for changed in (
        f'AWSCloudTrail | extend raw = parse_json("{{}}") | extend b = {path} | project b',
        f"AWSCloudTrail | project raw | extend b = {path}",
        f"AWSCloudTrail | summarize by raw = tostring(raw) | extend b = {path}",
        f"events | extend b = {path} | project b",  # any source: not only CloudTrail rows
    ):
        try:
            sql = translate("kql", changed).sql
        except Exception:  # a refusal is fine too; a wrong column never is
            continue
        assert "raw_fields" not in sql, changed
        sample_built.cursor().execute(sql).fetchall()


def test_insights_other_sources_read_the_document(fixtures: CaseFile) -> None:
    """Entra and Kubernetes rows answer a CloudTrail field name from their own records."""
    sql = translate("insights", "fields requestParameters.bucketName, verb, objectRef.resource").sql
    raw = _raw_json_sql(
        "insights", "fields requestParameters.bucketName, verb, objectRef.resource", pytest.MonkeyPatch()
    )
    assert "raw_fields" in sql and "raw_fields" not in raw
    assert _rows(fixtures, sql) == _rows(fixtures, raw)


@pytest.mark.parametrize("case_name", ["sample_built", "fixtures"])
@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("insights", "stats count(*) as n by userIdentity.arn, userIdentity.type"),
        ("insights", "filter userIdentity.arn like /assumed-role/ | stats count(*) by userIdentity.arn"),
        (
            "insights",
            "filter ispresent(userIdentity.arn) = 0 | stats count(*) by eventSource, userIdentity.type",
        ),
        ("insights", "fields @timestamp, userIdentity.arn | filter eventName = 'ListBuckets'"),
        ("kql", "AWSCloudTrail | summarize n = count() by arn = tostring(raw.userIdentity.arn)"),
        (
            "kql",
            "AWSCloudTrail | where isempty(tostring(raw.userIdentity.arn)) | summarize count() by action",
        ),
    ],
)
def test_user_arn_is_the_raw_json_arn(
    language: str, text: str, case_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ARN is read from principal_id unless raw_fields flags a difference (an event without an
    ARN, as AWS service calls), which the sample case holds as well as events with one."""
    case: CaseFile = request.getfixturevalue(case_name)
    sql = translate(language, text).sql
    assert "__rf_user_arn" in sql or "user_arn_differs" in sql
    assert _rows(case, sql) == _rows(case, _raw_json_sql(language, text, monkeypatch))
    kinds = (
        case.cursor()
        .execute(
            "SELECT DISTINCT f.user_arn_differs FROM events LEFT JOIN raw_fields f USING (event_id) "
            "WHERE source_type = 'cloudtrail'"
        )
        .fetchall()
    )
    assert sorted(kinds, key=repr) == ([(None,), (True,)] if case_name == "sample_built" else [(None,)])


@pytest.mark.parametrize("case_name", ["sample_built", "fixtures"])
@pytest.mark.parametrize(
    "text",
    [
        "stats sum(additionalEventData.bytesTransferredOut) as b, count(*) as n by eventName",
        "filter additionalEventData.bytesTransferredOut > 1000 | stats count(*) by requestParameters.bucketName",
        "filter additionalEventData.bytesTransferredOut >= 0 "
        "| fields additionalEventData.bytesTransferredOut, additionalEventData.bytesTransferredOut * 2 as twice",
        "stats avg(additionalEventData.bytesTransferredOut), max(additionalEventData.bytesTransferredOut) "
        "by userIdentity.arn",
    ],
)
def test_insights_numbers_of_a_numeric_column(
    text: str, case_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field read as a number comes from bytes_out (TRY_CAST of the path's text) for CloudTrail
    rows; read as text as well, its text still comes from the raw JSON."""
    case: CaseFile = request.getfixturevalue(case_name)
    sql = translate("insights", text).sql
    assert "__rf.bytes_out" in sql
    rows = _rows(case, sql)
    assert rows == _rows(case, _raw_json_sql("insights", text, monkeypatch))
    if case_name == "sample_built":
        assert rows and any(v not in (None, 0) for r in rows for v in r[:2] if isinstance(v, (int, float)))


@pytest.mark.parametrize("case_name", ["sample_built", "fixtures"])
@pytest.mark.parametrize(
    ("text", "splits"),
    [
        ("stats count(*) as n, count_distinct(userIdentity.arn) as p by userAgent", True),
        (
            "stats count_distinct(sourceIPAddress) as ips, count(eventName) as named, min(@timestamp), "
            "max(@timestamp) by eventSource, bin(1d)",
            True,
        ),
        ("stats count(*) as n, count_distinct(eventName) as actions", True),
        ("filter eventName = 'NoSuchCall' | stats count(*) as n, count_distinct(eventName) as actions", True),
        (
            "stats count_distinct(eventName) as a, max(additionalEventData.bytesTransferredOut + 0) as b "
            "by awsRegion",
            True,
        ),
        (  # a text minimum is Logs Insights' own order: not split
            "stats count_distinct(eventName) as a, min(additionalEventData.bytesTransferredOut) by awsRegion",
            False,
        ),
        (
            "stats count_distinct(eventName) as a, sum(additionalEventData.bytesTransferredOut) by awsRegion",
            False,
        ),
        ("stats count_distinct(eventName) as a, count_distinct(awsRegion) as r by eventSource", False),
        ("stats count_distinct(eventName) * 2 as a by eventSource", False),
    ],
)
def test_insights_stats_with_count_distinct_as_two_groupings(
    text: str, splits: bool, case_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two groupings give the one grouping's rows; stats that do not split exactly stay one."""
    case: CaseFile = request.getfixturevalue(case_name)
    sql = translate("insights", text).sql
    assert ("__li_distinct" in sql) == splits
    with monkeypatch.context() as m:
        m.setattr(stats_split, "two_groupings", lambda *args: None)
        m.setattr(pipeline, "two_groupings", lambda *args: None)
        single = translate("insights", text).sql
    assert "__li_distinct" not in single
    rows = _rows(case, sql)
    assert rows == _rows(case, single)
    if case_name == "sample_built":
        assert rows
