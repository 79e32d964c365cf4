"""Edits of the analyst's annotations: tags, stars and notes on events, notes on entities, bookmarks.

Every edit is appended to `annotation_changes` with the value before and after; nothing is ever
updated or deleted. An *action* groups the changes of one user gesture (tag 40 selected events),
so undo reverts the whole gesture. Undo and redo are themselves new actions that write the
previous (or re-applied) values, which keeps the history auditable: who tagged what, when, and who
took it back. Reading the current state goes through the views of schema 4 (`event_tags`,
`event_annotations`, `entity_notes`, `bookmarks`...) or `annotation_views`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

import duckdb
import pyarrow as pa

from viewer import __version__
from viewer.core.case_file import CaseFile, fetch_one, os_user

STANDARD_TAGS = ("suspicious", "malicious", "benign", "IOC", "reviewed")
_STANDARD_BY_LOWER = {t.lower(): t for t in STANDARD_TAGS}
# No spaces or quotes: `tag:<name>` in a filter must be able to name any tag.
_TAG_RE = re.compile(r"^[\w.:@/+#-]{1,64}$")
_ENTITY_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class AnnotationError(ValueError):
    """An annotation edit cannot be made; the message is for the user."""


@dataclass(frozen=True)
class Slot:
    """One annotatable value: e.g. (event 42, tag, 'malicious') or (entity ip 1.2.3.4, note)."""

    target_kind: str  # event | entity | bookmark
    event_id: int | None
    entity_kind: str | None
    entity_value: str | None
    bookmark_id: int | None
    attribute: str  # tag | star | note | bookmark
    name: str  # the tag name for attribute 'tag', else ''


_SLOT_COLUMNS = [f.name for f in fields(Slot)]
_SLOT_TYPES = [pa.string(), pa.int64(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.string()]


@dataclass(frozen=True)
class Action:
    """One entry of the history: an edit, an undo or a redo, with how many values it changed."""

    action_id: int
    kind: str
    reverts_action: int | None
    changed_at: dt.datetime
    os_user: str | None
    changes: int
    description: str


def normalize_tag(tag: str) -> str:
    """Standard tags keep one spelling whatever the case typed ('ioc' -> 'IOC'); free tags as typed."""
    t = tag.strip()
    if t.lower() in _STANDARD_BY_LOWER:
        return _STANDARD_BY_LOWER[t.lower()]
    if not _TAG_RE.match(t):
        raise AnnotationError(
            f"invalid tag {tag!r}: use 1-64 letters, digits or . : @ / + # - _ (no spaces), "
            f"or a standard tag ({', '.join(STANDARD_TAGS)})"
        )
    return t


def _event_slot(event_id: int, attribute: str, name: str = "") -> Slot:
    return Slot("event", int(event_id), None, None, None, attribute, name)


def _entity_slot(kind: str, value: str) -> Slot:
    k = kind.strip().lower()
    if not _ENTITY_KIND_RE.match(k):
        raise AnnotationError(
            f"invalid entity kind {kind!r}: a short lowercase word such as ip, user, access_key"
        )
    v = value.strip()
    if not v:
        raise AnnotationError("an entity note needs the entity's value (e.g. the IP address)")
    return Slot("entity", None, k, v, None, "note", "")


def _bookmark_slot(bookmark_id: int) -> Slot:
    return Slot("bookmark", None, None, None, int(bookmark_id), "bookmark", "")


# -- edits -----------------------------------------------------------------------------------
def tag_events(case: CaseFile, event_ids: Iterable[int], tag: str) -> int:
    """Add `tag` to each event; returns how many events changed (already tagged ones do not)."""
    t = normalize_tag(tag)
    ids = _unique(event_ids)
    return _edit(case, f"tag {len(ids)} event(s) {t}", [(_event_slot(i, "tag", t), "1") for i in ids])


def untag_events(case: CaseFile, event_ids: Iterable[int], tag: str) -> int:
    t = normalize_tag(tag)
    ids = _unique(event_ids)
    return _edit(case, f"untag {len(ids)} event(s) {t}", [(_event_slot(i, "tag", t), None) for i in ids])


def change_tags(
    case: CaseFile, event_ids: Iterable[int], add: Iterable[str] = (), remove: Iterable[str] = ()
) -> int:
    """Add and remove several tags on the events as one action: one gesture of a tag dialog is
    undone in one step. Returns how many values changed."""
    adds = list(dict.fromkeys(normalize_tag(t) for t in add))
    removes = [t for t in dict.fromkeys(normalize_tag(t) for t in remove) if t not in adds]
    ids = _unique(event_ids)
    values: list[tuple[Slot, str | None]] = [(_event_slot(i, "tag", t), "1") for t in adds for i in ids]
    values += [(_event_slot(i, "tag", t), None) for t in removes for i in ids]
    parts = ([f"+{' +'.join(adds)}"] if adds else []) + ([f"-{' -'.join(removes)}"] if removes else [])
    return _edit(case, f"tags of {len(ids)} event(s): {' '.join(parts)}", values)


def set_starred(case: CaseFile, event_ids: Iterable[int], starred: bool = True) -> int:
    ids = _unique(event_ids)
    verb = "star" if starred else "unstar"
    return _edit(
        case, f"{verb} {len(ids)} event(s)", [(_event_slot(i, "star"), "1" if starred else None) for i in ids]
    )


def set_event_note(case: CaseFile, event_id: int, note: str | None) -> int:
    """Set (or with None / blank, remove) the note on one event."""
    text = note.strip() if note else None
    verb = "note on" if text else "remove note from"
    return _edit(case, f"{verb} event {event_id}", [(_event_slot(event_id, "note"), text or None)])


def set_entity_note(case: CaseFile, kind: str, value: str, note: str | None) -> int:
    """Note on an entity, e.g. ("ip", "92.55.146.245", "attacker"); None or blank removes it."""
    slot = _entity_slot(kind, value)
    text = note.strip() if note else None
    verb = "note on" if text else "remove note from"
    return _edit(case, f"{verb} {slot.entity_kind} {slot.entity_value}", [(slot, text or None)])


def add_bookmark(case: CaseFile, name: str, start: dt.datetime, end: dt.datetime, note: str = "") -> int:
    """A named time range; returns its id. Naive times are taken as UTC (the case's zone)."""
    case.require_writable("add a bookmark")
    row = fetch_one(case.cursor(), "SELECT coalesce(max(bookmark_id), 0) + 1 FROM annotation_changes")
    bookmark_id = int(row[0]) if row else 1
    value = _bookmark_value(name, start, end, note)
    _edit(case, f"bookmark {name.strip()!r}", [(_bookmark_slot(bookmark_id), value)])
    return bookmark_id


def update_bookmark(
    case: CaseFile,
    bookmark_id: int,
    *,
    name: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    note: str | None = None,
) -> int:
    current = _current_bookmark(case, bookmark_id)
    value = _bookmark_value(
        name if name is not None else current["name"],
        start or dt.datetime.fromisoformat(current["start"]),
        end or dt.datetime.fromisoformat(current["end"]),
        note if note is not None else current.get("note", ""),
    )
    return _edit(case, f"change bookmark {bookmark_id}", [(_bookmark_slot(bookmark_id), value)])


def remove_bookmark(case: CaseFile, bookmark_id: int) -> int:
    _current_bookmark(case, bookmark_id)
    return _edit(case, f"remove bookmark {bookmark_id}", [(_bookmark_slot(bookmark_id), None)])


def _bookmark_value(name: str, start: dt.datetime, end: dt.datetime, note: str) -> str:
    label = name.strip()
    if not label:
        raise AnnotationError("a bookmark needs a name")
    s, e = _utc(start), _utc(end)
    if e < s:
        raise AnnotationError(f"bookmark {label!r} ends ({e.isoformat()}) before it starts ({s.isoformat()})")
    return json.dumps({"name": label, "start": s.isoformat(), "end": e.isoformat(), "note": note.strip()})


def _current_bookmark(case: CaseFile, bookmark_id: int) -> dict[str, str]:
    row = fetch_one(
        case.cursor(),
        "SELECT value FROM annotation_current WHERE target_kind = 'bookmark' AND bookmark_id = ?",
        [int(bookmark_id)],
    )
    if row is None:
        raise AnnotationError(f"there is no bookmark {bookmark_id}")
    return dict(json.loads(row[0]))


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _unique(event_ids: Iterable[int]) -> list[int]:
    return sorted({int(i) for i in event_ids})


# -- undo / redo -----------------------------------------------------------------------------
def undo(case: CaseFile) -> Action | None:
    """Revert the newest edit not yet undone (as a new 'undo' action); None when there is none."""
    case.require_writable("undo an annotation change")
    done, _undone = _stacks(case.cursor())
    if not done:
        return None
    target = done[-1]
    rows = _changes_of(case.cursor(), target)
    _edit(case, f"undo action {target}", [(s, prev) for s, _v, prev in rows], "undo", target)
    return history(case, 1)[0]


def redo(case: CaseFile) -> Action | None:
    """Re-apply the newest undone edit (as a new 'redo' action); None when there is none."""
    case.require_writable("redo an annotation change")
    _done, undone = _stacks(case.cursor())
    if not undone:
        return None
    target = undone[-1]
    rows = _changes_of(case.cursor(), target)
    _edit(case, f"redo action {target}", [(s, v) for s, v, _p in rows], "redo", target)
    return history(case, 1)[0]


def can_undo(case: CaseFile) -> bool:
    return bool(_stacks(case.cursor())[0])


def can_redo(case: CaseFile) -> bool:
    return bool(_stacks(case.cursor())[1])


def _stacks(cur: duckdb.DuckDBPyConnection) -> tuple[list[int], list[int]]:
    """Replay the action log into (done, undone) stacks of edit action ids: a new edit clears redo,
    as in every editor."""
    rows = cur.execute(
        "SELECT action_id, any_value(action_kind), any_value(reverts_action) FROM annotation_changes "
        "GROUP BY action_id ORDER BY action_id"
    ).fetchall()
    done: list[int] = []
    undone: list[int] = []
    for action_id, kind, reverts in rows:
        if kind == "edit":
            done.append(action_id)
            undone.clear()
        elif kind == "undo" and reverts in done:
            done.remove(reverts)
            undone.append(reverts)
        elif kind == "redo" and reverts in undone:
            undone.remove(reverts)
            done.append(reverts)
    return done, undone


def _changes_of(cur: duckdb.DuckDBPyConnection, action_id: int) -> list[tuple[Slot, str | None, str | None]]:
    rows = cur.execute(
        f"SELECT {', '.join(_SLOT_COLUMNS)}, value, prev_value FROM annotation_changes "
        "WHERE action_id = ? ORDER BY change_id",
        [action_id],
    ).fetchall()
    return [(Slot(*r[:7]), r[7], r[8]) for r in rows]


def history(case: CaseFile, limit: int = 200) -> list[Action]:
    """Newest first: the annotation actions with who made them and when."""
    rows = (
        case.cursor()
        .execute(
            "SELECT c.action_id, any_value(c.action_kind), any_value(c.reverts_action), min(c.changed_at), "
            "any_value(c.os_user), count(*), any_value(l.description) "
            "FROM annotation_changes c LEFT JOIN (SELECT CAST(json_extract(detail, '$.action_id') AS BIGINT) AS aid, "
            "json_extract_string(detail, '$.description') AS description FROM activity_log "
            "WHERE action = 'annotation') l ON l.aid = c.action_id "
            "GROUP BY c.action_id ORDER BY c.action_id DESC LIMIT ?",
            [int(limit)],
        )
        .fetchall()
    )
    return [Action(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6] or "") for r in rows]


