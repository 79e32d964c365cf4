"""The filter language of the event table's filter bar, compiled to parameterised SQL.

Grammar (whitespace separates terms, all terms are ANDed):

* ``field:value`` - exact, case-sensitive equality on a normalized column (values are normalized
  identifiers and pivots hand us the exact stored value; equality keeps DuckDB's zone maps and
  dictionary fast paths). ``field:"a b"`` quotes a value, ``field:val*`` (or ``field:"a b"*``) is a prefix match,
  ``-field:value`` negates (rows where the column is NULL count as "not equal").
* aliases: ip, user/principal (principal_id OR principal_name), key, account, event, source, error;
  ``anyip`` is an address in any IP column (source or destination).
* ``field:(a|b|"c d")`` is any of the values (a pivot on several entities; quote items holding
  spaces, ``(``, ``)`` or ``|``). ``actor:ARN`` is every event the resolved actor did under any of its
  identities (issue #5; it reads the correlation tables of `viewer.core.entities`).
  ``resource:NAME`` is every event about a resource under any name the logs give it (a bucket's
  ARN, bare name and objects; `viewer.core.entities.resources`).
* annotations (issue #6): ``tag:malicious`` (``tag:sus*`` a prefix), ``is:starred``, ``is:tagged``,
  ``is:annotated``, ``has:note``, ``has:tag``; negated with ``-``. They read the annotation views
  of the case, so the same text always means the analyst's current annotations.
* bare words and ``"quoted phrases"`` are free text: every word must match, case-insensitively,
  at token boundaries (``alice`` finds ``user/alice`` but not ``malice``; a phrase matches as a
  whole); ``word*`` is a token prefix; ``-word`` excludes. The exact rules are in
  `viewer.core.search_index`; its index only narrows where the exact check runs, so results are
  the same with or without it.

Unknown fields raise `FilterError` with the character position, so the bar can underline it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

import duckdb

from viewer.core import search_index
from viewer.core.casework.annotations import AnnotationError, normalize_tag
from viewer.core.entities.resources import resource_sql, target_entity, target_entity_sql
from viewer.schema import NORMALIZED_FIELDS, RAW, Kind, field, field_names

#: Alias -> columns (several columns are ORed: "user" is the id or the display name).
ALIASES: dict[str, tuple[str, ...]] = {
    "ip": ("src_ip",),
    "user": ("principal_id", "principal_name"),
    "principal": ("principal_id", "principal_name"),
    "key": ("credential_id",),
    "account": ("cloud_account",),
    "event": ("action",),
    "source": ("source_type",),
    "error": ("error_code",),
}
#: An address in any IP column (source or destination): one entity across sources (issue #5).
ALIASES["anyip"] = tuple(f.name for f in NORMALIZED_FIELDS if f.kind is Kind.IP)

#: `actor:VALUE`: every event whose resolved actor (`viewer.core.entities.actors`) is VALUE, under
#: any of its identities. Not a column: it reads the correlation tables.
ACTOR_TERM = "actor"

#: `resource:VALUE`: every event about a resource under any name the logs give it (a bucket's
#: ARN, bare name and objects; `viewer.core.entities.resources`). Not a column either.
RESOURCE_TERM = "resource"
#: `target:VALUE`: the events the Target panel counts under VALUE (an S3 object as its bucket, an
#: Azure id in any letter case; `resources.target_entity_sql`), so a panel click is a term.
TARGET_TERM = "target"
_SPECIAL_TERMS = (ACTOR_TERM, RESOURCE_TERM, TARGET_TERM)

#: Columns a `field:value` term may name: everything except the raw record (free text covers it).
FILTER_COLUMNS: tuple[str, ...] = tuple(n for n in field_names() if n != RAW.name)


class FilterError(ValueError):
    """The filter text cannot be understood; `position` is the 0-based offset of the culprit."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Term:
    """One parsed term. `columns` is empty for free text."""

    columns: tuple[str, ...]
    value: str
    negated: bool = False
    prefix: bool = False
    position: int = 0
    values: tuple[str, ...] = ()  # `field:(a|b|"c d")`: any of these (a pivot on several entities)
    #: An annotation term: "tag" (value is the tag) or a flag such as "starred"; None otherwise.
    annotation: str | None = None

    @property
    def is_text(self) -> bool:
        return not self.columns and self.annotation is None


