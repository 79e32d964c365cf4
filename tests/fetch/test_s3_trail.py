"""Fetching a trail bucket over real HTTP from moto: everything arrives, resumes, never leaks secrets."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from support.sample_case import GENERATOR

from viewer.core.case_file import CaseFile
from viewer.core.fetch import s3_trail
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, store_access_key
from viewer.core.jobs import Cancelled, CancelToken, JobContext

BUCKET = "acme-trail"


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> dict:
    """The sample incident's S3 delivery tree uploaded to a moto bucket; returns its truth."""
    root = tmp_path_factory.mktemp("trail")
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(root / "ev"), "--truth", str(root / "truth.json")],
        check=True,
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    s3.create_bucket(Bucket=BUCKET)
    files = [p for p in (root / "ev").rglob("*") if p.is_file()]
    for p in files:
        key = "trails/" + p.relative_to(root / "ev").as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=p.read_bytes())
    truth = json.loads((root / "truth.json").read_text())
    truth["uploaded"] = len(files)
    return truth


def _request(truth: dict) -> s3_trail.S3TrailRequest:
    first = dt.datetime.fromisoformat(truth["time_range"]["first_event"]).date()
    last = dt.datetime.fromisoformat(truth["time_range"]["last_event"]).date()
    return s3_trail.S3TrailRequest(BUCKET, first, last, prefix="trails")


def test_fetch_imports_the_whole_trail_with_an_acquisition_record(
    tmp_path: Path, moto_url: str, trail: dict
) -> None:
    target = AwsTarget(region="us-east-1", endpoint_url=moto_url)
    assert s3_trail.estimate(target, _request(trail))[0] == trail["uploaded"]
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = s3_trail.fetch(case, target, _request(trail), tmp_path / "cache")
        acq = report.acquisition
        counts = trail["counts"]
        assert report.complete and acq.objects_listed == trail["uploaded"] == acq.downloaded
        assert acq.caller["account"] and acq.caller["arn"]
        summary = case.summary()
        assert summary.events == counts["records_on_disk"] - counts["identical_duplicate_records"]
        digests = (
            case.cursor().execute("SELECT count(*) FROM evidence WHERE role = 'digest'").fetchall()[0][0]
        )
        assert digests == counts["digest_files"]
        kinds = (
            case.cursor()
            .execute("SELECT DISTINCT kind, params->>'$.acquisition.params.bucket' FROM imports")
            .fetchall()
        )
        assert kinds == [("live:aws-s3", BUCKET)]


def test_a_cancelled_fetch_resumes_without_downloading_or_importing_twice(
    tmp_path: Path, moto_url: str, trail: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = AwsTarget(region="us-east-1", endpoint_url=moto_url)
    monkeypatch.setattr(s3_trail, "BATCH_FILES", 300)
    token = CancelToken()
    imported = []

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase.startswith("imported"):
            imported.append(p.phase)
            token.cancel()  # stop after the first batch is in

    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(Cancelled):
            s3_trail.fetch(
                case,
                target,
                _request(trail),
                tmp_path / "cache",
                JobContext(token=token, on_progress=on_progress),
            )
        partial = case.summary().events
        assert 0 < partial < trail["counts"]["records_on_disk"]
        report = s3_trail.fetch(case, target, _request(trail), tmp_path / "cache")
        assert report.acquisition.already_downloaded > 0
        assert report.acquisition.downloaded + report.acquisition.already_downloaded == trail["uploaded"]
        counts = trail["counts"]
        assert case.summary().events == counts["records_on_disk"] - counts["identical_duplicate_records"]


def test_keyring_credentials_work_and_the_secret_never_reaches_the_case(
    tmp_path: Path, moto_url: str, trail: dict
) -> None:
    secret = "kEyRiNgSeCrEt/abcdefghijklmnopqrstuvwxyz01"
    store_access_key("investigation", "AKIAI44QH8DHBEXAMPLE", secret)
    target = AwsTarget(region="us-east-1", endpoint_url=moto_url, keyring_name="investigation")
    req = s3_trail.S3TrailRequest(
        BUCKET, dt.date(2024, 3, 12), dt.date(2024, 3, 12), prefix="trails", accounts=("111111111111",)
    )
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = s3_trail.fetch(case, target, req, tmp_path / "cache")
        assert report.acquisition.target["keyring_name"] == "investigation"
        assert case.summary().events > 0
    raw = (tmp_path / "c.caseline").read_bytes()
    assert secret.encode() not in raw and b"AKIAI44QH8DHBEXAMPLE" not in raw


def test_missing_bucket_and_missing_key_are_clear_errors(tmp_path: Path, moto_url: str, trail: dict) -> None:
    target = AwsTarget(region="us-east-1", endpoint_url=moto_url)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="no bucket named 'nope'"):
            s3_trail.fetch(
                case,
                target,
                s3_trail.S3TrailRequest("nope", dt.date(2024, 3, 12), dt.date(2024, 3, 12)),
                tmp_path,
            )
        with pytest.raises(FetchError, match="no access key named 'ghost'"):
            s3_trail.fetch(
                case, AwsTarget(endpoint_url=moto_url, keyring_name="ghost"), _request(trail), tmp_path
            )
        assert case.summary().events == 0


