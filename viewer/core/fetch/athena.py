"""Athena over a CloudTrail table: run the query there, import only its result as CloudTrail.

For trails too big to download, the query runs where the data is. The flow: optionally create
the table (partition projection, `athena_sql`), start the query, poll GetQueryExecution with a
growing pause, then page GetQueryResults and rebuild CloudTrail records (`athena_rows`) written
as `{"Records":[...]}` files that the CloudTrail format imports.

Why GetQueryResults rather than the result CSV in S3: the CSV is one fast download, but it cannot
tell NULL from an empty string, needs s3:GetObject (and kms:Decrypt for an encrypted workgroup)
on the result bucket besides the Athena permissions, and a single broken quote misaligns every
later column. The API's rows are typed as NULL / value and need only Athena's permissions; a page
holds 1,000 rows, so a million-row result costs a thousand calls (minutes, rate limited) — an
acceptable price for an import that must be exact.

Resumable: the execution id, the NextToken after the last written file and the files written are
kept in the request's state file, so a re-run pages on from there (a finished query's results stay
in Athena for days) instead of running the query again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from viewer.core.case_file import CaseFile
from viewer.core.fetch import api_pages, athena_sql
from viewer.core.fetch.acquisition import Acquisition, FetchReport, import_fetched
from viewer.core.fetch.athena_rows import RowConverter, RowShapeError, column_names, is_header, row_values
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, caller_identity, scrub, session
from viewer.core.fetch.cloudwatch_logs import check_region, kept_note, user_error
from viewer.core.fetch.pages_ahead import PagesAhead
from viewer.core.ingest import ImportReport
from viewer.core.jobs import Cancelled, JobContext

ORIGIN = "live:aws-athena"
# Athena allows 20 StartQueryExecution and 100 GetQueryExecution / GetQueryResults calls per second
# per account and region by default; one limiter at the lower rate keeps under both.
CALLS_PER_SECOND = 20.0
POLL_FIRST, POLL_MAX = 0.25, 5.0
RECORDS_PER_FILE = 1000  # one file per page of GetQueryResults
IMPORT_BATCH_FILES = 20


@dataclass(frozen=True)
class AthenaRequest:
    """Either `sql` (the user's) or `table` + `filter` (a query generated for them)."""

    sql: str = ""
    table: str = ""
    filter: athena_sql.TrailFilter | None = None
    database: str = "default"
    output_location: str | None = None  # s3://bucket/prefix/ (or the workgroup's)
    workgroup: str | None = None
    create_table: athena_sql.TrailTable | None = None
    page_size: int = 1000

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"database": self.database, "output_location": self.output_location}
        if self.workgroup:
            out["workgroup"] = self.workgroup
        if self.sql:
            out["sql"] = self.sql
        else:
            assert self.filter is not None
            f = self.filter
            out.update(
                table=self.table,
                start=f.start.isoformat(),
                end=f.end.isoformat(),
                principals=list(f.principals),
                ips=list(f.ips),
                event_names=list(f.event_names),
            )
        if self.create_table:
            out["create_table"] = {"bucket": self.create_table.bucket, "table": self.create_table.table}
        return out


