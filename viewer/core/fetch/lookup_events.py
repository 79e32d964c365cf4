"""Fetching CloudTrail Event history through LookupEvents: windows, one filter, regions, resumable.

LookupEvents answers 50 events a page, management events of the last 90 days of one region, at
2 requests/s per account and region (formats.md 4.1). So the request is cut into sub-windows
(a day by default), each region runs in its own thread under its own shared rate limiter, and
every page the API returns is written unchanged, as `aws cloudtrail lookup-events` prints it
(`{"Events":[...]}`, a format Caseline imports), into the request's cache folder before its
NextToken is recorded in `state.json`. The main thread imports the pages in batches while the
regions keep fetching. A re-run skips finished windows, continues the others from their saved
NextToken and re-imports nothing (the ledger knows each page file by hash; identical records,
e.g. global events seen in several regions, are dropped by the case's dedup).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from viewer.core.case_file import CaseFile
from viewer.core.fetch import api_pages
from viewer.core.fetch.acquisition import Acquisition, FetchReport, import_fetched
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, caller_identity, scrub, session
from viewer.core.ingest import ImportReport
from viewer.core.jobs import Cancelled, JobContext

LOOKUP_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
# 2 requests/s is the quota; spacing calls at 1.9/s keeps arrivals under it even when the
# network delays one request and not the next.
LOOKUP_RATE = 1.9
PAGE_SIZE = 50  # the API's maximum
BATCH_EVENTS = 2_000  # import once this many fetched events wait (each import rebuilds indexes)
ORIGIN = "live:aws-lookup"
HISTORY = dt.timedelta(days=90)  # what Event history keeps


@dataclass(frozen=True)
class LookupRequest:
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive (window ends are the API's inclusive EndTime; dedup absorbs
    # an event exactly on a boundary)
    regions: tuple[str, ...] = ()  # empty: the target's region
    attribute: tuple[str, str] | None = None  # (AttributeKey, AttributeValue): one, as the API allows
    window: dt.timedelta = dt.timedelta(days=1)
    rate: float = LOOKUP_RATE

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "regions": list(self.regions),
            "attribute": list(self.attribute) if self.attribute else None,
            "window_seconds": int(self.window.total_seconds()),
        }


@dataclass
class LookupEstimate:
    windows: int
    windows_done: int
    min_calls: int  # one per window left; each 50 events adds a call
    seconds_at_quota: float  # min_calls at the rate limit, regions in parallel
    beyond_history: int = 0  # windows older than the 90 days Event history keeps

    def describe(self) -> str:
        text = (
            f"{self.windows:,} windows ({self.windows_done:,} already done), at least "
            f"{self.min_calls:,} LookupEvents calls (~{self.seconds_at_quota:,.0f} s at the 2/s quota; "
            f"each 50 events adds a call)"
        )
        if self.beyond_history:
            text += f"; {self.beyond_history:,} windows are older than the 90 days LookupEvents keeps"
        return text


def parse_attribute(text: str) -> tuple[str, str]:
    """'Key=Value' with Key one of LookupEvents' attribute keys (case-insensitive)."""
    key, sep, value = text.partition("=")
    by_lower = {k.lower(): k for k in LOOKUP_KEYS}
    if not sep or key.strip().lower() not in by_lower or not value:
        raise FetchError(
            f"attribute must be Key=Value with Key one of {', '.join(LOOKUP_KEYS)}; got {text!r}"
        )
    return by_lower[key.strip().lower()], value


def _check(req: LookupRequest) -> None:
    for t in (req.start, req.end):
        if t.tzinfo is None:
            raise FetchError("start and end must carry a time zone (UTC)")
    if req.end <= req.start:
        raise FetchError(f"the end ({req.end.isoformat()}) is not after the start ({req.start.isoformat()})")
    if req.attribute and req.attribute[0] not in LOOKUP_KEYS:
        raise FetchError(f"unknown lookup attribute {req.attribute[0]!r}; one of {', '.join(LOOKUP_KEYS)}")


def _regions(target: AwsTarget, req: LookupRequest, sess: boto3.Session) -> list[str]:
    regions = list(req.regions) or [r for r in [target.region or sess.region_name] if r]
    if not regions:
        raise FetchError("choose a region (--region): LookupEvents reads one region at a time")
    # The client's own region too: a typo there would fail the identity check confusingly.
    api_pages.check_regions(
        sess, "cloudtrail", [*regions, *([target.region] if target.region else [])], target.endpoint_url
    )
    return regions