@dataclass(frozen=True)
class ParsedFilter:
    terms: tuple[Term, ...] = ()

    @property
    def field_terms(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.is_text)

    @property
    def text_terms(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.is_text)


@dataclass(frozen=True)
class EventFilter:
    """What the table shows: filter-bar text, a half-open UTC time range, and UI pivots."""

    text: str = ""
    time_range: tuple[dt.datetime, dt.datetime] | None = None
    fields: tuple[tuple[str, str], ...] = ()

    def with_time_range(self, time_range: tuple[dt.datetime, dt.datetime] | None) -> EventFilter:
        if time_range is not None:
            start, end = time_range
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError("time_range needs timezone-aware datetimes (UTC)")
        return replace(self, time_range=time_range)

    def with_field(self, name: str, value: str) -> EventFilter:
        _resolve_field(name, 0)  # fail early on a bad pivot name
        return replace(self, fields=(*self.fields, (name, value)))


# -- parsing --------------------------------------------------------------------------------------
_TERM_RE = re.compile(
    r"""(?P<neg>-)?
        (?:(?P<field>[A-Za-z_][A-Za-z0-9_]*):)?
        (?:(?(field)\((?P<list>{item}(?:\|{item})*)\)(?=\s|$)|(?!))
           |"(?P<quoted>[^"]*)"(?P<qstar>\*)?|(?P<bare>[^\s"]+))""".replace(
        "{item}", r'(?:"[^"]*"|[^\s"()|]+)'
    ),
    re.VERBOSE,
)


def _resolve_field(name: str, position: int) -> tuple[str, ...]:
    low = name.lower()
    if low in _SPECIAL_TERMS:
        return (low,)
    if low in ALIASES:
        return ALIASES[low]
    if low in FILTER_COLUMNS:
        return (low,)
    valid = ", ".join(sorted(set(FILTER_COLUMNS) | set(ALIASES) | set(_SPECIAL_TERMS)))
    raise FilterError(
        f"unknown field '{name}' at position {position}; valid fields: {valid}. "
        'To search for text containing ":", put it in quotes.',
        position,
    )


def parse_filter(text: str) -> ParsedFilter:
    """Parse filter-bar text into terms; raises FilterError(message, position)."""
    terms: list[Term] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TERM_RE.match(text, pos)
        if m is None:
            if text[pos] == '"':
                raise FilterError(f"unclosed quote at position {pos}", pos)
            raise FilterError(f"cannot read the filter at position {pos}", pos)
        terms.append(_term_from_match(m, pos))
        pos = m.end()
        if pos < len(text) and not text[pos].isspace():
            raise FilterError(f"expected a space at position {pos}", pos)
    return ParsedFilter(tuple(terms))


def _term_from_match(m: re.Match[str], pos: int) -> Term:
    negated = m.group("neg") is not None
    if m.group("list") is not None:  # `field:(a|b)`: the field group is set (the pattern says so)
        items = tuple(a if b == "" else b for a, b in _LIST_ITEM_RE.findall(m.group("list")))
        return Term(_resolve_field(m.group("field"), pos + negated), items[0], negated, False, pos, items)
    quoted = m.group("quoted")
    value = quoted if quoted is not None else m.group("bare")
    # A trailing * is a prefix wildcard: `val*` or `"a:b"*`; a * inside quotes is literal.
    prefix = m.group("qstar") is not None
    if quoted is None and value.endswith("*") and len(value) > 1:
        prefix, value = True, value[:-1]
    name = m.group("field")
    if name is None and quoted is None and re.fullmatch(r"[A-Za-z_]\w*:", value):
        name, value = value[:-1], ""  # "action:" with nothing after it
    if name is None:
        return Term((), value, negated, prefix, pos)
    if name.lower() in _ANNOTATION_PREFIXES:
        return _annotation_term(name.lower(), value, negated, prefix, pos)
    columns = _resolve_field(name, pos + (1 if negated else 0))
    if value == "":
        raise FilterError(f"field '{name}' has no value at position {pos}", pos)
    return Term(columns, value, negated, prefix, pos)


