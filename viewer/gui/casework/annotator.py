"""The analyst's annotation gestures: star, tag, note, entity note, bookmark, undo and redo.

Every gesture becomes one core edit (`viewer.core.casework.annotations`) run on the `WriteLane`,
so the UI thread never waits for DuckDB and edits land in the order they were made. When an edit
lands, `changed` tells the findings dock, the timeline markers and the table decorations to
re-read. On a read-only case every gesture is refused with the reason, and nothing is queued.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from viewer import schema
from viewer.core.case_file import CaseFile
from viewer.core.casework import annotation_views
from viewer.core.casework import annotations as edits
from viewer.gui.casework.write_lane import WriteLane

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

READ_ONLY_MESSAGE = "The case is open read-only (auditor mode): annotations cannot be changed."


def entity_kind_for(field_name: str | None) -> str:
    """The entity kind a note on this field's value is filed under ('ip' for any IP field)."""
    if field_name is None:
        return "value"
    f = schema.field(field_name) if field_name in schema.field_names() else None
    if f is not None and f.kind is schema.Kind.IP:
        return "ip"
    if field_name in ("principal_id", "principal_name"):
        return "principal"
    if field_name == "credential_id":
        return "access_key"
    return field_name.lower()


def selected_event_ids(window: MainWindow) -> list[int]:
    """Event ids of the table's selected rows whose pages are loaded, in row order."""
    return window.table.selected_event_ids()


