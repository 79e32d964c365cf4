"""The case the Logs Insights conformance suite runs on (imported by the tests, not a conftest).

The bundled AWS incident sample is generated and imported by the real import code (CloudTrail as
S3 delivers it: ~4,100 events), with the GCP audit and Azure activity samples beside it. A dozen
`source_type = 'cwl'` events are added by SQL in the FilterLogEvents shape that formats.md 1.9
gives for them (`{"logGroupName", "logStreamName", "timestamp", "message"}`): Lambda text lines,
Lambda JSON lines and CloudTrail records delivered to CloudWatch Logs. They exercise the
`@message` / `@logStream` / `@log` rules for CloudWatch events and discovered fields inside a
JSON message.

The deferred structures are built halfway (viewer/core/doc_keys.py): after the incident, the GCP
and Azure samples and the Lambda events, before the CloudTrail sample of the format tests, the
Kubernetes audit sample and the CloudTrail records delivered to CloudWatch Logs. So the key sets a
translation may use (`known_keys`) say that no CloudWatch record under the mark has `eventSource`
while two above it do, and the suite checks both translations against the same hand-written SQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from viewer.core import derived, raw_fields
from viewer.core.case_file import CaseFile
from viewer.core.doc_keys import DocKeys
from viewer.core.ingest import import_paths

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "sample_cases" / "generate_aws_incident.py"
# No evidence rows: @logStream of CloudWatch events comes from the record. The Lambda events go
# under every imported event (evidence 0), the CloudTrail ones above them all.
CWL_EVIDENCE_IDS = (0, 9999)
FORMATS = REPO / "tests" / "data" / "formats"

_LAMBDA = "/aws/lambda/orders-api"
_TRAIL = "aws-cloudtrail-logs-111111111111"
CWL_EVENTS: list[tuple[str, str, str, str]] = [  # (time, group, stream, message)
    ("2024-03-12T10:00:01Z", _LAMBDA, "2024/03/12/[$LATEST]a1", "START RequestId: r-1 Version: $LATEST"),
    (
        "2024-03-12T10:00:02Z",
        _LAMBDA,
        "2024/03/12/[$LATEST]a1",
        "2024-03-12T10:00:02Z [ERROR] user=alice, method:GET, latency := 216",
    ),
    (
        "2024-03-12T10:00:03Z",
        _LAMBDA,
        "2024/03/12/[$LATEST]a1",
        "2024-03-12T10:00:03Z [INFO] user=bob, method:PUT, latency := 35",
    ),
    (
        "2024-03-12T10:04:00Z",
        _LAMBDA,
        "2024/03/12/[$LATEST]b2",
        "2024-03-12T10:04:00Z [ERROR] user=alice, method:POST, latency := 1200",
    ),
    ("2024-03-12T10:04:30Z", _LAMBDA, "2024/03/12/[$LATEST]b2", "END RequestId: r-2"),
    (
        "2024-03-12T10:05:00Z",
        _LAMBDA,
        "2024/03/12/[$LATEST]b2",
        json.dumps({"level": "ERROR", "requestId": "r-3", "latency": 90, "user": {"name": "carol"}}),
    ),
    (
        "2024-03-12T10:06:00Z",
        _LAMBDA,
        "2024/03/12/[$LATEST]b2",
        json.dumps({"level": "INFO", "requestId": "r-4", "latency": 1500, "user": {"name": "alice"}}),
    ),
    (
        "2024-03-12T10:07:00Z",
        _LAMBDA,
        "2024/03/12/[$LATEST]c3",
        json.dumps({"level": "WARN", "requestId": "r-5", "latency": 9, "user": {}}),
    ),
    (
        "2024-03-12T11:00:00Z",
        _TRAIL,
        "111111111111_CloudTrail_us-east-1",
        json.dumps(
            {
                "eventSource": "signin.amazonaws.com",
                "eventName": "ConsoleLogin",
                "sourceIPAddress": "203.0.113.9",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111111111111:root"},
            }
        ),
    ),
    (
        "2024-03-12T11:01:00Z",
        _TRAIL,
        "111111111111_CloudTrail_us-east-1",
        json.dumps(
            {
                "eventSource": "iam.amazonaws.com",
                "eventName": "CreateAccessKey",
                "sourceIPAddress": "203.0.113.9",
                "errorCode": "AccessDenied",
            }
        ),
    ),
]


def _add_cloudwatch_events(cursor: duckdb.DuckDBPyConnection, group_name: str, evidence_id: int) -> None:
    for index, (time, group, stream, message) in enumerate(CWL_EVENTS):
        if group != group_name:
            continue
        record = {"logGroupName": group, "logStreamName": stream, "timestamp": time, "message": message}
        cursor.execute(
            """
            INSERT INTO events BY NAME
            SELECT (? :: BIGINT << 32) | ? AS event_id, CAST(? AS TIMESTAMPTZ) AS ts,
                   CAST(? AS TIMESTAMPTZ) AS ingest_ts, 'cwl' AS source_type, 'aws' AS provider,
                   ? AS log_name, ? AS evidence_id, ? AS record_index, CAST(? AS JSON) AS raw,
                   hash(?) AS dedup_key
            """,
            [
                evidence_id,
                index,
                time,
                time,
                f"{group}/{stream}",
                evidence_id,
                index,
                json.dumps(record),
                json.dumps(record),
            ],
        )


@pytest.fixture(scope="session")
def insights_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    root = tmp_path_factory.mktemp("insights")
    evidence = root / "evidence"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(evidence), "--truth", str(root / "truth.json")],
        check=True,
        capture_output=True,
    )
    case = CaseFile.create(root / "insights.caseline")
    cursor = case.cursor()
    _import(case, [evidence, FORMATS / "gcp_audit", FORMATS / "azure_activity"])
    _add_cloudwatch_events(cursor, _LAMBDA, CWL_EVIDENCE_IDS[0])
    derived.update_deferred(case)
    _import(case, [FORMATS / "aws_cloudtrail", FORMATS / "k8s_audit"])
    _add_cloudwatch_events(cursor, _TRAIL, CWL_EVIDENCE_IDS[1])
    yield cursor
    case.close()


def _import(case: CaseFile, paths: list[Path]) -> None:
    report = import_paths(
        case, [p for path in paths for p in ([path] if path.is_file() else _evidence(path))]
    )
    assert all(f.reconciled for f in report.files) and sum(f.counts.kept for f in report.files)


def _evidence(folder: Path) -> list[Path]:
    """A folder's evidence files: a format sample's expected results are not evidence."""
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "expected.json"]


def known_keys(cursor: duckdb.DuckDBPyConnection) -> DocKeys:
    keys = raw_fields.stored_doc_keys(cursor)
    assert keys is not None, "the fixture builds the deferred structures"
    return keys
