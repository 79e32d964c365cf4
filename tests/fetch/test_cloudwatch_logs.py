"""CloudWatch Logs fetched over real HTTP from moto: every event arrives once, resumes, splits full
Insights windows, recognises CloudTrail carried in a log group, and never leaks a secret."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import boto3
import pytest

from tests.fetch.throttle_proxy import ThrottleProxy
from viewer.cli import main as cli_main
from viewer.core.case_file import CaseFile
from viewer.core.fetch import api_pages, cloudwatch_logs
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, store_access_key
from viewer.core.fetch.cloudwatch_logs import LogsRequest
from viewer.core.jobs import Cancelled, CancelToken, JobContext

APP = "/caseline/app"
TRAIL = "/caseline/cloudtrail"
STREAMS = ("web-1", "web-2")
PER_STREAM = 150  # one event every 10 s per stream
TRAIL_EVENTS = 60
EKS = "/aws/eks/prod/cluster"
EKS_EVENTS = 30


def _client(moto_url: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "logs",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )


def _trail_record(i: int, t: dt.datetime) -> dict:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/ci",
            "accountId": "123456789012",
        },
        "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject" if i % 2 else "PutObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": f"203.0.113.{i % 50}",
        "userAgent": "aws-cli/2",
        "requestParameters": {"bucketName": "acme", "key": f"k{i}"},
        "responseElements": None,
        "requestID": f"REQ{i:05d}",
        "eventID": str(uuid.UUID(int=i + 1)),
        "readOnly": bool(i % 2),
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": "123456789012",
    }


def _eks_audit(i: int, t: dt.datetime) -> dict:
    """An EKS control-plane audit event as its log group holds it (one JSON message)."""
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": str(uuid.UUID(int=5000 + i)),
        "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/default/secrets/s{i}",
        "verb": "get",
        "user": {"username": "kubernetes-admin", "groups": ["system:masters"]},
        "sourceIPs": ["192.0.2.10"],
        "userAgent": "kubectl/v1.29",
        "objectRef": {"resource": "secrets", "namespace": "default", "name": f"s{i}", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
    }
    return {"_t": t, "message": json.dumps(event)}


@pytest.fixture(scope="module")
def logs(moto_url: str) -> dict:
    """Two log groups in moto (moto keeps only the last 14 days): an application group with two
    streams, and a trail's group carrying CloudTrail records. Returns what was put in."""
    c = _client(moto_url)
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    truth: dict = {"base": base, "app": {}, "trail": []}
    c.create_log_group(logGroupName=APP)
    for s, stream in enumerate(STREAMS):
        c.create_log_stream(logGroupName=APP, logStreamName=stream)
        events = []
        for i in range(PER_STREAM):
            t = base + dt.timedelta(seconds=10 * i + s)
            level = "ERROR" if i % 7 == 0 else "INFO"
            events.append(
                {"timestamp": int(t.timestamp() * 1000), "message": f"{level} {stream} request {i}"}
            )
        c.put_log_events(logGroupName=APP, logStreamName=stream, logEvents=events)
        truth["app"][stream] = [e["message"] for e in events]
    c.create_log_group(logGroupName=TRAIL)
    stream = "123456789012_CloudTrail_us-east-1"
    c.create_log_stream(logGroupName=TRAIL, logStreamName=stream)
    records = [_trail_record(i, base + dt.timedelta(seconds=30 * i)) for i in range(TRAIL_EVENTS)]
    c.put_log_events(
        logGroupName=TRAIL,
        logStreamName=stream,
        logEvents=[
            {
                "timestamp": int(dt.datetime.fromisoformat(r["eventTime"]).timestamp() * 1000),
                "message": json.dumps(r),
            }
            for r in records
        ],
    )
    truth["trail"] = records
    c.create_log_group(logGroupName=EKS)
    c.create_log_stream(logGroupName=EKS, logStreamName="kube-apiserver-audit-0123")
    audits = [_eks_audit(i, base + dt.timedelta(seconds=45 * i)) for i in range(EKS_EVENTS)]
    c.put_log_events(
        logGroupName=EKS,
        logStreamName="kube-apiserver-audit-0123",
        logEvents=[{"timestamp": int(a["_t"].timestamp() * 1000), "message": a["message"]} for a in audits],
    )
    truth["eks"] = [json.loads(a["message"]) for a in audits]
    truth["end"] = base + dt.timedelta(hours=1)
    return truth


