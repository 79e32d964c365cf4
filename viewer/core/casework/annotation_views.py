"""Reading annotations: per event, in a time range (timeline markers), as a findings list, and as a
filter predicate for the event table ("starred", "annotated", "tag:malicious", negated with '-')."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from viewer.core.case_file import CaseFile
from viewer.core.casework.annotations import AnnotationError, normalize_tag


@dataclass(frozen=True)
class EventAnnotation:
    event_id: int
    starred: bool
    tags: tuple[str, ...]
    note: str | None


@dataclass(frozen=True)
class Marker:
    """What the timeline draws for one annotated event."""

    event_id: int
    ts: dt.datetime
    starred: bool
    tags: tuple[str, ...]
    has_note: bool


@dataclass(frozen=True)
class AnnotatedEvent:
    """A row of the findings panel and the report: the annotation plus what the event was."""

    event_id: int
    ts: dt.datetime
    source_type: str
    action: str | None
    principal: str | None
    src_ip: str | None
    starred: bool
    tags: tuple[str, ...]
    note: str | None


@dataclass(frozen=True)
class EntityNote:
    entity_kind: str
    entity_value: str
    note: str
    noted_at: dt.datetime
    os_user: str | None


@dataclass(frozen=True)
class Bookmark:
    bookmark_id: int
    name: str
    start: dt.datetime
    end: dt.datetime
    note: str
    changed_at: dt.datetime
    os_user: str | None


def for_events(case: CaseFile, event_ids: Iterable[int]) -> dict[int, EventAnnotation]:
    """Annotations of the given events (those without any are absent): the table's page decorations."""
    ids = sorted({int(i) for i in event_ids})
    # The ids as one list parameter, not a registered Arrow table: duckdb-python's register
    # creates a view (a catalog change in a transaction of its own) without letting go of the
    # GIL, so on a table page thread it could stall every Python thread, the UI's included,
    # while another thread's commit holds the catalog.
    rows = (
        case.cursor()
        .execute(
            "SELECT event_id, starred, tags, note FROM event_annotations "
            "WHERE event_id IN (SELECT unnest(?::BIGINT[]))",
            [ids],
        )
        .fetchall()
    )
    return {r[0]: EventAnnotation(r[0], bool(r[1]), tuple(r[2] or ()), r[3]) for r in rows}


def markers_in_range(
    case: CaseFile, start: dt.datetime, end: dt.datetime, limit: int = 10_000
) -> list[Marker]:
    """Annotated events with start <= ts < end, oldest first, at most `limit`."""
    rows = (
        case.cursor()
        .execute(
            "SELECT a.event_id, e.ts, a.starred, a.tags, a.note IS NOT NULL FROM event_annotations a "
            "JOIN events e USING (event_id) WHERE e.ts >= ? AND e.ts < ? ORDER BY e.ts, a.event_id LIMIT ?",
            [start, end, int(limit)],
        )
        .fetchall()
    )
    return [Marker(r[0], r[1], bool(r[2]), tuple(r[3] or ()), bool(r[4])) for r in rows]


def annotated_events(case: CaseFile, limit: int | None = None) -> list[AnnotatedEvent]:
    """Every annotated event in time order, with the fields a findings list shows."""
    rows = (
        case.cursor()
        .execute(
            "SELECT a.event_id, e.ts, e.source_type, e.action, coalesce(e.principal_name, e.principal_id), "
            "e.src_ip, a.starred, a.tags, a.note FROM event_annotations a JOIN events e USING (event_id) "
            "ORDER BY e.ts, a.event_id" + (" LIMIT ?" if limit is not None else ""),
            [int(limit)] if limit is not None else [],
        )
        .fetchall()
    )
    return [
        AnnotatedEvent(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), tuple(r[7] or ()), r[8]) for r in rows
    ]


def entity_notes(case: CaseFile) -> list[EntityNote]:
    rows = (
        case.cursor()
        .execute(
            "SELECT entity_kind, entity_value, note, noted_at, os_user FROM entity_notes "
            "ORDER BY entity_kind, entity_value"
        )
        .fetchall()
    )
    return [EntityNote(*r) for r in rows]


def entity_note(case: CaseFile, kind: str, value: str) -> str | None:
    rows = (
        case.cursor()
        .execute(
            "SELECT note FROM entity_notes WHERE entity_kind = ? AND entity_value = ?",
            [kind.strip().lower(), value.strip()],
        )
        .fetchall()
    )
    return rows[0][0] if rows else None


def bookmarks(
    case: CaseFile, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[Bookmark]:
    """All bookmarks, or those overlapping [start, end) when a range is given; oldest first."""
    where, params = "true", []
    if start is not None and end is not None:
        where, params = "end_ts >= ? AND start_ts < ?", [start, end]
    rows = (
        case.cursor()
        .execute(
            "SELECT bookmark_id, name, start_ts, end_ts, coalesce(note, ''), changed_at, os_user FROM bookmarks "
            f"WHERE {where} ORDER BY start_ts, bookmark_id",
            params,
        )
        .fetchall()
    )
    return [Bookmark(*r) for r in rows]


# -- the annotation filter -------------------------------------------------------------------
class AnnotationFilterError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


_TERM = re.compile(r"(?P<neg>[-!]?)(?P<body>\S+)")
_FLAGS = {
    "annotated": "SELECT event_id FROM event_annotations",
    "starred": "SELECT event_id FROM event_stars",
    "noted": "SELECT event_id FROM event_notes",
    "tagged": "SELECT event_id FROM event_tags",
}


def filter_sql(text: str, column: str = "event_id") -> tuple[str, list[object]]:
    """A parameterised predicate on `column` (an event id) for terms separated by spaces, all of
    which must hold: annotated | starred | noted | tagged | tag:<name>, each optionally written
    `is:starred`, and negated with a leading '-' or '!'. Empty text gives "true"."""
    clauses: list[str] = []
    params: list[object] = []
    for m in _TERM.finditer(text):
        body = m.group("body")
        lower = body.lower()
        flag = lower[3:] if lower.startswith("is:") else lower
        if flag in _FLAGS:
            sub = _FLAGS[flag]
        elif lower.startswith("tag:"):
            try:
                params.append(normalize_tag(body[4:]))
            except AnnotationError as exc:
                raise AnnotationFilterError(str(exc), m.start("body")) from exc
            sub = "SELECT event_id FROM event_tags WHERE tag = ?"
        else:
            raise AnnotationFilterError(
                f"unknown annotation filter {body!r}: use annotated, starred, noted, tagged or tag:<name>",
                m.start("body"),
            )
        clause = f"{column} IN ({sub})"
        clauses.append(f"NOT ({clause})" if m.group("neg") else clause)
    return (" AND ".join(f"({c})" for c in clauses) or "true"), params