def _folder(cache: Path, req: LookupRequest) -> Path:
    return api_pages.request_folder(cache, "lookup-events", req.params())


def estimate(target: AwsTarget, req: LookupRequest, cache: Path | None = None) -> LookupEstimate:
    """What the fetch costs before starting; LookupEvents cannot count, so calls are a floor."""
    _check(req)
    regions = _regions(target, req, session(target))
    wins = api_pages.split_windows(req.start, req.end, req.window)
    done = 0
    if cache is not None:
        state = api_pages.FetchState(_folder(cache, req), req.params())
        done = sum(1 for w in state.data.get("windows", {}).values() if w.get("done"))
    total = len(wins) * len(regions)
    calls = total - done
    horizon = dt.datetime.now(dt.UTC) - HISTORY
    old = sum(1 for _, hi in wins if hi <= horizon) * len(regions)
    # Regions run side by side, each under its own quota: the slowest region sets the time.
    return LookupEstimate(total, done, calls, -(-calls // len(regions)) / req.rate, old)


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):  # boto3 parses EventTime; write it back as the wire's ISO
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"not JSON: {type(value).__name__}")


@dataclass
class _Shared:
    """What the region threads share with the importing thread."""

    acq: Acquisition
    state: api_pages.FetchState
    folder: Path
    ctx: JobContext
    pages: queue.Queue[tuple[Path, int]] = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)
    windows_skipped: int = 0
    windows_done: int = 0  # this run's and earlier runs', for the progress bar
    stop: threading.Event = field(default_factory=threading.Event)  # the importing side gave up

    def count(self, **add: int) -> None:
        with self.lock:
            for k, v in add.items():
                setattr(self.acq, k, getattr(self.acq, k) + v)


def _save_page(
    sh: _Shared, win: dict[str, Any], stem: str, events: list[dict[str, Any]], token: str | None
) -> Path | None:
    """Write a page's events (if any), then record its NextToken: a crash between the two
    refetches the same page into the same file name."""
    with sh.state.lock:
        name = f"{stem}-{win['pages']:04d}.json"
        if events:
            api_pages.write_text_atomic(
                sh.folder / name, json.dumps({"Events": events}, default=_json_default)
            )
            if name not in win["files"]:
                win["files"].append(name)
        win["pages"] += 1
        win["events"] += len(events)
        win["token"] = token
        win["done"] = not token
        sh.state.save()
    return sh.folder / name if events else None


def _fetch_region(
    sh: _Shared, target: AwsTarget, sess: boto3.Session, req: LookupRequest, region: str
) -> None:
    """Page through every window of one region, writing each page and then its NextToken."""
    client = api_pages.paged_client(target, sess, "cloudtrail", region)
    limiter = api_pages.shared_limiter(
        "cloudtrail:LookupEvents", sh.acq.caller.get("account", ""), region, req.rate
    )
    windows = api_pages.split_windows(req.start, req.end, req.window)
    all_windows = sh.state.data.setdefault("windows", {})
    done = 0
    try:
        for lo, hi in windows:
            if sh.stop.is_set():
                return
            key = f"{region}|{lo.isoformat()}"
            with sh.state.lock:
                win = all_windows.setdefault(
                    key, {"token": None, "pages": 0, "events": 0, "done": False, "files": []}
                )
            if win["done"]:
                with sh.lock:
                    sh.windows_skipped += 1
                    sh.windows_done += 1
                done += 1
                continue
            while not sh.stop.is_set():
                params: dict[str, Any] = {"StartTime": lo, "EndTime": hi, "MaxResults": PAGE_SIZE}
                if req.attribute:
                    params["LookupAttributes"] = [
                        {"AttributeKey": req.attribute[0], "AttributeValue": req.attribute[1]}
                    ]
                if win["token"]:
                    params["NextToken"] = win["token"]

                def lookup(p: dict[str, Any] = params) -> dict[str, Any]:
                    sh.count(api_calls=1)
                    return dict(client.lookup_events(**p))

                try:
                    page = api_pages.call(
                        lookup, limiter=limiter, token=sh.ctx.token, on_throttle=lambda: sh.count(throttled=1)
                    )
                except botocore.exceptions.ClientError as exc:
                    if api_pages.error_code(exc) == "InvalidNextTokenException" and win["token"]:
                        win["token"] = None  # expired since the last run: redo the window, dedup absorbs it
                        continue
                    raise api_pages.ApiStopped(api_pages.failure_reason(exc)) from None
                events = page.get("Events", [])
                path = _save_page(sh, win, f"{region}/{lo:%Y%m%dT%H%M%SZ}", events, page.get("NextToken"))
                sh.count(pages=1, records_retrieved=len(events))
                if path is not None:
                    sh.pages.put((path, len(events)))
                if win["done"]:
                    with sh.lock:
                        sh.windows_done += 1
                    done += 1
                    break
    except Cancelled:
        return
    except api_pages.ApiStopped as exc:
        msg = api_pages.api_error(exc, f"LookupEvents in {region}")
        with sh.lock:
            sh.acq.failed.append(f"{msg} ({done} of {len(windows)} windows done; run again to resume)")
    except Exception as exc:  # noqa: BLE001 (a region's failure is reported, the others go on)
        with sh.lock:
            sh.acq.failed.append(scrub(f"LookupEvents in {region}: {type(exc).__name__}: {exc}"))


