"""The commands of a Logs Insights query -> one DuckDB SELECT.

Before the first `stats`, a query reads `events` row by row: `fields` and `parse` define names
whose SQL is inlined where they are used, `filter` adds WHERE conditions. `stats` becomes an
aggregate subquery (GROUP BY ALL); after it only the columns it produced exist, as in Logs Insights.
`sort`, `dedup` and `limit` apply to the final SELECT.

Defaults that Logs Insights applies and the SQL states explicitly (also listed in
`Translation.notes`): at most 10,000 rows when there is no `limit`; `dedup` keeps the first row of
the preceding `sort`, or the most recent event without one (AWS: "the default descending sort order
using @timestamp"). Choices where AWS documents nothing, also listed in the notes: rows without
`sort` come most recent first; `stats` rows without `sort` come in group order; `sort` without a
direction is ascending; missing values sort last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token, Tree

from viewer.core.doc_keys import DocKeys
from viewer.core.query.common import TranslationError
from viewer.core.query.insights import message_filter
from viewer.core.query.insights.expressions import (
    Expr,
    ExpressionCompiler,
    as_condition,
    as_text,
    as_token,
    error_at,
    field_name,
    source_text,
    unquote,
)
from viewer.core.query.insights.fields import (
    SYSTEM_FIELDS,
    events_source,
    field_marker,
    marker_uses,
    natural_sort_key,
    quote_identifier,
    resolve_markers,
    sql_string,
)
from viewer.core.query.insights.patterns import glob_to_regex, regex_literal
from viewer.core.query.insights.stats_split import two_groupings
from viewer.core.search_regex import RangesLookup

DEFAULT_LIMIT = 10_000  # CWL_QuerySyntax-Limit: "If you omit limit ... up to 10,000 log events"
MAX_LIMIT = 100_000  # the same page: "You can specify a limit value of up to 100,000"
MAX_STATS = 2  # CWL_QuerySyntax-Stats: "A query can have a maximum of two stats commands"


@dataclass(frozen=True)
class ChartHint:
    """`stats ... by bin(period)`: the result is a time series the UI can draw."""

    kind: str  # "timeseries"
    time_column: str
    value_columns: tuple[str, ...]
    series_columns: tuple[str, ...]  # other group fields: one line per value combination


@dataclass(frozen=True)
class Translation:
    sql: str
    columns: tuple[str, ...]
    chart: ChartHint | None = None
    notes: tuple[str, ...] = ()  # the implicit semantics applied, for the UI to show


@dataclass
class _Stats:
    groups: list[str]
    aggregates: list[str]
    bin_column: str | None


#: Where the events relation goes in the SQL, written once the query's discovered fields are known.
_EVENTS = "\x00events\x00"


@dataclass
class Pipeline:
    text: str
    known: DocKeys | None = None  # the case's key sets (fields.events_source); None: assume nothing
    ranges: RangesLookup | None = None  # the case's free-text index (message_filter); None: read all
    source: str = f"{_EVENTS} AS events"
    discovered: dict[str, int] = field(default_factory=dict)  # field name -> its number (field_marker)
    event_wheres: list[str] = field(default_factory=list)  # conditions on events, applied in _EVENTS
    env: dict[str, Expr] = field(default_factory=dict)
    stats_columns: dict[str, Expr] | None = None
    wheres: list[str] = field(default_factory=list)
    shown: dict[str, Expr] = field(default_factory=dict)
    parsed: dict[str, Expr] = field(default_factory=dict)
    display: dict[str, Expr] | None = None
    sort: list[str] | None = None
    dedup: list[Expr] | None = None
    limit: int | None = None
    stats_count: int = 0
    last_stats: _Stats | None = None
    notes: list[str] = field(default_factory=list)
    message_need: list[frozenset[str]] | None = None  # tokens @message filters need; None: no such filter

    # -- names ---------------------------------------------------------------------------------
    def resolve(self, name: str, node: Token | Tree) -> Expr:
        if name in self.env:
            return self.env[name]
        if self.stats_columns is not None:
            if name in self.stats_columns:
                return self.stats_columns[name]
            known = ", ".join(self.stats_columns)
            raise error_at(
                node, f"field '{name}' is not available after stats, which produced only: {known}", name
            )
        if name.startswith("@"):
            if name in SYSTEM_FIELDS:
                sql, kind = SYSTEM_FIELDS[name]
                return Expr(sql, kind)
            raise error_at(node, f"system field '{name}' is not supported", name)
        number = self.discovered.setdefault(name, len(self.discovered) + 1)
        return Expr(field_marker(number), "text")

    def compile(self, node: Tree, aggregates: bool = False) -> Expr:
        named = self._stats_column_by_text(node)
        if named is not None:
            return named
        compiler = ExpressionCompiler(self.text, self.resolve, aggregates)
        expr = compiler.compile(node)
        if aggregates and not compiler.used_aggregate:
            raise error_at(
                node, f"'{source_text(self.text, node)}' in stats needs an aggregate function", "stats"
            )
        return expr

    def _stats_column_by_text(self, node: Tree) -> Expr | None:
        # After stats, `sort count(*) desc` names the column stats called `count(*)`.
        if self.stats_columns is None or node.data != "call":
            return None
        return self.stats_columns.get(source_text(self.text, node))

    def _projection(self, node: Tree, aggregates: bool = False) -> tuple[str, Expr, Tree]:
        expr_node = node.children[0]
        alias = node.children[2] if len(node.children) == 3 else None
        expr = self.compile(expr_node, aggregates)
        if alias is not None:
            name = field_name(alias)
        elif expr_node.data == "name":
            name = field_name(expr_node)
        else:
            name = source_text(self.text, expr_node)
        return name, expr, expr_node

    # -- commands ------------------------------------------------------------------------------
    def run(self, tree: Tree) -> Translation:
        if "\x00" in self.text:  # field markers are NUL-delimited (fields.field_marker)
            raise TranslationError("the query contains a NUL character", 1, self.text.index("\x00") + 1)
        for command in tree.children:
            self._check_order(command)
            getattr(self, f"_{command.data}")(command)
        return self._finish()

    def _check_order(self, command: Tree) -> None:
        keyword = str(command.children[0]).split()[0].lower()
        if self.dedup is not None and keyword != "limit":
            raise error_at(command, "only limit may follow dedup", keyword)
        if self.limit is not None and keyword not in ("fields", "display"):
            raise error_at(command, f"{keyword} after limit is not supported: put limit last", keyword)
        if keyword == "stats" and self.sort is not None:
            raise error_at(command, "sort must come after the last stats command", "sort")

    def _fields_cmd(self, node: Tree) -> None:
        for projection in node.children[1:]:
            name, expr, _ = self._projection(projection)
            self.env[name] = expr
            self.shown[name] = expr

    def _display_cmd(self, node: Tree) -> None:
        # "If you specify this command more than once, only the fields of the last one are used."
        self.display = {}
        for projection in node.children[1:]:
            name, expr, _ = self._projection(projection)
            self.display[name] = expr

    def _filter_cmd(self, node: Tree) -> None:
        for condition in _conjuncts(node.children[1]):
            need = message_filter.requirement(condition, lambda n: self.compile(n).sql)
            if need is not None and self.stats_count == 0:  # on the events themselves
                self.message_need = [*(self.message_need or []), *need]
            sql = as_condition(self.compile(condition), condition)
            self.wheres.append(f"({sql}) IS TRUE" if condition.data in ("in_list", "or_op") else sql)

    def _sort_cmd(self, node: Tree) -> None:
        if self.sort is not None:
            raise error_at(node, "only one sort per query is supported", "sort")
        self.sort = []
        for key in node.children[1:]:
            expr = self.compile(key.children[0])
            direction = "ASC"
            if len(key.children) == 2:
                direction = str(key.children[1]).upper()
            else:
                self.notes.append("sort without asc/desc is read as ascending")
            value = natural_sort_key(as_text(expr)) if expr.kind == "text" else expr.sql
            self.sort.append(f"{value} {direction} NULLS LAST")

    def _limit_cmd(self, node: Tree) -> None:
        if len(node.children) == 3:
            raise error_at(node.children[1], f"'limit {node.children[1]}' is not supported", "limit any")
        count_token = node.children[-1]
        count = int(str(count_token))
        if not 1 <= count <= MAX_LIMIT:
            raise error_at(count_token, f"limit must be between 1 and {MAX_LIMIT:,}", "limit")
        self.limit = count

    def _dedup_cmd(self, node: Tree) -> None:
        self.dedup = [self.resolve(field_name(n), n) for n in node.children[1:]]

    def _parse_cmd(self, node: Tree) -> None:
        head, pattern = as_token(node.children[0]), as_token(node.children[1])
        names = [n for n in node.children[2:] if isinstance(n, Tree)]
        regex, stars = glob_to_regex(unquote(pattern))
        if len(names) != stars:
            raise error_at(pattern, f"the glob has {stars} '*' but {len(names)} name(s) follow 'as'", "parse")
        self._define_parsed(head, regex, {field_name(n): k + 1 for k, n in enumerate(names)})

    def _parse_regex_cmd(self, node: Tree) -> None:
        head, pattern = as_token(node.children[0]), as_token(node.children[1])
        regex = regex_literal(str(pattern), pattern.line or 1, pattern.column or 1)
        if not regex.groups:
            raise error_at(pattern, "a parse regex needs named groups such as (?<name>...)", "parse")
        self._define_parsed(head, regex.pattern, regex.groups)

    def _define_parsed(self, head: Token, regex: str, groups: dict[str, int]) -> None:
        source_name = str(head).split(None, 1)[1].strip("`")
        source = as_text(self.resolve(source_name, head))
        pattern = sql_string(regex)
        for name, index in groups.items():
            # A non-matching event keeps its place, without the extracted fields (AWS parse page).
            expr = Expr(
                f"CASE WHEN regexp_matches({source}, {pattern}) "
                f"THEN regexp_extract({source}, {pattern}, {index}) END",
                "text",
            )
            self.env[name] = expr
            self.parsed[name] = expr

    def _stats_cmd(self, node: Tree) -> None:
        if self.stats_count == MAX_STATS:
            raise error_at(node, "a query can have at most two stats commands", "stats")
        by_index = next(
            (i for i, c in enumerate(node.children) if isinstance(c, Token) and c.type == "BY"),
            len(node.children),
        )
        aggregates = [self._projection(p, aggregates=True) for p in node.children[1:by_index]]
        groups = [self._projection(p) for p in node.children[by_index + 1 :]]
        names = [n for n, _, _ in groups + aggregates]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise error_at(node, f"stats produces '{duplicate}' twice: give one an alias with 'as'", "stats")
        items = [f"{e.sql} AS {quote_identifier(n)}" for n, e, _ in groups + aggregates]
        where = self._where()
        group_by = " GROUP BY ALL" if groups else ""
        self.stats_count += 1
        split = two_groupings(
            f"{self.source}{where}",
            [(quote_identifier(n), e) for n, e, _ in groups],
            [(quote_identifier(n), e) for n, e, _ in aggregates],
        )
        select = split or f"SELECT {', '.join(items)} FROM {self.source}{where}{group_by}"
        self.source = f"({select}) AS stats_{self.stats_count}"
        self.stats_columns = {n: Expr(quote_identifier(n), e.kind) for n, e, _ in groups + aggregates}
        bin_column = next((n for n, _, t in groups if _is_bin(t)), None)
        self.last_stats = _Stats([n for n, _, _ in groups], [n for n, _, _ in aggregates], bin_column)
        self.env, self.wheres, self.shown, self.parsed, self.display = {}, [], {}, {}, None

    def _where(self) -> str:
        """The WHERE clause of the stage reading `self.source`; conditions on the events themselves
        go into the events relation (fields.events_source), where they prune the scan."""
        if not self.wheres:
            return ""
        if self.stats_count == 0:
            self.event_wheres = list(self.wheres)
            return ""
        return f" WHERE {' AND '.join(self.wheres)}"

    # -- the final SELECT ----------------------------------------------------------------------
    def _output(self) -> dict[str, Expr]:
        if self.display is not None:
            return self.display
        if self.stats_columns is not None:
            return {**self.stats_columns, **self.shown, **self.parsed}
        base = self.shown or {
            name: self.resolve(name, Token("NAME", name)) for name in ("@timestamp", "@message")
        }
        return {**base, **self.parsed}

    def _default_order(self) -> list[str]:
        if self.stats_columns is None:
            self.notes.append("no sort: most recent events first (@timestamp descending)")
            return ["ts DESC"]
        assert self.last_stats is not None
        if self.last_stats.groups:
            self.notes.append("no sort: stats rows in ascending order of their groups")
        return [f"{quote_identifier(g)} ASC NULLS LAST" for g in self.last_stats.groups]

    def _finish(self) -> Translation:
        output = self._output()
        items = [f"{_displayed(expr)} AS {quote_identifier(name)}" for name, expr in output.items()]
        order = self.sort if self.sort is not None else self._default_order()
        if self.stats_columns is None:
            order = [*order, "event_id DESC"]  # a stable tie-break: ties keep file order, newest first
        sql = f"SELECT {', '.join(items)} FROM {self.source}{self._where()}"
        if self.dedup is not None:
            sql += f" QUALIFY {_dedup_condition(self.dedup, order)}"
        if order:
            sql += f" ORDER BY {', '.join(order)}"
        limit = self.limit if self.limit is not None else DEFAULT_LIMIT
        if self.limit is None:
            self.notes.append(f"no limit: at most {DEFAULT_LIMIT:,} rows, as Logs Insights returns")
        sql += f" LIMIT {limit}"
        # Every discovered field is known now (after a stats only its columns exist).
        uses = marker_uses(sql, *self.event_wheres)
        narrowed = self._narrowed_by_index()
        source = events_source(self.discovered, self.event_wheres, uses, self.known, narrowed)
        sql = resolve_markers(sql.replace(_EVENTS, source, 1))
        return Translation(sql, tuple(output), self._chart(tuple(output)), tuple(self.notes))

    def _narrowed_by_index(self) -> str | None:
        """The event id ranges the @message filters confine the query to (message_filter), with
        a note saying whether they did and, if not, why."""
        if self.message_need is None or self.ranges is None:  # no such filter, or no case
            return None
        if not self.message_need:
            self.notes.append(message_filter.NO_WORD)
            return None
        narrowed = self.ranges(tuple(self.message_need))
        self.notes.append(message_filter.NARROWED if narrowed else message_filter.NOT_NARROWED)
        return narrowed

    def _chart(self, columns: tuple[str, ...]) -> ChartHint | None:
        stats = self.last_stats
        if stats is None or stats.bin_column is None:
            return None
        wanted = [*stats.groups, *stats.aggregates]
        if not all(c in columns for c in wanted):
            return None
        series = tuple(g for g in stats.groups if g != stats.bin_column)
        return ChartHint("timeseries", stats.bin_column, tuple(stats.aggregates), series)


def _displayed(expr: Expr) -> str:
    # Logs Insights shows a condition's value as 1 or 0 (e.g. `fields ispresent(x) as isRes`).
    return f"CAST({expr.sql} AS INTEGER)" if expr.kind == "bool" else expr.sql


def _dedup_condition(keys: list[Expr], order: list[str]) -> str:
    # "Null values are not considered duplicates ... events with null values are retained."
    any_null = " OR ".join(f"{k.sql} IS NULL" for k in keys)
    partition = ", ".join(k.sql for k in keys)
    window = f"row_number() OVER (PARTITION BY {partition} ORDER BY {', '.join(order)})"
    return f"({any_null} OR {window} = 1)"


def _conjuncts(condition: Tree) -> list[Tree]:
    """The terms of a filter's top-level `and`, each its own WHERE condition (the same rows: WHERE
    keeps a row when every term is true).

    Why: DuckDB applies a condition on one column inside the scan, so the columns a query reads
    besides it (the raw record, 1.7 KB of JSON) are decompressed only for the rows that pass. A
    term of a conjunction can go there on its own; the conjunction as a whole references several
    columns and cannot. And an `in` list on a bare column, or an `or` of equalities (which DuckDB
    turns into one), becomes a zone-map filter only, applied after the scan: the terms of those
    kinds are written `(...) IS TRUE`, equal in a WHERE, which DuckDB applies in the scan (10M
    events, an `in` of two actions and `@message like`: 16 CPU-s as one condition, 0.1 apart)."""
    if condition.data == "and_op":
        return [*_conjuncts(condition.children[0]), *_conjuncts(condition.children[2])]
    return [condition]


def _is_bin(node: Tree) -> bool:
    return node.data == "call" and str(node.children[0]).lower() == "bin"
