"""What the query editor may run: SELECT over the case, nothing that reads or writes elsewhere.

DuckDB's own `enable_external_access` switch is per database instance and cannot be turned back
on, while the import needs file access on the same instance; so the editor's statements are
checked on DuckDB's parse tree instead (json_serialize_sql, which only accepts SELECT): every
table reference must be a table or view of the case or a CTE of the query, and table functions
must be on an allow-list. Reading files (read_csv, read_json, 'file.parquet' replacement scans)
is allowed only when the user turns external access on in the settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from viewer.core.query.common import TranslationError, position

# Table functions that only compute or describe the case itself.
SAFE_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_functions",
        "duckdb_types",
        "duckdb_keywords",
    }
)
# Scalar functions that reveal the machine rather than the case.
UNSAFE_FUNCTIONS = frozenset({"getenv", "current_setting"})
#: Derived tables the query library reads (viewer.core.raw_fields): missing only in a case imported
#: by an older Caseline, which says how to build them.
BUILT_AT_IMPORT = frozenset({"raw_fields", "raw_volume"})


class QueryRefused(TranslationError):
    """The statement is well-formed but not allowed in the editor."""


@dataclass(frozen=True)
class _Ref:
    kind: str  # table | table_function | function
    name: str
    schema: str
    location: int | None


def _walk(node: object) -> Iterator[_Ref]:
    if isinstance(node, dict):
        loc = node.get("query_location")
        loc = loc if isinstance(loc, int) and loc < 2**40 else None
        if node.get("type") == "BASE_TABLE":
            yield _Ref("table", node.get("table_name", ""), node.get("schema_name", ""), loc)
        elif node.get("type") == "TABLE_FUNCTION":
            fn = node.get("function") or {}
            yield _Ref("table_function", fn.get("function_name", ""), fn.get("schema", ""), loc)
            for arg in fn.get("arguments", []):  # the function node itself is not a scalar call
                yield from _walk(arg)
            return
        elif node.get("class") == "FUNCTION":
            yield _Ref("function", node.get("function_name", ""), node.get("schema", ""), loc)
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _cte_names(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for entry in (
            (node.get("cte_map") or {}).get("map", []) if isinstance(node.get("cte_map"), dict) else []
        ):
            names.add(str(entry.get("key", "")).lower())
        for v in node.values():
            names |= _cte_names(v)
    elif isinstance(node, list):
        for v in node:
            names |= _cte_names(v)
    return names


def _relations(cur: duckdb.DuckDBPyConnection) -> set[str]:
    rows = cur.execute(
        "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()"
    ).fetchall()
    return {str(r[0]).lower() for r in rows}


def check(cur: duckdb.DuckDBPyConnection, sql: str, allow_external: bool = False) -> None:
    """Raise QueryRefused (with line and column) unless `sql` is one SELECT the editor may run."""
    tree = json.loads(cur.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0])
    if tree.get("error"):
        msg = str(tree.get("error_message", ""))
        if "Only SELECT" in msg:
            raise QueryRefused(
                "only SELECT queries run in the query editor: the case is evidence and is never "
                "changed from here (imports, annotations and exports have their own commands)",
                1,
                1,
                sql.strip().split(None, 1)[0].upper() if sql.strip() else "",
            )
        raise QueryRefused(msg, 1, 1)
    statements = tree.get("statements", [])
    if len(statements) != 1:
        raise QueryRefused(f"one query at a time (found {len(statements)})", 1, 1)
    known = _relations(cur) | _cte_names(statements)
    for ref in _walk(statements):
        line, col = position(sql, ref.location) if ref.location is not None else (1, 1)
        if ref.kind == "function" and ref.name.lower() in UNSAFE_FUNCTIONS:
            raise QueryRefused(f"{ref.name}() is not available in the query editor", line, col, ref.name)
        if allow_external:
            continue
        if ref.kind == "table_function" and ref.name.lower() not in SAFE_TABLE_FUNCTIONS:
            raise QueryRefused(
                f"{ref.name}() reads outside the case; turn on external access in the settings to use it",
                line,
                col,
                ref.name,
            )
        if ref.kind == "table" and ref.name.lower() in BUILT_AT_IMPORT and ref.name.lower() not in known:
            raise QueryRefused(
                f"this case has no {ref.name} table yet (it is built at import by this Caseline); run "
                "`caseline reindex CASE` once, or open the case writable to build it",
                line,
                col,
                ref.name,
            )
        if ref.kind == "table" and ref.name.lower() not in known:
            raise QueryRefused(
                f"no table or view named {ref.name!r} in the case (files are read only when external "
                "access is turned on in the settings)",
                line,
                col,
                ref.name,
            )
