"""LookupEvents over real HTTP (a local AWS JSON 1.1 endpoint): complete, throttled, rate-limited,
resumable, clear about faults, and never leaking the secret key."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sample_case import GENERATOR

from tests.fetch.aws_json_server import AwsJsonServer, ServerData
from viewer.cli import main as cli_main
from viewer.core.case_file import CaseFile
from viewer.core.fetch import api_pages, lookup_events
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, store_access_key
from viewer.core.jobs import Cancelled, CancelToken, JobContext

ACCOUNT = "222222222222"
REGIONS = ("us-east-1", "eu-west-1")
START = dt.datetime(2024, 3, 11, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 16, tzinfo=dt.UTC)
FAST = 40.0  # requests/s for tests that are not about the quota


def _records(evidence: Path) -> dict[str, list[dict]]:
    """The sample incident's CloudTrail records of one account, by region; IAM (a global service)
    also appears in the other region's Event history, as at AWS."""
    by_region: dict[str, dict[str, dict]] = {r: {} for r in REGIONS}
    for p in sorted((evidence / "AWSLogs" / ACCOUNT / "CloudTrail").rglob("*.json.gz")):
        for rec in json.loads(gzip.decompress(p.read_bytes()))["Records"]:
            if rec["awsRegion"] in by_region:
                by_region[rec["awsRegion"]][rec["eventID"]] = rec
    iam = [r for r in by_region["us-east-1"].values() if r["eventSource"] == "iam.amazonaws.com"]
    for rec in iam:
        by_region["eu-west-1"][rec["eventID"]] = rec
    assert iam and all(len(v) > 100 for v in by_region.values())
    return {r: list(v.values()) for r, v in by_region.items()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsJsonServer]:
    root = tmp_path_factory.mktemp("incident")
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(root / "ev"), "--truth", str(root / "truth.json")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    srv = AwsJsonServer(ServerData(account=ACCOUNT, events=_records(root / "ev"), page_size=25)).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _clean(server: AwsJsonServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    server.data.page_size = 25
    monkeypatch.setattr(api_pages, "DEFAULT_BACKOFF", api_pages.Backoff(base=0.02, cap=0.1))


def _target(server: AwsJsonServer, **kw: str) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=server.url, **kw)


def _request(**kw) -> lookup_events.LookupRequest:  # type: ignore[no-untyped-def]
    return lookup_events.LookupRequest(**{"start": START, "end": END, "regions": REGIONS, "rate": FAST, **kw})


def _served_ids(server: AwsJsonServer, regions: tuple[str, ...] = REGIONS) -> set[str]:
    return {r["eventID"] for reg in regions for r in server.data.events[reg]}


def _case_uids(case: CaseFile) -> list[str]:
    return [r[0] for r in case.cursor().execute("SELECT event_uid FROM events").fetchall()]


def test_full_fetch_matches_what_the_server_holds(tmp_path: Path, server: AwsJsonServer) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = lookup_events.fetch(case, _target(server), _request(), tmp_path / "cache")
        acq = rep.acquisition
        assert rep.complete, acq.failed
        served = sum(len(server.data.events[r]) for r in REGIONS)
        assert acq.records_retrieved == served
        assert acq.caller["account"] == ACCOUNT
        assert acq.api_calls == len(server.api_calls("LookupEvents")) == acq.pages
        uids = _case_uids(case)
        assert len(uids) == len(set(uids))  # global events fetched in both regions are kept once
        assert set(uids) == _served_ids(server)
        kinds = (
            case.cursor()
            .execute("SELECT DISTINCT kind, params->>'$.acquisition.api' FROM imports")
            .fetchall()
        )
        assert kinds == [("live:aws-lookup", "cloudtrail:LookupEvents")]
    # The evidence on disk is what the API returned: every served record, byte for byte.
    on_disk = {}
    for p in rep.cache.rglob("*.json"):
        if p.name != "state.json":
            for ev in json.loads(p.read_text())["Events"]:
                on_disk[ev["EventId"]] = json.loads(ev["CloudTrailEvent"])
    assert on_disk == {r["eventID"]: r for reg in REGIONS for r in server.data.events[reg]}


