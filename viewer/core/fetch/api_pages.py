"""Shared machinery for paged AWS API fetches: rate limit, backoff, resumable state, time windows.

Every API source (LookupEvents, GuardDuty, CloudWatch Logs, Athena) pages through an API under a
request quota, must count the throttling it meets for the acquisition record, and must resume
after a crash or a cancel. So:

* `paged_client` makes a boto3 client whose own retries are off: a throttle that botocore
  retried silently could not be counted, and `call` retries it instead (with backoff, through
  the limiter, cancellable).
* `RateLimiter` spaces calls evenly (no burst), one shared limiter per (service, account, region)
  in the process (`shared_limiter`), because AWS quotas are per account and region: two fetches
  running at once must share one budget.
* `FetchState` is a small JSON file in the cache folder, rewritten atomically after each page, so
  a re-run knows which windows are done and which NextToken to continue from.
* `api_error` turns a botocore error into a sentence for the user, scrubbed of secrets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from viewer.core.fetch.aws_auth import CLIENT_CONFIG, AwsTarget, FetchError, scrub
from viewer.core.jobs import CancelToken

T = TypeVar("T")

# Error codes AWS services use for "slow down" (CloudTrail, GuardDuty, Logs: ThrottlingException;
# Athena and some REST APIs: TooManyRequestsException; EC2-style: RequestLimitExceeded).
THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
# Server-side hiccups worth a retry (the same call usually works a moment later).
TRANSIENT_CODES = frozenset(
    {"InternalServerErrorException", "InternalFailure", "InternalError", "ServiceUnavailable",
     "ServiceUnavailableException"}
)  # fmt: skip
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
     "OperationNotPermittedException"}
)  # fmt: skip
BAD_CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
     "InvalidSignatureException", "SignatureDoesNotMatch", "RequestExpired"}
)  # fmt: skip
NETWORK_ERRORS = (botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError)


class ApiStopped(Exception):
    """A call that cannot succeed by retrying (denied, bad credentials, network down, endless
    throttling). The message is the reason, for the user ("access denied (...)"); the caller
    names what failed (`api_error(exc, what)`). What was fetched before stays."""


def paged_client(target: AwsTarget, sess: boto3.Session, service: str, region: str | None = None) -> Any:
    """A client without botocore retries: `call` retries, so every throttle is seen and counted."""
    config = CLIENT_CONFIG.merge(
        botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    return sess.client(
        service, region_name=region or target.region, endpoint_url=target.endpoint_url, config=config
    )


def check_regions(sess: boto3.Session, service: str, regions: list[str], endpoint_url: str | None) -> None:
    """Refuse a region the service does not have (a typo would otherwise surface as DNS
    failures after retries). Skipped with an explicit endpoint: an emulator takes any name."""
    if endpoint_url:
        return
    known = {r for p in sess.get_available_partitions() for r in sess.get_available_regions(service, p)}
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise FetchError(f"no {service} region named {', '.join(map(repr, unknown))}")


def sleep_unless_cancelled(token: CancelToken | None, seconds: float) -> None:
    """Sleep, waking at once on cancel (the caller checks the token afterwards)."""
    if seconds <= 0:
        return
    if token is None:
        time.sleep(seconds)
        return
    woken = threading.Event()
    remove = token.on_cancel(woken.set)
    try:
        woken.wait(seconds)
    finally:
        remove()


class RateLimiter:
    """At most `rate` calls per second, evenly spaced: call i+1 starts >= 1/rate after call i.

    Spacing rather than a bursty bucket, because the quota is enforced on arrivals at AWS and a
    burst right after a pause is exactly what gets throttled."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self, token: CancelToken | None = None) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        sleep_unless_cancelled(token, slot - now)
        with self._lock:
            # A sleep that overran (a busy machine) pushes the next slot too: spacing counts
            # from when this call really goes out, not from when it was planned to.
            self._next = max(self._next, time.monotonic() + self.interval)
        if token is not None:
            token.raise_if_cancelled()


