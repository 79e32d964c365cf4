"""The values the KQL translator passes around: typed SQL expressions, columns and relations.

KQL is typed (string, long, real, bool, datetime, timespan, dynamic) and several of its rules
depend on the type: strings are never null (an empty string stands for "missing"), a dynamic
value compares as its string form, `summarize by` refuses dynamic keys. So every translated
expression carries its KQL type next to its SQL text, and every relation knows its columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from viewer.core.query.common import TranslationError, position

STRING, LONG, REAL, BOOL, DATETIME, TIMESPAN, DYNAMIC = (
    "string",
    "long",
    "real",
    "bool",
    "datetime",
    "timespan",
    "dynamic",
)
NUMERIC = (LONG, REAL)

# KQL type -> the DuckDB type used when a NULL of that type has to be written (outer union).
DUCKDB_TYPES = {
    STRING: "VARCHAR",
    LONG: "BIGINT",
    REAL: "DOUBLE",
    BOOL: "BOOLEAN",
    DATETIME: "TIMESTAMPTZ",
    TIMESPAN: "INTERVAL",
    DYNAMIC: "JSON",
}
# The case's column types (viewer/schema.py) seen as KQL types.
KQL_TYPE_OF_SQL = {
    "VARCHAR": STRING,
    "TIMESTAMPTZ": DATETIME,
    "INTEGER": LONG,
    "BIGINT": LONG,
    "SMALLINT": LONG,
    "BOOLEAN": BOOL,
    "JSON": DYNAMIC,
}

# Hidden columns (this name and the key's number) that carry the sort keys of `sort`/`top` through
# order-keeping operators: SQL does not promise that a subquery's ORDER BY survives the outer
# query, KQL does.
ORDER_COLUMN = "_kql_row"


@dataclass(frozen=True)
class Typed:
    """A translated scalar expression: DuckDB SQL text and its KQL type.

    `literal` marks constants (never null), which lets comparisons skip null handling.
    `json_base`/`json_path` keep a dynamic member access unmaterialized so that a chain such as
    raw.a.b[0] becomes one JSON path, read as JSON or as text depending on where it is used.
    """

    sql: str
    type: str
    literal: bool = False
    json_base: str | None = None
    json_path: str = "$"
    source_name: str | None = None  # the column name the expression is, for default names
    # The table's own `raw` (or a path into it) while its extracted columns are at hand, and the
    # column that is exactly this path's text (raw_columns): read instead of parsing the JSON.
    raw_fields: RawFieldsUse | None = field(default=None, compare=False)
    text_sql: str | None = None

    @property
    def json(self) -> str:
        """The value as DuckDB JSON (only for dynamic values)."""
        if self.json_base is None or self.json_path == "$":
            return self.json_base or self.sql
        return f"json_extract({self.json_base}, {sql_string(self.json_path)})"

    @property
    def text(self) -> str:
        """The value as KQL's string form, NULL kept (dynamic: the JSON string's text, or JSON)."""
        if self.type != DYNAMIC:
            return self.sql
        if self.text_sql is not None:
            return self.text_sql
        base = self.json_base or self.sql
        return f"json_extract_string({base}, {sql_string(self.json_path)})"


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(eq=False)
class RawFieldsUse:
    """A source table's extracted raw fields (raw_columns): which paths have a column, and which
    columns the query read, so that the table's CTE joins raw_fields only when one was read."""

    cte_index: int  # position of the table's CTE in the translator's list
    source_sql: str  # the table's relation, before the join
    columns: dict[str, str]  # JSON path -> raw_fields column
    used: set[str] = field(default_factory=set)


@dataclass
class Relation:
    """One stage of the pipeline: the CTE that holds it, its columns, and what it still knows."""

    cte: str
    columns: list[Column]
    # The ORDER BY terms (over hidden ORDER_COLUMN<n> columns the rows carry) their order is
    # given by; empty when the rows have no order.
    ordered: tuple[str, ...] = ()
    aliases: dict[str, Typed] = field(default_factory=dict)  # Sentinel column names (sentinel.py)
    # Set while `raw` is still the table's own and its extracted columns pass through (SELECT *).
    raw_fields: RawFieldsUse | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]


class Node:
    """Where in the query text a construct sits, for errors."""

    def __init__(self, text: str, line: int, column: int) -> None:
        self.text, self.line, self.column = text, line, column

    def error(self, message: str, construct: str = "") -> TranslationError:
        return TranslationError(message, self.line, self.column, construct)


def refuse_at(text: str, offset: int, message: str, construct: str = "") -> TranslationError:
    line, col = position(text, offset)
    return TranslationError(message, line, col, construct)


_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")
# DuckDB's reserved words (duckdb_keywords() WHERE keyword_category = 'reserved').
_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "default",
        "deferrable",
        "desc",
        "describe",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lambda",
        "lateral",
        "leading",
        "limit",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "pivot",
        "pivot_longer",
        "pivot_wider",
        "placing",
        "primary",
        "qualify",
        "references",
        "returning",
        "select",
        "show",
        "some",
        "summarize",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "unpivot",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ]
)


def ident(name: str) -> str:
    """A DuckDB identifier; quoted when it is not a plain lower-case name or is reserved."""
    if _PLAIN_IDENTIFIER.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