def _target(moto_url: str) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=moto_url)


def _messages(case: CaseFile) -> list[str]:
    rows = case.cursor().execute("SELECT raw->>'$.message' FROM events ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def _all_app(logs: dict) -> list[str]:
    return sorted(m for stream in STREAMS for m in logs["app"][stream])


def test_list_log_groups_by_prefix(moto_url: str, logs: dict) -> None:
    names = [g["logGroupName"] for g in cloudwatch_logs.list_log_groups(_target(moto_url), "/caseline/")]
    assert sorted(names) == sorted([APP, TRAIL])
    assert [g["logGroupName"] for g in cloudwatch_logs.list_log_groups(_target(moto_url), "/aws/eks/")] == [
        EKS
    ]
    assert cloudwatch_logs.list_log_groups(_target(moto_url), "/nothing-here") == []


def test_filter_pages_import_every_event_once(tmp_path: Path, moto_url: str, logs: dict) -> None:
    req = LogsRequest(APP, logs["base"], logs["end"], page_size=40)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        acq = rep.acquisition
        assert rep.complete and acq.records_retrieved == acq.records_imported == 2 * PER_STREAM
        assert acq.pages >= (2 * PER_STREAM) // 40  # paged by NextToken until it was absent
        assert _messages(case) == _all_app(logs)
        kinds = (
            case.cursor()
            .execute("SELECT DISTINCT kind, params->>'$.acquisition.params.log_group' FROM imports")
            .fetchall()
        )
        assert kinds == [("live:aws-logs", APP)]
        names = case.cursor().execute("SELECT DISTINCT log_name FROM events ORDER BY 1").fetchall()
        assert names == [(f"{APP}:{s}",) for s in STREAMS]


def test_pattern_and_streams_narrow_the_fetch(tmp_path: Path, moto_url: str, logs: dict) -> None:
    req = LogsRequest(APP, logs["base"], logs["end"], pattern="ERROR", streams=("web-2",))
    with CaseFile.create(tmp_path / "c.caseline") as case:
        cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        assert _messages(case) == sorted(m for m in logs["app"]["web-2"] if m.startswith("ERROR"))


def test_cloudtrail_in_a_log_group_imports_as_cloudtrail(tmp_path: Path, moto_url: str, logs: dict) -> None:
    req = LogsRequest(TRAIL, logs["base"], logs["end"])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        rows = (
            case.cursor()
            .execute("SELECT source_type, event_uid, raw FROM events ORDER BY event_uid")
            .fetchall()
        )
        assert {r[0] for r in rows} == {"cloudtrail"}
        assert [r[1] for r in rows] == sorted(r["eventID"] for r in logs["trail"])
        by_id = {r["eventID"]: r for r in logs["trail"]}
        assert all(json.loads(raw) == by_id[uid] for _, uid, raw in rows)  # the record as written


def test_eks_audit_in_a_log_group_imports_as_kubernetes_audit(
    tmp_path: Path, moto_url: str, logs: dict
) -> None:
    req = LogsRequest(EKS, logs["base"], logs["end"])
    with CaseFile.create(tmp_path / "c.caseline") as case:
        cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        rows = (
            case.cursor()
            .execute("SELECT source_type, event_uid, raw FROM events ORDER BY event_uid")
            .fetchall()
        )
        assert {r[0] for r in rows} == {"k8s_audit"}
        assert [r[1] for r in rows] == sorted(f"{a['auditID']}/ResponseComplete" for a in logs["eks"])
        by_id = {a["auditID"]: a for a in logs["eks"]}
        assert all(json.loads(raw) == by_id[uid.split("/")[0]] for _, uid, raw in rows)


def test_insights_splits_full_windows_until_each_is_under_the_limit(
    tmp_path: Path, moto_url: str, logs: dict
) -> None:
    req = LogsRequest(APP, logs["base"], logs["end"], insights="sort @timestamp asc", result_limit=64)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        assert rep.complete
        assert _messages(case) == _all_app(logs)  # each event once, though halves share a second
        state = json.loads((rep.cache / "state.json").read_text())
        assert state["splits"] >= (2 * PER_STREAM) // 64 and not state["pending"]
        assert all(rows < 64 for _, _, rows in state["windows_done"])
        # The windows cover the request without a gap.
        spans = sorted((s, e) for s, e, _ in state["windows_done"])
        assert spans[0][0] == int(logs["base"].timestamp()) and spans[-1][1] == int(logs["end"].timestamp())
        assert all(b[0] <= a[1] for a, b in zip(spans, spans[1:], strict=False))
        origin = case.cursor().execute("SELECT DISTINCT kind FROM imports").fetchall()
        assert origin == [("live:aws-logs",)]


def test_a_full_window_that_cannot_be_split_is_reported(tmp_path: Path, moto_url: str, logs: dict) -> None:
    second = logs["base"] + dt.timedelta(seconds=20)  # web-1 has one event at +20 s, web-2 at +21 s
    req = LogsRequest(
        APP, second, second + dt.timedelta(seconds=1), insights="sort @timestamp asc", result_limit=2
    )
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        assert not rep.complete and "use FilterLogEvents" in rep.acquisition.failed[0]


def test_a_cancelled_fetch_resumes_without_duplicates(
    tmp_path: Path, moto_url: str, logs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloudwatch_logs, "IMPORT_BATCH_FILES", 2)
    req = LogsRequest(APP, logs["base"], logs["end"], page_size=25)
    token = CancelToken()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase.startswith("imported"):
            token.cancel()  # stop after the first batch is in

    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(Cancelled):
            cloudwatch_logs.fetch(
                case,
                _target(moto_url),
                req,
                tmp_path / "cache",
                JobContext(token=token, on_progress=on_progress),
            )
        partial = case.summary().events
        assert 0 < partial < 2 * PER_STREAM
        rep = cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        # Pages fetched before the cancel but not yet imported are imported, not fetched again.
        assert rep.complete and rep.acquisition.records_retrieved <= 2 * PER_STREAM - partial
        pages = [json.loads(p.read_text())["events"] for p in rep.cache.glob("page-*.json")]
        assert sum(len(p) for p in pages) == 2 * PER_STREAM  # no page fetched twice
        assert _messages(case) == _all_app(logs)


def test_a_cancelled_insights_fetch_runs_only_the_windows_still_pending(
    tmp_path: Path, moto_url: str, logs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloudwatch_logs, "IMPORT_BATCH_FILES", 1)
    req = LogsRequest(APP, logs["base"], logs["end"], insights="sort @timestamp asc", result_limit=100)
    token = CancelToken()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase.startswith("imported"):
            token.cancel()

    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(Cancelled):
            cloudwatch_logs.fetch(
                case,
                _target(moto_url),
                req,
                tmp_path / "cache",
                JobContext(token=token, on_progress=on_progress),
            )
        assert 0 < case.summary().events < 2 * PER_STREAM
        rep = cloudwatch_logs.fetch(case, _target(moto_url), req, tmp_path / "cache")
        state = json.loads((rep.cache / "state.json").read_text())
        done = [(s, e) for s, e, _ in state["windows_done"]]
        assert rep.complete and len(done) == len(set(done))  # no window queried to the end twice
        assert _messages(case) == _all_app(logs)


def test_missing_group_and_bad_region_are_clear_errors(tmp_path: Path, moto_url: str, logs: dict) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="no log group named '/nope' in us-east-1"):
            cloudwatch_logs.fetch(
                case, _target(moto_url), LogsRequest("/nope", logs["base"], logs["end"]), tmp_path / "cache"
            )
        with pytest.raises(FetchError, match="no log group named '/nope'"):
            cloudwatch_logs.fetch(
                case,
                _target(moto_url),
                LogsRequest("/nope", logs["base"], logs["end"], insights="sort @timestamp"),
                tmp_path / "cache",
            )
        with pytest.raises(FetchError, match="no AWS region named 'mars-east-1'"):
            cloudwatch_logs.fetch(
                case,
                AwsTarget(region="mars-east-1", endpoint_url=moto_url),
                LogsRequest(APP, logs["base"], logs["end"]),
                tmp_path / "cache",
            )
        assert case.summary().events == 0