def test_one_attribute_filter_is_sent_and_honoured(tmp_path: Path, server: AwsJsonServer) -> None:
    name = server.data.events["us-east-1"][0]["eventName"]
    req = _request(regions=("us-east-1",), attribute=lookup_events.parse_attribute(f"eventname={name}"))
    with CaseFile.create(tmp_path / "c.caseline") as case:
        assert lookup_events.fetch(case, _target(server), req, tmp_path / "cache").complete
        want = {r["eventID"] for r in server.data.events["us-east-1"] if r["eventName"] == name}
        assert set(_case_uids(case)) == want
    assert all(
        c.body["LookupAttributes"] == [{"AttributeKey": "EventName", "AttributeValue": name}]
        for c in server.api_calls()
    )
    with pytest.raises(Exception, match="Key=Value with Key one of"):
        lookup_events.parse_attribute("Colour=red")


def test_throttling_is_retried_and_counted(tmp_path: Path, server: AwsJsonServer) -> None:
    server.faults.throttle_every = 3
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = lookup_events.fetch(case, _target(server), _request(), tmp_path / "cache")
        calls = server.api_calls()
        assert rep.complete and rep.acquisition.throttled == len(calls) // 3 > 0
        assert set(_case_uids(case)) == _served_ids(server)
        logged = case.cursor().execute("SELECT max((params->>'$.acquisition.throttled')::INT) FROM imports")
        assert logged.fetchall()[0][0] > 0


def test_the_quota_of_two_requests_a_second_holds_at_the_server(
    tmp_path: Path, server: AwsJsonServer
) -> None:
    server.data.page_size = 10
    server.faults.throttle_every = 4  # retries go through the limiter too
    req = _request(regions=("eu-west-1",), rate=lookup_events.LOOKUP_RATE, end=START + dt.timedelta(days=2))
    with CaseFile.create(tmp_path / "c.caseline") as case:
        assert lookup_events.fetch(case, _target(server), req, tmp_path / "cache").complete
    arrivals = [c.at for c in server.api_calls()]
    assert len(arrivals) >= 8
    # No second holds three requests: any two calls apart by one are a second apart or more. The
    # server's clock reads arrival in a handler thread that a busy machine may start late, so
    # 10 ms of its own jitter are allowed.
    gaps = [b - a for a, b in zip(arrivals, arrivals[2:], strict=False)]
    assert min(gaps) >= 0.99, gaps
    assert (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) <= 2.0


def test_cancel_then_rerun_completes_without_duplicates_or_refetching(
    tmp_path: Path, server: AwsJsonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup_events, "BATCH_EVENTS", 60)
    token = CancelToken()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase.startswith("imported"):
            token.cancel()  # stop once the first batch is in

    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(Cancelled):
            lookup_events.fetch(
                case, _target(server), _request(), tmp_path / "cache", JobContext(token, on_progress)
            )
        partial = len(_case_uids(case))
        assert 0 < partial < len(_served_ids(server))
        state = json.loads(next((tmp_path / "cache").glob("lookup-events-*/state.json")).read_text())
        done = {k for k, w in state["windows"].items() if w["done"]}
        assert done
        first_run = len(server.api_calls())
        rep = lookup_events.fetch(case, _target(server), _request(), tmp_path / "cache")
        assert rep.complete
        assert rep.acquisition.params["windows_skipped"] == len(done)
        again = [
            f"{c.region}|{dt.datetime.fromtimestamp(c.body['StartTime'], dt.UTC).isoformat()}"
            for c in server.api_calls()[first_run:]
        ]
        assert not done & set(again)  # finished windows were not asked again
        uids = _case_uids(case)
        assert len(uids) == len(set(uids)) and set(uids) == _served_ids(server)


def test_a_dropped_connection_stops_clearly_keeps_what_came_and_resumes(
    tmp_path: Path, server: AwsJsonServer
) -> None:
    server.faults.drop_from = 6  # the network goes away after five answers
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = lookup_events.fetch(case, _target(server), _request(), tmp_path / "cache")
        assert not rep.complete
        assert any("connection failed" in f and "run again to resume" in f for f in rep.acquisition.failed)
        kept = len(_case_uids(case))
        assert kept == rep.acquisition.records_imported > 0  # every page that came is in the case
        server.faults.drop_from = None
        again = lookup_events.fetch(case, _target(server), _request(), tmp_path / "cache")
        assert again.complete
        assert set(_case_uids(case)) == _served_ids(server)