# -- annotation terms -----------------------------------------------------------------------------
#: `is:<flag>` / `has:<flag>` -> the event ids they select (views of case schema 4).
ANNOTATION_FLAGS: dict[tuple[str, str], str] = {
    ("is", "starred"): "SELECT event_id FROM event_stars",
    ("is", "tagged"): "SELECT event_id FROM event_tags",
    ("is", "annotated"): "SELECT event_id FROM event_annotations",
    ("is", "noted"): "SELECT event_id FROM event_notes",
    ("has", "note"): "SELECT event_id FROM event_notes",
    ("has", "tag"): "SELECT event_id FROM event_tags",
    ("has", "star"): "SELECT event_id FROM event_stars",
    ("has", "annotation"): "SELECT event_id FROM event_annotations",
}
_ANNOTATION_PREFIXES = ("tag", "is", "has")


def _annotation_term(prefix_word: str, value: str, negated: bool, prefix: bool, pos: int) -> Term:
    at = pos + (1 if negated else 0)
    if value == "":
        raise FilterError(f"'{prefix_word}:' has no value at position {pos}", pos)
    if prefix_word == "tag":
        try:
            tag = value if prefix else normalize_tag(value)
        except AnnotationError as exc:
            raise FilterError(f"{exc} (at position {at})", at) from exc
        return Term((), tag, negated, prefix, pos, annotation="tag")
    if (prefix_word, value.lower()) not in ANNOTATION_FLAGS:
        valid = ", ".join(f"{a}:{b}" for a, b in ANNOTATION_FLAGS)
        raise FilterError(
            f"unknown annotation term '{prefix_word}:{value}' at position {at}; use {valid}", at
        )
    return Term((), value.lower(), negated, False, pos, annotation=f"{prefix_word}:{value.lower()}")


def _annotation_sql(term: Term, params: list[object]) -> str:
    if term.annotation == "tag":
        test = "starts_with(lower(tag), lower(?))" if term.prefix else "tag = ?"
        params.append(term.value)
        sub = f"SELECT event_id FROM event_tags WHERE {test}"
    else:
        word, flag = str(term.annotation).split(":", 1)
        sub = ANNOTATION_FLAGS[(word, flag)]
    return f"event_id {'NOT ' if term.negated else ''}IN ({sub})"


# -- SQL ------------------------------------------------------------------------------------------
def _column_expr(col: str) -> str:
    # Non-text columns (ints, booleans, times) compare through their text form so the language
    # stays uniform: `read_only:true`, `evidence_id:3`.
    return col if _is_varchar(col) else f"CAST({col} AS VARCHAR)"


def _is_varchar(col: str) -> bool:
    return field(col).sql_type == "VARCHAR"


_LIST_ITEM_RE = re.compile(r'"([^"]*)"|([^\s"()|]+)')


def _actor_sql(values: tuple[str, ...], params: list[object]) -> str:
    """Events whose actor is one of `values`: its principals and the keys whose chain ends at it
    (the small correlation tables, so the predicate stays a cheap IN over two columns)."""
    marks = ", ".join("?" for _ in values)
    params.extend([*values, *values, *values, *values])
    return (
        f"(principal_id IN ({marks}) OR principal_id IN (SELECT principal_id FROM principal_actor "
        f"WHERE actor IN ({marks})) OR credential_id IN (SELECT credential_id FROM credential_actor "
        f"WHERE actor IN ({marks})) OR (provider = 'gcp' AND session_issuer IN ({marks})))"
    )


