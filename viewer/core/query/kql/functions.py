"""KQL scalar functions of the subset: ago, now, todatetime, tostring, parse_json, bin, not,
isnull / isnotnull / isempty / isnotempty. Anything else is refused by name."""

from __future__ import annotations

from typing import Any

from lark import Tree

from viewer.core.query.common import epoch_floor_sql
from viewer.core.query.kql.literals import interval_micros
from viewer.core.query.kql.model import (
    BOOL,
    DATETIME,
    DYNAMIC,
    LONG,
    REAL,
    STRING,
    TIMESPAN,
    Typed,
)
from viewer.core.query.kql.scalars import Scope

# bin() on datetimes counts from the Unix epoch, as KQL does; time_bucket's own default origin
# (2000-01-03) would shift weekly bins.
EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


def call(scope: Scope, tree: Tree, name: str, args: list[Any]) -> Typed:
    handler = _FUNCTIONS.get(name)
    if handler is None:
        raise scope.at(tree).error(f"function {name}() is not supported", name)
    arity = _ARITY[name]
    if len(args) not in arity:
        expected = " or ".join(str(n) for n in arity)
        raise scope.at(tree).error(f"{name}() takes {expected} argument(s), got {len(args)}", name)
    return handler(scope, tree, args)


def _ago(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    span = scope.expect(args[0], TIMESPAN)
    return Typed(f"(now() - {span.sql})", DATETIME)


def _now(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    # now() is the transaction start in DuckDB: one value for the whole query, as in KQL.
    if not args:
        return Typed("now()", DATETIME)
    span = scope.expect(args[0], TIMESPAN)
    return Typed(f"(now() + {span.sql})", DATETIME)


def _todatetime(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    if value.type == DATETIME:
        return value
    if value.type not in (STRING, DYNAMIC):
        raise scope.at(args[0]).error(f"todatetime() of {value.type} is not supported", "todatetime")
    # ISO 8601 text only; a text without offset is read in the session zone, which the case
    # connection pins to UTC (KQL's zone). Unparsable text gives null, as in KQL.
    return Typed(f"TRY_CAST({value.text} AS TIMESTAMPTZ)", DATETIME)


def _tostring(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    if value.type == STRING:
        return Typed(f"coalesce({value.sql}, '')", STRING)
    if value.type in (DYNAMIC, LONG):
        # KQL's tostring of a missing value is "" (strings are never null).
        return Typed(f"coalesce(CAST({value.text} AS VARCHAR), '')", STRING)
    raise scope.at(args[0]).error(
        f"tostring() of {value.type} is not supported (its text form differs between KQL and DuckDB)",
        "tostring",
    )


def _parse_json(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    if value.type == DYNAMIC:  # KQL uses a dynamic argument as it is
        return value
    if value.type != STRING:
        raise scope.at(args[0]).error(f"parse_json() of {value.type} is not supported", "parse_json")
    # Text that is not JSON becomes a dynamic string in KQL, not null and not an error.
    sql = f"(CASE WHEN json_valid({value.sql}) THEN CAST({value.sql} AS JSON) ELSE to_json({value.sql}) END)"
    return Typed(sql, DYNAMIC)


def _bin(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value, size = scope.expr(args[0]), scope.expr(args[1])
    if not size.literal:
        raise scope.at(args[1]).error("bin() needs a constant bin size", "bin")
    if value.type == DATETIME and size.type == TIMESPAN:
        micros = interval_micros(size.sql)
        if micros is not None and micros > 0:
            sql = epoch_floor_sql(value.sql, micros)
        else:
            sql = f"time_bucket({size.sql}, {value.sql}, {EPOCH})"
        return Typed(sql, DATETIME, source_name=value.source_name)
    if value.type in (LONG, REAL) and size.type in (LONG, REAL):
        result = LONG if (value.type, size.type) == (LONG, LONG) else REAL
        sql = f"(floor({value.sql} / {size.sql}) * {size.sql})"  # floor: KQL bins round down
        if result == LONG:
            sql = f"CAST({sql} AS BIGINT)"
        return Typed(sql, result, source_name=value.source_name)
    raise scope.at(tree).error(f"bin() of {value.type} by {size.type} is not supported", "bin")


def _not(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expect(args[0], BOOL)
    return Typed(f"(NOT {value.sql})", BOOL)


def _isnull(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    if value.type == STRING:  # a KQL string is never null
        return Typed("false", BOOL)
    return Typed(f"({_null_test_sql(value)} IS NULL)", BOOL)


def _isnotnull(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    if value.type == STRING:
        return Typed("true", BOOL)
    return Typed(f"({_null_test_sql(value)} IS NOT NULL)", BOOL)


def _null_test_sql(value: Typed) -> str:
    # A JSON null inside a record is KQL's null too, so test the extracted value, not the JSON.
    if value.type == DYNAMIC and value.json_base is not None:
        return f"nullif(json_type({value.json}), 'NULL')"
    return value.sql


def _isempty(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    return Typed(f"(coalesce(CAST({value.text} AS VARCHAR), '') = '')", BOOL)


def _isnotempty(scope: Scope, tree: Tree, args: list[Any]) -> Typed:
    value = scope.expr(args[0])
    return Typed(f"(coalesce(CAST({value.text} AS VARCHAR), '') <> '')", BOOL)


_FUNCTIONS = {
    "ago": _ago,
    "now": _now,
    "todatetime": _todatetime,
    "tostring": _tostring,
    "parse_json": _parse_json,
    "bin": _bin,
    "not": _not,
    "isnull": _isnull,
    "isnotnull": _isnotnull,
    "isempty": _isempty,
    "isnotempty": _isnotempty,
}
_ARITY = {
    "ago": (1,),
    "now": (0, 1),
    "todatetime": (1,),
    "tostring": (1,),
    "parse_json": (1,),
    "bin": (2,),
    "not": (1,),
    "isnull": (1,),
    "isnotnull": (1,),
    "isempty": (1,),
    "isnotempty": (1,),
}
