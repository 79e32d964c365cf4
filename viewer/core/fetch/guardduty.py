"""Fetching GuardDuty findings: by detector, minimum severity and a time range, resumable.

ListDetectors (unless a detector is given), then per detector ListFindings with a FindingCriteria
(`updatedAt` or `createdAt` in epoch milliseconds, `severity` >=, not archived) lists the ids,
and GetFindings fetches them 50 at a time, the API's limit (formats.md 4.6). Each GetFindings
answer is written as the wire sent it, camelCase, one finding per line: the shape of GuardDuty's
own S3 export, which Caseline imports, and unlike boto3's parsed PascalCase it keeps members
newer than the installed botocore model. The listed ids and the batches done are kept in
`state.json`, so a re-run lists nothing again and fetches only what is missing; the ledger skips
batch files already imported and the case's dedup drops identical findings. Paging runs in its own thread while the caller's
imports what it wrote (`pages_ahead`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from viewer.core.case_file import CaseFile
from viewer.core.fetch import api_pages
from viewer.core.fetch.acquisition import Acquisition, FetchReport, import_fetched
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, caller_identity, session
from viewer.core.fetch.pages_ahead import PagesAhead
from viewer.core.ingest import ImportReport
from viewer.core.jobs import JobContext

# GuardDuty publishes no per-API rate here; a steady 5 calls/s is gentle, and throttles are
# retried with backoff and counted anyway.
GUARDDUTY_RATE = 5.0
GET_BATCH = 50  # GetFindings takes at most 50 ids
PAGE_SIZE = 50  # ListFindings maxResults limit
BATCH_FINDINGS = 1_000  # import once this many fetched findings wait
ORIGIN = "live:aws-guardduty"


@dataclass(frozen=True)
class FindingsRequest:
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive
    detector_id: str | None = None  # None: every detector of the region
    min_severity: int | None = None  # the API compares severity with an integer
    time_field: str = "updatedAt"  # or createdAt
    include_archived: bool = False
    rate: float = GUARDDUTY_RATE

    def criterion(self) -> dict[str, Any]:
        crit: dict[str, Any] = {
            self.time_field: {
                "GreaterThanOrEqual": int(self.start.timestamp() * 1000),
                "LessThan": int(self.end.timestamp() * 1000),
            }
        }
        if self.min_severity is not None:
            crit["severity"] = {"GreaterThanOrEqual": int(self.min_severity)}
        if not self.include_archived:
            crit["service.archived"] = {"Eq": ["false"]}
        return crit

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "detector_id": self.detector_id,
            "min_severity": self.min_severity,
            "time_field": self.time_field,
            "include_archived": self.include_archived,
            "criterion": self.criterion(),
        }


@dataclass
class FindingsEstimate:
    detectors: int
    findings: int
    get_calls: int  # GetFindings calls left, 50 ids each, per detector
    already: int = 0  # fetched by an earlier run of the same request

    def describe(self) -> str:
        return (
            f"{self.findings:,} findings in {self.detectors:,} detectors ({self.already:,} already here): "
            f"{self.get_calls:,} GetFindings calls"
        )


def _check(req: FindingsRequest) -> None:
    if req.start.tzinfo is None or req.end.tzinfo is None:
        raise FetchError("start and end must carry a time zone (UTC)")
    if req.end <= req.start:
        raise FetchError(f"the end ({req.end.isoformat()}) is not after the start ({req.start.isoformat()})")
    if req.time_field not in ("updatedAt", "createdAt"):
        raise FetchError(f"time field must be updatedAt or createdAt, not {req.time_field!r}")


def _region(target: AwsTarget, sess: boto3.Session) -> str:
    region = target.region or sess.region_name or ""
    if not region:
        raise FetchError("choose a region (--region): GuardDuty findings are regional")
    api_pages.check_regions(sess, "guardduty", [region], target.endpoint_url)
    return region


class _Api:
    """One region's GuardDuty client under the shared limiter, counting into the acquisition."""

    def __init__(
        self, target: AwsTarget, sess: boto3.Session, acq: Acquisition, ctx: JobContext, rate: float
    ) -> None:
        region = _region(target, sess)
        self.client = api_pages.paged_client(target, sess, "guardduty", region)
        self.limiter = api_pages.shared_limiter("guardduty", acq.caller.get("account", ""), region, rate)
        self.acq, self.ctx = acq, ctx
        self._wire: dict[str, bytes] = {}
        # Keep GetFindings' body as sent, before boto3 renames and filters its members.
        self.client.meta.events.register("after-call.guardduty.GetFindings", self._keep_body)

    def _keep_body(self, http_response: Any, **_: Any) -> None:
        self._wire["GetFindings"] = http_response.content

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            self.acq.api_calls += 1
            return dict(getattr(self.client, operation)(**params))

        def throttled() -> None:
            self.acq.throttled += 1

        return api_pages.call(once, limiter=self.limiter, token=self.ctx.token, on_throttle=throttled)

    def detectors(self, req: FindingsRequest) -> list[str]:
        if req.detector_id:
            return [req.detector_id]
        ids: list[str] = []
        token = None
        while True:
            page = self.call("list_detectors", **({"NextToken": token} if token else {}))
            ids += page.get("DetectorIds", [])
            token = page.get("NextToken") or None
            if not token:
                return ids

    def list_ids(
        self, req: FindingsRequest, detector: str, det: dict[str, Any], save: Any, lock: Any = None
    ) -> None:
        """Page ListFindings into det['ids'], saving the NextToken after each page (under `lock`
        when another thread saves the same state)."""
        lock = lock or contextlib.nullcontext()
        while not det["listed"]:
            params: dict[str, Any] = {
                "DetectorId": detector,
                "FindingCriteria": {"Criterion": req.criterion()},
                "SortCriteria": {"AttributeName": req.time_field, "OrderBy": "ASC"},
                "MaxResults": PAGE_SIZE,
            }
            if det["token"]:
                params["NextToken"] = det["token"]
            page = self.call("list_findings", **params)
            self.acq.pages += 1
            with lock:
                seen = set(det["ids"])
                det["ids"] += [i for i in page.get("FindingIds", []) if i not in seen]
                det["token"] = page.get("NextToken") or None
                det["listed"] = not det["token"]
                save()

    def get(self, detector: str, ids: list[str]) -> list[dict[str, Any]]:
        self._wire.pop("GetFindings", None)
        self.call("get_findings", DetectorId=detector, FindingIds=ids)
        return list(json.loads(self._wire["GetFindings"]).get("findings", []))


