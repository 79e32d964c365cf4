"""Row-wise tabular operators: where, project, project-away, extend, sort/order, top, take, distinct.

Order: KQL keeps the order of `sort`/`top` through where, project, extend, project-away and take.
SQL only promises the order of the outermost ORDER BY, so sort keeps its keys in hidden columns
(ORDER_COLUMN1, 2, ...), the order-keeping operators carry them, and the final SELECT orders by
them with their directions. Keys rather than a row number: numbering the rows is a window over
all of them, sorted once for the window and again by the final ORDER BY (10M events, KQL's
credential use by IP, 10M rows sorted by key: 25.2 CPU-s with a row number, 18.6 with the key
itself; one sort key as bytes, `create_sort_key`, 35.1). Rows with equal keys come in no promised
order, as they did with a row number given by a sort of equal keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from viewer.core.query.kql.model import (
    BOOL,
    DYNAMIC,
    LONG,
    ORDER_COLUMN,
    STRING,
    Column,
    Node,
    Relation,
    Typed,
    ident,
)
from viewer.core.query.kql.scalars import name_text, node

if TYPE_CHECKING:
    from viewer.core.query.kql.translator import Translator


def output_sql(value: Typed) -> str:
    """An expression as a result column: dynamic values as JSON."""
    return value.json if value.type == DYNAMIC else value.sql


def group_key_sql(value: Typed) -> str:
    """A value used as a grouping / distinct / join key: KQL strings are never null."""
    return f"coalesce({value.sql}, '')" if value.type == STRING and not value.literal else value.sql


def order_suffix(relation: Relation) -> str:
    return "".join(f", {c}" for c in order_columns(relation))


def order_columns(relation: Relation) -> list[str]:
    """The hidden columns holding the relation's sort keys."""
    return [term.split(" ", 1)[0] for term in relation.ordered]


def check_new_name(where: Node, name: str, taken: list[str]) -> None:
    if name.startswith("_kql_"):
        raise where.error(f"column names starting with _kql_ are reserved by the translator: {name!r}", name)
    clash = [t for t in taken if t.lower() == name.lower()]
    if clash:
        raise where.error(
            f"column {name!r} clashes with {clash[0]!r}: DuckDB names ignore case, so both cannot exist",
            name,
        )


def item_name(tr: Translator, item: Tree, value: Typed, what: str) -> str:
    """The column name of `name = expr` or of a bare column reference; others must be named."""
    name, expr = item.children
    if name is not None:
        return str(name)
    if isinstance(expr, Tree) and expr.data == "name":
        return name_text(expr.children[0])
    raise node(tr.text, item).error(
        f"name this {what} expression (name = ...): KQL's generated names are not reproduced", what
    )


def where(tr: Translator, rel: Relation, op: Tree) -> Relation:
    predicate = tr.scope(rel).expr(op.children[0])
    if predicate.type != BOOL:
        raise node(tr.text, op.children[0]).error(f"where needs a boolean, got {predicate.type}", "where")
    cte = tr.add_cte(f"SELECT * FROM {rel.cte} WHERE {predicate.sql}")
    return Relation(cte, rel.columns, rel.ordered, rel.aliases, rel.raw_fields)


def project(tr: Translator, rel: Relation, op: Tree) -> Relation:
    scope = tr.scope(rel)
    columns: list[Column] = []
    selects = []
    for item in op.children:
        value = scope.expr(item.children[1])
        name = item_name(tr, item, value, "project")
        check_new_name(node(tr.text, item), name, [c.name for c in columns])
        columns.append(Column(name, value.type))
        selects.append(f"{output_sql(value)} AS {ident(name)}")
    cte = tr.add_cte(f"SELECT {', '.join(selects)}{order_suffix(rel)} FROM {rel.cte}")
    return Relation(cte, columns, rel.ordered)


def project_away(tr: Translator, rel: Relation, op: Tree) -> Relation:
    drop = []
    for item in op.children:
        name = name_text(item)
        if rel.column(name) is None:
            raise node(tr.text, item).error(f"project-away: no column {name!r}", name)
        drop.append(name)
    keep = [c for c in rel.columns if c.name not in drop]
    if not keep:
        raise node(tr.text, op).error("project-away would remove every column", "project-away")
    cte = tr.add_cte(f"SELECT * EXCLUDE ({', '.join(ident(n) for n in drop)}) FROM {rel.cte}")
    aliases = {k: v for k, v in rel.aliases.items() if (v.source_name or "raw") not in drop}
    return Relation(cte, keep, rel.ordered, aliases, None if "raw" in drop else rel.raw_fields)


