"""`caseline`: the headless face of the core, and the contract for automation.

    caseline new CASE
    caseline import CASE PATH... [--format NAME]
    caseline info CASE [--json]
    caseline query CASE QUERY [--lang sql|kql|insights] [--library NAME|list] [--show-sql] [--format ...]
    caseline verify CASE|BUNDLE.zip [--evidence DIR] [--keys FILE]
    caseline report CASE -o report.html [--pdf report.pdf]
    caseline bundle CASE -o case.zip
    caseline export CASE -o out.csv|.jsonl|.parquet [--filter TEXT] [--query QUERY --lang L]
    caseline entities CASE --kind principal|ip|resource|credential|session [--json]
    caseline pivot CASE KIND VALUE [--json]
    caseline fetch CASE aws-s3 --bucket B --start D --end D [--profile P] [--region R] [--endpoint-url URL]
    caseline formats [--json | --markdown]
    caseline upgrade CASE [--to COPY]
    caseline open [CASE | BUNDLE.zip] [--read-only]

Errors go to stderr with a non-zero exit status; warnings never fail an import.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from viewer import __version__
from viewer.cli import casework_cmd, entities_cmd, fetch_cmd, query_cmd
from viewer.cli.output import jsonable
from viewer.core.case_file import CaseError, CaseFile
from viewer.core.jobs import Cancelled, JobContext, Progress
from viewer.core.sources import SourceError
from viewer.core.write_space import DeferredSpaceError
from viewer.formats import catalog, custom_store, registry
from viewer.formats.custom import CustomFormatError

if TYPE_CHECKING:  # the import pipeline (Arrow, numpy, the derived structures) is loaded by `import`
    from viewer.core.ingest import FileResult, ImportPlan, ImportReport


class _ProgressBar:
    """One-line terminal progress: files, records, MB, rate, ETA."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.width = 0  # the widest line written: a shorter one is padded over it
        self.warned = False

    def __call__(self, p: Progress) -> None:
        if p.message and not self.warned:  # once (its figures change with every chunk), tty or not
            self.warned = True
            self.stream.write(("\n" if self.tty and self.width else "") + f"warning: {p.message}\n")
            self.width = 0
        if not self.tty:
            return
        frac = p.fraction or 0.0
        bar = "#" * int(frac * 30)
        if p.records or p.bytes_done:
            eta = f"{p.eta_seconds:5.0f}s" if p.eta_seconds is not None else "  ...."
            line = (
                f"[{bar:<30}] {p.phase:<10} files {p.files_done}/{p.files_total or '?'}  "
                f"{p.records:,} rec  {p.bytes_done / 1e6:,.1f} MB  {p.rate:,.0f} rec/s  ETA {eta}"
            )
        else:  # planning: files found, then files looked at
            line = f"[{bar:<30}] {p.phase}: {p.files_done:,}" + (
                f" of {p.files_total:,} files" if p.files_total else " files"
            )
        self.stream.write(f"\r{line:<{self.width}}")
        self.width = max(self.width, len(line))
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _cmd_new(args: argparse.Namespace) -> int:
    CaseFile.create(args.case).close()
    print(f"created {args.case}")
    return 0


def _file_line(f: FileResult) -> str:
    c = f.counts
    line = f"{f.path}: {f.format or f.role}"
    if f.role == "events":
        line += f"  seen {c.seen:,} = kept {c.kept:,} + rejected {c.rejected:,} + duplicate {c.duplicate:,}"
    elif f.role == "digest":
        line += "  (digest recorded in the ledger)"
    if f.note:
        line += f"  ({f.note})"
    return line


def _print_report(report: ImportReport, verbose: bool) -> None:
    files = [f for f in report.files if f.role != "container" or f.warnings]
    # Every file when there are few or when asked; otherwise the files that need attention.
    shown = files if verbose or len(files) <= 30 else [f for f in files if f.warnings or f.note]
    for f in shown:
        print(_file_line(f))
        for w in f.warnings[:20]:
            print(f"    warning: {w}")
        if len(f.warnings) > 20:
            print(f"    ... {len(f.warnings) - 20} more warnings (see the import_warnings table)")
    by_format: dict[str, list[FileResult]] = {}
    for f in files:
        by_format.setdefault(f.format or f.role, []).append(f)
    if len(shown) < len(files):
        for name, group in sorted(by_format.items()):
            kept = sum(g.counts.kept for g in group)
            print(f"{name}: {len(group)} files, {kept:,} events kept")
    events_files = [f for f in report.files if f.role == "events"]
    print(
        f"import #{report.import_id}: {len(events_files)} event files, "
        f"seen {report.total('seen'):,} = kept {report.total('kept'):,} + rejected {report.total('rejected'):,} "
        f"+ duplicate {report.total('duplicate'):,} in {report.elapsed:.1f}s"
    )


