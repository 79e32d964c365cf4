"""GuardDuty findings over real HTTP (a local REST-JSON endpoint): criteria, batches of 50, wire
fidelity, throttling, resume after a dropped connection, access denied, CLI."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fetch.aws_json_server import AwsJsonServer, ServerData
from viewer.cli import main as cli_main
from viewer.core.case_file import CaseFile
from viewer.core.fetch import api_pages, guardduty
from viewer.core.fetch.aws_auth import AwsTarget, FetchError

ACCOUNT = "222222222222"
REGION = "us-east-1"
START = dt.datetime(2024, 3, 11, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 16, tzinfo=dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _finding(rng: random.Random, detector: str, n: int) -> dict:
    """A finding in the API's wire shape (camelCase), with a member botocore does not know."""
    created = dt.datetime(2024, 3, 8, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(0, 12_000))
    updated = created + dt.timedelta(minutes=rng.randrange(0, 2_000))
    fid = f"{detector[-4:]}{n:028x}"
    return {
        "accountId": ACCOUNT,
        "arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}/finding/{fid}",
        "createdAt": _iso(created),
        "description": "API DescribeInstances was invoked from a known malicious IP address.",
        "id": fid,
        "partition": "aws",
        "region": REGION,
        "resource": {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": f"AKIAFINDING{n:09d}",
                "principalId": f"AIDAFINDING{n:09d}",
                "userName": f"user{n % 7}",
                "userType": "IAMUser",
            },
        },
        "schemaVersion": "2.0",
        "service": {
            "action": {
                "actionType": "AWS_API_CALL",
                "awsApiCallAction": {
                    "api": "DescribeInstances",
                    "callerType": "Remote IP",
                    "remoteIpDetails": {"ipAddressV4": f"198.51.100.{n % 250}"},
                    "serviceName": "ec2.amazonaws.com",
                },
            },
            "archived": n % 11 == 0,
            "count": 1 + n % 5,
            "detectorId": detector,
            "eventFirstSeen": _iso(created - dt.timedelta(minutes=5)),
            "eventLastSeen": _iso(updated),
            "resourceRole": "TARGET",
            "serviceName": "guardduty",
        },
        "severity": round(rng.uniform(1.0, 8.9), 1),
        "title": "API invoked from a malicious IP.",
        "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        "updatedAt": _iso(updated),
        "caselineFutureMember": {"kept": True},  # newer than the botocore model: must survive
    }


