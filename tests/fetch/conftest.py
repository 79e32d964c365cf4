"""A moto server on 127.0.0.1 (a real HTTP endpoint in its own process) for live-fetch tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server process on a free loopback port, answering; returns it and its url."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    proc, url = start_moto()
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Fake credentials for the emulator, and no user AWS config or keyring leaking in."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws_config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws_credentials"))
    import keyring
    from support.memory_keyring import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    os.environ.pop("HTTPS_PROXY", None)


@pytest.fixture(scope="session")
def moto_iam() -> Iterator[dict[str, str]]:
    """A second moto server that enforces IAM after its first three (setup) calls: an analyst
    user allowed only sts:GetCallerIdentity and logs:DescribeLogGroups, for access-denied tests.
    Returns the url and the analyst's key (moto's own, not a secret anywhere)."""
    import json

    import boto3

    proc, url = start_moto({**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="setup",
    )  # fmt: skip
    iam.create_user(UserName="analyst")
    key = iam.create_access_key(UserName="analyst")["AccessKey"]
    allowed = ["sts:GetCallerIdentity", "logs:DescribeLogGroups"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}
    iam.put_user_policy(UserName="analyst", PolicyName="read-little", PolicyDocument=json.dumps(policy))
    yield {"url": url, "key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    proc.terminate()
    proc.wait(10)
