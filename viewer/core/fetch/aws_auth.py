"""AWS credentials for live fetch: profiles, or a key kept in the OS keyring, optional assume-role.

Secrets never reach the case, a log or an error message: an access key entered in the app goes
to the OS keyring (service `caseline`, username `aws:<name>`), errors pass through `scrub`, and
the acquisition record keeps only the profile or keyring name and the caller identity.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import keyring
import keyring.errors

KEYRING_SERVICE = "caseline"
_SECRETISH = re.compile(r"(?i)(aws_secret_access_key|secret|token|signature|credential)=([^&\s'\"]+)")


class FetchError(Exception):
    """A fetch problem explained for the user (with what was fetched so far kept)."""


@dataclass(frozen=True)
class AwsTarget:
    """Where and as whom to fetch. Holds no secret: a keyring entry is referenced by name."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None  # a local emulator, a VPC endpoint
    keyring_name: str | None = None  # an access key stored with `store_access_key`
    role_arn: str | None = None
    external_id: str | None = None
    mfa_serial: str | None = None
    session_name: str = "caseline-fetch"

    def describe(self) -> dict[str, Any]:
        """What the acquisition record says about the credentials: names, never secrets."""
        return {
            k: v
            for k, v in {
                "profile": self.profile,
                "region": self.region,
                "endpoint_url": self.endpoint_url,
                "keyring_name": self.keyring_name,
                "role_arn": self.role_arn,
                "mfa": bool(self.mfa_serial),
            }.items()
            if v
        }


def store_access_key(
    name: str, access_key_id: str, secret_access_key: str, session_token: str | None = None
) -> None:
    """Keep an access key in the OS keyring under `name`."""
    value = {"access_key_id": access_key_id, "secret_access_key": secret_access_key}
    if session_token:
        value["session_token"] = session_token
    try:
        keyring.set_password(KEYRING_SERVICE, f"aws:{name}", json.dumps(value))
    except keyring.errors.KeyringError as exc:
        raise FetchError(
            f"no usable OS keyring to store the key ({type(exc).__name__}); use an AWS profile"
        ) from None


def forget_access_key(name: str) -> None:
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(KEYRING_SERVICE, f"aws:{name}")


def _stored_key(name: str) -> dict[str, str]:
    try:
        raw = keyring.get_password(KEYRING_SERVICE, f"aws:{name}")
    except keyring.errors.KeyringError as exc:
        raise FetchError(f"cannot read the OS keyring ({type(exc).__name__})") from None
    if raw is None:
        raise FetchError(f"no access key named {name!r} in the OS keyring")
    return dict(json.loads(raw))


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """The text with known secret values and secret-looking parameters masked."""
    for s in secrets or []:
        if s:
            text = text.replace(s, "****")
    return _SECRETISH.sub(lambda m: f"{m.group(1)}=****", text)


def session(target: AwsTarget, mfa_code: str | None = None) -> boto3.Session:
    """A boto3 session for the target, after assume-role when one is asked for."""
    secrets: list[str] = []
    try:
        if target.keyring_name:
            key = _stored_key(target.keyring_name)
            secrets = [key["secret_access_key"], key.get("session_token", "")]
            base = boto3.Session(
                aws_access_key_id=key["access_key_id"],
                aws_secret_access_key=key["secret_access_key"],
                aws_session_token=key.get("session_token"),
                region_name=target.region,
            )
        else:
            base = boto3.Session(profile_name=target.profile, region_name=target.region)
        if not target.role_arn:
            return base
        sts = base.client("sts", endpoint_url=target.endpoint_url, config=CLIENT_CONFIG)
        params: dict[str, Any] = {"RoleArn": target.role_arn, "RoleSessionName": target.session_name}
        if target.external_id:
            params["ExternalId"] = target.external_id
        if target.mfa_serial:
            if not mfa_code:
                raise FetchError("this role needs an MFA code")
            params.update(SerialNumber=target.mfa_serial, TokenCode=mfa_code)
        creds = sts.assume_role(**params)["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=target.region,
        )
    except botocore.exceptions.ProfileNotFound:
        raise FetchError(f"no AWS profile named {target.profile!r} in the AWS config files") from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise FetchError(scrub(f"cannot get credentials: {exc}", secrets)) from None


# Retries are ours to count (throttling goes into the acquisition record), so botocore's are few.
CLIENT_CONFIG = botocore.config.Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60
)


def client(target: AwsTarget, sess: boto3.Session, service: str, region: str | None = None) -> Any:
    return sess.client(
        service, region_name=region or target.region, endpoint_url=target.endpoint_url, config=CLIENT_CONFIG
    )


def caller_identity(target: AwsTarget, sess: boto3.Session) -> dict[str, str]:
    """STS GetCallerIdentity: the account and ARN the fetch runs as ("test connection")."""
    try:
        ident = client(target, sess, "sts").get_caller_identity()
    except botocore.exceptions.NoCredentialsError:
        raise FetchError("no AWS credentials: choose a profile or enter an access key") from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise FetchError(scrub(f"the credentials do not work: {exc}")) from None
    return {"account": ident["Account"], "arn": ident["Arn"], "user_id": ident["UserId"]}
