"""KQL (Kusto Query Language, as in Sentinel / Log Analytics) translated to one DuckDB SELECT.

`translate(text) -> Translation` is a pure function: `.sql` is the SELECT the workbench runs and
shows ("Show SQL"), `.render` the chart hint of a final `render` (or None). Anything outside the
subset raises common.TranslationError naming the construct and its line and column: a query is
refused rather than run with a silently different meaning.

Parser: Lark 1.3 (LALR with its contextual lexer) over our own grammar (grammar.py). Chosen
over duckdb-kql 1.1.2, which covers far more of KQL but took 34 ms per translation (13 ms to parse
alone with its ANTLR grammar) against the 10 ms budget, and whose coverage we would have had to
fence back down to the subset by walking its internal IR; Lark parses a typical query in about
1 ms and gives line/column for every node. sqlglot has no KQL dialect.

Subset: tabular operators where, project, project-away, extend, summarize (count, dcount, sum,
min, max, avg, make_set; by columns and bin()), top, sort / order by, take / limit, distinct,
join kind=inner|leftouter, union, let (scalar and tabular), render timechart|barchart.
Scalar operators ==, !=, =~, !~, <, <=, >, >=, has, contains, startswith, endswith (each with
!-negated and _cs forms), in, !in, in~, !in~, between, matches regex, and, or, + - * / %.
Functions ago, now, datetime, todatetime, tostring, parse_json, bin, not, isnull, isnotnull,
isempty, isnotempty. Dynamic access into the raw record: raw.a.b, raw['a']['b'], raw.a[0],
parse_json(raw).a. Timespans 1d, 2h, 30m, 10s, 100ms, 5microsecond, 1tick (and long unit names).

KQL semantics kept (the details are in the module that implements each):
- sort / top default to descending, nulls last (ascending: nulls first) — operators.py;
- the order of sort/top survives later where / project / extend / take — operators.py;
- strings are never null in KQL: NULL strings behave as "" in comparisons and keys — predicates.py;
- has is whole-term matching; contains / startswith / endswith / =~ are case-insensitive;
- join needs kind=inner or kind=leftouter (the default innerunique is refused) — joins.py;
- bin() of datetimes counts from 1970-01-01; timespans are exact micro-seconds — literals.py;
- table names are common.SOURCE_TABLES; Sentinel column aliases are listed in sentinel.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from viewer.core.query.common import TranslationError
from viewer.core.query.kql.parse import parse
from viewer.core.query.kql.render import RenderHint
from viewer.core.query.kql.translator import Translator

__all__ = ["RenderHint", "Translation", "TranslationError", "translate"]


@dataclass(frozen=True)
class Translation:
    sql: str  # one DuckDB SELECT over the case
    render: RenderHint | None  # what `render` asked for, or None


def translate(text: str) -> Translation:
    """Translate a KQL query to DuckDB SQL, or raise TranslationError (line, column, construct)."""
    if not text.strip():
        raise TranslationError("the query is empty", 1, 1)
    translator = Translator(text)
    sql = translator.query(parse(text))
    return Translation(sql, translator.render)