def _detection_notes(plan: ImportPlan) -> list[str]:
    """Files whose format was a coin toss between equally ranked formats, and which one won."""
    notes = []
    for pf in plan.files:
        if plan.forced_format or pf.spec is None or len(pf.candidates) < 2:
            continue
        found = [registry.get(n) for n in pf.candidates]
        if registry.is_ambiguous(found):
            tied = ", ".join(s.name for s in registry.tied_best(found))
            notes.append(
                f"{pf.source.display_path}: matches {tied} equally; read as {pf.spec.name} "
                "(choose with --format)"
            )
    return notes


def _cmd_import(args: argparse.Namespace) -> int:
    from viewer.core.ingest import plan_import, run_import

    for problem in registry.custom_problems():
        print(f"warning: custom format skipped: {problem}", file=sys.stderr)
    bar = _ProgressBar(sys.stderr)
    plan = plan_import(args.paths, args.format, JobContext(on_progress=bar))
    try:
        with CaseFile.open_or_create(args.case) as case:
            try:
                report = run_import(case, plan, JobContext(on_progress=bar))
            except Cancelled:
                bar.done()
                print("import cancelled; the case is unchanged", file=sys.stderr)
                return 130
            bar.done()
            _print_report(report, args.verbose)
            for note in _detection_notes(plan):
                print(f"note: {note}", file=sys.stderr)
            if report.unfolded:  # the import stands; this process can write the case no more
                print(f"warning: {report.unfolded}", file=sys.stderr)
            elif not args.no_search_index and report.total("kept"):
                _build_deferred(case)
    finally:
        plan.cleanup()
    unknown_named = [f for f in report.unknown_files if f.path in args.paths]
    for f in report.unknown_files:
        print(f"error: {f.path}: unknown format (known: {', '.join(registry.names())})", file=sys.stderr)
    return 1 if unknown_named else 0


def _cmd_info(args: argparse.Namespace) -> int:
    with CaseFile.open(args.case, read_only=True) as case:
        s = case.summary()
        ledger = case.ledger()
    if args.json:
        out = {
            "path": s.path,
            "schema_version": s.schema_version,
            "events": s.events,
            "evidence_files": s.evidence_files,
            "first_ts": jsonable(s.first_ts),
            "last_ts": jsonable(s.last_ts),
            "sources": s.sources,
            "ledger": [{k: jsonable(v) for k, v in row.items()} for row in ledger],
        }
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print(f"case      {s.path} (schema {s.schema_version})")
    print(f"events    {s.events:,}")
    span = f"{_fmt_ts(s.first_ts)} .. {_fmt_ts(s.last_ts)}" if s.first_ts else "(no events)"
    print(f"time span {span}")
    for src, n in s.sources.items():
        print(f"source    {src}: {n:,}")
    print(f"evidence  {s.evidence_files} files")
    roles: dict[tuple[str, str], list[int]] = {}
    for row in ledger:
        key = (row["role"], row["format"] or "-")
        acc = roles.setdefault(key, [0, 0, 0, 0, 0])
        for i, col in enumerate(("records_seen", "records_kept", "records_rejected", "records_duplicate")):
            acc[i] += row[col]
        acc[4] += 1
    for (role, fmt), (seen, kept, rej, dup, n) in sorted(roles.items()):
        print(
            f"  {role:<9} {fmt:<32} {n:>6} files  seen {seen:,} kept {kept:,} rejected {rej:,} duplicate {dup:,}"
        )
    if args.ledger:
        for row in ledger:
            print(
                f"  #{row['evidence_id']:<5} {row['role']:<9} {row['format'] or '-':<28} "
                f"seen {row['records_seen']:>8,} kept {row['records_kept']:>8,} rej {row['records_rejected']:>5,} "
                f"dup {row['records_duplicate']:>5,}  {row['sha256'][:12]}  {row['path']}"
            )
    return 0


def _fmt_ts(ts: dt.datetime | None) -> str:
    return ts.astimezone(dt.UTC).isoformat(sep=" ") if ts else "-"


def _build_deferred(case: CaseFile) -> None:
    """The free-text index and the raw fields are built after the import commits (viewer.core.derived)."""
    from viewer.core import derived

    bar = _ProgressBar(sys.stderr)
    try:
        timings = derived.update_deferred(case, JobContext(on_progress=bar))
    except Cancelled:
        bar.done()
        print(
            "deferred indexes: interrupted; search and queries stay exact (events not indexed are scanned)",
            file=sys.stderr,
        )
        return
    except DeferredSpaceError as exc:  # the import itself is in: a warning, not a failure
        bar.done()
        print(f"warning: {exc}", file=sys.stderr)
        return
    bar.done()
    for name, seconds in timings.items():
        print(f"{name.replace('_', ' ')}: up to date in {seconds:.1f}s")


def _cmd_reindex(args: argparse.Namespace) -> int:
    from viewer.core import derived

    with CaseFile.open(args.case) as case:  # a full disk: DeferredSpaceError, said as an error
        timings = derived.update_deferred(
            case, JobContext(on_progress=_ProgressBar(sys.stderr)), with_inline=True
        )
    for name, seconds in timings.items():
        print(f"{name}: up to date ({seconds:.2f}s)")
    return 0