# -- the one write path ----------------------------------------------------------------------
def _edit(
    case: CaseFile,
    description: str,
    slot_values: Sequence[tuple[Slot, str | None]],
    kind: str = "edit",
    reverts: int | None = None,
) -> int:
    """Append one action; returns the number of values it changed. Edits that change nothing (tag
    an already tagged event) are not recorded, so undo never reverts a no-op."""
    case.require_writable("change annotations")
    if not slot_values:
        return 0
    cur = case.cursor()
    with case.transaction(cur):
        slots = pa.table(
            {
                **{
                    col: pa.array([astuple(s)[i] for s, _ in slot_values], type=_SLOT_TYPES[i])
                    for i, col in enumerate(_SLOT_COLUMNS)
                },
                "value": pa.array([v for _, v in slot_values], type=pa.string()),
                "ord": pa.array(range(len(slot_values)), type=pa.int64()),
            }
        )
        cur.register("edit_slots", slots)
        try:
            _check_events_exist(cur)
            changed = _insert_changes(cur, kind, reverts, force=kind != "edit")
        finally:
            cur.unregister("edit_slots")
        if changed:
            case.log_activity(
                "annotation",
                {
                    "action_id": changed[0],
                    "kind": kind,
                    "reverts_action": reverts,
                    "description": description,
                    "changes": changed[1],
                },
                cur,
            )
    return changed[1] if changed else 0


