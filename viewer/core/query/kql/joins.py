"""join (kind=inner, kind=leftouter) and union (kind=outer, kind=inner).

join: KQL's default kind is innerunique, which keeps one arbitrary left row per key before
joining; it cannot be reproduced deterministically, so a join without kind= is refused rather
than silently run as inner. The output holds every left column, then every right column, a
right column whose name is taken getting the suffix 1 (Key, Value1, Key1, Value2), keys included.
String keys match as KQL strings (a NULL is the empty string).

union: kind=outer (the default) keeps every column, filled with nulls where a table lacks it;
kind=inner keeps the columns all tables share. A column with different types in two tables
would be split by KQL into name_type columns; that is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lark import Tree

from viewer.core.query.kql.model import DUCKDB_TYPES, DYNAMIC, LONG, REAL, Column, Relation, Typed, ident
from viewer.core.query.kql.operators import check_new_name, group_key_sql
from viewer.core.query.kql.scalars import name_text, node

if TYPE_CHECKING:
    from viewer.core.query.kql.translator import Translator


def _options(tr: Translator, op: Tree, allowed: dict[str, tuple[str, ...]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for child in op.children:
        if not isinstance(child, Tree) or child.data not in ("option", "hint_option"):
            continue
        if child.data == "hint_option":
            hint = f"{child.children[0]}.{child.children[1]}"
            raise node(tr.text, child).error(f"{op.data[:-3]} hint {hint} is not supported", hint)
        key, value = str(child.children[0]), str(child.children[1])
        if key not in allowed:
            raise node(tr.text, child).error(f"{op.data[:-3]} option {key}= is not supported", key)
        if value not in allowed[key]:
            raise node(tr.text, child).error(f"{key}={value} is not supported", f"{key}={value}")
        found[key] = value
    return found


def join(tr: Translator, left: Relation, op: Tree) -> Relation:
    kind = _options(tr, op, {"kind": ("inner", "leftouter", "innerunique")}).get("kind")
    if kind in (None, "innerunique"):
        raise node(tr.text, op).error(
            "join without kind=inner or kind=leftouter is KQL's innerunique, which keeps one arbitrary "
            "left row per key; write kind=inner (every match) or kind=leftouter",
            "join kind=innerunique",
        )
    arg = next(c for c in op.children if isinstance(c, Tree) and c.data == "tabular_arg")
    right = tr.tabular_arg(arg)
    conditions = [
        _condition(tr, left, right, c.children[0])
        for c in op.children
        if isinstance(c, Tree) and c.data == "join_cond"
    ]
    columns = list(left.columns)
    selects = [f"l.{ident(c.name)}" for c in left.columns]
    for col in right.columns:
        name = col.name if left.column(col.name) is None else col.name + "1"
        if name != col.name and any(c.name == name for c in columns):
            raise node(tr.text, op).error(f"join would produce the column {name!r} twice", name)
        check_new_name(node(tr.text, op), name, [c.name for c in columns])
        columns.append(Column(name, col.type))
        selects.append(f"r.{ident(col.name)} AS {ident(name)}")
    sql_kind = "JOIN" if kind == "inner" else "LEFT JOIN"
    sql = (
        f"SELECT {', '.join(selects)} FROM {left.cte} AS l {sql_kind} {right.cte} AS r "
        f"ON {' AND '.join(conditions)}"
    )
    return Relation(tr.add_cte(sql), columns)


def _condition(tr: Translator, left: Relation, right: Relation, expr: Any) -> str:
    if isinstance(expr, Tree) and expr.data == "name":
        name = name_text(expr.children[0])
        pairs = [(name, name)]
    elif isinstance(expr, Tree) and expr.data == "compare" and str(expr.children[1]) == "==":
        sides = [expr.children[0], expr.children[2]]
        if not all(isinstance(s, Tree) and s.data == "side_column" for s in sides):
            raise node(tr.text, expr).error("join conditions are $left.column == $right.column", "on")
        by_side = {str(s.children[0]): str(s.children[1]) for s in sides}
        if set(by_side) != {"$left", "$right"}:
            raise node(tr.text, expr).error("a join condition compares $left with $right", "on")
        pairs = [(by_side["$left"], by_side["$right"])]
    else:
        raise node(tr.text, expr).error("join conditions are a column name or $left.a == $right.b", "on")
    left_name, right_name = pairs[0]
    lcol, rcol = left.column(left_name), right.column(right_name)
    if lcol is None or rcol is None:
        missing = left_name if lcol is None else right_name
        raise node(tr.text, expr).error(f"join key {missing!r} is not a column of its side", missing)
    if lcol.type == DYNAMIC or rcol.type == DYNAMIC:
        raise node(tr.text, expr).error("joining on a dynamic column is not supported", "on")
    if lcol.type != rcol.type and {lcol.type, rcol.type} != {LONG, REAL}:
        raise node(tr.text, expr).error(f"join keys differ in type: {lcol.type} and {rcol.type}", "on")
    lsql = group_key_sql(Typed(f"l.{ident(lcol.name)}", lcol.type))
    rsql = group_key_sql(Typed(f"r.{ident(rcol.name)}", rcol.type))
    return f"{lsql} = {rsql}"


def union(tr: Translator, first: Relation | None, op: Tree) -> Relation:
    kind = _options(tr, op, {"kind": ("outer", "inner")}).get("kind", "outer")
    parts = [first] if first is not None else []
    parts += [tr.tabular_arg(c) for c in op.children if isinstance(c, Tree) and c.data == "tabular_arg"]
    types: dict[str, str] = {}
    order: list[str] = []
    for part in parts:
        for col in part.columns:
            if col.name in types and types[col.name] != col.type:
                raise node(tr.text, op).error(
                    f"column {col.name!r} is {types[col.name]} in one table and {col.type} in another "
                    "(KQL would split it into typed columns)",
                    col.name,
                )
            if col.name not in types:
                types[col.name] = col.type
                order.append(col.name)
    if kind == "inner":
        order = [n for n in order if all(p.column(n) is not None for p in parts)]
    columns = [Column(n, types[n]) for n in order]
    branches = []
    for part in parts:
        selects = [
            ident(c.name)
            if part.column(c.name) is not None
            else f"CAST(NULL AS {DUCKDB_TYPES[c.type]}) AS {ident(c.name)}"
            for c in columns
        ]
        branches.append(f"SELECT {', '.join(selects)} FROM {part.cte}")
    return Relation(tr.add_cte("\n  UNION ALL ".join(branches)), columns)
