"""Entity pivots as filter-bar text, so the analyst sees (and can edit) what a pivot filters by.

`pivots.selection_filter` gives the exact SQL of a click on entities; this module writes the same
selection in the filter language of `viewer.core.event_query` (`principal_id:(a|b)`, `anyip:...`,
`actor:...`), including every stored spelling of an address, so the table and timeline count what
the panel counted. Which field is which entity kind comes from `kinds` (the schema's pivot flags).
"""

from __future__ import annotations

import duckdb

from viewer.core.entities.kinds import KINDS, EntityKind, entity_kind
from viewer.core.entities.pivots import selection_filter
from viewer.core.event_query import ACTOR_TERM, ALIASES, RESOURCE_TERM, TARGET_TERM

#: The filter word for the IP kind: an address in any IP column.
IP_TERM = "anyip"
_SPECIAL = set(' \t\n()|"')


def kind_for_field(field_name: str | None) -> EntityKind | None:
    """The entity kind a normalized column belongs to (None when it is not pivotable)."""
    if field_name is None:
        return None
    return next((k for k in KINDS if field_name in k.columns), None)


def filter_word(kind: EntityKind) -> str:
    """The filter-language name of a kind's columns: the column, `anyip` for addresses, `target`
    for resources (their entity, `resources.target_entity_sql`)."""
    if kind.is_resource:
        return TARGET_TERM
    if len(kind.columns) == 1:
        return kind.columns[0]
    if kind.is_ip and set(ALIASES[IP_TERM]) == set(kind.columns):
        return IP_TERM
    raise ValueError(f"the filter language has no word for the columns of '{kind.name}'")


def _value_text(value: str) -> str | None:
    """A value as the language writes it; None when it cannot (a double quote inside)."""
    if '"' in value or value == "":
        return None
    if any(c in _SPECIAL for c in value) or value.endswith("*"):
        return f'"{value}"'
    return value


def values_text(word: str, values: list[str], negate: bool = False) -> str | None:
    """`word:v` for one value, `word:(a|b)` for several; None when a value cannot be written."""
    written = [_value_text(v) for v in values]
    if not written or any(w is None for w in written):
        return None
    body = written[0] if len(written) == 1 else "(" + "|".join(w or "" for w in written) + ")"
    return f"{'-' if negate else ''}{word}:{body}"


def stored_values(cur: duckdb.DuckDBPyConnection, kind_name: str, entities: list[str]) -> list[str]:
    """The stored spellings that select `entities` (an address's IPv4-mapped form, ...)."""
    kind = entity_kind(kind_name)
    params = selection_filter(cur, kind.name, entities).params
    return [str(v) for v in params[: len(params) // len(kind.columns)]]


def pivot_text(
    cur: duckdb.DuckDBPyConnection, kind_name: str, entities: list[str], negate: bool = False
) -> str | None:
    """Filter text selecting exactly the events of `entities` (or excluding them)."""
    kind = entity_kind(kind_name)
    return values_text(filter_word(kind), stored_values(cur, kind.name, entities), negate)


def actor_text(actors: list[str], negate: bool = False) -> str | None:
    """Filter text for everything these actors did under any identity."""
    return values_text(ACTOR_TERM, actors, negate)


def resource_text(name: str, negate: bool = False) -> str | None:
    """Filter text for a resource under every name the logs give it (`resource:`)."""
    return values_text(RESOURCE_TERM, [name], negate)
