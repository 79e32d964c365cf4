"""Fetching CloudWatch Logs: list log groups, FilterLogEvents pages, Logs Insights query results.

What comes back is written as the `aws logs filter-log-events` JSON document
(`{"events":[...], "searchedLogStreams":[...]}`) that the CloudWatch Logs formats import, so
CloudTrail or EKS audit records carried in a log group are recognised as such (their raw record
is the carried record: the same event fetched from the trail bucket is a duplicate, not a second
event). Each event also carries `logGroupName`, which the API leaves out of a page because the
request named it, but which an event read alone needs (the case's log_name and service columns).

FilterLogEvents pages are written one file per non-empty page; the NextToken after each page is
kept in the request's state file, so a cancelled or crashed fetch continues where it stopped.
Pages can be empty while a NextToken is still given: paging ends only when it is absent.
Logs Insights lives in `cloudwatch_insights` (windows, the result limit, splitting).

Files are imported in batches as they arrive (each batch one ordinary import with the acquisition
record); a re-run imports what a cancel left unimported (files already in the case are skipped by
their hash) and fetches only what is missing.
"""

from __future__ import annotations

import datetime as dt
import functools
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

ORIGIN = "live:aws-logs"
SERVICE = "logs"
# FilterLogEvents, DescribeLogGroups, StartQuery and GetQueryResults each allow a few requests
# per second per account and region; 5/s keeps one fetch under every one of them.
CALLS_PER_SECOND = 5.0
IMPORT_BATCH_FILES = 20
IMPORT_BATCH_BYTES = 8 * 1024**2  # small enough to overlap the next pages' fetch


@dataclass(frozen=True)
class LogsRequest:
    group: str
    start: dt.datetime  # aware, inclusive
    end: dt.datetime  # aware, inclusive
    pattern: str = ""  # a FilterLogEvents filter pattern ("" : every event)
    streams: tuple[str, ...] = ()  # only these log streams (FilterLogEvents)
    insights: str = ""  # a Logs Insights query: fetched with StartQuery instead of FilterLogEvents
    result_limit: int = 10_000  # Insights rows per query that mean "there may be more": split
    page_size: int | None = None  # FilterLogEvents events per page (None: the service's own)

    def params(self) -> dict[str, Any]:
        """The request as the acquisition record and the resume state know it."""
        out: dict[str, Any] = {
            "log_group": self.group,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }
        if self.insights:
            out.update(insights=self.insights, result_limit=self.result_limit)
        else:
            out.update(filter_pattern=self.pattern, log_streams=list(self.streams))
        return out