_LIMITERS: dict[tuple[str, str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(service: str, account: str, region: str, rate: float) -> RateLimiter:
    """The process-wide limiter of one quota (service, account, region). A caller asking for a
    different rate replaces it (the quota is the caller's judgement, e.g. a raised limit)."""
    key = (service, account, region)
    with _LIMITERS_LOCK:
        if key not in _LIMITERS or _LIMITERS[key].interval != 1.0 / rate:
            _LIMITERS[key] = RateLimiter(rate)
        return _LIMITERS[key]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    base: float = 0.5
    cap: float = 20.0
    throttle_attempts: int = 10  # consecutive throttles before giving up on the call
    network_attempts: int = 4  # consecutive dropped connections / 5xx before giving up

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311 (jitter, not crypto)


DEFAULT_BACKOFF = Backoff()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def failure_reason(exc: BaseException) -> str:
    """Why a call failed, in words for the user (scrubbed of secrets)."""
    code = error_code(exc)
    if code in DENIED_CODES:
        return f"access denied ({code}); the identity lacks the permission or an SCP blocks it"
    if code in BAD_CREDENTIAL_CODES:
        return f"the credentials were refused ({code}); they may be expired or wrong"
    if code in THROTTLE_CODES:
        return f"still throttled after repeated backoff ({code}); try again later"
    if isinstance(exc, NETWORK_ERRORS):
        return f"the connection failed ({type(exc).__name__}); check the network or endpoint"
    if isinstance(exc, botocore.exceptions.ClientError):
        message = str(exc.response.get("Error", {}).get("Message", ""))
        return scrub(f"{code or 'error'}: {message}")
    return scrub(f"{type(exc).__name__}: {exc}")


def api_error(exc: BaseException, what: str) -> str:
    """A sentence for the user about why `what` (e.g. "LookupEvents in eu-west-1") failed; for an
    `ApiStopped` its message is already the reason."""
    return f"{what}: {exc if isinstance(exc, ApiStopped) else failure_reason(exc)}"


def call(
    fn: Callable[[], T],
    *,
    limiter: RateLimiter | None,
    token: CancelToken | None,
    on_throttle: Callable[[], None] = lambda: None,
    backoff: Backoff | None = None,
) -> T:
    """Run one API call under the limiter, retrying throttles and transient failures with backoff.

    Raises `ApiStopped` when retrying cannot help; a botocore error that is neither (a bad
    parameter, an expired NextToken) propagates unchanged for the caller to judge."""
    backoff = backoff or DEFAULT_BACKOFF  # read at call time, so a test or a caller can tune it
    throttles = network = 0
    while True:
        if limiter is not None:
            limiter.acquire(token)
        elif token is not None:
            token.raise_if_cancelled()
        try:
            return fn()
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if code in THROTTLE_CODES:
                on_throttle()
                throttles += 1
                if throttles >= backoff.throttle_attempts:
                    raise ApiStopped(failure_reason(exc)) from None
                sleep_unless_cancelled(token, backoff.delay(throttles))
                continue
            if code in TRANSIENT_CODES and network + 1 < backoff.network_attempts:
                network += 1
                sleep_unless_cancelled(token, backoff.delay(network))
                continue
            if code in DENIED_CODES | BAD_CREDENTIAL_CODES | TRANSIENT_CODES:
                raise ApiStopped(failure_reason(exc)) from None
            raise
        except NETWORK_ERRORS as exc:
            network += 1
            if network >= backoff.network_attempts:
                raise ApiStopped(failure_reason(exc)) from None
            sleep_unless_cancelled(token, backoff.delay(network))


def split_windows(
    start: dt.datetime, end: dt.datetime, step: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut at multiples of `step` from midnight UTC (per-day windows line up with
    days whatever the start hour, so a re-run with a wider range reuses the done days)."""
    if end <= start:
        return []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    cut = day + step * int((start - day) / step)
    out = []
    lo = start
    while lo < end:
        cut = cut + step
        hi = min(cut, end)
        out.append((lo, hi))
        lo = hi
    return out


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with open(part, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, default=str))


def request_folder(cache: Path, api: str, params: dict[str, Any]) -> Path:
    """The cache folder of one request: named by a hash of its parameters, so the same request
    finds its own progress again and a different one never reuses it."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache / f"{api}-{digest}"


class FetchState:
    """Progress of one request, kept in `<folder>/state.json` (see `request_folder`).

    `data` is the source's own dict (windows done, NextToken, pages written, files imported);
    `save` rewrites it atomically. Thread-safe: region workers save while the importer reads."""

    def __init__(self, folder: Path, params: dict[str, Any]) -> None:
        self.path = folder / "state.json"
        self.lock = threading.RLock()
        data: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}  # unreadable progress: start over; dedup in the case absorbs repeats
        if data.get("params") != json.loads(json.dumps(params, default=str)):
            data = {"params": params}
        self.data: dict[str, Any] = data

    def save(self) -> None:
        with self.lock:
            write_json_atomic(self.path, self.data)