def estimate(target: AwsTarget, req: FindingsRequest, cache: Path | None = None) -> FindingsEstimate:
    """List the matching finding ids (cheap: ids only) and count them, less those an earlier run
    of the same request in `cache` already fetched."""
    _check(req)
    sess = session(target)
    _region(target, sess)  # before any call: a typo would otherwise look like bad credentials
    acq = Acquisition("guardduty", {}, target.describe())
    acq.caller = caller_identity(target, sess)
    api = _Api(target, sess, acq, JobContext(), req.rate)
    try:
        detectors = api.detectors(req)
        done: dict[str, Any] = {}
        if cache is not None:
            done = _state(cache, req, api).data.get("detectors", {})
        total = calls = already = 0
        for d in detectors:
            det: dict[str, Any] = {"ids": [], "token": None, "listed": False}
            api.list_ids(req, d, det, lambda: None)
            fetched = min(done.get(d, {}).get("fetched", 0), len(det["ids"]))
            total += len(det["ids"])
            already += fetched
            calls += -(-(len(det["ids"]) - fetched) // GET_BATCH)
    except (api_pages.ApiStopped, botocore.exceptions.ClientError) as exc:
        raise FetchError(_why(exc, "listing findings")) from None
    return FindingsEstimate(len(detectors), total, calls, already)


def fetch(
    case: CaseFile, target: AwsTarget, req: FindingsRequest, cache: Path, ctx: JobContext | None = None
) -> FetchReport:
    """Fetch the findings of `req` into `cache` in a paging thread while this thread imports
    them in batches (`PagesAhead`)."""
    ctx = ctx or JobContext()
    _check(req)
    case.require_writable("fetch evidence into it")
    sess = session(target)
    _region(target, sess)  # before any call: a typo would otherwise look like bad credentials
    acq = Acquisition(
        "guardduty:ListFindings+GetFindings",
        req.params(),
        target.describe(),
        started_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    acq.caller = caller_identity(target, sess)
    api = _Api(target, sess, acq, ctx, req.rate)
    state = _state(cache, req, api)
    folder = state.path.parent
    imported: set[str] = set(state.data.setdefault("imported", []))
    waiting: list[tuple[str, int]] = [  # (file, findings): written, not yet imported
        (name, 0)
        for det in state.data.get("detectors", {}).values()
        for name in det.get("files", [])
        if name not in imported and (folder / name).exists()
    ]
    lock = threading.Lock()  # guards `waiting`, shared with the paging thread
    reports: list[ImportReport] = []
    ahead = PagesAhead(ctx)

    def import_ready(final: bool) -> None:
        with lock:
            take = list(waiting) if final or sum(n for _, n in waiting) >= BATCH_FINDINGS else []
            if take:
                waiting.clear()
        if take:
            reports.append(import_fetched(case, [folder / n for n, _ in take], acq, ctx, ORIGIN))
            with state.lock:
                imported.update(n for n, _ in take)
                state.data["imported"] = sorted(imported)
                state.save()

    def written(name: str, count: int) -> None:
        with lock:
            waiting.append((name, count))
        ahead.written.set()

    def produce() -> None:
        try:
            detectors = api.detectors(req)
        except (api_pages.ApiStopped, botocore.exceptions.ClientError) as exc:
            acq.failed.append(_why(exc, "ListDetectors"))
            detectors = []
        acq.params["detectors"] = detectors
        acq.records_expected = 0
        for detector in detectors:
            if not ahead.stop.is_set():
                _fetch_detector(api, req, detector, state, written, ctx)

    import_ready(True)  # what an earlier run fetched but did not import
    ahead.run(produce, import_ready)
    acq.finished_at = dt.datetime.now(dt.UTC).isoformat()
    return FetchReport(acq, reports, folder)


def _fetch_detector(
    api: _Api,
    req: FindingsRequest,
    detector: str,
    state: api_pages.FetchState,
    written: Callable[[str, int], None],
    ctx: JobContext,
) -> None:
    """List one detector's finding ids (unless an earlier run did), then GetFindings the ones
    not fetched yet, 50 at a time, each answer written before its progress is saved."""
    acq, folder = api.acq, state.path.parent
    with state.lock:
        det = state.data.setdefault("detectors", {}).setdefault(
            detector, {"ids": [], "token": None, "listed": False, "fetched": 0, "files": []}
        )
    acq.already_downloaded += det["fetched"]
    try:
        ctx.progress.phase = f"GuardDuty: listing findings of detector {detector}"
        api.list_ids(req, detector, det, state.save, state.lock)
        acq.records_expected = (acq.records_expected or 0) + len(det["ids"])
        while det["fetched"] < len(det["ids"]):
            batch = det["ids"][det["fetched"] : det["fetched"] + GET_BATCH]
            findings = api.get(detector, batch)
            name = f"{detector}/findings-{det['fetched'] // GET_BATCH:05d}.jsonl"
            with state.lock:
                if findings:
                    text = "".join(json.dumps(f, separators=(",", ":")) + "\n" for f in findings)
                    api_pages.write_text_atomic(folder / name, text)
                    det["files"].append(name)
                det["fetched"] += len(batch)
                state.save()
            acq.params["not_returned"] = acq.params.get("not_returned", 0) + len(batch) - len(findings)
            acq.records_retrieved += len(findings)
            if findings:
                written(name, len(findings))
            ctx.progress.files_total, ctx.progress.files_done = acq.records_expected, acq.records_retrieved
            ctx.progress.bytes_total = None  # an import in between set its own
            ctx.progress.phase = f"GuardDuty: {acq.records_retrieved:,} of {acq.records_expected:,} findings"
    except (api_pages.ApiStopped, botocore.exceptions.ClientError) as exc:
        acq.failed.append(
            f"{_why(exc, f'detector {detector}')} ({det['fetched']:,} of {len(det['ids']):,} listed "
            "findings fetched; run again to resume)"
        )


def _state(cache: Path, req: FindingsRequest, api: _Api) -> api_pages.FetchState:
    """The request's progress; findings are regional, so the region is part of the request."""
    params = {**req.params(), "region": api.client.meta.region_name}
    return api_pages.FetchState(api_pages.request_folder(cache, "guardduty", params), params)


def _why(exc: Exception, what: str) -> str:
    return api_pages.api_error(exc, f"GuardDuty {what}")


def summary_line(rep: FetchReport) -> str:
    """One line on what the fetch did (CLI, GUI)."""
    acq = rep.acquisition
    return (
        f"fetched as {acq.caller.get('arn')}: {len(acq.params.get('detectors', [])):,} detectors, "
        f"{acq.records_expected or 0:,} findings listed, {acq.records_retrieved:,} retrieved "
        f"({acq.already_downloaded:,} already here), {acq.records_imported:,} records imported, "
        f"{acq.api_calls:,} calls, throttled {acq.throttled:,}x"
    )