def extend(tr: Translator, rel: Relation, op: Tree) -> Relation:
    scope = tr.scope(rel)
    columns = list(rel.columns)
    replaced: dict[str, str] = {}
    added: list[tuple[str, str]] = []
    for item in op.children:
        value = scope.expr(item.children[1])
        name = item_name(tr, item, value, "extend")
        if name in replaced or name in dict(added):
            raise node(tr.text, item).error(f"extend defines {name!r} twice", name)
        existing = rel.column(name)
        if existing is not None:  # KQL replaces the column's values, in place
            replaced[name] = output_sql(value)
            columns = [Column(name, value.type) if c.name == name else c for c in columns]
        else:
            check_new_name(node(tr.text, item), name, [c.name for c in columns])
            added.append((name, output_sql(value)))
            columns.append(Column(name, value.type))
        # later items of the same extend see this one
        scope.extra[name] = Typed(f"({output_sql(value)})", value.type, value.literal)
    select = "*"
    if replaced:
        select += " REPLACE (" + ", ".join(f"{sql} AS {ident(n)}" for n, sql in replaced.items()) + ")"
    select += "".join(f", {sql} AS {ident(n)}" for n, sql in added)
    cte = tr.add_cte(f"SELECT {select} FROM {rel.cte}")
    aliases = {k: v for k, v in rel.aliases.items() if (v.source_name or "raw") not in replaced}
    return Relation(cte, columns, rel.ordered, aliases, None if "raw" in replaced else rel.raw_fields)


def _sort_terms(tr: Translator, rel: Relation, keys: list[Tree]) -> list[tuple[str, str]]:
    """Each sort key's value and its `direction NULLS FIRST/LAST`."""
    scope, terms = tr.scope(rel), []
    for key in keys:
        expr, direction, _nulls, first_last = key.children
        value = scope.expr(expr)
        if value.type in (DYNAMIC, BOOL):
            raise node(tr.text, expr).error(f"sorting by a {value.type} value is not supported", "sort")
        descending = direction is None or str(direction) == "desc"  # KQL sorts descending by default
        # KQL: nulls first when ascending, last when descending, unless said otherwise
        nulls_first = (not descending) if first_last is None else str(first_last) == "first"
        terms.append(
            (value.sql, f"{'DESC' if descending else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}")
        )
    return terms


def _ordered(tr: Translator, rel: Relation, terms: list[tuple[str, str]], limit: int | None) -> Relation:
    names = [f"{ORDER_COLUMN}{i + 1}" for i in range(len(terms))]
    keys = ", ".join(f"{value} AS {name}" for (value, _), name in zip(terms, names, strict=True))
    old = order_columns(rel)
    sql = f"SELECT *{' EXCLUDE (' + ', '.join(old) + ')' if old else ''}, {keys} FROM {rel.cte}"
    order = tuple(f"{name} {direction}" for (_, direction), name in zip(terms, names, strict=True))
    if limit is not None:
        sql += f" ORDER BY {', '.join(order)} LIMIT {limit}"
    return Relation(tr.add_cte(sql), rel.columns, order, rel.aliases, rel.raw_fields)


def sort(tr: Translator, rel: Relation, op: Tree) -> Relation:
    keys = [c for c in op.children if isinstance(c, Tree)]
    return _ordered(tr, rel, _sort_terms(tr, rel, keys), None)


def _row_count(tr: Translator, rel: Relation, expr: Any, what: str) -> int:
    value = tr.scope(rel).expr(expr)
    if value.type != LONG or not value.literal:
        raise node(tr.text, expr).error(f"{what} needs a constant whole number of rows", what)
    return int(value.sql)


def top(tr: Translator, rel: Relation, op: Tree) -> Relation:
    count_expr, _by, key = op.children
    limit = _row_count(tr, rel, count_expr, "top")
    return _ordered(tr, rel, _sort_terms(tr, rel, [key]), limit)


def take(tr: Translator, rel: Relation, op: Tree) -> Relation:
    limit = _row_count(tr, rel, op.children[0], "take")
    order = f" ORDER BY {', '.join(rel.ordered)}" if rel.ordered else ""
    cte = tr.add_cte(f"SELECT * FROM {rel.cte}{order} LIMIT {limit}")
    return Relation(cte, rel.columns, rel.ordered, rel.aliases, rel.raw_fields)


def distinct(tr: Translator, rel: Relation, op: Tree) -> Relation:
    if len(op.children) == 1 and isinstance(op.children[0], Token) and str(op.children[0]) == "*":
        columns = list(rel.columns)
    else:
        columns = []
        for item in op.children:
            name = name_text(item)
            col = rel.column(name)
            if col is None:
                raise node(tr.text, item).error(f"distinct: no column {name!r}", name)
            columns.append(col)
    for col in columns:
        if col.type == DYNAMIC:
            raise node(tr.text, op).error(
                f"distinct over the dynamic column {col.name!r} is not supported", "distinct"
            )
    selects = ", ".join(f"{group_key_sql(Typed(ident(c.name), c.type))} AS {ident(c.name)}" for c in columns)
    return Relation(tr.add_cte(f"SELECT DISTINCT {selects} FROM {rel.cte}"), columns)