class Annotator(QObject):
    """Turns gestures into queued edits; emits `changed` after each edit that landed."""

    changed = Signal(str)  # what changed, for the status bar
    refused = Signal(str)  # why a gesture did nothing (read-only, no selection, bad tag)

    def __init__(self, window: MainWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.lane = WriteLane(self)
        self.lane.finished.connect(self._on_finished)
        self.lane.failed.connect(self._on_failed)
        #: The window's knowledge of one event's annotation (set by the feature): no SQL.
        self.lookup: Callable[[int], annotation_views.EventAnnotation | None] = lambda _event_id: None

    # -- state -----------------------------------------------------------------------------
    @property
    def case(self) -> CaseFile | None:
        s = self.window.session
        return s.case if s is not None else None

    def writable_case(self) -> CaseFile | None:
        """The case when edits are allowed, else None after telling why."""
        case = self.case
        if case is None:
            self.refused.emit("No case is open.")
            return None
        if case.read_only:
            self.refused.emit(READ_ONLY_MESSAGE)
            return None
        return case

    def selected_ids(self) -> list[int]:
        return selected_event_ids(self.window)

    def _targets(self, event_ids: Sequence[int] | None) -> list[int]:
        ids = list(event_ids) if event_ids is not None else self.selected_ids()
        if not ids:
            self.refused.emit("Select one or more events first.")
        return ids

    def current_annotations(self, event_ids: Sequence[int]) -> dict[int, annotation_views.EventAnnotation]:
        """What the window already holds about these events (table pages, findings): no SQL on the
        UI thread, where a query can take hundreds of ms on a busy machine."""
        found = {i: self.lookup(i) for i in event_ids}
        return {i: a for i, a in found.items() if a is not None}

    # -- gestures --------------------------------------------------------------------------
    def toggle_star(self, event_ids: Sequence[int] | None = None) -> bool:
        """Star the events, or unstar them when every one is starred already."""
        case = self.writable_case()
        ids = self._targets(event_ids) if case else []
        if case is None or not ids:
            return False

        def edit() -> str:  # decided in the worker, on the case as it is when the edit runs
            current = annotation_views.for_events(case, ids)
            star = not all(i in current and current[i].starred for i in ids)
            changed = edits.set_starred(case, ids, star)
            return f"{'Starred' if star else 'Unstarred'} {len(ids):,} event(s)" + (
                "" if changed else " (nothing changed)"
            )

        return self._submit(f"Star {len(ids):,} event(s)", edit)

    def set_tag(self, tag: str, on: bool = True, event_ids: Sequence[int] | None = None) -> bool:
        case = self.writable_case()
        ids = self._targets(event_ids) if case else []
        if case is None or not ids:
            return False
        try:
            name = edits.normalize_tag(tag)
        except edits.AnnotationError as exc:
            self.refused.emit(str(exc))
            return False
        if on:
            return self._submit(
                f"Tagged {len(ids):,} event(s) {name}", lambda: edits.tag_events(case, ids, name)
            )
        return self._submit(
            f"Removed tag {name} from {len(ids):,} event(s)",
            lambda: edits.untag_events(case, ids, name),
        )

    def apply_tags(self, add: Sequence[str], remove: Sequence[str], event_ids: Sequence[int]) -> bool:
        """The tag dialog's result as one edit, so one Ctrl+Z takes the whole gesture back."""
        case = self.writable_case()
        ids = self._targets(event_ids) if case else []
        if case is None or not ids or not (add or remove):
            return False
        added, removed = list(add), list(remove)
        return self._submit(
            f"Changed the tags of {len(ids):,} event(s)", lambda: edits.change_tags(case, ids, added, removed)
        )

    def set_note(self, event_id: int, note: str | None) -> bool:
        case = self.writable_case()
        if case is None:
            return False
        verb = "Noted" if note and note.strip() else "Removed the note of"
        return self._submit(f"{verb} event {event_id}", lambda: edits.set_event_note(case, event_id, note))

    def set_entity_note(self, kind: str, value: str, note: str | None) -> bool:
        case = self.writable_case()
        if case is None:
            return False
        verb = "Noted" if note and note.strip() else "Removed the note of"
        return self._submit(f"{verb} {kind} {value}", lambda: edits.set_entity_note(case, kind, value, note))

    def add_bookmark(self, name: str, start: dt.datetime, end: dt.datetime, note: str = "") -> bool:
        case = self.writable_case()
        if case is None:
            return False
        return self._submit(
            f"Bookmarked {name.strip()!r}", lambda: edits.add_bookmark(case, name, start, end, note)
        )

    def remove_bookmark(self, bookmark_id: int) -> bool:
        case = self.writable_case()
        if case is None:
            return False
        return self._submit(
            f"Removed bookmark {bookmark_id}", lambda: edits.remove_bookmark(case, bookmark_id)
        )

    def undo(self) -> bool:
        case = self.writable_case()
        if case is None:
            return False
        return self._submit("Undo", lambda: _describe(case, "Undid", "undo", edits.undo(case)))

    def redo(self) -> bool:
        case = self.writable_case()
        if case is None:
            return False
        return self._submit("Redo", lambda: _describe(case, "Redid", "redo", edits.redo(case)))

    # -- plumbing --------------------------------------------------------------------------
    def _submit(self, description: str, edit: Callable[[], Any]) -> bool:
        self.lane.submit(description, edit)
        return True

    @Slot(str, object)
    def _on_finished(self, description: str, value: object) -> None:
        if isinstance(value, str):  # undo / redo describe what they reverted
            description = value
        elif isinstance(value, int) and value == 0 and not description.startswith("Bookmarked"):
            description += " (nothing changed)"
        self.changed.emit(description)

    @Slot(str, str)
    def _on_failed(self, description: str, message: str) -> None:
        self.refused.emit(f"{description} failed: {message.splitlines()[0]}")

    def wait_idle(self, ms: int = 5000) -> bool:
        return self.lane.wait_idle(ms)


def _describe(case: CaseFile, verb: str, noun: str, action: edits.Action | None) -> str:
    """'Undid: tag 3 event(s) malicious' - the description of the edit that was reverted."""
    if action is None:
        return f"Nothing to {noun}"
    reverted = next(
        (a.description for a in edits.history(case, 1000) if a.action_id == action.reverts_action),
        f"action {action.reverts_action}",
    )
    return f"{verb}: {reverted}"
