"""`caseline fetch CASE aws-lookup | aws-guardduty`: CloudTrail LookupEvents and GuardDuty findings.

caseline fetch CASE aws-lookup --start 2024-03-11 --end 2024-03-15 [--attribute Key=Value]
    [--lookup-region R ...] [--window-hours H] [--estimate] [--cache DIR] [target options]
caseline fetch CASE aws-guardduty --start ... --end ... [--detector-id D] [--min-severity 4]
    [--time-field updatedAt|createdAt] [--estimate] [--cache DIR] [target options]

A date alone means the whole day: --end 2024-03-15 includes the 15th (as aws-s3). Times are UTC
unless they carry an offset. The target options (--profile, --region, --endpoint-url, ...) come
from `fetch_cmd`, imported inside the functions because fetch_cmd imports this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any


def _when(text: str, end: bool = False) -> dt.datetime:
    """ISO date or date-time; a bare date is its midnight, or the next midnight for an end."""
    try:
        if len(text) == 10:
            day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
            return day + dt.timedelta(days=1) if end else day
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def register(fsub: Any) -> None:
    """Add aws-lookup and aws-guardduty to the `fetch` sub-parsers."""
    from viewer.cli import fetch_cmd

    a = fsub.add_parser("aws-lookup", help="CloudTrail Event history (LookupEvents): windows, one filter")
    a.add_argument("--start", required=True, type=_when)
    a.add_argument("--end", required=True, type=lambda t: _when(t, end=True))
    a.add_argument("--attribute", help="one filter Key=Value, Key: EventName, Username, AccessKeyId, ...")
    a.add_argument(
        "--lookup-region", action="append", default=[], help="regions to read (repeatable; default --region)"
    )
    a.add_argument("--window-hours", type=float, default=24.0, help="sub-window length (progress, resume)")
    a.add_argument("--estimate", action="store_true", help="count windows and calls, call nothing")
    a.add_argument("--cache", help="page folder (default: beside the case, CASE.fetch/)")
    fetch_cmd.add_target_options(a)
    a.set_defaults(func=_aws_lookup)

    g = fsub.add_parser("aws-guardduty", help="GuardDuty findings by detector, severity and time")
    g.add_argument("--start", required=True, type=_when)
    g.add_argument("--end", required=True, type=lambda t: _when(t, end=True))
    g.add_argument("--detector-id", help="default: every detector of the region (ListDetectors)")
    g.add_argument("--min-severity", type=int, default=None, help="e.g. 4 (Medium and above)")
    g.add_argument("--time-field", choices=("updatedAt", "createdAt"), default="updatedAt")
    g.add_argument("--include-archived", action="store_true")
    g.add_argument("--estimate", action="store_true", help="list finding ids and count them, fetch none")
    g.add_argument("--cache", help="finding folder (default: beside the case, CASE.fetch/)")
    fetch_cmd.add_target_options(g)
    g.set_defaults(func=_aws_guardduty)


def _cache(args: argparse.Namespace) -> Path:
    return Path(args.cache) if args.cache else Path(args.case + ".fetch")


def _print_failures(failed: list[str]) -> None:
    for f in failed:
        print(f"  not fetched: {f}", file=sys.stderr)


def _aws_lookup(args: argparse.Namespace) -> int:
    from viewer.cli import fetch_cmd
    from viewer.core.case_file import CaseFile
    from viewer.core.fetch import lookup_events
    from viewer.core.fetch.aws_auth import FetchError
    from viewer.core.jobs import JobContext

    try:
        req = lookup_events.LookupRequest(
            args.start,
            args.end,
            tuple(args.lookup_region),
            lookup_events.parse_attribute(args.attribute) if args.attribute else None,
            dt.timedelta(hours=args.window_hours),
            lookup_events.LOOKUP_RATE,
        )
        target = fetch_cmd.target(args)
        if args.estimate:
            print(lookup_events.estimate(target, req, _cache(args)).describe())
            return 0
        with CaseFile.open_or_create(args.case) as case:
            rep = lookup_events.fetch(case, target, req, _cache(args), JobContext())
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(lookup_events.summary_line(rep))
    _print_failures(rep.acquisition.failed)
    return 0 if rep.complete else 1


def _aws_guardduty(args: argparse.Namespace) -> int:
    from viewer.cli import fetch_cmd
    from viewer.core.case_file import CaseFile
    from viewer.core.fetch import guardduty
    from viewer.core.fetch.aws_auth import FetchError
    from viewer.core.jobs import JobContext

    req = guardduty.FindingsRequest(
        args.start,
        args.end,
        args.detector_id,
        args.min_severity,
        args.time_field,
        args.include_archived,
    )
    try:
        target = fetch_cmd.target(args)
        if args.estimate:
            print(guardduty.estimate(target, req, _cache(args)).describe())
            return 0
        with CaseFile.open_or_create(args.case) as case:
            rep = guardduty.fetch(case, target, req, _cache(args), JobContext())
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(guardduty.summary_line(rep))
    _print_failures(rep.acquisition.failed)
    return 0 if rep.complete else 1