def test_faults_mid_fetch_are_named_and_what_arrived_is_kept_then_resumed(
    tmp_path: Path, moto_url: str, trail: dict
) -> None:
    """A dropped connection, a truncated object and access denied on one prefix: each object is
    named with its reason, everything else imports, nothing half-downloaded is left looking whole,
    and the same fetch run again (the faults gone) completes the case."""
    from tests.fetch.s3_fault_proxy import S3FaultProxy

    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="trails/")["Contents"]]
    logs = sorted(k for k in keys if k.endswith(".json.gz") and "/CloudTrail/" in k)
    dropped, short, denied = logs[0], logs[1], logs[2]
    proxy = S3FaultProxy(moto_url)
    proxy.faults = {dropped: "drop", short: "short", denied: "deny"}
    target = AwsTarget(region="us-east-1", endpoint_url=proxy.url)
    cache = tmp_path / "cache"
    try:
        with CaseFile.create(tmp_path / "c.caseline") as case:
            report = s3_trail.fetch(case, target, _request(trail), cache)
            failed = dict(f.split(": ", 1) for f in report.acquisition.failed)
            assert not report.complete and set(failed) == {dropped, short, denied}
            assert failed[denied] == "AccessDenied"
            assert failed[short].startswith("truncated:")
            assert failed[dropped].startswith(("transfer interrupted", "truncated:", "checksum mismatch"))
            for key in failed:
                assert not (cache / BUCKET / key).exists()
                assert not list((cache / BUCKET / key).parent.glob("*.part"))
            partial = case.summary().events
            assert partial > 0
            again = s3_trail.fetch(
                case, AwsTarget(region="us-east-1", endpoint_url=moto_url), _request(trail), cache
            )
            assert again.complete and again.acquisition.downloaded == 3
            counts = trail["counts"]
            assert case.summary().events == counts["records_on_disk"] - counts["identical_duplicate_records"]
    finally:
        proxy.stop()


def test_wrong_credentials_are_refused_before_anything_is_fetched(
    tmp_path: Path, moto_iam: dict, trail: dict
) -> None:
    """Against a moto that checks keys: an unknown key stops at the identity check, clearly."""
    secret = "nOtTheRiGhTsEcReT/0123456789abcdefghijklmn"
    store_access_key("stale", "AKIAUNKNOWNKEY000000", secret)
    target = AwsTarget(region="us-east-1", endpoint_url=moto_iam["url"], keyring_name="stale")
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="the credentials do not work") as err:
            s3_trail.fetch(case, target, _request(trail), tmp_path / "cache")
        assert secret not in str(err.value)
        assert case.summary().events == 0
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.gz"))
