"""The Logs Insights grammar (a lark LALR parser) and the mapping of syntax errors to positions.

Why lark: it is a maintained, pure-Python parser generator with an LALR mode whose contextual
lexer tells a regex literal `/re/` from the division operator by parser state, and every token
carries its line and column. sqlglot has no Logs Insights dialect and duckdb-kql parses KQL only.
The parser is built once at import and reused: a parse of a typical query takes well under 1 ms.
"""

from __future__ import annotations

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from viewer.core.query.common import TranslationError

# Keywords are case-insensitive: AWS's own samples write `FIELDS ... | STATS ... BY BIN(5m)`.
GRAMMAR = r"""
query: command (_PIPE command)*

?command: fields_cmd | display_cmd | filter_cmd | stats_cmd | sort_cmd | limit_cmd
        | parse_cmd | dedup_cmd

fields_cmd: FIELDS projection ("," projection)*
display_cmd: DISPLAY projection ("," projection)*
filter_cmd: FILTER expr
stats_cmd: STATS projection ("," projection)* (BY projection ("," projection)*)?
sort_cmd: SORT sort_key ("," sort_key)*
limit_cmd: LIMIT NAME? INT
parse_cmd: PARSE_HEAD STRING (AS name ("," name)*)?
         | PARSE_HEAD REGEX                                  -> parse_regex_cmd
dedup_cmd: DEDUP name ("," name)*

projection: expr (AS name)?
sort_key: expr (ASC | DESC)?

?expr: or_expr
?or_expr: and_expr | or_expr OR and_expr                    -> or_op
?and_expr: not_expr | and_expr AND not_expr                 -> and_op
?not_expr: predicate | NOT not_expr                         -> not_op
?predicate: sum
    | sum COMPARE sum                                       -> compare
    | sum NOT? LIKE (STRING | REGEX)                        -> like
    | sum REGEX_MATCH REGEX                                 -> regex_match
    | sum NOT? IN "[" literal ("," literal)* "]"            -> in_list
?sum: product | sum ADD_OP product                          -> arith
?product: power | product MUL_OP power                      -> arith
?power: unary | unary POW_OP power                          -> arith
?unary: atom | MINUS unary                                  -> negate
?atom: literal | name | call | "(" expr ")"
?literal: NUMBER -> number | STRING -> string | DURATION -> duration
call: FUNC_NAME "(" [STAR | expr ("," expr)*] ")"
name: NAME | QUOTED_NAME

_PIPE: "|"
FIELDS.2: /fields\b/i
DISPLAY.2: /display\b/i
FILTER.2: /filter\b/i
STATS.2: /stats\b/i
SORT.2: /sort\b/i
LIMIT.2: /limit\b/i
// "parse <field>" is one token so that the lexer, after it, expects only a pattern: a field
// token elsewhere may be followed by the division operator, which a regex literal resembles.
PARSE_HEAD.2: /parse\s+(@?[A-Za-z_][A-Za-z0-9_@]*(\.[A-Za-z0-9_@]+)*|`[^`]+`)/i
DEDUP.2: /dedup\b/i
AS.2: /as\b/i
BY.2: /by\b/i
ASC.2: /asc\b/i
DESC.2: /desc\b/i
AND.2: /and\b/i
OR.2: /or\b/i
NOT.2: /not\b/i
LIKE.2: /like\b/i
IN.2: /in\b/i
COMPARE: "=" | "!=" | "<=" | ">=" | "<" | ">"
REGEX_MATCH.3: "=~"
ADD_OP: "+" | "-"
MINUS: "-"
MUL_OP: "*" | "/" | "%"
POW_OP: "^"
STAR: "*"
DURATION.3: /\d+(millisecond|msec|ms|second|sec|s|minute|min|m|hour|hr|h|day|d|week|w|month|mon|mo|quarter|qtr|q|year|yr|y)s?\b/i
NUMBER.1: /\d+(\.\d+)?([eE][+-]?\d+)?/
INT: /\d+/
FUNC_NAME.2: /(?!(?i:not|and|or|in|like)\b)[A-Za-z_][A-Za-z0-9_]*(?=\s*\()/
NAME: /@?[A-Za-z_][A-Za-z0-9_@]*(\.[A-Za-z0-9_@]+)*/
QUOTED_NAME: /`[^`]+`/
STRING: /"(\\.|[^"\\])*"/ | /'(\\.|[^'\\])*'/
REGEX: /\/(\\.|[^\/\\\n])+\/[a-z]*/
COMMENT: /#[^\n]*/

%import common.WS
%ignore WS
%ignore COMMENT
"""

PARSER = Lark(GRAMMAR, start="query", parser="lalr", lexer="contextual", propagate_positions=True)

COMMANDS = ("fields", "display", "filter", "stats", "sort", "limit", "parse", "dedup")


def parse(text: str) -> Tree:
    """Parse a query into a lark tree, or raise TranslationError at the offending token."""
    try:
        return PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None


def _syntax_error(text: str, exc: UnexpectedInput) -> TranslationError:
    if isinstance(exc, UnexpectedEOF):
        line, column = _end_position(text)
        return TranslationError("the query ends too early", line, column)
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            line, column = _end_position(text)
            return TranslationError("the query ends too early", line, column)
        word = str(token)
        if _at_command_start(exc) and token.type in ("NAME", "FUNC_NAME"):
            return TranslationError(
                f"command '{word}' is not supported (supported: {', '.join(COMMANDS)})",
                line,
                column,
                word,
            )
        return TranslationError(f"unexpected '{word}'", line, column, word)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        return TranslationError(f"unexpected character {char!r}", line, column, char)
    return TranslationError(str(exc), line or 1, column or 1)


def _at_command_start(exc: UnexpectedToken) -> bool:
    return "FILTER" in exc.expected and "STATS" in exc.expected


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1
