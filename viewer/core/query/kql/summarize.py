"""summarize: count, dcount, sum, min, max, avg, make_set, grouped by columns and bin().

KQL puts the group-by columns first, then the aggregates, and names an unnamed aggregate
`count_` or `<function>_<column>`. Grouping keys of type string treat a NULL as KQL's empty
string; a dynamic key is refused, as KQL refuses it. dcount is computed exactly, where KQL
estimates (its error is about 1% at default accuracy, none on small sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from viewer.core.query.kql.group_floor import rows_of_large_groups
from viewer.core.query.kql.model import (
    DATETIME,
    DYNAMIC,
    LONG,
    NUMERIC,
    REAL,
    STRING,
    TIMESPAN,
    Column,
    Relation,
    Typed,
    ident,
)
from viewer.core.query.kql.operators import check_new_name, group_key_sql, output_sql
from viewer.core.query.kql.scalars import AGGREGATES, Scope, name_text, node

if TYPE_CHECKING:
    from viewer.core.query.kql.translator import Translator


def summarize(tr: Translator, rel: Relation, op: Tree, row_floor: int | None = None) -> Relation:
    """`row_floor`: the `where` after it keeps only groups of at least that many rows (group_floor)."""
    aggregates, groups = _split(op)
    if row_floor is not None and groups:
        keys = [group_key_sql(tr.scope(rel).expr(item.children[1])) for item in groups]
        rel = rows_of_large_groups(tr, rel, keys, row_floor)
    scope = tr.scope(rel)
    columns: list[Column] = []
    selects: list[str] = []
    for item in groups:
        value = scope.expr(item.children[1])
        if value.type == DYNAMIC:
            raise node(tr.text, item).error(
                "a dynamic group key is not allowed (KQL refuses it too): use tostring()", "by"
            )
        name = _group_name(tr, item, value)
        check_new_name(node(tr.text, item), name, [c.name for c in columns])
        columns.append(Column(name, value.type))
        selects.append(f"{group_key_sql(value)} AS {ident(name)}")
    group_selects = list(selects)
    parts: list[_Part | None] = []
    for item in aggregates:
        name, sql, kind = _aggregate(tr, scope, item)
        check_new_name(node(tr.text, item), name, [c.name for c in columns])
        columns.append(Column(name, kind))
        selects.append(f"{sql} AS {ident(name)}")
        parts.append(_two_level_part(tr, scope, item, kind))
    if not aggregates and not groups:
        raise node(tr.text, op).error("summarize needs an aggregation or a by clause", "summarize")
    names = [c.name for c in columns[len(groups) :]]
    two_level = _two_level_sql(rel.cte, group_selects, [c.name for c in columns[: len(groups)]], names, parts)
    if two_level is not None:
        return Relation(tr.add_cte(two_level), columns)
    sql = f"SELECT {', '.join(selects)} FROM {rel.cte}"
    if groups:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(groups)))
    return Relation(tr.add_cte(sql), columns)


@dataclass(frozen=True)
class _Part:
    """An aggregate computed in two groupings: `inner` over the rows of one (group, distinct
    value), then `outer` over those (with {p} standing for the inner column); or, for dcount and
    make_set, from the distinct values themselves (`key` set, `inner` empty)."""

    outer: str
    inner: str = ""
    key: str | None = None
    by_hash: bool = False  # the distinct values may be grouped by their hash (dcount of a string)


_DISTINCT = "_kql_d"


def _two_level_part(tr: Translator, scope: Scope, item: Tree, kind: str) -> _Part | None:
    """How one aggregate splits into two groupings, or None when it cannot exactly (avg; a sum of
    reals, whose rounding depends on the order of additions)."""
    expr = item.children[1]
    function = str(expr.children[0])
    args = [a for a in expr.children[1:] if a is not None]
    if function == "count":
        return _Part("CAST(sum({p}) AS BIGINT)", "count(*)")
    value = scope.expr(args[0])
    if function == "dcount":
        return _Part(f"count({_DISTINCT})", key=group_key_sql(value), by_hash=value.type == STRING)
    if function == "make_set":
        return _Part(
            f"coalesce(to_json(list({_DISTINCT}) FILTER (WHERE {_DISTINCT} IS NOT NULL)), '[]'::JSON)",
            key=group_key_sql(value),
        )
    if function == "sum" and kind == LONG:
        return _Part("CAST(sum({p}) AS BIGINT)", f"sum({value.sql})")
    if function in ("min", "max"):
        return _Part(f"{function}({{p}})", f"{function}({output_sql(value)})")
    return None


def _two_level_sql(
    source: str, group_selects: list[str], group_names: list[str], names: list[str], parts: list[_Part | None]
) -> str | None:
    """summarize with dcount (and make_set) of one value as two groupings: by the keys and that
    value, then by the keys. DuckDB's count(DISTINCT) per group costs more than a second grouping
    (10M events: 6.8 against 2.6 CPU-s for the library's discovery burst); the result is the same.

    When only dcount reads the distinct values and they are strings, the inner grouping is by
    their 64-bit hash: a long text key (a user agent) costs more to group by than a number (10M
    events, the library's credential use by IP: 2.97 against 2.17 s). Two values of one group
    sharing a hash would count once (odds ~1e-17 for a group of 20 values), where KQL's own
    dcount is an estimate."""
    keys = {p.key for p in parts if p is not None and p.key is not None}
    if len(keys) != 1 or any(p is None for p in parts):
        return None
    key = keys.pop()
    if all(p.by_hash for p in parts if p is not None and p.key is not None):
        key = f"hash({key})"  # a string key is never NULL (group_key_sql), so none is lost
    inner_items = [*group_selects, f"{key} AS {_DISTINCT}"]
    outer_items = [ident(n) for n in group_names]
    for i, (name, part) in enumerate(zip(names, parts, strict=True)):
        assert part is not None
        if part.key is None:
            inner_items.append(f"{part.inner} AS _kql_p{i}")
            outer = part.outer.format(p=f"_kql_p{i}")
            if part.inner == "count(*)" and not group_names:  # no rows: KQL's count is 0, not null
                outer = f"coalesce({outer}, 0)"
        else:
            outer = part.outer
        outer_items.append(f"{outer} AS {ident(name)}")
    inner = f"SELECT {', '.join(inner_items)} FROM {source} GROUP BY ALL"
    outer_sql = f"SELECT {', '.join(outer_items)} FROM ({inner})"
    if group_names:
        outer_sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(group_names)))
    return outer_sql


def _split(op: Tree) -> tuple[list[Tree], list[Tree]]:
    aggregates: list[Tree] = []
    groups: list[Tree] = []
    target = aggregates
    for child in op.children:
        if isinstance(child, Token) and str(child) == "by":
            target = groups
        elif isinstance(child, Tree):
            target.append(child)
    return aggregates, groups


def _group_name(tr: Translator, item: Tree, value: Typed) -> str:
    name, expr = item.children
    if name is not None:
        return str(name)
    if isinstance(expr, Tree) and expr.data == "name":
        return name_text(expr.children[0])
    if isinstance(expr, Tree) and expr.data == "call" and str(expr.children[0]) == "bin":
        column = expr.children[1]
        if isinstance(column, Tree) and column.data == "name":
            return name_text(column.children[0])  # KQL names bin(ts, 1h) after its column
    raise node(tr.text, item).error(
        "name this group key (name = ...): KQL's generated names are not reproduced", "by"
    )


def _aggregate(tr: Translator, scope: Scope, item: Tree) -> tuple[str, str, str]:
    given, expr = item.children
    if not (isinstance(expr, Tree) and expr.data == "call" and str(expr.children[0]) in AGGREGATES):
        raise node(tr.text, item).error(
            "each summarize item must be one aggregation call (count, dcount, sum, min, max, avg, make_set)",
            "summarize",
        )
    function = str(expr.children[0])
    args = [a for a in expr.children[1:] if a is not None]
    sql, kind = _aggregate_sql(tr, scope, expr, function, args)
    if given is not None:
        return str(given), sql, kind
    if function == "count":
        return "count_", sql, kind
    arg = args[0]
    if isinstance(arg, Tree) and arg.data == "name":
        return f"{function}_{name_text(arg.children[0])}", sql, kind
    raise node(tr.text, item).error(
        "name this aggregation (name = ...): KQL's generated names are not reproduced", function
    )


def _aggregate_sql(
    tr: Translator, scope: Scope, expr: Tree, function: str, args: list[Any]
) -> tuple[str, str]:
    where = node(tr.text, expr)
    if function == "count":
        if args:
            raise where.error("count() takes no argument here (countif is not supported)", "count")
        return "count(*)", LONG
    if len(args) != 1:
        raise where.error(f"{function}() takes one argument here", function)
    value = scope.expr(args[0])
    if function == "dcount":
        if value.type == DYNAMIC:
            raise where.error("dcount() of a dynamic value is not supported: use tostring()", function)
        return f"count(DISTINCT {group_key_sql(value)})", LONG
    if function == "make_set":
        if value.type not in (STRING, LONG):
            raise where.error(
                f"make_set() of {value.type} is not supported (strings and longs are)", function
            )
        key = group_key_sql(value)
        return (
            f"coalesce(to_json(list(DISTINCT {key}) FILTER (WHERE {key} IS NOT NULL)), '[]'::JSON)",
            DYNAMIC,
        )
    if function in ("sum", "avg"):
        if value.type not in NUMERIC:
            raise where.error(f"{function}() needs a number, got {value.type}", function)
        if function == "avg":
            return f"avg({value.sql})", REAL
        return (
            (f"CAST(sum({value.sql}) AS BIGINT)", LONG) if value.type == LONG else (f"sum({value.sql})", REAL)
        )
    # min / max
    if value.type not in (*NUMERIC, DATETIME, TIMESPAN):
        raise where.error(
            f"{function}() of {value.type} is not supported (numbers and datetimes are)", function
        )
    return f"{function}({output_sql(value)})", value.type
