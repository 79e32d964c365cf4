"""Parsing KQL text with Lark (LALR), and turning Lark's errors into TranslationErrors."""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from viewer.core.query.common import TranslationError
from viewer.core.query.kql.grammar import GRAMMAR
from viewer.core.query.kql.model import refuse_at

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
# Known KQL constructs outside the subset, so the error names them instead of saying "unexpected".
_KNOWN_OPERATORS = frozenset(
    [
        "mv-expand",
        "mv-apply",
        "parse",
        "parse-where",
        "parse-kv",
        "extract",
        "evaluate",
        "lookup",
        "make-series",
        "project-rename",
        "project-reorder",
        "project-keep",
        "as",
        "serialize",
        "sample",
        "sample-distinct",
        "search",
        "facet",
        "find",
        "getschema",
        "invoke",
        "partition",
        "range",
        "reduce",
        "scan",
        "fork",
        "print",
        "count",
        "top-nested",
        "top-hitters",
        "consume",
        "externaldata",
        "datatable",
        "materialize",
        "filter",
    ]
)


@cache
def parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)


def parse(text: str) -> Tree:
    try:
        return parser().parse(text)
    except UnexpectedInput as exc:
        raise _error(text, exc) from None


def _error(text: str, exc: UnexpectedInput) -> TranslationError:
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return refuse_at(text, len(text), "the query ends too early", "")
    offset = exc.pos_in_stream if exc.pos_in_stream is not None else 0
    if isinstance(exc, UnexpectedToken) and exc.token.start_pos is not None:
        offset = exc.token.start_pos
    word_match = _WORD.match(text, offset)
    word = word_match.group(0) if word_match else text[offset : offset + 1]
    after_pipe = text[:offset].rstrip().endswith("|")
    if after_pipe:
        what = "not supported" if word in _KNOWN_OPERATORS else "not a KQL operator this translator knows"
        return refuse_at(text, offset, f"operator {word!r} is {what}", word)
    if isinstance(exc, UnexpectedCharacters):
        return refuse_at(text, offset, f"unexpected character {text[offset]!r}", text[offset])
    return refuse_at(text, offset, f"{word!r} is not supported or not expected here", word)
