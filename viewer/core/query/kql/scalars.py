"""Scalar expressions: names, literals, dynamic member access, arithmetic and functions."""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Tree

from viewer.core.query import raw_columns
from viewer.core.query.kql import literals, predicates
from viewer.core.query.kql.model import (
    BOOL,
    DATETIME,
    DYNAMIC,
    LONG,
    NUMERIC,
    REAL,
    STRING,
    TIMESPAN,
    Node,
    Relation,
    Typed,
    ident,
)

AGGREGATES = frozenset({"count", "dcount", "sum", "min", "max", "avg", "make_set"})
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def node(text: str, item: Any) -> Node:
    """The position of a parse-tree item (Tree or Token)."""
    if isinstance(item, Token):
        return Node(text, item.line or 1, item.column or 1)
    meta = getattr(item, "meta", None)
    line = getattr(meta, "line", None) if meta is not None else None
    return Node(text, line or 1, getattr(meta, "column", 1) or 1)


class Scope:
    """What names mean while translating one expression: the input relation and scalar lets."""

    def __init__(
        self,
        text: str,
        relation: Relation | None,
        lets: dict[str, Typed],
        extra: dict[str, Typed] | None = None,
    ) -> None:
        self.text, self.relation, self.lets = text, relation, lets
        self.extra = extra or {}  # names defined earlier in the same extend / project
        self.sides: dict[str, Relation] = {}  # $left / $right inside a join condition

    def at(self, item: Any) -> Node:
        return node(self.text, item)

    # -- names ----------------------------------------------------------------------------------
    def column(self, name: str, where: Any) -> Typed:
        if name in self.extra:
            return self.extra[name]
        rel = self.relation
        if rel is not None:
            col = rel.column(name)
            if col is not None:
                raw_fields = rel.raw_fields if name == "raw" else None
                return Typed(ident(name), col.type, source_name=name, raw_fields=raw_fields)
            alias = rel.aliases.get(name)
            if alias is not None and rel.column(alias.source_name or "raw") is not None:
                return Typed(alias.sql, alias.type, source_name=name)
        if name in self.lets:
            return self.lets[name]
        hint = ""
        if rel is not None:
            near = [c for c in rel.names() if c.lower() == name.lower()]
            hint = f"; KQL names are case-sensitive, did you mean {near[0]!r}?" if near else ""
        raise self.at(where).error(f"unknown column or scalar {name!r}{hint}", name)

    # -- expressions ----------------------------------------------------------------------------
    def expr(self, tree: Any) -> Typed:
        if isinstance(tree, Token):  # a bare token only appears through inlined rules
            raise self.at(tree).error(f"unexpected {tree!s}", str(tree))
        handler = getattr(self, "_" + tree.data, None)
        if handler is not None:
            result: Typed = handler(tree)
            return result
        if tree.data in predicates.HANDLERS:
            return predicates.HANDLERS[tree.data](self, tree)
        raise self.at(tree).error(f"{tree.data} is not supported here", str(tree.data))

    def _name(self, tree: Tree) -> Typed:
        return self.column(name_text(tree.children[0]), tree)

    def _string(self, tree: Tree) -> Typed:
        return literals.string_literal(token(tree.children[0]))

    def _number(self, tree: Tree) -> Typed:
        return literals.number_literal(token(tree.children[0]))

    def _timespan(self, tree: Tree) -> Typed:
        return literals.timespan_literal(token(tree.children[0]))

    def _datetime(self, tree: Tree) -> Typed:
        return literals.datetime_literal(token(tree.children[0]))

    def _true(self, tree: Tree) -> Typed:
        return Typed("true", BOOL, literal=True)

    def _false(self, tree: Tree) -> Typed:
        return Typed("false", BOOL, literal=True)

    def _paren(self, tree: Tree) -> Typed:
        pipeline = tree.children[0]
        if len(pipeline.children) != 1:
            raise self.at(tree).error("a tabular sub-query is not supported inside an expression", "(")
        inner = self.expr(pipeline.children[0])
        return Typed(f"({inner.sql})", inner.type, inner.literal, inner.json_base, inner.json_path)

    def _side_column(self, tree: Tree) -> Typed:
        side, name = str(tree.children[0]), str(tree.children[1])
        rel = self.sides.get(side)
        if rel is None:
            raise self.at(tree).error(f"{side} is only meaningful in a join condition", side)
        inner = Scope(self.text, rel, {})
        found = inner.column(name, tree.children[1])
        prefix = "l" if side == "$left" else "r"
        return Typed(f"{prefix}.{found.sql}", found.type, source_name=name)

    def _and_(self, tree: Tree) -> Typed:
        return self._logic(tree, "AND")

    def _or_(self, tree: Tree) -> Typed:
        return self._logic(tree, "OR")

    def _logic(self, tree: Tree, op: str) -> Typed:
        left, right = (self.expect(c, BOOL) for c in tree.children)
        return Typed(f"({left.sql} {op} {right.sql})", BOOL)

    def expect(self, tree: Any, *types: str) -> Typed:
        value = self.expr(tree)
        if value.type not in types:
            raise self.at(tree).error(f"expected {' or '.join(types)}, got {value.type}")
        return value

    def _negate(self, tree: Tree) -> Typed:
        value = self.expect(tree.children[0], LONG, REAL, TIMESPAN)
        return Typed(f"(-{value.sql})", value.type, value.literal)

    def _arith(self, tree: Tree) -> Typed:
        left, op, right = self.expr(tree.children[0]), str(tree.children[1]), self.expr(tree.children[2])
        kinds = (left.type, right.type)
        if left.type in NUMERIC and right.type in NUMERIC:
            result = LONG if kinds == (LONG, LONG) else REAL
            if op == "/" and result == LONG:  # KQL long division truncates, like DuckDB's //
                return Typed(f"({left.sql} // {right.sql})", LONG)
            return Typed(f"({left.sql} {op} {right.sql})", result)
        time_rules = {
            (DATETIME, "-", DATETIME): TIMESPAN,
            (DATETIME, "+", TIMESPAN): DATETIME,
            (DATETIME, "-", TIMESPAN): DATETIME,
            (TIMESPAN, "+", DATETIME): DATETIME,
            (TIMESPAN, "+", TIMESPAN): TIMESPAN,
            (TIMESPAN, "-", TIMESPAN): TIMESPAN,
        }
        result_type = time_rules.get((left.type, op, right.type))
        if result_type is None:
            raise self.at(tree.children[1]).error(f"{left.type} {op} {right.type} is not supported", op)
        return Typed(f"({left.sql} {op} {right.sql})", result_type)

    # -- dynamic access -------------------------------------------------------------------------
    def _member(self, tree: Tree) -> Typed:
        return self._dynamic_step(tree, tree.children[0], json_key(str(tree.children[1])))

    def _index(self, tree: Tree) -> Typed:
        key = self.expr(tree.children[1])
        if key.literal and key.type == STRING:
            step = json_key(literals.string_value(token(tree.children[1].children[0])))
        elif key.literal and key.type == LONG:
            step = f"[{key.sql}]"
        else:
            raise self.at(tree.children[1]).error(
                "only constant keys and non-negative indexes are supported in [ ]", "[]"
            )
        return self._dynamic_step(tree, tree.children[0], step)

    def _dynamic_step(self, tree: Tree, base_tree: Any, step: str) -> Typed:
        base = self.expr(base_tree)
        if base.type != DYNAMIC:
            raise self.at(tree).error(f"member access needs a dynamic value, not {base.type}", ".")
        json_base = base.json_base or base.sql
        path = base.json_path + step
        text_sql = None
        if base.raw_fields is not None and path in base.raw_fields.columns:
            column = base.raw_fields.columns[path]
            base.raw_fields.used.add(column)
            text_sql = ident(raw_columns.hidden(column))
        return Typed(
            json_base,
            DYNAMIC,
            json_base=json_base,
            json_path=path,
            raw_fields=base.raw_fields,
            text_sql=text_sql,
        )

    def _call(self, tree: Tree) -> Typed:
        from viewer.core.query.kql import functions  # functions imports Scope's module

        name = str(tree.children[0])
        args = [c for c in tree.children[1:] if c is not None]
        if name in AGGREGATES:
            raise self.at(tree).error(f"{name}() is an aggregation: use it in summarize", name)
        return functions.call(self, tree, name, args)


def name_text(item: Any) -> str:
    """A NAME token or a bracketed ['name'] as the column name it spells."""
    if isinstance(item, Tree) and item.data == "bracket_name":
        return literals.string_value(token(item.children[0]))
    if isinstance(item, Tree) and item.data == "column_name":
        return name_text(item.children[0])
    return str(item)


def token(item: Any) -> Token:
    """A parse-tree child known by the grammar to be a token."""
    assert isinstance(item, Token), item
    return item


def json_key(key: str) -> str:
    if _PLAIN_KEY.match(key):
        return "." + key
    return '."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