def _field_sql(term: Term, params: list[object]) -> str:
    parts = []
    values = term.values or (term.value,)
    if term.columns in ((ACTOR_TERM,), (RESOURCE_TERM,)):
        if term.columns == (ACTOR_TERM,):
            sql = _actor_sql(values, params)
        else:
            sql = " OR ".join(resource_sql(v, params) for v in values)
            sql = sql if len(values) == 1 else f"({sql})"
        return f"NOT coalesce({sql}, false)" if term.negated else sql
    for col in term.columns:
        expr = target_entity_sql() if col == TARGET_TERM else _column_expr(col)
        spell = target_entity if col == TARGET_TERM else str
        if term.values:
            parts.append(f"{expr} IN ({', '.join('?' for _ in term.values)})")
            params.extend(spell(v) for v in term.values)
            continue
        if term.prefix:
            parts.append(f"starts_with({expr}, ?)")
            # A prefix of an object key is no prefix of its bucket's entity: only the case folds.
            params.append(target_entity(term.value, whole=False) if col == TARGET_TERM else term.value)
            continue
        parts.append(f"{expr} = ?")
        params.append(spell(term.value))
    sql = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
    # NULL columns: "not equal" should include them, so coalesce the positive test to false.
    return f"NOT coalesce({sql}, false)" if term.negated else sql


def _text_sql(term: Term, cur: duckdb.DuckDBPyConnection | None, params: list[object]) -> str:
    needle = search_index.make_needle(term.value, term.prefix)
    if needle is None:  # nothing but separators: matches no event
        return "true" if term.negated else "false"
    sql, sub_params = search_index.filter_sql([needle], cur)
    params.extend(sub_params)
    return search_index.negate(sql) if term.negated else sql


def text_terms(f: EventFilter) -> list[tuple[search_index.Needle | None, bool]]:
    """(needle, negated) per free-text term; None for a term with nothing but separators, which
    matches no event."""
    return [(search_index.make_needle(t.value, t.prefix), t.negated) for t in parse_filter(f.text).text_terms]


def where_sql(
    f: EventFilter,
    cur: duckdb.DuckDBPyConnection | None = None,
    *,
    use_index: bool | None = None,
    include_text: bool = True,
) -> tuple[str, list[object]]:
    """A parameterised WHERE fragment ("true" when empty); never interpolates user values.

    Free text is always exact (`search_text`). With a cursor on a case whose index is usable
    (`search_index.usable`; force off with `use_index=False`) the fragment names the candidate
    event id ranges and, per block, the sources that can hold each word, so DuckDB checks only
    those; otherwise the check scans every event (~2-3 s per 1M events). `include_text=False`
    leaves the free-text terms out (`text_terms` lists them; `viewer.core.text_view` uses both).
    """
    parsed = parse_filter(f.text)
    if not include_text:
        parsed = ParsedFilter(parsed.field_terms)
    if use_index is None:
        use_index = bool(parsed.text_terms) and cur is not None and search_index.usable(cur)
    index_cur = cur if use_index else None
    params: list[object] = []
    clauses: list[str] = []
    if f.time_range is not None:
        clauses.append("ts >= ? AND ts < ?")
        params.extend(f.time_range)
    for name, value in f.fields:
        clauses.append(_field_sql(Term(_resolve_field(name, 0), value), params))
    for term in parsed.field_terms:
        clauses.append(_annotation_sql(term, params) if term.annotation else _field_sql(term, params))
    for term in parsed.text_terms:
        clauses.append(_text_sql(term, index_cur, params))
    if not clauses:
        return "true", params
    return " AND ".join(f"({c})" for c in clauses), params