@pytest.fixture(scope="module")
def server() -> Iterator[AwsJsonServer]:
    rng = random.Random(7)
    dets = {"6ab1c0ffee0000000000000000000001": 140, "6ab1c0ffee0000000000000000000002": 35}
    findings = {d: [_finding(rng, d, i) for i in range(n)] for d, n in dets.items()}
    srv = AwsJsonServer(ServerData(account=ACCOUNT, findings={REGION: findings}, page_size=50)).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _clean(server: AwsJsonServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    monkeypatch.setattr(api_pages, "DEFAULT_BACKOFF", api_pages.Backoff(base=0.02, cap=0.1))


def _target(server: AwsJsonServer) -> AwsTarget:
    return AwsTarget(region=REGION, endpoint_url=server.url)


def _request(**kw) -> guardduty.FindingsRequest:  # type: ignore[no-untyped-def]
    return guardduty.FindingsRequest(**{"start": START, "end": END, "min_severity": 4, "rate": 50.0, **kw})


def _expected(server: AwsJsonServer, req: guardduty.FindingsRequest) -> dict[str, dict]:
    """The findings the criteria select, judged here from the data, not by the server."""
    lo, hi = _iso(req.start), _iso(req.end)
    return {
        f["id"]: f
        for det in server.data.findings[REGION].values()
        for f in det
        if lo <= f[req.time_field] < hi
        and f["severity"] >= (req.min_severity or 0)
        and (req.include_archived or not f["service"]["archived"])
    }


def _case_uids(case: CaseFile) -> list[str]:
    return [r[0] for r in case.cursor().execute("SELECT event_uid FROM events").fetchall()]


def test_fetch_gets_exactly_the_selected_findings_as_the_wire_sent_them(
    tmp_path: Path, server: AwsJsonServer
) -> None:
    req = _request()
    want = _expected(server, req)
    assert 40 < len(want) < 175  # the criteria select a real subset
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = guardduty.fetch(case, _target(server), req, tmp_path / "cache")
        acq = rep.acquisition
        assert rep.complete, acq.failed
        assert acq.records_expected == acq.records_retrieved == acq.records_imported == len(want)
        assert len(acq.params["detectors"]) == 2 and acq.caller["account"] == ACCOUNT
        uids = _case_uids(case)
        assert len(uids) == len(set(uids)) and set(uids) == set(want)
        rows = case.cursor().execute("SELECT event_uid, raw, ts FROM events").fetchall()
        for uid, raw, ts in rows:
            assert json.loads(raw) == want[uid]  # nothing renamed, nothing dropped
            assert ts == dt.datetime.fromisoformat(
                want[uid]["service"]["eventFirstSeen"].replace("Z", "+00:00")
            )
    gets = server.api_calls("GetFindings")
    assert all(len(c.body["findingIds"]) <= 50 for c in gets)
    assert len(gets) == sum(
        -(-len([f for f in want.values() if f["service"]["detectorId"] == d]) // 50)
        for d in acq.params["detectors"]
    )
    sent = server.api_calls("ListFindings")[0].body["findingCriteria"]["criterion"]
    assert sent["severity"] == {"greaterThanOrEqual": 4}
    assert sent["updatedAt"] == {
        "greaterThanOrEqual": int(START.timestamp() * 1000),
        "lessThan": int(END.timestamp() * 1000),
    }


def test_throttling_is_retried_and_counted(tmp_path: Path, server: AwsJsonServer) -> None:
    server.faults.throttle_every = 3
    req = _request(time_field="createdAt", min_severity=None, include_archived=True)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = guardduty.fetch(case, _target(server), req, tmp_path / "cache")
        assert rep.complete and rep.acquisition.throttled == len(server.api_calls()) // 3 > 0
        assert set(_case_uids(case)) == set(_expected(server, req))


def test_a_dropped_connection_keeps_what_came_and_a_rerun_fetches_only_the_rest(
    tmp_path: Path, server: AwsJsonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guardduty, "BATCH_FINDINGS", 40)
    req = _request(min_severity=2)
    want = _expected(server, req)
    d1, d2 = sorted(server.data.findings[REGION])
    per = {d: sum(f["service"]["detectorId"] == d for f in want.values()) for d in (d1, d2)}
    assert per[d1] > 50
    # ListDetectors, d1's ListFindings pages, one GetFindings answer; then the network is gone.
    server.faults.drop_from = 1 + -(-per[d1] // 50) + 1 + 1
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = guardduty.fetch(case, _target(server), req, tmp_path / "cache")
        assert not rep.complete
        assert "the connection failed" in rep.acquisition.failed[0]
        assert "run again to resume" in rep.acquisition.failed[0]
        first = len(_case_uids(case))
        assert first == rep.acquisition.records_imported == 50
        server.reset()
        again = guardduty.fetch(case, _target(server), req, tmp_path / "cache")
        assert again.complete and again.acquisition.already_downloaded == 50
        # The first detector's ids were listed already: only the second is listed now.
        assert {c.body.get("findingCriteria") is not None for c in server.api_calls("ListFindings")} == {True}
        assert len(server.api_calls("ListFindings")) == max(1, -(-per[d2] // 50))
        fetched_again = {i for c in server.api_calls("GetFindings") for i in c.body["findingIds"]}
        assert len(fetched_again) == len(want) - 50
        uids = _case_uids(case)
        assert len(uids) == len(set(uids)) and set(uids) == set(want)


def test_access_denied_is_a_clear_message_and_the_case_is_unchanged(
    tmp_path: Path, server: AwsJsonServer
) -> None:
    server.faults.deny_regions = {REGION}
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = guardduty.fetch(case, _target(server), _request(), tmp_path / "cache")
        assert rep.acquisition.failed == [
            "GuardDuty ListDetectors: access denied (AccessDeniedException); the identity lacks the "
            "permission or an SCP blocks it"
        ]
        assert case.summary().events == 0
    server.reset()
    with CaseFile.create(tmp_path / "d.caseline") as case:
        bad = guardduty.fetch(case, _target(server), _request(detector_id="nope"), tmp_path / "cache")
        assert bad.acquisition.failed[0].startswith("GuardDuty detector nope: BadRequestException: ")
        with pytest.raises(FetchError, match="no guardduty region named 'us-eats-1'"):
            guardduty.fetch(case, AwsTarget(region="us-eats-1"), _request(), tmp_path / "cache")
        assert case.summary().events == 0


def test_cli_estimate_and_fetch(tmp_path: Path, server: AwsJsonServer, capsys: pytest.CaptureFixture) -> None:
    case = str(tmp_path / "c.caseline")
    args = ["fetch", case, "aws-guardduty", "--start", "2024-03-11", "--end", "2024-03-15"]
    args += ["--min-severity", "4", "--region", REGION, "--endpoint-url", server.url]
    want = _expected(server, _request())
    calls = sum(
        -(-sum(f["service"]["detectorId"] == d for f in want.values()) // 50)
        for d in server.data.findings[REGION]
    )
    assert cli_main([*args, "--estimate"]) == 0
    assert (
        f"{len(want):,} findings in 2 detectors (0 already here): {calls} GetFindings calls"
        in capsys.readouterr().out
    )
    assert not server.api_calls("GetFindings")
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert f"{len(want):,} findings listed, {len(want):,} retrieved" in out
    assert cli_main([*args, "--estimate"]) == 0  # after the fetch: nothing left to get
    assert f"({len(want):,} already here): 0 GetFindings calls" in capsys.readouterr().out
    server.faults.deny_regions = {REGION}
    assert cli_main([*args, "--detector-id", "x"]) == 1
    assert "not fetched: GuardDuty detector x: access denied" in capsys.readouterr().err
