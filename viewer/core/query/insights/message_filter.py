"""`@message` filters narrowed by the free-text index.

A `filter @message like /re/` (or `like "text"`, `=~ /re/`) tests the whole raw record, and DuckDB
decompresses every record it tests: the events an earlier condition keeps (one action, one source)
lie in nearly every vector of the table, so the cost is that of reading all of them (10M events,
the security-group calls among them: 4 s). The free-text index knows which blocks of events hold
which tokens; `viewer.core.search_regex` says which tokens a pattern's matches must hold. A
positive term of the filter's top-level `and` (`pipeline._conjuncts`) on `@message` itself then
confines the query to the blocks holding them (`fields.events_source`). The pattern is still
tested on every event left: the answer is the same, only unread blocks are skipped.
"""

from __future__ import annotations

from collections.abc import Callable

from lark import Tree

from viewer.core.query.insights.expressions import as_token, unquote
from viewer.core.query.insights.fields import system_marker
from viewer.core.query.insights.patterns import regex_literal
from viewer.core.search_regex import Requirement, tokens_of_regex, tokens_of_substring

MESSAGE = system_marker("@message")
#: What the workbench says of `@message` filters (`Translation.notes`).
NARROWED = "@message filter: only the events the free-text index says can match are read"
NO_WORD = (
    "@message filter: the pattern has no whole word (a separator on each side, such as quotes) "
    "for the free-text index to look up, so every record is read"
)
NOT_NARROWED = (
    "@message filter: every record is read (the free-text index is not built yet, or every "
    "block of events holds the words the pattern needs)"
)


def requirement(condition: Tree, subject_sql: Callable[[Tree], str]) -> Requirement | None:
    """The tokens every event passing `condition` holds in its `@message`, when the condition is a
    (not negated) `like` or `=~` on `@message`; None otherwise. `subject_sql` compiles an operand."""
    children = condition.children
    # `x like p` and `x =~ /p/` have three children; `x not like p` four.
    if not (condition.data in ("like", "regex_match") and len(children) == 3):
        return None
    subject, pattern = children[0], as_token(children[2])
    if subject_sql(subject) != MESSAGE:  # a field named @message by `fields ... as` is not the record
        return None
    if pattern.type == "REGEX":
        return tokens_of_regex(regex_literal(str(pattern), pattern.line or 1, pattern.column or 1).pattern)
    return tokens_of_substring(unquote(pattern))
