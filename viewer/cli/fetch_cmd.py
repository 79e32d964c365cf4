"""`caseline fetch`: evidence straight from the cloud into the case, as an ordinary import.

caseline fetch CASE aws-s3 --bucket B --start 2024-03-11 --end 2024-03-15 [--prefix P]
    [--account A ...] [--trail-region R ...] [--no-digests] [--estimate]
    [--profile P | --keyring-name N] [--role-arn ARN [--external-id X]] [--region R] [--endpoint-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viewer.cli import fetch_api_cmd, fetch_query_cmd

if TYPE_CHECKING:
    from viewer.core.fetch.aws_auth import AwsTarget

# The fetch modules load boto3 (~0.1 s), so every command imports them inside its handler:
# `caseline import` and `caseline --help` do not wait for it.


def register(sub: Any) -> None:
    s = sub.add_parser("fetch", help="fetch evidence from AWS into the case (resumable)")
    s.add_argument("case")
    fsub = s.add_subparsers(dest="source", required=True)
    a = fsub.add_parser("aws-s3", help="a CloudTrail trail bucket: logs and digests by date prefix")
    a.add_argument("--bucket", required=True)
    a.add_argument("--prefix", default="", help="the trail's S3 key prefix (before AWSLogs/)")
    a.add_argument("--start", required=True, type=dt.date.fromisoformat)
    a.add_argument("--end", required=True, type=dt.date.fromisoformat)
    a.add_argument("--account", action="append", default=[], help="only these accounts (repeatable)")
    a.add_argument("--trail-region", action="append", default=[], help="only these regions (repeatable)")
    a.add_argument("--no-digests", action="store_true")
    a.add_argument("--estimate", action="store_true", help="count objects and bytes, download nothing")
    a.add_argument("--cache", help="download folder (default: beside the case, CASE.fetch/)")
    add_target_options(a)
    a.set_defaults(func=_aws_s3)
    # Each further source registers its own sub-command from its own module.
    fetch_api_cmd.register(fsub)
    fetch_query_cmd.register(fsub)


def add_target_options(p: argparse.ArgumentParser) -> None:
    """Where and as whom: the options every AWS source takes (see `target`)."""
    p.add_argument("--profile")
    p.add_argument("--keyring-name", help="an access key stored in the OS keyring")
    p.add_argument("--role-arn")
    p.add_argument("--external-id")
    p.add_argument("--region")
    p.add_argument("--endpoint-url")


def target(args: argparse.Namespace) -> AwsTarget:
    from viewer.core.fetch.aws_auth import AwsTarget

    return AwsTarget(
        profile=args.profile,
        region=args.region,
        endpoint_url=args.endpoint_url,
        keyring_name=args.keyring_name,
        role_arn=args.role_arn,
        external_id=args.external_id,
    )


def _aws_s3(args: argparse.Namespace) -> int:
    from viewer.core.case_file import CaseFile
    from viewer.core.fetch import s3_trail
    from viewer.core.fetch.aws_auth import FetchError
    from viewer.core.jobs import JobContext

    req = s3_trail.S3TrailRequest(
        args.bucket,
        args.start,
        args.end,
        args.prefix,
        tuple(args.account),
        tuple(args.trail_region),
        not args.no_digests,
    )
    try:
        if args.estimate:
            n, size = s3_trail.estimate(target(args), req)
            print(f"{n:,} objects, {size / 1e6:,.1f} MB to download")
            return 0
        cache = Path(args.cache) if args.cache else Path(args.case + ".fetch")
        with CaseFile.open_or_create(args.case) as case:
            rep = s3_trail.fetch(case, target(args), req, cache, JobContext())
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    acq = rep.acquisition
    print(
        f"fetched as {acq.caller.get('arn')}: {acq.objects_listed:,} objects listed, {acq.downloaded:,} downloaded, "
        f"{acq.already_downloaded:,} already here, {acq.records_imported:,} records imported"
    )
    for f in acq.failed:
        print(f"  not fetched: {f}", file=sys.stderr)
    return 0 if rep.complete else 1
