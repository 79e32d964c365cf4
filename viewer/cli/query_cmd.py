"""`caseline query`: SQL, KQL or Logs Insights on a case, or a query from the library.

    caseline query CASE "SELECT ..."                      # DuckDB SQL
    caseline query CASE 'AWSCloudTrail | take 5' --lang kql
    caseline query CASE --library aws_root_account_use [--lang kql]
    caseline query --library list                          # the library, no case needed
    caseline query CASE QUERY --lang kql --show-sql       # print the SQL, run nothing

The same rules as the editor: one SELECT over the case; reading files only with
--allow-external-access; queries run are recorded in the case's activity log.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from viewer.cli.output import write_rows
from viewer.core.case_file import CaseFile
from viewer.core.query import guard, library
from viewer.core.query.common import TranslationError
from viewer.core.query.languages import LANGUAGES


def register(sub: Any) -> None:
    s = sub.add_parser("query", help="run SQL, KQL or Logs Insights on the case, or a library query")
    s.add_argument("case", nargs="?", help="the case file (not needed for --library list)")
    s.add_argument("query", nargs="?", help="the query text ('-' reads it from stdin)")
    s.add_argument("--lang", choices=LANGUAGES, default=None, help="query language (default sql)")
    s.add_argument("--library", metavar="NAME", help="run a query from the library ('list' shows them)")
    s.add_argument(
        "--show-sql",
        action="store_true",
        help="print the DuckDB SQL the query runs as (after -- comments on what the translation applied unasked), and stop",
    )
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.add_argument("--read-only", action="store_true", help="open the case read-only: nothing can change it")
    s.add_argument("--allow-external-access", action="store_true", help="let the query read files")
    s.set_defaults(func=run, takes_extra_positionals=True)


def _list_library() -> int:
    for q in library.bundled():
        langs = ",".join(q.texts)
        attack = " ".join(q.attack)
        print(f"{q.name:38} [{langs}] {q.title}" + (f"  ({attack})" if attack else ""))
    return 0


def _text(args: argparse.Namespace) -> tuple[str, str]:
    if args.library:
        q = library.get(args.library)
        lang = args.lang or "sql"
        return lang, q.text(lang)
    if not args.query:
        raise SystemExit("error: give a query, or --library NAME")
    text = sys.stdin.read() if args.query == "-" else args.query
    return args.lang or "sql", text


#: Rows fetched from DuckDB at a time while printing a result.
FETCH_ROWS = 10_000


class _Fetched:
    """A result's rows, fetched FETCH_ROWS at a time, counted."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self.rows = 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while batch := self._cur.fetchmany(FETCH_ROWS):
            self.rows += len(batch)
            yield from batch


def run(args: argparse.Namespace) -> int:
    from viewer.core.query.runner import translate, translate_on  # loaded only for this command

    for extra in getattr(args, "extra_positionals", []):  # positionals given after options
        if args.case is None:
            args.case = extra
        elif args.query is None:
            args.query = extra
        else:
            print(f"error: unexpected argument {extra!r}", file=sys.stderr)
            return 2
    if args.library == "list":
        return _list_library()
    if args.case and args.query is None and not args.library and args.show_sql is False:
        print("error: give a query, or --library NAME", file=sys.stderr)
        return 2
    if args.show_sql and args.query is None and args.case and not args.library:
        args.query, args.case = args.case, None  # `query --show-sql TEXT`: no case needed
    language, text = _text(args)
    try:
        translated = translate(language, text)
    except TranslationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.show_sql:
        if args.case:  # what runs on this case (Logs Insights reads its key sets)
            with CaseFile.open(args.case, read_only=True) as case:
                translated = translate_on(case.cursor(), language, text)
        print(translated.shown_sql)  # what the translation applied unasked, as SQL comments first
        return 0
    if not args.case:
        print("error: which case? caseline query CASE QUERY", file=sys.stderr)
        return 2
    with CaseFile.open(args.case, read_only=args.read_only) as case:
        cur = case.cursor()
        translated = translate_on(cur, language, text)
        try:
            guard.check(cur, translated.sql, args.allow_external_access)
        except TranslationError as err:
            mode = "the case is open read-only (auditor mode); " if case.read_only else ""
            print(f"error: {mode}{err}", file=sys.stderr)
            return 2
        rel = cur.execute(translated.sql)
        cols = [d[0] for d in rel.description] if rel.description else []
        # Rows are printed as DuckDB hands them over, a batch at a time: all of them at once held
        # 2.9 GB for 1M events' columns as CSV (10M would not fit in memory). The query is logged
        # even when the reader stops early (`| head`), with the rows fetched until then.
        fetched = _Fetched(rel)
        try:
            write_rows(cols, fetched if cols else [], args.format)
        finally:
            case.log_activity(
                "query_run", {"language": language, "text": text[:4000], "rows": fetched.rows, "via": "cli"}
            )
    for note in translated.notes:  # on stderr: the rows on stdout stay clean CSV or JSON
        print(f"note: {note}", file=sys.stderr)
    return 0