def _cmd_formats(args: argparse.Namespace) -> int:
    if args.markdown:  # the built-in formats: what docs/formats.md is generated from
        sys.stdout.write(catalog.markdown(list(registry.FORMATS)))
        return 0
    infos = [catalog.describe(s, custom=registry.is_custom(s)) for s in registry.all_specs()]
    problems = registry.custom_problems()
    if args.json:
        out = {
            "formats": [i.as_dict() for i in infos],
            "custom_formats_dir": str(custom_store.formats_dir()),
            "custom_format_problems": problems,
        }
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'NAME':<36} {'SOURCE TYPE':<22} {'PROVIDER':<8} {'READER':<8} {'ORIGIN':<8} TITLE")
    for i in sorted(infos, key=lambda i: (i.origin != "built-in", i.name)):
        reader = i.reader if i.role == "events" else i.role
        print(f"{i.name:<36} {i.source_type:<22} {i.provider:<8} {reader:<8} {i.origin:<8} {i.title}")
    print(f"({len(infos)} formats; custom formats live in {custom_store.formats_dir()})")
    for problem in problems:
        print(f"warning: custom format skipped: {problem}", file=sys.stderr)
    return 0


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from viewer.core.case_file import schema_version_of
    from viewer.core.case_upgrade import upgraded_copy
    from viewer.core.migrations import SCHEMA_VERSION

    if args.to:
        bar = _ProgressBar(sys.stderr)
        try:
            done = upgraded_copy(args.case, args.to, JobContext(on_progress=bar))
        finally:
            bar.done()
        print(done.describe())
        return 0
    before = schema_version_of(args.case)
    CaseFile.open(args.case).close()  # runs the migrations in place
    print(
        f"{args.case}: case schema {before} -> {SCHEMA_VERSION}"
        if before < SCHEMA_VERSION
        else f"{args.case}: up to date (schema {before})"
    )
    return 0


def _cmd_open(args: argparse.Namespace) -> int:
    from viewer.gui.app import run  # the GUI is loaded only for this command

    return run(args.case, read_only=args.read_only)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caseline", description="Offline forensics for cloud logs.")
    p.add_argument("--version", action="version", version=f"caseline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("new", help="create an empty case file")
    s.add_argument("case")
    s.set_defaults(func=_cmd_new)
    s = sub.add_parser("import", help="import files, folders or archives into a case (created if missing)")
    s.add_argument("case")
    s.add_argument("paths", nargs="+")
    s.add_argument(
        "--format",
        help="skip detection and read every file as this format, built-in or custom:NAME (see `caseline formats`)",
    )
    s.add_argument("-v", "--verbose", action="store_true", help="a summary line for every file")
    s.add_argument(
        "--no-search-index",
        action="store_true",
        help="skip the structures built after an import (the free-text index, the extracted raw fields): "
        "search and queries stay exact but scan the events; `caseline reindex` builds them",
    )
    s.set_defaults(func=_cmd_import)
    s = sub.add_parser("info", help="events, sources, time span and the evidence ledger")
    s.add_argument("case")
    s.add_argument("--json", action="store_true")
    s.add_argument("--ledger", action="store_true", help="list every evidence file with its hash and counts")
    s.set_defaults(func=_cmd_info)
    query_cmd.register(sub)
    casework_cmd.register(sub)
    entities_cmd.register(sub)
    fetch_cmd.register(sub)

    s = sub.add_parser("reindex", help="bring the timeline rollup, page anchors and search index up to date")
    s.add_argument("case")
    s.set_defaults(func=_cmd_reindex)
    s = sub.add_parser("formats", help="list the log formats Caseline reads, built-in and custom")
    out = s.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable, with columns filled per format")
    out.add_argument(
        "--markdown", action="store_true", help="the built-in formats as docs/formats.md is generated"
    )
    s.set_defaults(func=_cmd_formats)
    s = sub.add_parser("upgrade", help="bring a case written by an older Caseline to this schema")
    s.add_argument("case")
    s.add_argument(
        "--to",
        metavar="COPY",
        help="write an upgraded copy there and leave CASE untouched (for evidence you must not change)",
    )
    s.set_defaults(func=_cmd_upgrade)
    s = sub.add_parser("open", help="open the desktop application")
    s.add_argument(
        "case", nargs="?", help="a case file, or an evidence bundle .zip (verified, opened read-only)"
    )
    s.add_argument("--read-only", action="store_true", help="auditor mode: nothing can change the case file")
    s.set_defaults(func=_cmd_open)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # argparse takes positionals only before the first option; `query CASE --lang kql TEXT`
    # leaves TEXT over, which the query command accepts (nothing else does).
    args, extras = parser.parse_known_args(argv)
    if extras:
        if not getattr(args, "takes_extra_positionals", False) or any(e.startswith("--") for e in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.extra_positionals = extras
    try:
        return int(args.func(args))
    except (CaseError, SourceError, registry.UnknownFormatError, CustomFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `caseline ... | head`
        sys.stderr.close()
        return 0
