"""Logs Insights patterns -> RE2 patterns DuckDB can run.

`parse` glob: the literal text must appear in the field, each `*` captures text between two literals
(as little as possible, so `[*]` stops at the first `]`), and a trailing `*` takes the rest of the
field. The match may start anywhere in the field, as in AWS's own example
(`parse @message "[*] * The error was: *"` on `25 May 2019 ... [ERROR] {...} The error was: X`).
`*` also matches line breaks, since a message may span lines.

Regex literals: AWS runs them on Hyperscan (PCRE syntax); DuckDB runs RE2. The common subset is
the same; named groups `(?<name>...)` become plain groups, since RE2 only knows `(?P<name>...)`,
and constructs RE2 lacks (look-around, back-references, possessive quantifiers) are refused at
translation rather than failing when the query runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from viewer.core.query.common import TranslationError

_UNSUPPORTED = (
    (re.compile(r"\(\?<?[=!]"), "look-around"),
    (re.compile(r"\\[1-9]|\\k<"), "back-reference"),
    (re.compile(r"[*+?}]\+"), "possessive quantifier"),
    (re.compile(r"\(\?>"), "atomic group"),
)
_FLAGS = {"i": "i", "s": "s", "m": "m"}


@dataclass(frozen=True)
class Regex:
    """An RE2 pattern and, for `parse`, the 1-based group index of each named capture."""

    pattern: str
    groups: dict[str, int]


def glob_to_regex(glob: str) -> tuple[str, int]:
    """RE2 pattern for a parse glob, and the number of `*` captures it has."""
    pieces = glob.split("*")
    stars = len(pieces) - 1
    out = ["(?s)"]
    for k, literal in enumerate(pieces):
        out.append(re.escape(literal))
        if k < stars:
            is_last_and_trailing = k == stars - 1 and pieces[-1] == ""
            out.append("(.*)" if is_last_and_trailing else "(.*?)")
    return "".join(out), stars


def regex_literal(token: str, line: int, column: int) -> Regex:
    """Convert a `/.../flags` literal; named groups are numbered in order of their opening."""
    body, _, flags = token[1:].rpartition("/")
    body = body.replace("\\/", "/")
    for pattern, what in _UNSUPPORTED:
        if pattern.search(body):
            raise TranslationError(
                f"regular expression uses {what}, which DuckDB's RE2 cannot run", line, column, what
            )
    unknown = [f for f in flags if f not in _FLAGS]
    if unknown:
        raise TranslationError(f"unknown regex flag '{unknown[0]}'", line, column, unknown[0])
    converted, groups = _number_groups(body)
    prefix = f"(?{''.join(sorted(set(flags)))})" if flags else ""
    return Regex(prefix + converted, groups)


def _number_groups(body: str) -> tuple[str, dict[str, int]]:
    out: list[str] = []
    groups: dict[str, int] = {}
    count = 0
    i = 0
    in_class = False
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            out.append(body[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            named = re.match(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>", body[i:])
            if named:
                count += 1
                groups[named.group(1)] = count
                out.append("(")
                i += named.end()
                continue
            if not body.startswith("(?", i):
                count += 1
        out.append(ch)
        i += 1
    return "".join(out), groups
