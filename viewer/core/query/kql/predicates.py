"""Comparisons and string predicates with KQL's semantics.

- A KQL string is never null: a NULL in a string column (or a missing dynamic member read as
  text) is KQL's empty string, so `error_code != "AccessDenied"` keeps the events without an
  error code, as Sentinel would. String operands are coalesced to ''.
- For other types, KQL's `==` with one null side is false and `!=` is true (two nulls give
  null); SQL would give NULL for both, which matters under not(...).
- `has` matches whole terms. A term is a maximal run of ASCII letters and digits; the needle
  must start and end on term boundaries wherever it starts or ends with a letter or digit
  ("North America" has "america", not "amer"). Case-insensitive; `has_cs` is case-sensitive.
- `contains`, `startswith`, `endswith`, `=~`, `in~` are case-insensitive; the `_cs` forms, `==`,
  `in` and `matches regex` are case-sensitive. `matches regex` is RE2 in both engines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lark import Tree

from viewer.core.query.kql.model import BOOL, DATETIME, DYNAMIC, NUMERIC, STRING, TIMESPAN, Typed, sql_string

if TYPE_CHECKING:
    from viewer.core.query.kql.scalars import Scope

_NOT_ALNUM = "[^0-9A-Za-z]"


def string_sql(value: Typed) -> str:
    """KQL's view of a string operand: never null."""
    if value.type not in (STRING, DYNAMIC):
        raise TypeError(value.type)
    return value.sql if value.literal else f"coalesce({value.text}, '')"


def _comparable(scope: Scope, tree: Tree, left: Typed, right: Typed, op: str) -> str:
    """The family both sides compare in ('string', 'number', 'datetime', ...), or an error."""
    textual = {STRING, DYNAMIC}
    if left.type in textual and right.type in textual:
        return STRING
    if left.type in NUMERIC and right.type in NUMERIC:
        return "number"
    if left.type == right.type and left.type in (DATETIME, TIMESPAN, BOOL):
        return left.type
    raise scope.at(tree).error(f"cannot compare {left.type} {op} {right.type}", op)


def compare(scope: Scope, tree: Tree) -> Typed:
    left, op, right = scope.expr(tree.children[0]), str(tree.children[1]), scope.expr(tree.children[2])
    family = _comparable(scope, tree, left, right, op)
    if op in ("=~", "!~"):
        if family != STRING:
            raise scope.at(tree).error(f"{op} compares strings, not {left.type}", op)
        sql = f"(lower({string_sql(left)}) = lower({string_sql(right)}))"
        return Typed(sql if op == "=~" else f"(NOT {sql})", BOOL)
    if family == STRING:
        sql_op = {"==": "=", "!=": "<>"}.get(op, op)
        return Typed(f"({string_sql(left)} {sql_op} {string_sql(right)})", BOOL)
    if op in ("==", "!="):
        return Typed(_null_aware_equality(left, right, op == "=="), BOOL)
    return Typed(f"({left.sql} {op} {right.sql})", BOOL)


def _null_aware_equality(left: Typed, right: Typed, equal: bool) -> str:
    if left.literal or right.literal:
        sql_op, when_null = ("=", "false") if equal else ("<>", "true")
        return f"coalesce({left.sql} {sql_op} {right.sql}, {when_null})"
    test = "IS NOT DISTINCT FROM" if equal else "IS DISTINCT FROM"
    return (
        f"(CASE WHEN {left.sql} IS NULL AND {right.sql} IS NULL THEN NULL "
        f"ELSE {left.sql} {test} {right.sql} END)"
    )


def has_pattern(needle: str, case_sensitive: bool) -> str:
    """The RE2 pattern for KQL `has`: the needle, on term boundaries where it has term characters."""
    body = re.escape(needle)
    if needle[0].isascii() and needle[0].isalnum():
        body = f"(^|{_NOT_ALNUM})" + body
    if needle[-1].isascii() and needle[-1].isalnum():
        body = body + f"({_NOT_ALNUM}|$)"
    return body if case_sensitive else "(?i)" + body


