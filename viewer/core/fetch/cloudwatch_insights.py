"""Logs Insights results into the case: one query per time window, split while a window is full.

A Logs Insights query returns at most `result_limit` rows (10,000 unless told otherwise) and says
nothing reliable about what it left out, so a window whose query returns that many rows is not
imported: it is cut in two halves, each queried again, recursively, until every window returns
fewer rows than the limit. A query that times out is split the same way (a smaller range is
cheaper). Windows are whole seconds, inclusive at both ends as the API reads them; the halves
share their middle second so an event in it can never fall between two windows (the import
drops the copy). A window of one or two seconds that is still full cannot be split: it is named
in the acquisition's failures (FilterLogEvents can page through it).

The windows still to run and those done are kept in the request's state file, so a resumed fetch
runs only what is missing. Each finished window is written as a filter-log-events document
(`cloudwatch_logs`), its events rebuilt from the fields @timestamp, @message, @logStream, @log
and @ptr, which the query is made to return by a leading `fields` command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from viewer.core.fetch import api_pages
from viewer.core.fetch.aws_auth import FetchError
from viewer.core.jobs import Cancelled

if TYPE_CHECKING:
    from viewer.core.fetch.cloudwatch_logs import LogsFetch

EVENT_FIELDS = "fields @timestamp, @message, @logStream, @log"
DONE_STATES = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")
POLL_FIRST, POLL_MAX = 0.2, 3.0
CONCURRENCY_WAITS = 10
CONCURRENT_QUERIES = 4  # seconds between GetQueryResults polls, growing


def query_text(user_query: str) -> str:
    """The user's query, preceded by the fields that rebuild an event (later commands may add
    fields; a query that aggregates returns no @message and is refused when it comes back)."""
    return f"{EVENT_FIELDS}\n| {user_query.strip()}"


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp_ms(value: str | None) -> int | None:
    """@timestamp as epoch ms: AWS gives '2024-03-12 10:00:00.000' (UTC); some emulators give
    epoch milliseconds."""
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        t = dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return int(t.timestamp() * 1000)


def event_from_row(row: list[dict[str, str]], group: str) -> dict[str, Any] | None:
    """A filter-log-events event from one result row; None when the row is no event (no @message)."""
    fields = {c.get("field"): c.get("value") for c in row}
    message = fields.get("@message")
    if message is None:
        return None
    event: dict[str, Any] = {}
    log = fields.get("@log") or group
    account, sep, name = log.partition(":")
    if sep and account.isdigit():  # @log is '<account>:<group>'
        event["owner"] = account
        log = name
    event.update(
        logGroupName=log,
        logStreamName=fields.get("@logStream"),
        timestamp=_timestamp_ms(fields.get("@timestamp")),
        message=message,
        # @ptr identifies the record (GetLogRecord takes it); Insights returns no eventId.
        eventId=fields.get("@ptr"),
    )
    return event


def _poll(f: LogsFetch, query_id: str) -> dict[str, Any]:
    """GetQueryResults until the query is done; then every page of its results."""
    wait = POLL_FIRST
    while True:
        res = f.call(lambda: f.client.get_query_results(queryId=query_id))
        if res.get("status") in DONE_STATES:
            break
        api_pages.sleep_unless_cancelled(f.ctx.token, wait)
        f.ctx.check()
        if f.ahead.stop.is_set():  # another window failed, or the import did
            raise Cancelled()
        wait = min(POLL_MAX, wait * 1.5)
    rows = list(res.get("results", []))
    while res.get("nextToken"):  # newer service versions page results beyond 10,000
        token = res["nextToken"]
        res = {
            **f.call(functools.partial(f.client.get_query_results, queryId=query_id, nextToken=token)),
            "status": res["status"],
        }
        rows += res.get("results", [])
        f.count("pages")
    f.count("pages")
    return {
        "status": res.get("status"),
        "rows": rows,
        "matched": res.get("statistics", {}).get("recordsMatched"),
    }


def _start(f: LogsFetch, params: dict[str, Any]) -> str:
    """StartQuery; "too many concurrent queries" (LimitExceededException, 30 per account and
    region, dashboards included) is waited out like a throttle and counted as one."""
    for attempt in range(1, CONCURRENCY_WAITS + 1):
        try:
            return str(f.call(lambda: f.client.start_query(**params))["queryId"])
        except botocore.exceptions.ClientError as exc:
            if api_pages.error_code(exc) != "LimitExceededException" or attempt == CONCURRENCY_WAITS:
                raise
            f.count("throttled")
            api_pages.sleep_unless_cancelled(f.ctx.token, api_pages.DEFAULT_BACKOFF.delay(attempt))
            f.ctx.check()
    raise AssertionError("unreachable")


def _run(f: LogsFetch, start: int, end: int) -> dict[str, Any]:
    """Run the query on [start, end] (epoch seconds); stop it on cancel."""
    params = {
        "logGroupName": f.req.group,
        "startTime": start,
        "endTime": end,
        "queryString": query_text(f.req.insights),
        "limit": f.req.result_limit,
    }
    query_id = _start(f, params)
    try:
        return _poll(f, query_id)
    except Cancelled:
        # Best effort: the query would otherwise run on and count against the quota.
        with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            f.client.stop_query(queryId=query_id)
        raise


def run_windows(f: LogsFetch) -> None:
    """Query the pending windows, CONCURRENT_QUERIES at a time, splitting full ones and writing
    the rest (in the paging thread of `PagesAhead`, while the caller's thread imports what is
    written). An Insights query spends most of its time running at AWS, so several at once make
    a split-heavy fetch several times faster, well under the 30 concurrent queries allowed."""
    st = f.state.data
    with f.state.lock:
        if "pending" not in st:
            whole = [math.floor(f.req.start.timestamp()), math.floor(f.req.end.timestamp())]
            st.update(pending=[whole], windows_done=[], splits=0)
    running: dict[Future[dict[str, Any]], tuple[int, int]] = {}
    with ThreadPoolExecutor(CONCURRENT_QUERIES, thread_name_prefix="insights") as pool:
        try:
            while True:
                with f.state.lock:
                    busy = set(running.values())
                    waiting = [(s, e) for s, e in st["pending"] if (s, e) not in busy]
                while waiting and len(running) < CONCURRENT_QUERIES and not f.ahead.stop.is_set():
                    window = waiting.pop(0)
                    running[pool.submit(_run, f, *window)] = window
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    start, end = running.pop(fut)
                    res = fut.result()
                    with f.state.lock:  # the importing thread saves the state too
                        _settle(f, start, end, res)
                f.ahead.written.set()
                f.ctx.progress.phase = (
                    f"Logs Insights: {len(st['windows_done']):,} windows done, {len(st['pending']):,} to "
                    f"run ({st['splits']:,} splits), {f.acq.records_retrieved:,} events"
                )
                f.ctx.progress.records = f.acq.records_retrieved
        except BaseException:
            f.ahead.stop.set()  # the queries still running stop (and are stopped at AWS)
            raise


def _settle(f: LogsFetch, start: int, end: int, res: dict[str, Any]) -> None:
    """What one window's query result means: split, give up on, or write it; then save."""
    st = f.state.data
    limit = f.req.result_limit
    span = f"{_iso(start)}..{_iso(end)}"
    full = res["status"] == "Timeout" or len(res["rows"]) >= limit
    at = st["pending"].index([start, end])
    if res["status"] not in ("Complete", "Timeout"):
        f.acq.failed.append(f"{span}: the query ended {res['status']}")
        st["pending"].pop(at)
    elif full and end - start >= 2:
        mid = (start + end) // 2
        st["pending"][at : at + 1] = [[start, mid], [mid, end]]
        st["splits"] += 1
    elif full:
        why = "timed out" if res["status"] == "Timeout" else f"returned the limit of {limit:,} rows"
        f.acq.failed.append(f"{span}: the query {why} within {end - start + 1} s; use FilterLogEvents for it")
        st["pending"].pop(at)
    else:
        events = [e for e in (event_from_row(r, f.req.group) for r in res["rows"]) if e is not None]
        if res["rows"] and not events:
            raise FetchError(
                "the Insights query returns rows without @message (an aggregation or a display "
                "command?): only queries returning log events can be imported"
            )
        if res["matched"] is not None:
            f.acq.records_expected = (f.acq.records_expected or 0) + int(res["matched"])
        f.acq.records_retrieved += len(events)
        if events:
            f.write(f"insights-{start}-{end}.json", events, [])
        st["pending"].pop(at)
        st["windows_done"].append([start, end, len(events)])
    f.state.save()