def test_keyring_secret_never_reaches_the_case_or_an_error(tmp_path: Path, moto_url: str, logs: dict) -> None:
    secret = "LoGsKeYrInGsEcReT/abcdefghijklmnopqrstuvwxy"
    store_access_key("logs-investigation", "AKIAI44QH8DHBEXAMPLE", secret)
    target = AwsTarget(region="us-east-1", endpoint_url=moto_url, keyring_name="logs-investigation")
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = cloudwatch_logs.fetch(
            case, target, LogsRequest(TRAIL, logs["base"], logs["end"]), tmp_path / "cache"
        )
        assert rep.acquisition.target["keyring_name"] == "logs-investigation"
        with pytest.raises(FetchError) as err:
            cloudwatch_logs.fetch(
                case, target, LogsRequest("/nope", logs["base"], logs["end"]), tmp_path / "cache"
            )
        assert secret not in str(err.value)
    assert secret.encode() not in (tmp_path / "c.caseline").read_bytes()
    assert not any(secret.encode() in p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_cli_lists_groups_fetches_and_exits_by_completeness(
    tmp_path: Path, moto_url: str, logs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    case = str(tmp_path / "c.caseline")
    common = ["--region", "us-east-1", "--endpoint-url", moto_url]
    assert (
        cli_main(["fetch", case, "aws-logs", "--list-groups", "--group-prefix", "/caseline/", *common]) == 0
    )
    assert APP in capsys.readouterr().out
    start, end = logs["base"].isoformat(), logs["end"].isoformat()
    code = cli_main(["fetch", case, "aws-logs", "--group", TRAIL, "--start", start, "--end", end, *common])
    out = capsys.readouterr().out
    assert code == 0 and f"{TRAIL_EVENTS:,} imported" in out
    code = cli_main(
        ["fetch", case, "aws-logs", "--group", APP, "--start", start, "--end", start, "--insights",
         "sort @timestamp", "--result-limit", "1", *common]
    )  # fmt: skip
    assert code == 1  # a one-second window still full: incomplete, said so
    assert "not fetched" in capsys.readouterr().err
    code = cli_main(["fetch", case, "aws-logs", "--group", "/nope", "--start", start, "--end", end, *common])
    assert code == 2 and "no log group named '/nope'" in capsys.readouterr().err


def test_throttling_is_backed_off_and_counted(
    tmp_path: Path, moto_url: str, logs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_pages, "DEFAULT_BACKOFF", api_pages.Backoff(base=0.01, cap=0.05))
    proxy = ThrottleProxy(moto_url)
    try:
        proxy.throttle("Logs_20140328.FilterLogEvents", 3)
        target = AwsTarget(region="us-east-1", endpoint_url=proxy.url)
        with CaseFile.create(tmp_path / "c.caseline") as case:
            rep = cloudwatch_logs.fetch(
                case, target, LogsRequest(APP, logs["base"], logs["end"], page_size=100), tmp_path / "cache"
            )
            assert rep.acquisition.throttled == 3 == len(proxy.throttled)
            assert _messages(case) == _all_app(logs)
    finally:
        proxy.stop()


def test_too_many_concurrent_insights_queries_are_waited_out(
    tmp_path: Path, moto_url: str, logs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_pages, "DEFAULT_BACKOFF", api_pages.Backoff(base=0.01, cap=0.05))
    proxy = ThrottleProxy(moto_url)
    try:
        proxy.throttle("Logs_20140328.StartQuery", 2, "LimitExceededException")
        proxy.throttle("Logs_20140328.GetQueryResults", 1)
        target = AwsTarget(region="us-east-1", endpoint_url=proxy.url)
        req = LogsRequest(APP, logs["base"], logs["end"], insights="sort @timestamp")
        with CaseFile.create(tmp_path / "c.caseline") as case:
            rep = cloudwatch_logs.fetch(case, target, req, tmp_path / "cache")
            assert rep.complete and rep.acquisition.throttled == 3 == len(proxy.throttled)
            assert _messages(case) == _all_app(logs)
    finally:
        proxy.stop()


def test_access_denied_is_a_clear_error_that_names_no_secret(tmp_path: Path, moto_iam: dict) -> None:
    """Against a moto enforcing IAM: the analyst may list log groups but not read events."""
    store_access_key("analyst", moto_iam["key_id"], moto_iam["secret"])
    target = AwsTarget(region="us-east-1", endpoint_url=moto_iam["url"], keyring_name="analyst")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert cloudwatch_logs.list_log_groups(target) == []  # allowed
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="FilterLogEvents on /g: access denied") as err:
            cloudwatch_logs.fetch(case, target, LogsRequest("/g", start, start), tmp_path / "cache")
        assert moto_iam["secret"] not in str(err.value)
        assert case.summary().events == 0
