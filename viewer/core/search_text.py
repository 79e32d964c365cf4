"""What free text matches, and the exact SQL predicates that decide it.

What matches (documented semantics, the same with or without the index):

* The searched text of an event is its searchable fields and its raw record, lower-cased; a match
  lies within one of them (a query word cannot hold the newline that joins them).
* *Token characters* are ASCII letters, digits and ``_ . @ -``; every other character is a
  separator (non-ASCII ones too: RE2 splits ~20% faster on an ASCII class). So an IP, an e-mail
  address, a host name or a UUID is one token, while ``arn:aws:iam::1:user/alice`` holds the
  tokens ``arn aws iam 1 user alice``, and ``josé`` holds ``jos``.
* A query word (or quoted phrase) ``w`` matches when ``lower(w)`` occurs in the text with a
  separator or the text's edge on both sides; ``w*`` only needs the boundary on the left (a token
  prefix). Leading and trailing ASCII separators of ``w`` are ignored; all words must match.
  So ``alice`` finds ``user/alice`` but not ``malice``; ``10.0.0.1`` does not find ``10.0.0.10``;
  ``10.0.0.1*`` does.

Because a match lies within one source, the exact predicate can be split by source: a check of
some searchable columns (`column_match_sql`, cheap: short dictionary-compressed strings) and a
check of the raw record (`raw_match_sql`, costly: ~1.7 KB of zstd-compressed JSON per event). The
index (`viewer.core.search_index`) says per block which sources can hold a word, so most checks
never read the raw record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from viewer.schema import searchable_fields

#: Separators, as RE2 classes: anything but ASCII letters, digits and _ . @ -  (an ASCII-only class
#: splits ~20% faster than one admitting non-ASCII letters; case folding never crosses it).
SEP_RE2 = "[^a-z0-9_.@-]"
#: A token character, either case: what the index build extracts runs of.
TOKEN_RE2_ANYCASE = "[A-Za-z0-9_.@-]"
_SEP_PY = re.compile(r"[^A-Za-z0-9_.@-]+")
_ASCII_SEP = "".join(c for c in map(chr, range(128)) if not (c.isascii() and (c.isalnum() or c in "_.@-")))
_RE2_META = set("\\.^$|?*+()[]{}")
RAW_TEXT = "raw::VARCHAR"


@dataclass(frozen=True)
class Needle:
    """One query word or phrase: `text` as typed (stripped of edge separators), prefix if `w*`."""

    text: str
    prefix: bool = False

    @property
    def index_tokens(self) -> list[str]:
        """Tokens the index can look up: whole ones (not a prefix's last piece), 2+ characters."""
        pieces = [p for p in _SEP_PY.split(self.text) if p]
        if self.prefix and pieces:
            pieces = pieces[:-1]
        return [p for p in pieces if len(p) >= 2]

    @property
    def is_single_token(self) -> bool:
        """A whole word without separators inside: it matches exactly when it is one of the text's
        tokens, so per-source token facts in the index decide where it can match."""
        return not self.prefix and len(self.text) >= 2 and _SEP_PY.search(self.text) is None


def make_needle(text: str, prefix: bool = False) -> Needle | None:
    """A needle from a query word without its edge ASCII separators, or None if nothing is left."""
    core = text.strip(_ASCII_SEP)
    return Needle(core, prefix) if core else None


def parse_query(text: str) -> list[Needle]:
    """Whitespace-separated words of the search box; a trailing * makes a prefix."""
    out = []
    for word in text.split():
        prefix = word.endswith("*") and len(word) > 1
        needle = make_needle(word[:-1] if prefix else word, prefix)
        if needle is not None and needle not in out:
            out.append(needle)
    return out


def searchable_columns() -> list[str]:
    return [f.name for f in searchable_fields()]


def text_sql() -> str:
    """The searched text of an event (see module docstring)."""
    return f"lower(concat_ws(chr(10), {', '.join(searchable_columns())}, {RAW_TEXT}))"


def _re2_escape(s: str) -> str:
    return "".join("\\" + c if c in _RE2_META else c for c in s)


def lower_all(words: list[str], cur: duckdb.DuckDBPyConnection | None) -> list[str]:
    """Lower-case as DuckDB does (Unicode rules may differ from Python's for rare letters)."""
    if cur is None:
        return [w.lower() for w in words]
    return [str(r[0]) for r in cur.execute("SELECT lower(unnest(?))", [words]).fetchall()]


def _pattern(needle: Needle, low: str) -> str:
    tail = "" if needle.prefix else f"({SEP_RE2}|$)"
    return f"(^|{SEP_RE2}){_re2_escape(low)}{tail}"


def _source_match(expr: str, low: str, pattern: str, params: list[object]) -> str:
    """`expr` (one source's text) holds the needle. A cheap necessary condition runs first and the
    regex on the lower-cased text only confirms boundaries: ILIKE for ASCII needles, whose case
    folding ILIKE and lower() agree on. Without ESCAPE, ``_`` and ``%`` in the word act as
    wildcards, which only widens the pre-filter (ILIKE with ESCAPE measured 1.6x slower).

    NULL when `expr` is NULL, and never wrapped in a function such as coalesce(): DuckDB then
    evaluates the AND as a value on every row, running the regex everywhere (measured 20x slower
    on `principal_id` at 10M events). Callers use it in WHERE, where NULL is not a match; a
    negated word goes through `NOT IN` a subquery (`negate`)."""
    if low.isascii():
        params.extend([f"%{low}%", pattern])
        return f"({expr} ILIKE ? AND regexp_matches(lower({expr}), ?))"
    params.extend([low, pattern])
    return f"(contains(lower({expr}), ?) AND regexp_matches(lower({expr}), ?))"


def negate(sql: str) -> str:
    """Events not matching `sql` (a positive text predicate, NULL for no match), keeping the
    predicate a filter of its own query (see `_source_match`)."""
    return f"(event_id NOT IN (SELECT event_id FROM events WHERE {sql}))"


def column_match_sql(needle: Needle, low: str, columns: Sequence[str], params: list[object]) -> str:
    """The needle occurs in one of these searchable columns (exact for those columns)."""
    if not columns:
        return "false"
    pattern = _pattern(needle, low)
    return "(" + " OR ".join(_source_match(c, low, pattern, params) for c in columns) + ")"


def raw_match_sql(needle: Needle, low: str, params: list[object]) -> str:
    """The needle occurs in the raw record (exact)."""
    return _source_match(RAW_TEXT, low, _pattern(needle, low), params)


def needle_match_sql(needle: Needle, low: str, params: list[object]) -> str:
    """The needle occurs anywhere in the searched text: every searchable column, then the raw."""
    cols = column_match_sql(needle, low, searchable_columns(), params)
    return f"({cols} OR {raw_match_sql(needle, low, params)})"


def match_sql(needles: list[Needle], cur: duckdb.DuckDBPyConnection | None) -> tuple[str, list[object]]:
    """Exact SQL predicate without the index: every needle occurs at token boundaries."""
    if not needles:
        return "true", []
    params: list[object] = []
    parts = [
        needle_match_sql(n, low, params)
        for n, low in zip(needles, lower_all([n.text for n in needles], cur), strict=True)
    ]
    return "(" + " AND ".join(parts) + ")", params
