"""Fetching a CloudTrail trail bucket from S3: list by date prefix, download, import as it arrives.

Objects are listed per account, trail kind (logs, digests), region and day, with one day of
margin on each side because files are named by delivery time (formats.md 4.4). They download
unchanged into a cache folder beside the case (a part file renamed when complete, so a crash or a
cancel never leaves a half file that looks whole), several at a time, and are imported in batches
of what has arrived while the rest keeps downloading (`_Arrivals`): each batch is one ordinary import (hashed, deduplicated, all or
nothing) whose `imports.params` carry the acquisition record. Running the same fetch again skips
what is already downloaded and what the ledger already holds: it resumes.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import urllib3.exceptions

from viewer.core.case_file import CaseFile
from viewer.core.fetch.acquisition import Acquisition, FetchReport, import_fetched
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, caller_identity, client, scrub, session
from viewer.core.ingest import ImportReport
from viewer.core.jobs import Cancelled, CancelToken, JobContext, Progress

# One import per batch: bigger batches pay the fixed cost of an import less often (see _Arrivals).
BATCH_FILES = 2000
BATCH_BYTES = 48 * 1024**2
FIRST_BATCH_SHARE = 0.25
# What one more import costs beyond its records (commit, checkpoint, derived and entity tables):
# splitting a 200k-event fetch from moto into two imports cost 3-7 CPU s more than one import
# (benchmarks/fetch_s3.py), more than overlapping the download saved on 2 shared cores. So an
# early first batch is taken only when the rest of the download would take longer than this.
IMPORT_FIXED_SECONDS = 5.0
DOWNLOAD_THREADS = 6
KINDS = ("CloudTrail", "CloudTrail-Digest")


@dataclass(frozen=True)
class S3TrailRequest:
    bucket: str
    start: dt.date
    end: dt.date  # inclusive
    prefix: str = ""  # the trail's S3 key prefix, before AWSLogs/
    accounts: tuple[str, ...] = ()  # empty: every account found
    regions: tuple[str, ...] = ()  # empty: every region found
    digests: bool = True


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def _list(s3: Any, acq: Acquisition, bucket: str, prefix: str, delimiter: bool) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        params["Delimiter"] = "/"
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**params):
            acq.list_pages += 1
            yield page
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "AllAccessDisabled"):
            acq.failed.append(f"{prefix}: access denied")
            return
        if code == "NoSuchBucket":
            raise FetchError(
                f"no bucket named {bucket!r} (or not visible to {acq.caller.get('arn', 'this identity')})"
            ) from None
        raise FetchError(scrub(f"listing s3://{bucket}/{prefix} failed: {exc}")) from None


def _children(s3: Any, acq: Acquisition, bucket: str, prefix: str) -> list[str]:
    names = []
    for page in _list(s3, acq, bucket, prefix, delimiter=True):
        names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return names


def _account_roots(s3: Any, acq: Acquisition, req: S3TrailRequest) -> list[str]:
    """'<prefix>AWSLogs/<account>/' for each account, also below an organization id level."""
    base = f"{req.prefix.rstrip('/') + '/' if req.prefix else ''}AWSLogs/"
    roots = []
    for name in _children(s3, acq, req.bucket, base):
        if name.startswith("o-"):  # organization trail: AWSLogs/o-xxxx/<account>/
            roots += [f"{base}{name}/{acct}/" for acct in _children(s3, acq, req.bucket, f"{base}{name}/")]
        else:
            roots.append(f"{base}{name}/")
    if req.accounts:
        roots = [r for r in roots if r.rstrip("/").rsplit("/", 1)[-1] in req.accounts]
    return roots


def list_trail(s3: Any, req: S3TrailRequest, acq: Acquisition) -> list[S3Object]:
    """Every log (and digest) object of the request, by date prefix."""
    days = [
        req.start - dt.timedelta(days=1) + dt.timedelta(days=i) for i in range((req.end - req.start).days + 3)
    ]
    found: list[S3Object] = []
    for root in _account_roots(s3, acq, req):
        for kind in KINDS if req.digests else KINDS[:1]:
            regions = _children(s3, acq, req.bucket, f"{root}{kind}/")
            for region in regions:
                if req.regions and region not in req.regions:
                    continue
                for day in days:
                    prefix = f"{root}{kind}/{region}/{day:%Y/%m/%d}/"
                    for page in _list(s3, acq, req.bucket, prefix, delimiter=False):
                        found += [
                            S3Object(o["Key"], int(o["Size"]), str(o.get("ETag", "")).strip('"'))
                            for o in page.get("Contents", [])
                        ]
    acq.objects_listed = len(found)
    acq.bytes_listed = sum(o.size for o in found)
    return found


def estimate(target: AwsTarget, req: S3TrailRequest) -> tuple[int, int]:
    """(objects, bytes) the fetch would download: shown before starting."""
    sess = session(target)
    acq = Acquisition("s3", {}, target.describe())
    objs = list_trail(client(target, sess, "s3"), req, acq)
    return len(objs), sum(o.size for o in objs)


def _download(s3: Any, bucket: str, obj: S3Object, dest: Path, token: CancelToken) -> str | None:
    """Download one object to `dest`; None on success, else why it failed (the rest go on).

    A plain streamed GetObject: `download_file` builds a transfer manager (and its threads) per
    call, which cost twice the CPU per byte measured against moto; the trail's files are small.
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        body = s3.get_object(Bucket=bucket, Key=obj.key)["Body"]
        with open(part, "wb") as out:
            for chunk in body.iter_chunks(1 << 20):
                if token.cancelled:
                    body.close()
                    raise Cancelled()
                out.write(chunk)
    except botocore.exceptions.ClientError as exc:
        part.unlink(missing_ok=True)
        return str(exc.response.get("Error", {}).get("Code", "error"))
    except botocore.exceptions.FlexibleChecksumError:
        part.unlink(missing_ok=True)
        return "checksum mismatch: the object arrived damaged"
    except (botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        part.unlink(missing_ok=True)
        return f"transfer interrupted ({type(exc).__name__})"
    except Cancelled:
        part.unlink(missing_ok=True)
        raise
    got = part.stat().st_size
    if got != obj.size:
        part.unlink(missing_ok=True)
        return f"truncated: {got} of {obj.size} bytes"
    part.replace(dest)
    return None


class _Arrivals:
    """Objects downloading in the background; the importer takes whatever has arrived.

    Downloads never wait for the importer. One import costs a fixed 1.5-3 CPU s (commit,
    checkpoint, derived and entity tables) on top of its records, so the importer takes everything
    that arrived while it was busy (up to BATCH_FILES/BATCH_BYTES) rather than many small batches.
    The first batch is small (FIRST_BATCH_SHARE of the bytes), so that importing starts while
    most of the trail still downloads, only when the rest would take longer than
    IMPORT_FIXED_SECONDS to arrive; otherwise one import of everything is cheaper.
    """

    def __init__(
        self, s3: Any, bucket: str, root: Path, objs: list[S3Object], acq: Acquisition, ctx: JobContext
    ) -> None:
        self._s3, self._bucket, self._acq, self._ctx = s3, bucket, acq, ctx
        self._cond = threading.Condition()
        self._ready: list[tuple[S3Object, Path]] = []
        self._ready_bytes = 0
        self._pending = 0
        self._left_bytes = 0  # still to download
        self._started = time.monotonic()
        ctx.progress.files_total, ctx.progress.bytes_total = len(objs), acq.bytes_listed
        ctx.progress.files_done = ctx.progress.bytes_done = 0
        self._pool = ThreadPoolExecutor(DOWNLOAD_THREADS, thread_name_prefix="s3-download")
        for o in objs:
            dest = root / o.key
            if dest.exists() and dest.stat().st_size == o.size:
                acq.already_downloaded += 1
                self._arrived(o, dest)
            else:
                self._pending += 1
                self._left_bytes += o.size
                self._pool.submit(self._get, o, dest)
        self._to_download = self._left_bytes

    def _arrived(self, o: S3Object, dest: Path) -> None:
        self._ready.append((o, dest))
        self._ready_bytes += o.size
        self._ctx.progress.files_done += 1
        self._ctx.progress.bytes_done += o.size

    def _get(self, o: S3Object, dest: Path) -> None:
        try:
            why = _download(self._s3, self._bucket, o, dest, self._ctx.token)
        except Cancelled:
            why = "cancelled"
        with self._cond:
            self._pending -= 1
            self._left_bytes -= o.size
            if why is None:
                self._acq.downloaded += 1
                self._arrived(o, dest)
            elif why != "cancelled":
                self._acq.failed.append(f"{o.key}: {why}")
                self._acq.throttled += why in ("SlowDown", "Throttling", "RequestLimitExceeded")
            self._cond.notify_all()
            self._ctx.report()

    def take(self, want_bytes: int) -> list[Path] | None:
        """Wait until `want_bytes` have arrived (or nothing is left to download), then take what
        arrived, bounded by BATCH_FILES/BATCH_BYTES; None once everything was taken. When the
        rest would arrive sooner than an extra import costs, it waits for the rest instead."""
        with self._cond:
            while self._pending and self._ready_bytes < want_bytes:
                self._ctx.check()
                self._cond.wait(0.1)
            while self._pending and self._ready_bytes < BATCH_BYTES and self._rest_is_quick():
                self._ctx.check()
                self._cond.wait(0.1)
            batch: list[tuple[S3Object, Path]] = []
            size = 0
            while self._ready and len(batch) < BATCH_FILES:
                o = self._ready[0][0]
                if batch and size + o.size > BATCH_BYTES:
                    break
                batch.append(self._ready.pop(0))
                size += o.size
            self._ready_bytes -= size
        return [p for _, p in sorted(batch, key=lambda item: item[0].key)] or None

    def _rest_is_quick(self) -> bool:
        done = self._to_download - self._left_bytes
        elapsed = time.monotonic() - self._started
        return done > 0 and self._left_bytes * elapsed / done < IMPORT_FIXED_SECONDS

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def fetch(
    case: CaseFile, target: AwsTarget, req: S3TrailRequest, cache: Path, ctx: JobContext | None = None
) -> FetchReport:
    """Download the trail objects of `req` into `cache` and import them, batch by batch."""
    ctx = ctx or JobContext()
    case.require_writable("fetch evidence into it")
    acq = Acquisition(
        "s3:ListObjectsV2+GetObject",
        {
            "bucket": req.bucket,
            "prefix": req.prefix,
            "accounts": list(req.accounts),
            "regions": list(req.regions),
            "start": req.start.isoformat(),
            "end": req.end.isoformat(),
            "digests": req.digests,
        },
        target.describe(),
        started_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    sess = session(target)
    acq.caller = caller_identity(target, sess)
    s3 = client(target, sess, "s3")
    ctx.progress.phase = "listing"
    ctx.report(force=True)
    objs = list_trail(s3, req, acq)
    ctx.progress.phase = "downloading"
    ctx.report(force=True)
    reports: list[ImportReport] = []
    root = cache / req.bucket
    arrivals = _Arrivals(s3, req.bucket, root, objs, acq, ctx)
    try:
        want = min(BATCH_BYTES, int(acq.bytes_listed * FIRST_BATCH_SHARE))
        while (paths := arrivals.take(want)) is not None:
            ctx.check()
            reports.append(import_fetched(case, paths, acq, _batch_context(ctx, acq), "live:aws-s3"))
            want = BATCH_BYTES
    finally:
        arrivals.close()
    acq.finished_at = dt.datetime.now(dt.UTC).isoformat()
    return FetchReport(acq, reports, root)


def _batch_context(ctx: JobContext, acq: Acquisition) -> JobContext:
    """The context of one batch's import: its phase and records show in the whole fetch's
    progress, whose files and bytes count the downloads against the listing."""
    imported_before = acq.records_imported

    def forward(p: Progress) -> None:
        out = ctx.progress
        out.phase = p.phase
        out.records = acq.records_imported if p.phase.startswith("imported") else imported_before + p.records
        ctx.report(force=p.phase.startswith("imported"))

    return JobContext(token=ctx.token, on_progress=forward)