def fetch(
    case: CaseFile, target: AwsTarget, req: LookupRequest, cache: Path, ctx: JobContext | None = None
) -> FetchReport:
    """Fetch the events of `req` into `cache` and import them batch by batch as they arrive."""
    ctx = ctx or JobContext()
    _check(req)
    case.require_writable("fetch evidence into it")
    sess = session(target)
    regions = _regions(target, req, sess)
    acq = Acquisition(
        "cloudtrail:LookupEvents",
        {**req.params(), "regions": regions},
        target.describe(),
        started_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    acq.caller = caller_identity(target, sess)
    folder = _folder(cache, req)
    state = api_pages.FetchState(folder, req.params())
    sh = _Shared(acq, state, folder, ctx)
    imported: set[str] = set(state.data.setdefault("imported", []))
    # Pages written by an earlier run but not imported (a cancel or crash during the import).
    waiting: list[tuple[Path, int]] = [
        (folder / name, 0)
        for win in state.data.get("windows", {}).values()
        for name in win.get("files", [])
        if name not in imported and (folder / name).exists()
    ]
    reports: list[ImportReport] = []

    def import_waiting() -> None:
        if not waiting:
            return
        ctx.progress.phase = f"importing {sum(n for _, n in waiting):,} fetched events"
        ctx.report(force=True)
        reports.append(import_fetched(case, [p for p, _ in waiting], acq, ctx, ORIGIN))
        with state.lock:
            state.data["imported"] = sorted(imported | {p.relative_to(folder).as_posix() for p, _ in waiting})
            imported.update(state.data["imported"])
            state.save()
        waiting.clear()

    total_windows = len(regions) * len(api_pages.split_windows(req.start, req.end, req.window))
    threads = [
        threading.Thread(
            target=_fetch_region, args=(sh, target, sess, req, r), name=f"lookup-{r}", daemon=True
        )
        for r in regions
    ]
    for t in threads:
        t.start()
    try:
        import_waiting()
        while any(t.is_alive() for t in threads) or not sh.pages.empty():
            with contextlib.suppress(queue.Empty):
                waiting.append(sh.pages.get(timeout=0.2))
            ctx.check()
            ctx.progress.phase = f"LookupEvents: {acq.pages:,} pages, {acq.records_retrieved:,} events" + (
                f", throttled {acq.throttled}x" if acq.throttled else ""
            )
            # An import in between set its own totals: the bar shows windows again.
            ctx.progress.files_total, ctx.progress.files_done = total_windows, sh.windows_done
            ctx.progress.bytes_total = None
            ctx.report()
            if sum(n for _, n in waiting) >= BATCH_EVENTS:
                import_waiting()
        import_waiting()
    finally:
        sh.stop.set()  # an import failed or was cancelled: the regions stop at their next page
        for t in threads:
            t.join()
    acq.params["windows_skipped"] = sh.windows_skipped
    acq.finished_at = dt.datetime.now(dt.UTC).isoformat()
    return FetchReport(acq, reports, folder)


def summary_line(rep: FetchReport) -> str:
    """One line on what the fetch did (CLI, GUI)."""
    acq = rep.acquisition
    return (
        f"fetched as {acq.caller.get('arn')}: {acq.params.get('windows_skipped', 0):,} windows already done, "
        f"{acq.api_calls:,} calls, {acq.pages:,} pages, {acq.records_retrieved:,} events retrieved, "
        f"{acq.records_imported:,} records imported, throttled {acq.throttled:,}x"
    )