def epoch_ms(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("times must carry a UTC offset")
    return int(t.timestamp() * 1000)


def check_region(sess: boto3.Session, region: str | None, service: str) -> str:
    """The region, or a clear error for one that does not exist (AWS itself would only answer
    with a connection error to a host name that does not resolve)."""
    region = region or sess.region_name
    if not region:
        raise FetchError("no region: pass --region or set one in the AWS profile")
    known = set()
    for partition in sess.get_available_partitions():
        known.update(sess.get_available_regions(service, partition_name=partition))
    if known and region not in known:
        raise FetchError(
            f"no AWS region named {region!r} offers {service} (as this botocore knows them; "
            "a region newer than the installed boto3 needs an update)"
        )
    return region


def user_error(exc: BaseException, what: str) -> str:
    """Why `what` failed, for the user. A 403 whose body the client could not read (an emulator
    answering a JSON API in XML, a proxy) is still access denied, not an unnamed "403"."""
    if (
        isinstance(exc, botocore.exceptions.ClientError)
        and api_pages.error_code(exc) not in api_pages.DENIED_CODES
        and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403
    ):
        return f"{what}: access denied (HTTP 403); the identity lacks the permission or an SCP blocks it"
    return api_pages.api_error(exc, what)


def kept_note(imported: int) -> str:
    """What a failed fetch leaves behind, for the end of its error message."""
    if imported:
        return f"; the {imported:,} records imported so far are kept: run it again to resume"
    return "; nothing was imported"


class LogsFetch:
    """One fetch's shared pieces: client, limiter, acquisition, state folder, batched imports."""

    def __init__(self, case: CaseFile, target: AwsTarget, req: LogsRequest, cache: Path, ctx: JobContext):
        self.case, self.req, self.ctx = case, req, ctx
        self.acq = Acquisition(
            "logs:StartQuery+GetQueryResults" if req.insights else "logs:FilterLogEvents",
            req.params(),
            target.describe(),
            started_at=dt.datetime.now(dt.UTC).isoformat(),
        )
        sess = session(target)
        region = check_region(sess, target.region, SERVICE)
        self.acq.target["region"] = region  # also when it came from the profile
        self.acq.caller = caller_identity(target, sess)
        self.client = api_pages.paged_client(target, sess, SERVICE)
        self.limiter = api_pages.shared_limiter(SERVICE, self.acq.caller["account"], region, CALLS_PER_SECOND)
        self.region = region
        self.folder = api_pages.request_folder(cache, "aws-logs", {**req.params(), "region": region})
        self.state = api_pages.FetchState(self.folder, req.params())
        self.state.data.setdefault("files", [])
        self.state.data.setdefault("imported", 0)
        self.reports: list[ImportReport] = []
        self.ahead = PagesAhead(ctx)
        self._counting = threading.Lock()

    def count(self, counter: str, n: int = 1) -> None:
        """Add to an acquisition counter: Insights windows run in several threads."""
        with self._counting:
            setattr(self.acq, counter, getattr(self.acq, counter) + n)

    def call(self, fn: Callable[[], Any]) -> Any:
        """One API call, rate limited, throttles retried with backoff and counted."""
        self.count("api_calls")
        return api_pages.call(
            fn, limiter=self.limiter, token=self.ctx.token, on_throttle=lambda: self.count("throttled")
        )

    def explain(self, exc: Exception, what: str) -> FetchError:
        """A user-facing error for an API failure, naming what is kept."""
        if api_pages.error_code(exc) == "ResourceNotFoundException":
            return FetchError(
                f"no log group named {self.req.group!r} in {self.region} "
                f"(or not visible to {self.acq.caller.get('arn', 'this identity')})"
            )
        return FetchError(user_error(exc, what) + kept_note(self.acq.records_imported))

    def write(self, name: str, events: list[dict[str, Any]], searched: list[Any]) -> None:
        """One page as a filter-log-events document, written atomically, noted in the state
        (the caller saves the state with its own progress, under the state's lock)."""
        doc = {"events": events, "searchedLogStreams": searched}
        api_pages.write_json_atomic(self.folder / name, doc)
        with self.state.lock:
            if name not in self.state.data["files"]:
                self.state.data["files"].append(name)

    def import_ready(self, final: bool = False) -> None:
        """Import the files written since the last import once a batch is full (or at the end)."""
        with self.state.lock:
            first = self.state.data["imported"]
            todo = [self.folder / n for n in self.state.data["files"][first:]]
        if not todo:
            return
        if (
            not final
            and len(todo) < IMPORT_BATCH_FILES
            and sum(p.stat().st_size for p in todo) < IMPORT_BATCH_BYTES
        ):
            return
        self.ctx.check()
        self.reports.append(import_fetched(self.case, todo, self.acq, self.ctx, ORIGIN))
        with self.state.lock:
            self.state.data["imported"] = first + len(todo)
            self.state.save()

    def report(self) -> FetchReport:
        self.acq.finished_at = dt.datetime.now(dt.UTC).isoformat()
        return FetchReport(self.acq, self.reports, self.folder)


def list_log_groups(
    target: AwsTarget, prefix: str = "", ctx: JobContext | None = None
) -> list[dict[str, Any]]:
    """The log groups (name, creation time, stored bytes, retention) whose name starts with `prefix`."""
    ctx = ctx or JobContext()
    sess = session(target)
    region = check_region(sess, target.region, SERVICE)
    client = api_pages.paged_client(target, sess, SERVICE)
    groups: list[dict[str, Any]] = []
    params: dict[str, Any] = {"logGroupNamePrefix": prefix} if prefix else {}
    try:
        while True:
            page = api_pages.call(lambda: client.describe_log_groups(**params), limiter=None, token=ctx.token)
            groups += page.get("logGroups", [])
            if not page.get("nextToken"):
                return groups
            params["nextToken"] = page["nextToken"]
    except (api_pages.ApiStopped, botocore.exceptions.ClientError) as exc:
        raise FetchError(user_error(exc, f"listing log groups in {region}")) from None


def _filter_pages(f: LogsFetch) -> None:
    """FilterLogEvents from the saved NextToken to the end, one file per non-empty page."""
    req, st = f.req, f.state.data
    if st.get("done"):
        return
    params: dict[str, Any] = {
        "logGroupName": req.group,
        "startTime": epoch_ms(req.start),
        "endTime": epoch_ms(req.end),
    }
    if req.pattern:
        params["filterPattern"] = req.pattern
    if req.streams:
        params["logStreamNames"] = list(req.streams)
    if req.page_size:
        params["limit"] = req.page_size
    retried_token = False
    while not f.ahead.stop.is_set():
        f.ctx.check()
        token = st.get("next_token")
        try:
            call_params = {**params, **({"nextToken": token} if token else {})}
            page = f.call(functools.partial(f.client.filter_log_events, **call_params))
        except botocore.exceptions.ClientError as exc:
            # A saved NextToken can expire before a resume: start the window again once; the
            # pages already imported come back as duplicates, which the import recognises.
            if token and not retried_token and api_pages.error_code(exc) == "InvalidParameterException":
                retried_token = True
                st["next_token"] = None
                continue
            raise
        f.acq.pages += 1
        number = st.get("pages", 0) + 1
        events = page.get("events", [])
        if events:
            f.acq.records_retrieved += len(events)
            f.write(
                f"page-{number:06d}.json",
                [{**e, "logGroupName": req.group} for e in events],
                page.get("searchedLogStreams", []),
            )
        with f.state.lock:
            st.update(pages=number, next_token=page.get("nextToken"), done=not page.get("nextToken"))
            f.state.save()
        f.ahead.written.set()
        f.ctx.progress.phase = f"FilterLogEvents: {f.acq.pages:,} pages, {f.acq.records_retrieved:,} events"
        f.ctx.progress.records = f.acq.records_retrieved
        if st["done"]:
            return


def fetch(
    case: CaseFile, target: AwsTarget, req: LogsRequest, cache: Path, ctx: JobContext | None = None
) -> FetchReport:
    """Fetch the events of `req` into `cache` and import them, batch by batch, resumably."""
    from viewer.core.fetch import cloudwatch_insights

    ctx = ctx or JobContext()
    case.require_writable("fetch evidence into it")
    if req.end < req.start:
        raise FetchError("the end of the time range is before its start")
    if not 1 <= req.result_limit <= 100_000:
        raise FetchError("the Insights result limit must be between 1 and 100,000 rows (StartQuery's range)")
    f = LogsFetch(case, target, req, cache, ctx)
    f.import_ready(final=True)  # what an earlier run fetched but did not import
    try:
        produce = cloudwatch_insights.run_windows if req.insights else _filter_pages
        f.ahead.run(lambda: produce(f), f.import_ready)
    except (api_pages.ApiStopped, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise f.explain(
            exc, f"{'Logs Insights' if req.insights else 'FilterLogEvents'} on {req.group}"
        ) from None
    f.import_ready(final=True)
    return f.report()


def summary_line(rep: FetchReport) -> str:
    acq = rep.acquisition
    expected = f" (the API said {acq.records_expected:,})" if acq.records_expected is not None else ""
    return (
        f"fetched as {acq.caller.get('arn')}: {acq.api_calls:,} API calls, {acq.pages:,} pages, "
        f"{acq.records_retrieved:,} events retrieved{expected}, {acq.records_imported:,} imported, "
        f"{acq.throttled:,} throttled"
    )
