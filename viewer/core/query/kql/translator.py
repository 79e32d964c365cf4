"""The driver: let statements, pipelines, and the chain of CTEs that becomes one SELECT.

Each tabular operator becomes one CTE over the previous one, with its columns known (model.py),
so that KQL's column rules (extend replacing a column, join suffixes, outer union) are written
out explicitly rather than left to SQL's different ones.
"""

from __future__ import annotations

from typing import Any

from lark import Token, Tree

from viewer.core.query import raw_columns
from viewer.core.query.common import TABLE_SOURCE_TYPES
from viewer.core.query.kql.group_floor import row_floor
from viewer.core.query.kql.joins import join, union
from viewer.core.query.kql.model import DYNAMIC, RawFieldsUse, Relation, Typed, ident
from viewer.core.query.kql.operators import distinct, extend, project, project_away, sort, take, top, where
from viewer.core.query.kql.render import RenderHint, render_hint
from viewer.core.query.kql.scalars import Scope, name_text, node
from viewer.core.query.kql.sentinel import EVENT_COLUMNS, table_aliases, table_sql
from viewer.core.query.kql.summarize import summarize


class Translator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.ctes: list[tuple[str, str]] = []
        self.scalars: dict[str, Typed] = {}
        self.tables: dict[str, Relation] = {}
        self.render: RenderHint | None = None
        self.raw_fields: list[RawFieldsUse] = []
        self.inline_ctes = False  # a CTE is read twice: write every CTE NOT MATERIALIZED

    # -- statements -----------------------------------------------------------------------------
    def query(self, tree: Tree) -> str:
        *lets, main = tree.children
        for let in lets:
            self._let(let)
        result = self.pipeline(main, allow_render=True)
        self._join_raw_fields()
        columns = ", ".join(ident(c) for c in result.names())
        final = f"SELECT {columns} FROM {result.cte}"
        if result.ordered:
            final += f" ORDER BY {', '.join(result.ordered)}"
        # NOT MATERIALIZED when group_floor reads a CTE twice: DuckDB would otherwise materialize
        # it with every CTE it reads, rows of the events table included; inlined, each read is
        # filtered and projected on its own. (A CTE read once is inlined either way.)
        mode = "NOT MATERIALIZED " if self.inline_ctes else ""
        ctes = ",\n".join(f"{name} AS {mode}(\n  {sql}\n)" for name, sql in self.ctes)
        return f"WITH {ctes}\n{final}"

    def _let(self, tree: Tree) -> None:
        name, pipeline = str(tree.children[0]), tree.children[1]
        head = pipeline.children[0]
        if len(pipeline.children) > 1 or self._is_tabular(head):
            self.tables[name] = self.pipeline(pipeline)
            self.scalars.pop(name, None)
            return
        value = Scope(self.text, None, self.scalars).expr(head)
        if value.type == DYNAMIC:
            raise node(self.text, head).error("dynamic let values are not supported", "let")
        self.scalars[name] = Typed(
            f"({value.sql})" if not value.literal else value.sql, value.type, value.literal
        )
        self.tables.pop(name, None)

    def _is_tabular(self, head: Any) -> bool:
        if isinstance(head, Tree) and head.data == "union_op":
            return True
        if isinstance(head, Tree) and head.data == "name":
            name = name_text(head.children[0])
            return name in self.tables or (name not in self.scalars and table_sql(name) is not None)
        if isinstance(head, Tree) and head.data == "paren":
            inner = head.children[0]
            return len(inner.children) > 1 or self._is_tabular(inner.children[0])
        return False

    # -- pipelines ------------------------------------------------------------------------------
    def add_cte(self, sql: str) -> str:
        name = f"_k{len(self.ctes) + 1}"
        self.ctes.append((name, sql))
        return name

    def pipeline(self, tree: Tree, allow_render: bool = False) -> Relation:
        head, *ops = tree.children
        relation = self.source(head)
        for i, op in enumerate(ops):
            if op.data == "render_op":
                if not allow_render or i != len(ops) - 1:
                    raise node(self.text, op).error("render must be the last operator of the query", "render")
                self.render = render_hint(self.text, op, relation)
                continue
            if op.data == "summarize_op" and i + 1 < len(ops) and ops[i + 1].data == "where_op":
                floor = row_floor(op, ops[i + 1])
                self.inline_ctes = self.inline_ctes or floor is not None
                relation = summarize(self, relation, op, floor)
                continue
            relation = self.operator(relation, op)
        return relation

    def source(self, head: Any) -> Relation:
        if isinstance(head, Tree) and head.data == "union_op":
            return union(self, None, head)
        if isinstance(head, Tree) and head.data == "paren":
            return self.pipeline(head.children[0])
        if isinstance(head, Tree) and head.data == "name":
            return self.table(name_text(head.children[0]), head)
        raise node(self.text, head).error("a query starts with a table name, a let name or union", "")

    def table(self, name: str, where: Any) -> Relation:
        if name in self.tables:
            return self.tables[name]
        sql = table_sql(name)
        if sql is None:
            raise node(self.text, where).error(f"unknown table {name!r}", name)
        # Explicit columns, in schema order: the table's physical order differs after migrations,
        # and internal columns (dedup_key) are not part of the language's view of events.
        columns = ", ".join(ident(c.name) for c in EVENT_COLUMNS)
        cte = self.add_cte(f"SELECT {columns} FROM {sql}")
        source_type = TABLE_SOURCE_TYPES.get(name)
        extracted = raw_columns.text_columns(source_type) if source_type else {}
        raw_fields = RawFieldsUse(len(self.ctes) - 1, sql, extracted) if extracted else None
        if raw_fields:
            self.raw_fields.append(raw_fields)
        return Relation(cte, list(EVENT_COLUMNS), aliases=table_aliases(name), raw_fields=raw_fields)

    def _join_raw_fields(self) -> None:
        """Tables whose extracted columns were read select them from a join with raw_fields."""
        columns = ", ".join(ident(c.name) for c in EVENT_COLUMNS)
        for use in self.raw_fields:
            if use.used:
                name, _ = self.ctes[use.cte_index]
                hidden = "".join(f", {raw_columns.hidden(c)}" for c in sorted(use.used))
                joined = raw_columns.with_columns(use.source_sql, use.used)
                self.ctes[use.cte_index] = (name, f"SELECT {columns}{hidden} FROM {joined}")

    def tabular_arg(self, tree: Tree) -> Relation:
        item = tree.children[0]
        if isinstance(item, Token):
            return self.table(str(item), item)
        return self.pipeline(item)

    def operator(self, relation: Relation, op: Tree) -> Relation:
        handlers = {
            "where_op": where,
            "project_op": project,
            "project_away_op": project_away,
            "extend_op": extend,
            "sort_op": sort,
            "top_op": top,
            "take_op": take,
            "distinct_op": distinct,
            "summarize_op": summarize,
            "join_op": join,
            "union_op": union,
        }
        return handlers[op.data](self, relation, op)

    def scope(self, relation: Relation | None) -> Scope:
        return Scope(self.text, relation, self.scalars)
