"""`caseline verify / report / bundle / export / keys`: the evidence-integrity and hand-over commands.

caseline verify CASE [--evidence DIR] [--keys aws-public-keys.json]   # exit 1 unless all verified
caseline verify case.zip
caseline report CASE -o report.html [--pdf report.pdf]
caseline bundle CASE -o case.zip
caseline export CASE -o events.parquet [--filter 'action:GetObject'] [--query Q --lang kql]
caseline keys CASE aws-public-keys.json      # store CloudTrail public keys in the case
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viewer.core.case_file import CaseFile
from viewer.core.query.languages import LANGUAGES

if TYPE_CHECKING:
    from viewer.core.casework.findings import IntegrityResult

# The casework modules (report, bundle, integrity: XML, crypto) are imported by the handlers
# that use them, so other commands start without them.


def register(sub: Any) -> None:
    s = sub.add_parser(
        "verify", help="re-hash evidence and check the case (or a bundle); exit 1 on any failure"
    )
    s.add_argument("target", help="a case file or a bundle .zip")
    s.add_argument(
        "--evidence", help="folder holding the evidence files (default: where they were imported from)"
    )
    s.add_argument("--keys", help="CloudTrail public keys (`aws cloudtrail list-public-keys` JSON)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--write", action="store_true", help="store the results in the case (opens it read-write)")
    s.set_defaults(func=_verify)

    s = sub.add_parser("report", help="write the case report as self-contained HTML (and PDF)")
    s.add_argument("case")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--pdf", help="also write a PDF here")
    s.set_defaults(func=_report)

    s = sub.add_parser("bundle", help="write case + report + SHA-256 manifest into a zip for hand-over")
    s.add_argument("case")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=_bundle)

    s = sub.add_parser("export", help="export events (a filter, ids) or a query result with provenance")
    s.add_argument("case")
    s.add_argument("-o", "--output", required=True, help=".csv, .jsonl or .parquet")
    s.add_argument("--filter", default="", help="filter-bar text, e.g. 'action:GetObject outcome:failure'")
    s.add_argument("--ids", nargs="*", type=int, help="event ids")
    s.add_argument("--query", help="export this query's result instead of events")
    s.add_argument("--lang", choices=LANGUAGES, default="sql")
    s.add_argument("--no-raw", action="store_true", help="leave the raw record out")
    s.set_defaults(func=_export)

    s = sub.add_parser("keys", help="store CloudTrail public keys in the case for digest validation")
    s.add_argument("case")
    s.add_argument("key_file")
    s.set_defaults(func=_keys)


def _print_result(result: IntegrityResult, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "kind": result.kind,
                    "ok": result.ok,
                    "counts": result.counts(),
                    "failures": [f.__dict__ for f in result.failures],
                },
                default=str,
            )
        )
        return
    for f in result.failures:
        print(f"  {f.status:22} {f.subject}: {f.message}")
    verdict = "verified" if result.ok else "NOT verified"
    print(f"{result.kind}: {verdict}  " + ", ".join(f"{k} {v}" for k, v in result.counts().items()))


def _verify(args: argparse.Namespace) -> int:
    from viewer.core.casework import bundle, cloudtrail_integrity, custody

    if args.target.endswith(".zip"):
        result = bundle.verify(args.target)
        _print_result(result, args.json)
        return 0 if result.ok else 1
    with CaseFile.open(args.target, read_only=not args.write) as case:
        results = [custody.verify(case, args.evidence)]
        has_digests = (
            case.cursor().execute("SELECT count(*) FROM evidence WHERE role = 'digest'").fetchall()[0][0]
        )
        if has_digests:
            results.append(cloudtrail_integrity.validate(case, args.evidence, key_file=args.keys))
        elif not args.json:
            print("cloudtrail digests: not applicable (no digest files in the evidence)")
    for r in results:
        _print_result(r, args.json)
    return 0 if all(r.ok for r in results) else 1


def _report(args: argparse.Namespace) -> int:
    from viewer.core.casework import report

    with CaseFile.open(args.case, read_only=True) as case:
        Path(args.output).write_text(report.build_html(case), encoding="utf-8")
        print(f"wrote {args.output}")
        if args.pdf:
            from viewer.gui.report_pdf import write_pdf  # Qt only for the PDF

            write_pdf(case, args.pdf)
            print(f"wrote {args.pdf}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from viewer.core.casework import bundle

    with CaseFile.open(args.case) as case:
        out = bundle.write(case, args.output)
    print(f"wrote {out}; check it with: caseline verify {out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from viewer.core.casework import export
    from viewer.core.event_query import EventFilter
    from viewer.core.query.runner import QueryRunner

    with CaseFile.open(args.case) as case:
        if args.query:
            runner = QueryRunner(case, max_rows=10**9)
            rep = export.export_query_result(case, runner, runner.run(args.lang, args.query), args.output)
        else:
            rep = export.export_events(
                case,
                args.output,
                event_filter=EventFilter(text=args.filter) if args.filter else None,
                event_ids=args.ids,
                include_raw=not args.no_raw,
            )
    print(f"wrote {rep.rows:,} rows to {rep.path} (sha256 {rep.sha256})", file=sys.stderr)
    return 0


def _keys(args: argparse.Namespace) -> int:
    from viewer.core.casework import cloudtrail_keys

    with CaseFile.open(args.case) as case:
        n = cloudtrail_keys.store_keys(case, cloudtrail_keys.load_key_file(args.key_file))
    print(f"stored {n} public keys")
    return 0
