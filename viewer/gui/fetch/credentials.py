"""Who the fetch runs as, as chosen in the fetch panel: Qt-free, resolved on a worker thread.

The panel collects a `CredentialChoice`; `resolve()` runs in the background (the OS keyring and
STS can take seconds) and turns it into the `AwsTarget` the core fetch functions take. A newly
typed access key goes to the OS keyring there and the choice keeps only its name. The core fetch
functions open their own session from the target and take no MFA code, so a role that needs MFA
is assumed here, once, and its temporary credentials are kept in the keyring under
`MFA_SESSION_KEY:<role ARN>` for the fetch (and later fetches, until they expire); the acquisition record still names the role through the caller
identity (an assumed-role ARN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import botocore.exceptions
import botocore.session
import keyring
import keyring.errors

from viewer.core.fetch.aws_auth import (
    KEYRING_SERVICE,
    AwsTarget,
    FetchError,
    caller_identity,
    scrub,
    session,
    store_access_key,
)

MFA_SESSION_KEY = "caseline-mfa-session"
DEFAULT_KEY_NAME = "caseline"


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    kind: str  # "SSO", "role", "keys", "process", "config"

    @property
    def label(self) -> str:
        return f"{self.name}  ({self.kind})"


def list_profiles() -> list[ProfileInfo]:
    """The profiles of the standard AWS config and credentials files (AWS_CONFIG_FILE and
    AWS_SHARED_CREDENTIALS_FILE are honoured), each with how it gets its credentials."""
    try:
        sess = botocore.session.Session()
        profiles = sess.full_config.get("profiles", {})
        names = sess.available_profiles
    except botocore.exceptions.BotoCoreError:
        return []  # an unreadable config file: no profiles, the key fields still work
    return [ProfileInfo(name, _kind(profiles.get(name, {}))) for name in names]


def _kind(profile: dict[str, object]) -> str:
    if "sso_session" in profile or "sso_start_url" in profile:
        return "SSO"
    if "role_arn" in profile:
        return "role"
    if "credential_process" in profile:
        return "process"
    if "aws_access_key_id" in profile:
        return "keys"
    return "config"


@dataclass(frozen=True)
class CredentialChoice:
    """The panel's credential fields. Secrets are never in repr (and never in QSettings)."""

    profile: str | None = None
    keyring_name: str | None = None
    new_key: tuple[str, str, str] | None = field(default=None, repr=False)  # id, secret, token
    role_arn: str | None = None
    external_id: str | None = None
    mfa_serial: str | None = None
    mfa_code: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None

    @property
    def secrets(self) -> list[str]:
        """Values to mask in any text shown to the user."""
        return [s for s in (self.new_key or ("", "", ""))[1:] if s]

    def resolve(self) -> AwsTarget:
        """The target to fetch with, after storing a new key and assuming an MFA role."""
        if self.new_key is not None:
            store_access_key(self.keyring_name or DEFAULT_KEY_NAME, *self.new_key)
        target = AwsTarget(
            profile=None if self.keyring_name else self.profile,
            region=self.region,
            endpoint_url=self.endpoint_url,
            keyring_name=self.keyring_name,
            role_arn=self.role_arn,
            external_id=self.external_id,
            mfa_serial=self.mfa_serial if self.role_arn else None,
        )
        if not target.mfa_serial:
            return target
        held = f"{MFA_SESSION_KEY}:{target.role_arn}"
        assumed = AwsTarget(region=self.region, endpoint_url=self.endpoint_url, keyring_name=held)
        if not self.mfa_code:
            # The session an earlier code opened (test connection, then fetch) until it expires.
            if _keyring_has(held):
                return assumed
            raise FetchError("this role needs an MFA code: type the code your device shows")
        creds = session(target, self.mfa_code).get_credentials()
        if creds is None:
            raise FetchError("assuming the role gave no credentials")
        frozen = creds.get_frozen_credentials()
        store_access_key(held, frozen.access_key, frozen.secret_key, frozen.token or "")
        return assumed


def _keyring_has(name: str) -> bool:
    try:
        return keyring.get_password(KEYRING_SERVICE, f"aws:{name}") is not None
    except keyring.errors.KeyringError:
        return False


def check_connection(choice: CredentialChoice) -> dict[str, str]:
    """STS GetCallerIdentity as the chosen identity: {'account', 'arn', 'user_id'}."""
    target = choice.resolve()
    return caller_identity(target, session(target))


def user_message(exc_text: str, choice: CredentialChoice | None) -> str:
    """The first line of an error for the panel, with every known secret masked."""
    first = exc_text.strip().splitlines()[0] if exc_text.strip() else "failed"
    return scrub(first, choice.secrets if choice else [])