class _Athena:
    """One fetch's client, limiter, acquisition and state."""

    def __init__(
        self, case: CaseFile, target: AwsTarget, req: AthenaRequest, cache: Path, ctx: JobContext
    ) -> None:
        self.case, self.req, self.ctx = case, req, ctx
        self.reports: list[ImportReport] = []
        self.ahead = PagesAhead(ctx)
        self.acq = Acquisition(
            "athena:StartQueryExecution+GetQueryResults",
            req.params(),
            target.describe(),
            started_at=dt.datetime.now(dt.UTC).isoformat(),
        )
        sess = session(target)
        self.region = check_region(sess, target.region, "athena")
        self.acq.target["region"] = self.region  # also when it came from the profile
        self.acq.caller = caller_identity(target, sess)
        self.client = api_pages.paged_client(target, sess, "athena")
        self.limiter = api_pages.shared_limiter(
            "athena", self.acq.caller["account"], self.region, CALLS_PER_SECOND
        )
        self.folder = api_pages.request_folder(cache, "aws-athena", {**req.params(), "region": self.region})
        self.state = api_pages.FetchState(self.folder, req.params())
        self.state.data.setdefault("files", [])
        self.state.data.setdefault("imported", 0)

    def call(self, fn: Any, **kwargs: Any) -> Any:
        self.acq.api_calls += 1

        def throttled() -> None:
            self.acq.throttled += 1

        return api_pages.call(
            functools.partial(fn, **kwargs), limiter=self.limiter, token=self.ctx.token, on_throttle=throttled
        )

    def start(self, sql: str) -> str:
        params: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.req.database},
        }
        if self.req.output_location:
            params["ResultConfiguration"] = {"OutputLocation": self.req.output_location}
        if self.req.workgroup:
            params["WorkGroup"] = self.req.workgroup
        return str(self.call(self.client.start_query_execution, **params)["QueryExecutionId"])

    def wait(self, execution_id: str) -> dict[str, Any]:
        """GetQueryExecution until the query is done (a growing pause between polls); on
        cancel, stop the query so it does not run on (and bill) unseen."""
        pause = POLL_FIRST
        try:
            while True:
                ex = self.call(self.client.get_query_execution, QueryExecutionId=execution_id)[
                    "QueryExecution"
                ]
                state = ex["Status"]["State"]
                self.ctx.progress.phase = f"Athena query {state.lower()}"
                self.ctx.report()
                if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                    return dict(ex)
                api_pages.sleep_unless_cancelled(self.ctx.token, pause)
                self.ctx.check()
                pause = min(POLL_MAX, pause * 1.6)
        except Cancelled:
            # Best effort: the cancel itself must not fail.
            with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                self.client.stop_query_execution(QueryExecutionId=execution_id)
            raise

    def run_to_success(self, sql: str, what: str) -> str:
        execution_id = self.start(sql)
        ex = self.wait(execution_id)
        if ex["Status"]["State"] != "SUCCEEDED":
            reason = scrub(str(ex["Status"].get("StateChangeReason", "no reason given")))
            hint = ""
            if "TABLE_NOT_FOUND" in reason or "does not exist" in reason:
                hint = " (create the CloudTrail table with --create-table, or name the right --database)"
            raise FetchError(f"{what} {ex['Status']['State'].lower()}: {reason}{hint}")
        return execution_id

    def table_columns(self) -> tuple[tuple[str, str], ...] | None:
        """The table's columns from the catalog, so the query names only columns it has (older
        CloudTrail tables lack the newer fields); None when the catalog cannot say."""
        try:
            meta = self.call(
                self.client.get_table_metadata,
                CatalogName="AwsDataCatalog",
                DatabaseName=self.req.database,
                TableName=self.req.table,
            )["TableMetadata"]
        except (botocore.exceptions.ClientError, api_pages.ApiStopped):
            return None
        return tuple((c["Name"].lower(), c.get("Type", "string")) for c in meta.get("Columns", []))

    def write(self, name: str, records: list[dict[str, Any]]) -> None:
        """One file of records; a page fetched again on resume rewrites its files identically."""
        api_pages.write_json_atomic(self.folder / name, {"Records": records})
        with self.state.lock:
            if name not in self.state.data["files"]:
                self.state.data["files"].append(name)
            self.state.save()
        self.ahead.written.set()

    def import_ready(self, final: bool = False) -> None:
        """Import what was written since the last import, once a batch is full (or at the end)."""
        with self.state.lock:
            first = self.state.data["imported"]
            todo = [self.folder / n for n in self.state.data["files"][first:]]
        if todo and (final or len(todo) >= IMPORT_BATCH_FILES):
            self.ctx.check()
            self.reports.append(import_fetched(self.case, todo, self.acq, self.ctx, ORIGIN))
            with self.state.lock:
                self.state.data["imported"] = first + len(todo)
                self.state.save()