def _check_events_exist(cur: duckdb.DuckDBPyConnection) -> None:
    missing = cur.execute(
        "SELECT s.event_id FROM edit_slots s ANTI JOIN events e ON e.event_id = s.event_id "
        "WHERE s.target_kind = 'event' ORDER BY 1 LIMIT 5"
    ).fetchall()
    if missing:
        ids = ", ".join(str(r[0]) for r in missing)
        raise AnnotationError(f"no such event in the case: {ids}")


def _insert_changes(
    cur: duckdb.DuckDBPyConnection, kind: str, reverts: int | None, force: bool
) -> tuple[int, int] | None:
    """Insert the slot values with their previous values; returns (action id, rows) or None."""
    same_slot = " AND ".join(f"c.{c} IS NOT DISTINCT FROM s.{c}" for c in _SLOT_COLUMNS)
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE edit_rows AS SELECT s.*, c.value AS prev_value "
        f"FROM edit_slots s LEFT JOIN annotation_current c ON {same_slot}"
    )
    keep = "true" if force else "value IS DISTINCT FROM prev_value"
    n = cur.execute(f"SELECT count(*) FROM edit_rows WHERE {keep}").fetchall()[0][0]
    if not n:
        cur.execute("DROP TABLE edit_rows")
        return None
    action_id, first_change = cur.execute(
        "SELECT coalesce(max(action_id), 0) + 1, coalesce(max(change_id), 0) + 1 FROM annotation_changes"
    ).fetchall()[0]
    cur.execute(
        f"INSERT INTO annotation_changes (change_id, action_id, action_kind, reverts_action, changed_at, os_user, "
        f"tool_version, {', '.join(_SLOT_COLUMNS)}, value, prev_value) "
        f"SELECT ? + row_number() OVER (ORDER BY ord) - 1, ?, ?, ?, now(), ?, ?, {', '.join(_SLOT_COLUMNS)}, "
        f"value, prev_value FROM edit_rows WHERE {keep}",
        [first_change, action_id, kind, reverts, os_user(), __version__],
    )
    cur.execute("DROP TABLE edit_rows")
    return int(action_id), int(n)
