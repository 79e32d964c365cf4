"""Logs Insights expressions -> DuckDB SQL, with the value kind of each result.

Logs Insights values are dynamically typed; a discovered JSON field arrives here as text. The kind
of each expression (`time`, `num`, `text`, `bool`) decides how operators read it, as Logs Insights
does: a comparison with a number literal compares numerically (`TRY_CAST(x AS DOUBLE)`, so text
that is not a number never matches), with a string literal as text; arithmetic reads its operands as
numbers; `@timestamp` compared with or added to a number is epoch milliseconds. A missing field is
NULL and follows SQL three-valued logic: `x != "a"`, `x not like "a"` and `x not in [...]` do not
match events that lack `x` (AWS does not document this case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lark import Token, Tree

from viewer.core.query.common import TranslationError, epoch_floor_sql
from viewer.core.query.insights.fields import natural_sort_key, number_marker, sql_string
from viewer.core.query.insights.patterns import regex_literal

AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")
_DURATION_MS = {
    "ms": 1,
    "msec": 1,
    "millisecond": 1,
    "s": 1_000,
    "sec": 1_000,
    "second": 1_000,
    "m": 60_000,
    "min": 60_000,
    "minute": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hour": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
}


@dataclass(frozen=True)
class Split:
    """How an aggregate splits exactly into two groupings (insights/stats_split.py): `inner` over
    the rows of one (groups, distinct value), then `outer` over those, `{p}` standing for the
    inner column; a distinct count instead names the value it counts (`distinct`)."""

    inner: str = ""
    outer: str = ""
    distinct: str | None = None


@dataclass(frozen=True)
class Expr:
    sql: str
    kind: str  # time | num | text | bool
    split: Split | None = None  # set on an aggregate that splits (count, count_distinct, min/max)


Resolver = Callable[[str, Token | Tree], Expr]


def error_at(node: Token | Tree, message: str, construct: str = "") -> TranslationError:
    line, column = position_of(node)
    return TranslationError(message, line, column, construct)


def position_of(node: Token | Tree) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    return getattr(node.meta, "line", 1), getattr(node.meta, "column", 1)


def as_token(node: Token | Tree) -> Token:
    if not isinstance(node, Token):  # pragma: no cover - the grammar puts a token there
        raise error_at(node, "unexpected construct")
    return node


def source_text(text: str, node: Token | Tree) -> str:
    if isinstance(node, Token):
        start, end = node.start_pos, node.end_pos
    else:
        start, end = node.meta.start_pos, node.meta.end_pos
    return " ".join(text[start:end].split())


def field_name(node: Tree) -> str:
    token = as_token(node.children[0])
    value = str(token)
    return value[1:-1] if token.type == "QUOTED_NAME" else value


def unquote(token: Token) -> str:
    body = str(token)[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "\\\"'":
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def duration_ms(token: Token) -> int:
    raw = str(token).lower()
    digits = len(raw) - len(raw.lstrip("0123456789"))
    amount, unit = int(raw[:digits]), raw[digits:]
    base = _DURATION_MS.get(unit) or _DURATION_MS.get(unit[:-1])
    if base is None or amount == 0:
        raise error_at(
            token,
            f"time period '{token}' is not supported: weeks, months, quarters and years have no "
            "documented bin alignment (use ms, s, m, h or d)",
            str(token),
        )
    return amount * base


def time_floor(ts_sql: str, token: Token) -> str:
    """Epoch-aligned bucket start: Logs Insights' bins are multiples of the period since 1970 UTC.

    Integer arithmetic on epoch microseconds rather than time_bucket(), which calls the ICU
    calendar for every row (see common.epoch_floor_sql)."""
    return epoch_floor_sql(ts_sql, duration_ms(token) * 1000)


def as_number(e: Expr, node: Token | Tree) -> str:
    if e.kind == "num":
        return e.sql
    if e.kind == "time":
        return f"epoch_ms({e.sql})"
    if e.kind == "bool":
        return f"CAST({e.sql} AS INTEGER)"
    # A discovered field's number has a marker of its own: a source may hold it as a number.
    return number_marker(e.sql) or f"TRY_CAST({e.sql} AS DOUBLE)"


def as_text(e: Expr) -> str:
    return e.sql if e.kind == "text" else f"CAST({e.sql} AS VARCHAR)"


def as_condition(e: Expr, node: Token | Tree) -> str:
    if e.kind != "bool":
        raise error_at(node, "a condition is expected here (a comparison, like, in, ispresent ...)")
    return e.sql


class ExpressionCompiler:
    """Compiles one expression tree; `resolve` maps a field name to its SQL in the current scope."""

    def __init__(self, text: str, resolve: Resolver, allow_aggregates: bool = False) -> None:
        self.text = text
        self.resolve = resolve
        self.allow_aggregates = allow_aggregates
        self.inside_aggregate = False
        self.used_aggregate = False

    def compile(self, node: Tree | Token) -> Expr:
        if isinstance(node, Token):  # pragma: no cover - the grammar wraps every leaf in a rule
            raise error_at(node, f"unexpected '{node}'", str(node))
        method = getattr(self, f"_{node.data}", None)
        if method is None:  # pragma: no cover - every rule of the grammar has a method
            raise error_at(node, f"unsupported construct '{node.data}'", str(node.data))
        result: Expr = method(node)
        return result

    def _number(self, node: Tree) -> Expr:
        return Expr(str(node.children[0]), "num")

    def _string(self, node: Tree) -> Expr:
        return Expr(sql_string(unquote(as_token(node.children[0]))), "text")

    def _duration(self, node: Tree) -> Expr:
        raise error_at(node, "a time period is only allowed in bin() and datefloor()", str(node.children[0]))

    def _name(self, node: Tree) -> Expr:
        return self.resolve(field_name(node), node)

    def _negate(self, node: Tree) -> Expr:
        return Expr(f"(-{as_number(self.compile(node.children[1]), node)})", "num")

    def _arith(self, node: Tree) -> Expr:
        left, op, right = node.children
        a = as_number(self.compile(left), left)
        b = as_number(self.compile(right), right)
        if str(op) == "^":
            return Expr(f"power({a}, {b})", "num")
        return Expr(f"({a} {op} {b})", "num")

    def _and_op(self, node: Tree) -> Expr:
        left, _, right = node.children
        a, b = as_condition(self.compile(left), left), as_condition(self.compile(right), right)
        return Expr(f"({a} AND {b})", "bool")

    def _or_op(self, node: Tree) -> Expr:
        left, _, right = node.children
        a, b = as_condition(self.compile(left), left), as_condition(self.compile(right), right)
        return Expr(f"({a} OR {b})", "bool")

    def _not_op(self, node: Tree) -> Expr:
        operand = node.children[1]
        return Expr(f"(NOT {as_condition(self.compile(operand), operand)})", "bool")

    def _compare(self, node: Tree) -> Expr:
        left, op, right = node.children
        a, b = self.compile(left), self.compile(right)
        sql_op = "<>" if str(op) == "!=" else str(op)
        if "time" in (a.kind, b.kind) and "text" in (a.kind, b.kind):
            raise error_at(
                op,
                "@timestamp compares with epoch milliseconds, not with a date string "
                "(Logs Insights does not filter on human-readable timestamps)",
                str(op),
            )
        if a.kind == b.kind and a.kind in ("time", "text"):
            return Expr(f"({a.sql} {sql_op} {b.sql})", "bool")
        return Expr(f"({as_number(a, left)} {sql_op} {as_number(b, right)})", "bool")

    def _like(self, node: Tree) -> Expr:
        children = node.children
        negated = len(children) == 4
        subject, pattern = children[0], as_token(children[-1])
        value = as_text(self.compile(subject))
        if pattern.type == "REGEX":
            regex = regex_literal(str(pattern), pattern.line or 1, pattern.column or 1)
            sql = f"regexp_matches({value}, {sql_string(regex.pattern)})"
        else:
            sql = f"contains({value}, {sql_string(unquote(pattern))})"
        return Expr(f"(NOT {sql})" if negated else sql, "bool")

    def _regex_match(self, node: Tree) -> Expr:
        subject, _, regex_token = node.children
        pattern = as_token(regex_token)
        regex = regex_literal(str(pattern), pattern.line or 1, pattern.column or 1)
        return Expr(f"regexp_matches({as_text(self.compile(subject))}, {sql_string(regex.pattern)})", "bool")

    def _in_list(self, node: Tree) -> Expr:
        subject = node.children[0]
        negated = isinstance(node.children[1], Token) and node.children[1].type == "NOT"
        items = [c for c in node.children if isinstance(c, Tree)][1:]
        value = self.compile(subject)
        texts = [self.compile(i).sql for i in items if i.data == "string"]
        numbers = [self.compile(i).sql for i in items if i.data == "number"]
        if any(i.data == "duration" for i in items):
            raise error_at(node, "a time period cannot be a member of an in [...] list", "in")
        parts = []
        if texts:
            parts.append(f"{as_text(value)} IN ({', '.join(texts)})")
        if numbers:
            parts.append(f"{as_number(value, subject)} IN ({', '.join(numbers)})")
        sql = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
        return Expr(f"(NOT {sql})" if negated else sql, "bool")

    def _call(self, node: Tree) -> Expr:
        name_token = node.children[0]
        name = str(name_token).lower()
        args = [c for c in node.children[1:] if c is not None]
        if name in AGGREGATES:
            return self._aggregate(node, name, args)
        handler = _SCALARS.get(name)
        if handler is None:
            raise error_at(name_token, f"function '{name_token}' is not supported", str(name_token))
        if any(isinstance(a, Token) for a in args):
            raise error_at(node, f"{name}() does not take *", name)
        return handler(self, node, args)

    def _aggregate(self, node: Tree, name: str, args: list) -> Expr:
        if not self.allow_aggregates:
            raise error_at(node, f"aggregate function {name}() is only allowed in stats", name)
        if self.inside_aggregate:
            raise error_at(node, f"aggregate function {name}() cannot be nested in another", name)
        self.used_aggregate = True
        star = len(args) == 1 and isinstance(args[0], Token)
        if name == "count" and (not args or star):
            return Expr("count(*)", "num", Split("count(*)", "CAST(sum({p}) AS BIGINT)"))
        if len(args) != 1 or star:
            raise error_at(node, f"{name}() takes one field", name)
        self.inside_aggregate = True
        try:
            arg = self.compile(args[0])
        finally:
            self.inside_aggregate = False
        if name == "count":
            return Expr(f"count({arg.sql})", "num", Split(f"count({arg.sql})", "CAST(sum({p}) AS BIGINT)"))
        if name == "count_distinct":
            return Expr(f"count(DISTINCT {arg.sql})", "num", Split(distinct=arg.sql))
        if name in ("sum", "avg"):
            return Expr(f"{name}({as_number(arg, args[0])})", "num")
        if arg.kind in ("num", "time"):
            return Expr(f"{name}({arg.sql})", arg.kind, Split(f"{name}({arg.sql})", f"{name}({{p}})"))
        # Text values: the one that sorts first / last in Logs Insights' own order.
        by = "min_by" if name == "min" else "max_by"
        return Expr(f"{by}({as_text(arg)}, {natural_sort_key(as_text(arg))})", "text")


def _arity(node: Tree, args: list, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        name = str(node.children[0])
        count = f"{low}" if low == high else f"{low} to {high}"
        raise error_at(node, f"{name}() takes {count} argument(s), got {len(args)}", name)


def _text_function(sql_name: str, kind: str = "text") -> Callable[[ExpressionCompiler, Tree, list], Expr]:
    def build(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
        _arity(node, args, 1, 1)
        return Expr(f"{sql_name}({as_text(c.compile(args[0]))})", kind)

    return build


def _number_function(sql_name: str) -> Callable[[ExpressionCompiler, Tree, list], Expr]:
    def build(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
        _arity(node, args, 1, 1)
        return Expr(f"{sql_name}({as_number(c.compile(args[0]), args[0])})", "num")

    return build


def _concat(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
    _arity(node, args, 1, 64)
    # DuckDB's concat reads NULL (a missing field) as empty text.
    return Expr(f"concat({', '.join(as_text(c.compile(a)) for a in args)})", "text")


def _ispresent(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
    _arity(node, args, 1, 1)
    return Expr(f"({c.compile(args[0]).sql} IS NOT NULL)", "bool")


def _isempty(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
    _arity(node, args, 1, 1)
    value = as_text(c.compile(args[0]))
    return Expr(f"({value} IS NULL OR {value} = '')", "bool")


def _period(node: Tree, arg: Tree | Token) -> Token:
    if not (isinstance(arg, Tree) and arg.data == "duration"):
        raise error_at(node, "a time period such as 5m or 1h is expected", str(node.children[0]))
    token = arg.children[0]
    assert isinstance(token, Token)
    return token


def _bin(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
    _arity(node, args, 1, 1)
    timestamp = c.resolve("@timestamp", node)
    return Expr(time_floor(timestamp.sql, _period(node, args[0])), "time")


def _datefloor(c: ExpressionCompiler, node: Tree, args: list) -> Expr:
    _arity(node, args, 2, 2)
    value = c.compile(args[0])
    if value.kind != "time":
        raise error_at(node, "datefloor() needs a timestamp such as @timestamp", "datefloor")
    return Expr(time_floor(value.sql, _period(node, args[1])), "time")


_SCALARS: dict[str, Callable[[ExpressionCompiler, Tree, list], Expr]] = {
    "strlen": _text_function("length", "num"),  # DuckDB length() counts code points, as AWS does
    "tolower": _text_function("lower"),
    "toupper": _text_function("upper"),
    "concat": _concat,
    "ispresent": _ispresent,
    "isempty": _isempty,
    "abs": _number_function("abs"),
    "floor": _number_function("floor"),
    "ceil": _number_function("ceil"),
    "bin": _bin,
    "datefloor": _datefloor,
}