def test_access_denied_in_one_region_keeps_the_other(tmp_path: Path, server: AwsJsonServer) -> None:
    server.faults.deny_regions = {"eu-west-1"}
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = lookup_events.fetch(case, _target(server), _request(), tmp_path / "cache")
        assert [f.split(":")[0] for f in rep.acquisition.failed] == ["LookupEvents in eu-west-1"]
        assert "access denied (AccessDeniedException)" in rep.acquisition.failed[0]
        assert set(_case_uids(case)) == _served_ids(server, ("us-east-1",))


def test_secrets_never_reach_the_case_the_cache_logs_or_errors(
    tmp_path: Path, server: AwsJsonServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    secret = "LoOkUpSeCrEt/0123456789abcdefghijklmnopqrstu"
    key_id = "AKIAKEYRINGLOOKUP001"
    store_access_key("lookup-test", key_id, secret)
    server.faults.throttle_every = 5
    server.faults.deny_regions = {"eu-west-1"}
    caplog.set_level(logging.DEBUG)  # botocore's debug log prints headers: the signature, never the key
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = lookup_events.fetch(
            case, _target(server, keyring_name="lookup-test"), _request(), tmp_path / "cache"
        )
        assert {c.access_key for c in server.api_calls()} == {key_id}  # the keyring key was used
        assert rep.acquisition.failed and len(_case_uids(case)) > 0
        cur = case.cursor()
        text_columns = cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema = 'main'"
        ).fetchall()
        for table, column in text_columns:
            hits = cur.execute(
                f'SELECT count(*) FROM "{table}" WHERE contains(CAST("{column}" AS VARCHAR), ?) '
                f'OR contains(CAST("{column}" AS VARCHAR), ?)',
                [secret, key_id],
            ).fetchall()[0][0]
            assert hits == 0, (table, column)
    everything = "\n".join(
        [caplog.text, *capsys.readouterr(), json.dumps(rep.acquisition.as_dict())]
        + [p.read_text() for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    )
    assert secret not in everything
    assert key_id not in everything.replace(caplog.text, "")  # botocore's debug log names the key id


def test_cli_estimate_fetch_summary_and_exit_codes(
    tmp_path: Path, server: AwsJsonServer, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup_events, "LOOKUP_RATE", FAST)
    case = str(tmp_path / "c.caseline")
    common = ["--start", "2024-03-11", "--end", "2024-03-15", "--region", "us-east-1"]
    common += ["--endpoint-url", server.url, "--lookup-region", "us-east-1", "--lookup-region", "eu-west-1"]
    assert cli_main(["fetch", case, "aws-lookup", *common, "--estimate"]) == 0
    out = capsys.readouterr().out
    assert "10 windows (0 already done), at least 10 LookupEvents calls" in out
    assert "10 windows are older than the 90 days LookupEvents keeps" in out  # 2024, seen from now
    assert not server.api_calls()
    server.faults.deny_regions = {"eu-west-1"}
    assert cli_main(["fetch", case, "aws-lookup", *common]) == 1
    captured = capsys.readouterr()
    assert f"as arn:aws:iam::{ACCOUNT}:user/analyst" in captured.out
    assert "not fetched: LookupEvents in eu-west-1: access denied" in captured.err
    server.faults.deny_regions = set()
    assert cli_main(["fetch", case, "aws-lookup", *common]) == 0
    assert "5 windows already done" in capsys.readouterr().out
    with CaseFile.open(case) as c:
        assert set(_case_uids(c)) == _served_ids(server)


def test_a_region_that_does_not_exist_is_refused_before_any_call(
    tmp_path: Path, server: AwsJsonServer
) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="no cloudtrail region named 'us-eest-1'"):
            lookup_events.fetch(
                case, AwsTarget(region="us-east-1"), _request(regions=("us-eest-1",)), tmp_path
            )
        with pytest.raises(FetchError, match="no cloudtrail region named 'eu-wets-1'"):
            lookup_events.estimate(AwsTarget(region="eu-wets-1"), _request())
        assert case.summary().events == 0
