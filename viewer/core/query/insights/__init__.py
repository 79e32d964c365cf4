"""CloudWatch Logs Insights query language -> DuckDB SQL over the case's events.

`translate(text, known)` is a pure function: the same text (and key sets of the case, `known`,
see viewer/core/doc_keys.py) always gives the same SQL, so the query workbench can "Show SQL",
and anything outside the supported subset raises `TranslationError` naming the construct and its
line and column instead of running something different.

Parser: lark 1.3 (LALR, contextual lexer) with the grammar in `grammar.py`. Evaluated against
sqlglot (no Logs Insights dialect; its tokenizer cannot tell `/regex/` from division) and
duckdb-kql (KQL only). A hand-written recursive-descent parser was the alternative; lark gives
positions, precedence and error reporting for a 60-line grammar, and is pure Python.

Supported: commands `fields`, `display`, `filter`, `stats` (up to two), `sort`, `limit`, `parse`
(glob with `as`, regex with named groups), `dedup`; comments `#`; operators `and or not`,
`= != < <= > >=`, `like "text"`, `like /re/`, `=~ /re/`, `in [...]` and their `not` forms,
`+ - * / % ^`; functions `strlen tolower toupper concat ispresent isempty abs floor ceil
datefloor bin` and the aggregates `count count_distinct sum avg min max`. Field mapping:
`fields.py`; command semantics and defaults: `pipeline.py`; expression typing: `expressions.py`.
"""

from __future__ import annotations

from viewer.core.doc_keys import DocKeys
from viewer.core.query.insights.grammar import parse
from viewer.core.query.insights.pipeline import DEFAULT_LIMIT, ChartHint, Pipeline, Translation
from viewer.core.search_regex import RangesLookup

__all__ = ["DEFAULT_LIMIT", "ChartHint", "Translation", "translate"]


def translate(text: str, known: DocKeys | None = None, ranges: RangesLookup | None = None) -> Translation:
    """Translate a Logs Insights query into one DuckDB SELECT over `events`; `known` lets it skip
    parsing the records of sources that never have a field the query reads, `ranges` (the case's
    free-text index, `message_filter`) reading the records an `@message` filter cannot match."""
    return Pipeline(text, known, ranges).run(parse(text))
