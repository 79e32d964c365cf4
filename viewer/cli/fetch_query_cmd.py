"""`caseline fetch CASE aws-logs | aws-athena`: CloudWatch Logs (FilterLogEvents, Logs Insights)
and Athena over a CloudTrail table, each fetched into the case as an ordinary import.

caseline fetch CASE aws-logs --list-groups [--group-prefix P]
caseline fetch CASE aws-logs --group G --start T --end T [--pattern P] [--stream S ...]
    [--insights QUERY [--result-limit N]]
caseline fetch CASE aws-athena (--sql SQL | --table T [--principal P ...] [--ip IP ...]
    [--event-name N ...]) --start T --end T --output-location s3://... [--workgroup W]
    [--database D] [--create-table --trail-bucket B [--trail-prefix P] --account A ...
    --trail-region R ...]
plus the target options of every AWS source (--profile, --region, --endpoint-url, ...).
Times are ISO 8601; without an offset they are UTC. Exit status: 0 complete, 1 incomplete
(what was fetched is imported; run it again to resume), 2 error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any


def _utc(text: str) -> dt.datetime:
    """An ISO 8601 date or time; UTC unless it says otherwise."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


_TIME_HELP = "ISO 8601 date or time, UTC unless it carries an offset"


def register(fsub: Any) -> None:
    """Add aws-logs and aws-athena to the `fetch` sub-parsers."""
    from viewer.cli import fetch_cmd  # here, not at the top: fetch_cmd imports this module

    lg = fsub.add_parser("aws-logs", help="CloudWatch Logs: FilterLogEvents or a Logs Insights query")
    lg.add_argument("--list-groups", action="store_true", help="list the log groups and stop")
    lg.add_argument("--group-prefix", default="", help="with --list-groups: only names starting so")
    lg.add_argument("--group", help="the log group to fetch")
    lg.add_argument("--start", type=_utc, help=_TIME_HELP)
    lg.add_argument("--end", type=_utc, help=_TIME_HELP + " (inclusive)")
    lg.add_argument("--pattern", default="", help="a FilterLogEvents filter pattern")
    lg.add_argument("--stream", action="append", default=[], help="only this log stream (repeatable)")
    lg.add_argument("--insights", default="", help="a Logs Insights query returning log events")
    lg.add_argument(
        "--result-limit", type=int, default=10_000, help="Insights rows per query that make a window split"
    )
    lg.add_argument("--cache", help="fetch folder (default: beside the case, CASE.fetch/)")
    fetch_cmd.add_target_options(lg)
    lg.set_defaults(func=_aws_logs)

    at = fsub.add_parser("aws-athena", help="Athena: a query over a CloudTrail table, imported as CloudTrail")
    how = at.add_mutually_exclusive_group(required=True)
    how.add_argument("--sql", help="your own query (its rows must be CloudTrail table rows)")
    how.add_argument("--table", help="the CloudTrail table: a query is generated from the filters")
    at.add_argument("--principal", action="append", default=[], help="ARN, user name, principal or key id")
    at.add_argument("--ip", action="append", default=[], help="source IP address (repeatable)")
    at.add_argument("--event-name", action="append", default=[], help="event name (repeatable)")
    at.add_argument("--start", type=_utc, required=True, help=_TIME_HELP)
    at.add_argument("--end", type=_utc, required=True, help=_TIME_HELP + " (inclusive)")
    at.add_argument("--output-location", help="s3://bucket/prefix/ for Athena's results")
    at.add_argument("--workgroup")
    at.add_argument("--database", default="default")
    at.add_argument("--partition-column", help="the table's date partition (yyyy/MM/dd), to prune")
    at.add_argument("--create-table", action="store_true", help="create the table (partition projection)")
    at.add_argument("--trail-bucket", help="with --create-table: the trail's bucket")
    at.add_argument("--trail-prefix", default="", help="with --create-table: the trail's key prefix")
    at.add_argument("--org-id", default="", help="with --create-table: an organization trail's o-... id")
    at.add_argument("--account", action="append", default=[], help="with --create-table (repeatable)")
    at.add_argument("--trail-region", action="append", default=[], help="with --create-table (repeatable)")
    at.add_argument(
        "--table-since", type=dt.date.fromisoformat, help="with --create-table: first day (default: --start)"
    )
    at.add_argument("--show-sql", action="store_true", help="print the SQL and stop")
    at.add_argument("--cache", help="fetch folder (default: beside the case, CASE.fetch/)")
    fetch_cmd.add_target_options(at)
    at.set_defaults(func=_aws_athena)


