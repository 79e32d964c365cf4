"""Fetching a CloudTrail trail bucket from S3: list by date prefix, download, import as it arrives.

Objects are listed per account, trail kind (logs, digests), region and day, with one day of
margin on each side because files are named by delivery time (formats.md 4.4). They download
unchanged into a cache folder beside the case (a part file renamed when complete, so a crash or a
cancel never leaves a half file that looks whole), several at a time, and are imported in batches
while the next batch downloads: each batch is one ordinary import (hashed, deduplicated, all or
nothing) whose `imports.params` carry the acquisition record. Running the same fetch again skips
what is already downloaded and what the ledger already holds: it resumes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from viewer.core.case_file import CaseFile
from viewer.core.fetch.acquisition import Acquisition, FetchReport, import_fetched
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, caller_identity, client, scrub, session
from viewer.core.ingest import ImportReport
from viewer.core.jobs import JobContext

BATCH_FILES = 200
BATCH_BYTES = 48 * 1024**2
DOWNLOAD_THREADS = 4
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


def _download(s3: Any, bucket: str, obj: S3Object, dest: Path) -> str | None:
    """Download one object to `dest`; None on success, else why it failed (the rest go on)."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, obj.key, str(part))
    except botocore.exceptions.ClientError as exc:
        part.unlink(missing_ok=True)
        return exc.response.get("Error", {}).get("Code", "error")
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        part.unlink(missing_ok=True)
        return f"transfer interrupted ({type(exc).__name__})"
    if part.stat().st_size != obj.size:
        got = part.stat().st_size
        part.unlink(missing_ok=True)
        return f"truncated: {got} of {obj.size} bytes"
    part.replace(dest)
    return None


def _batches(objs: list[S3Object]) -> Iterator[list[S3Object]]:
    batch: list[S3Object] = []
    size = 0
    for o in objs:
        batch.append(o)
        size += o.size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


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
    ctx.progress.files_total = len(objs)
    ctx.progress.bytes_total = acq.bytes_listed
    reports: list[ImportReport] = []
    root = cache / req.bucket

    def get(batch: list[S3Object]) -> list[Path]:
        paths = []
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            todo = {}
            for o in batch:
                dest = root / o.key
                if dest.exists() and dest.stat().st_size == o.size:
                    acq.already_downloaded += 1
                    paths.append(dest)
                else:
                    todo[o] = pool.submit(_download, s3, req.bucket, o, dest)
            for o, fut in todo.items():
                why = fut.result()
                if why is None:
                    acq.downloaded += 1
                    paths.append(root / o.key)
                else:
                    acq.failed.append(f"{o.key}: {why}")
        return paths

    with ThreadPoolExecutor(1, thread_name_prefix="s3-download") as ahead:
        batches = list(_batches(objs))
        pending: Future[list[Path]] | None = ahead.submit(get, batches[0]) if batches else None
        for i in range(len(batches)):
            ctx.check()
            assert pending is not None
            paths = pending.result()
            pending = ahead.submit(get, batches[i + 1]) if i + 1 < len(batches) else None
            if paths:
                reports.append(import_fetched(case, paths, acq, ctx, "live:aws-s3"))
    acq.finished_at = dt.datetime.now(dt.UTC).isoformat()
    return FetchReport(acq, reports, root)
