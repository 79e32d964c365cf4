"""The live-fetch fixtures (moto server on 127.0.0.1, fake credentials, in-memory keyring) for the
fetch panel tests, and a small trail uploaded to a moto bucket."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from fetch.conftest import _aws_env, moto_url  # noqa: F401  (fixtures shared with tests/fetch)
from support.sample_case import GENERATOR

BUCKET = "gui-trail"
ACCOUNT = "222222222222"  # one account of the sample incident: ~200 small files, enough batches


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> dict:  # noqa: F811
    """One account's CloudTrail logs of the sample incident in a moto bucket, below `trails/`.

    Returns the number of objects and of distinct records, counted here from the files (the
    importer drops byte-identical records, so distinct canonical JSON is what the case must hold).
    """
    root = tmp_path_factory.mktemp("gui_trail")
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(root / "ev"), "--truth", str(root / "truth.json")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    s3.create_bucket(Bucket=BUCKET)
    files = sorted((root / "ev" / "AWSLogs" / ACCOUNT / "CloudTrail").rglob("*.json.gz"))
    records: set[str] = set()
    days: set[str] = set()
    for p in files:
        rel = p.relative_to(root / "ev").as_posix()
        s3.put_object(Bucket=BUCKET, Key=f"trails/{rel}", Body=p.read_bytes())
        for rec in json.loads(gzip.decompress(p.read_bytes()))["Records"]:
            records.add(json.dumps(rec, sort_keys=True))
        days.add("-".join(rel.split("/")[-4:-1]))
    return {"objects": len(files), "records": len(records), "first_day": min(days), "last_day": max(days)}


@pytest.fixture
def aws_config(tmp_path: Path) -> Path:
    """The AWS config file the panel reads profiles from (AWS_CONFIG_FILE, set by _aws_env)."""
    return tmp_path / "aws_config"