def _cache(args: argparse.Namespace) -> Path:
    return Path(args.cache) if args.cache else Path(args.case + ".fetch")


def _finish(rep: Any, line: str) -> int:
    print(line)
    for failure in rep.acquisition.failed:
        print(f"  not fetched: {failure}", file=sys.stderr)
    return 0 if rep.complete else 1


def _aws_logs(args: argparse.Namespace) -> int:
    from viewer.cli import fetch_cmd
    from viewer.core.case_file import CaseFile
    from viewer.core.fetch import cloudwatch_logs
    from viewer.core.fetch.aws_auth import FetchError
    from viewer.core.jobs import JobContext

    try:
        if args.list_groups:
            for g in cloudwatch_logs.list_log_groups(fetch_cmd.target(args), args.group_prefix):
                print(f"{g['logGroupName']}\t{g.get('storedBytes', 0):,} bytes")
            return 0
        if not (args.group and args.start and args.end):
            print("error: --group, --start and --end are needed (or --list-groups)", file=sys.stderr)
            return 2
        req = cloudwatch_logs.LogsRequest(
            args.group,
            args.start,
            args.end,
            pattern=args.pattern,
            streams=tuple(args.stream),
            insights=args.insights,
            result_limit=args.result_limit,
        )
        with CaseFile.open_or_create(args.case) as case:
            rep = cloudwatch_logs.fetch(case, fetch_cmd.target(args), req, _cache(args), JobContext())
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _finish(rep, cloudwatch_logs.summary_line(rep))


def _aws_athena(args: argparse.Namespace) -> int:
    from viewer.cli import fetch_cmd
    from viewer.core.case_file import CaseFile
    from viewer.core.fetch import athena, athena_sql
    from viewer.core.fetch.aws_auth import FetchError
    from viewer.core.jobs import JobContext

    try:
        table = None
        if args.create_table:
            if not (args.table and args.trail_bucket and args.account and args.trail_region):
                raise FetchError("--create-table needs --table, --trail-bucket, --account and --trail-region")
            table = athena_sql.TrailTable(
                args.database,
                args.table,
                args.trail_bucket,
                tuple(args.account),
                tuple(args.trail_region),
                args.table_since or args.start.date(),
                prefix=args.trail_prefix,
                org_id=args.org_id,
            )
        filt = None
        if not args.sql:
            filt = athena_sql.TrailFilter(
                args.start,
                args.end,
                principals=tuple(args.principal),
                ips=tuple(args.ip),
                event_names=tuple(args.event_name),
                partition_column=args.partition_column or ("timestamp" if table else None),
            )
        if args.show_sql:
            if table:
                print(athena_sql.create_table_sql(table) + ";\n")
            sql = args.sql if filt is None else athena_sql.select_sql(args.database, args.table, filt)
            print(sql + ";")
            return 0
        req = athena.AthenaRequest(
            sql=args.sql or "",
            table=args.table or "",
            filter=filt,
            database=args.database,
            output_location=args.output_location,
            workgroup=args.workgroup,
            create_table=table,
        )
        with CaseFile.open_or_create(args.case) as case:
            rep = athena.fetch(case, fetch_cmd.target(args), req, _cache(args), JobContext())
    except (FetchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _finish(rep, athena.summary_line(rep))