def string_op(scope: Scope, tree: Tree) -> Typed:
    left, op, right = scope.expr(tree.children[0]), str(tree.children[1]), scope.expr(tree.children[2])
    for side, child in ((left, tree.children[0]), (right, tree.children[2])):
        if side.type not in (STRING, DYNAMIC):
            raise scope.at(child).error(f"{op} needs string operands, got {side.type}", op)
    negated, name = op.startswith("!"), op.lstrip("!")
    case_sensitive = name.endswith("_cs")
    base = name.removesuffix("_cs")
    haystack, needle = string_sql(left), string_sql(right)
    if base == "has":
        if not right.literal:
            raise scope.at(tree.children[2]).error(f"{op} needs a constant string", op)
        value = right.sql[1:-1].replace("''", "'")
        if not value:
            raise scope.at(tree.children[2]).error(f"{op} with an empty string is not supported", op)
        sql = f"regexp_matches({haystack}, {sql_string(has_pattern(value, case_sensitive))})"
    else:
        if not case_sensitive:
            haystack, needle = f"lower({haystack})", f"lower({needle})"
        function = {"contains": "contains", "startswith": "starts_with", "endswith": "ends_with"}[base]
        sql = f"{function}({haystack}, {needle})"
    return Typed(f"(NOT {sql})" if negated else sql, BOOL)


def in_list(scope: Scope, tree: Tree) -> Typed:
    left, op = scope.expr(tree.children[0]), str(tree.children[1])
    items = [scope.expr(c) for c in tree.children[2:]]
    for item, child in zip(items, tree.children[2:], strict=True):
        if not item.literal:
            raise scope.at(child).error(f"{op} takes a list of constants here", op)
        _comparable(scope, child, left, item, op)
    negated, insensitive = op.startswith("!"), op.endswith("~")
    if left.type in (STRING, DYNAMIC):
        value = string_sql(left)
        listed = ", ".join(f"lower({i.sql})" if insensitive else i.sql for i in items)
        sql = (
            f"({'lower(' + value + ')' if insensitive else value} {'NOT IN' if negated else 'IN'} ({listed}))"
        )
        return Typed(sql, BOOL)
    if insensitive:
        raise scope.at(tree).error(f"{op} compares strings, not {left.type}", op)
    listed = ", ".join(i.sql for i in items)
    # like ==: a null value is in no list (false) and out of every list (true)
    sql = f"coalesce({left.sql} {'NOT IN' if negated else 'IN'} ({listed}), {'true' if negated else 'false'})"
    return Typed(sql, BOOL)


def between(scope: Scope, tree: Tree) -> Typed:
    value, low, high = (scope.expr(c) for c in tree.children)
    for bound, child in ((low, tree.children[1]), (high, tree.children[2])):
        family = _comparable(scope, child, value, bound, "between")
        if family not in ("number", DATETIME, TIMESPAN):
            raise scope.at(child).error(f"between needs numbers or datetimes, got {bound.type}", "between")
    return Typed(f"({value.sql} BETWEEN {low.sql} AND {high.sql})", BOOL)


def matches_regex(scope: Scope, tree: Tree) -> Typed:
    value, pattern = scope.expr(tree.children[0]), scope.expr(tree.children[1])
    for side, child in ((value, tree.children[0]), (pattern, tree.children[1])):
        if side.type not in (STRING, DYNAMIC):
            raise scope.at(child).error(f"matches regex needs strings, got {side.type}", "matches regex")
    return Typed(f"regexp_matches({string_sql(value)}, {string_sql(pattern)})", BOOL)


HANDLERS: dict[str, Callable[[Any, Tree], Typed]] = {
    "compare": compare,
    "string_op": string_op,
    "in_list": in_list,
    "between": between,
    "matches_regex": matches_regex,
}