def _page_results(a: _Athena, execution_id: str) -> None:
    """Page GetQueryResults from the saved token on; each page's records go to files of at most
    RECORDS_PER_FILE, named by page, and the token moves on once the page is written whole. Runs
    in the paging thread of `PagesAhead`; the caller's thread imports the files."""
    st = a.state.data
    converter = RowConverter(st["columns"]) if "columns" in st else None
    while not st.get("done") and not a.ahead.stop.is_set():
        a.ctx.check()
        page_no = st.get("page_no", 0) + 1
        kwargs: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": a.req.page_size}
        if st.get("next_token"):
            kwargs["NextToken"] = st["next_token"]
        page = a.call(a.client.get_query_results, **kwargs)
        a.acq.pages += 1
        rs = page.get("ResultSet", {})
        rows = [row_values(r) for r in rs.get("Rows", [])]
        if converter is None:
            st["columns"] = column_names(rs)
            converter = RowConverter(st["columns"])
        if page_no == 1 and rows and is_header(rows[0], converter.names):
            rows = rows[1:]
        records = [converter.record(v) for v in rows]
        a.acq.records_retrieved += len(records)
        for i in range(0, len(records), RECORDS_PER_FILE):
            # Named by execution too: a query run again (the first failed) never overwrites files.
            name = f"{execution_id}-page{page_no:06d}-{i // RECORDS_PER_FILE + 1:04d}.json"
            a.write(name, records[i : i + RECORDS_PER_FILE])
        token = page.get("NextToken")
        with a.state.lock:
            st.update(next_token=token, page_no=page_no, done=not token)
            a.state.save()
        a.ctx.progress.phase = f"Athena results: {page_no:,} pages, {a.acq.records_retrieved:,} rows"
        a.ctx.progress.records = a.acq.records_retrieved  # reported by the importing thread
    if converter is not None and converter.hive_values:
        a.acq.failed.append(
            f"{converter.hive_values:,} struct values came as Athena's text rendering and were read best "
            "effort: select them as json_format(CAST(col AS JSON)) for exact values"
        )


def fetch(
    case: CaseFile, target: AwsTarget, req: AthenaRequest, cache: Path, ctx: JobContext | None = None
) -> FetchReport:
    """Run `req` on Athena and import its rows as CloudTrail records, resumably."""
    ctx = ctx or JobContext()
    case.require_writable("fetch evidence into it")
    if not req.sql and (not req.table or req.filter is None):
        raise FetchError("give a query, or a table and a filter to generate one")
    a = _Athena(case, target, req, cache, ctx)
    st = a.state.data
    a.import_ready(final=True)  # what an earlier run wrote but did not import
    what = "the Athena query"
    try:
        if req.create_table and not st.get("table_created"):
            a.run_to_success(athena_sql.create_table_sql(req.create_table), "creating the CloudTrail table")
            st["table_created"] = True
            a.state.save()
        if not st.get("done"):
            execution_id = st.get("execution_id")
            if execution_id and a.wait(execution_id)["Status"]["State"] != "SUCCEEDED":
                execution_id = None  # it failed or was stopped: run it again
            if not execution_id:
                sql = req.sql
                if not sql:
                    assert req.filter is not None
                    sql = athena_sql.select_sql(req.database, req.table, req.filter, a.table_columns())
                a.acq.params["sql"] = sql
                execution_id = a.run_to_success(sql, what)
                st.update(execution_id=execution_id, sql=sql, next_token=None, page_no=0)
                a.state.save()
            # A resumed fetch's imports name the query too (it ran in the earlier run).
            a.acq.params.update(sql=st.get("sql", req.sql), query_execution_id=execution_id)
            a.ahead.run(lambda: _page_results(a, execution_id), a.import_ready)
    except RowShapeError as exc:
        raise FetchError(str(exc)) from None
    except (api_pages.ApiStopped, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        msg = user_error(exc, what)
        raise FetchError(msg + kept_note(a.acq.records_imported)) from None
    a.import_ready(final=True)
    a.acq.finished_at = dt.datetime.now(dt.UTC).isoformat()
    return FetchReport(a.acq, a.reports, a.folder)


def summary_line(rep: FetchReport) -> str:
    acq = rep.acquisition
    return (
        f"fetched as {acq.caller.get('arn')}: query {acq.params.get('query_execution_id', '?')}, "
        f"{acq.pages:,} result pages, {acq.records_retrieved:,} rows, {acq.records_imported:,} "
        f"records imported, {acq.throttled:,} throttled"
    )
