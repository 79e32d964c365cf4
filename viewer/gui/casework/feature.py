"""The casework feature: wires annotations, findings, custody and hand-over into the main window.

Shortcuts (checked against the window's: J/K, /, Home, Ctrl+E, Ctrl+Shift+E, Ctrl+I, Ctrl+F and
the query dock's Ctrl+T, Ctrl+S, Ctrl+F4, Esc): S star, T tag, N note, Ctrl+B bookmark the time
range, Ctrl+Z / Ctrl+Shift+Z undo / redo annotation edits, Ctrl+Shift+F the findings dock,
Ctrl+R report. Single letters act only while a text field does not have the focus (Qt gives
typed text precedence), like J/K.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDockWidget, QFileDialog, QMenu

from viewer.core.casework import annotation_views
from viewer.core.casework import annotations as edits
from viewer.gui.case_session import CaseSession
from viewer.gui.casework.activity_log import ActivityLogDialog
from viewer.gui.casework.annotation_dialogs import BookmarkDialog, NoteDialog, TagDialog
from viewer.gui.casework.annotation_display import TimelineMarkers, present_row
from viewer.gui.casework.annotator import READ_ONLY_MESSAGE, Annotator, entity_kind_for
from viewer.gui.casework.auditor_banner import AuditorBanner
from viewer.gui.casework.evidence import EvidenceActions
from viewer.gui.casework.findings_dock import FindingsDock
from viewer.gui.casework.handover import Handover
from viewer.gui.casework.navigation import Navigator
from viewer.gui.casework.task_status import TaskStatus
from viewer.gui.display_zone import zone_changed
from viewer.gui.value_menu import ValueContext

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

CASE_FILTER = "Caseline case (*.caseline *.duckdb *.db);;All files (*)"
QUICK_FILTERS = (
    ("Starred events", "is:starred"),
    ("Tagged malicious", "tag:malicious"),
    ("Tagged suspicious", "tag:suspicious"),
    ("Events with a note", "has:note"),
    ("Any annotation", "is:annotated"),
)


class CaseworkFeature(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.annotator = Annotator(window, self)
        self.tasks = TaskStatus(window)
        window.statusBar().addPermanentWidget(self.tasks)
        self.findings = FindingsDock(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.findings)
        self.findings.hide()
        self.markers = TimelineMarkers(window, self)
        self.navigator = Navigator(window, self)
        self.handover = Handover(window, self.tasks, self)
        self.evidence = EvidenceActions(window, self.tasks, self.findings, self)
        self.banner = AuditorBanner(window)
        self.evidence.on_bundle_opened.append(self.banner.set_origin)
        window.upgrade_offers.append(self.evidence.offer_upgraded_copy)
        self.activity_dialog: ActivityLogDialog | None = None
        self.dialog: QDialog | None = None  # the annotation dialog open now (tests reach in)
        self._write_actions: list[QAction] = []
        self._case_actions: list[QAction] = []
        self._build_menus()
        window.value_menus.register(self.fill_value_menu)
        window.table_model.set_row_extras(self._fetch_row_annotations, present_row)
        self._connect()
        window.close_guards.append(self.close_guard)
        self._on_case_changed(None)

    # -- construction ----------------------------------------------------------------------
    def _act(self, text: str, slot: Any, keys: str | None = None, write: bool = False) -> QAction:
        act = QAction(text, self.window)
        if keys:
            act.setShortcut(QKeySequence(keys))
        act.triggered.connect(lambda _checked=False: slot())
        self.window.addAction(act)
        (self._write_actions if write else self._case_actions).append(act)
        return act

    def _build_menus(self) -> None:
        w = self.window
        m = w.menuBar().addMenu("&Annotate")
        self.annotate_menu = m
        self.star_action = self._act("&Star / unstar selected events", self.annotator.toggle_star, "S", True)
        self.tag_action = self._act("&Tag selected events…", self.ask_tags, "T", True)
        self.note_action = self._act("&Note on the current event…", self.ask_event_note, "N", True)
        self.bookmark_action = self._act("&Bookmark the time range…", self.ask_bookmark, "Ctrl+B", True)
        self.undo_action = self._act("&Undo annotation change", self.annotator.undo, "Ctrl+Z", True)
        self.redo_action = self._act("&Redo annotation change", self.annotator.redo, "Ctrl+Shift+Z", True)
        for act in (self.star_action, self.tag_action, self.note_action, self.bookmark_action):
            m.addAction(act)
        m.addSeparator()
        m.addAction(self.undo_action)
        m.addAction(self.redo_action)
        m.addSeparator()
        show = m.addMenu("Show only")
        for title, text in QUICK_FILTERS:
            act = show.addAction(f"{title}  ({text})")
            act.triggered.connect(partial(self.apply_filter_text, text))
            self._case_actions.append(act)
        self.findings_action = self.findings.toggleViewAction()
        self.findings_action.setText("&Findings")
        self.findings_action.setShortcut(QKeySequence("Ctrl+Shift+F"))
        m.addAction(self.findings_action)
        w.view_menu.addAction(self.findings_action)

        f, before = w.file_menu, w.close_action
        self.open_read_only_action = QAction("Open case &read-only (auditor)…", w)
        self.open_read_only_action.triggered.connect(self.ask_open_read_only)
        self.open_bundle_action = QAction("Open evidence &bundle (.zip)…", w)
        self.open_bundle_action.triggered.connect(self.evidence.ask_open_bundle)
        f.insertAction(w.recent_menu.menuAction(), self.open_read_only_action)
        f.insertAction(w.recent_menu.menuAction(), self.open_bundle_action)
        self.verify_action = self._act("&Verify evidence…", self.evidence.ask_verify)
        self.activity_action = self._act("Activity &log", self.show_activity_log)
        self.report_action = self._act("&Report (HTML and PDF)…", self.handover.ask_report, "Ctrl+R")
        f.insertSeparator(before)
        for act in (self.verify_action, self.activity_action, self.report_action):
            f.insertAction(before, act)
        self.export_menu = QMenu("&Export with provenance", w)
        for what, title in (
            ("filter", "Events of the current &filter…"),
            ("selection", "&Selected events…"),
            ("query", "Current &query result…"),
        ):
            act = self.export_menu.addAction(title)
            act.triggered.connect(partial(self.handover.ask_export, what))
            self._case_actions.append(act)
        f.insertMenu(before, self.export_menu)
        f.insertSeparator(before)

    def _connect(self) -> None:
        w = self.window
        w.caseChanged.connect(self._on_case_changed)
        self.annotator.changed.connect(self._on_annotations_changed)
        self.annotator.refused.connect(lambda m: w.statusBar().showMessage(m, 10000))
        self.findings.eventActivated.connect(self.navigator.go_to_event)
        zone_changed().connect(self._on_zone_changed)
        self.findings.menu_builder = self.fill_findings_menu
        self.annotator.lookup = self.annotation_of
        self.markers.eventClicked.connect(self.navigator.go_to_event)
        self.findings.rangeActivated.connect(self.navigator.go_to_range)
        self.findings.verifyRequested.connect(self.evidence.ask_verify)
        self.findings.activityRequested.connect(self.show_activity_log)
        # After the dock fills its own menu (connected first), add the provenance export to it.
        w.query_dock.menu.aboutToShow.connect(self._extend_query_menu)

    # -- case lifecycle --------------------------------------------------------------------
    @Slot(object)
    def _on_case_changed(self, session: CaseSession | None) -> None:
        case = session.case if session is not None else None
        read_only = case is not None and case.read_only
        self.annotator.lane.clear()  # edits queued for the previous case are not for this one
        for act in self._case_actions:
            act.setEnabled(case is not None)
        for act in self._write_actions:
            act.setEnabled(case is not None and not read_only)
            act.setToolTip(READ_ONLY_MESSAGE if read_only else "")
        self.export_menu.setEnabled(case is not None)
        # Auditor mode: nothing may write the case; saving a query would.
        self.window.query_dock.save_action.setEnabled(not read_only)
        if self.activity_dialog is not None:
            self.activity_dialog.close()
            self.activity_dialog.deleteLater()
            self.activity_dialog = None
        self.findings.set_case(case)
        if case is not None and not self.findings.isVisible():
            self.findings.show()
            self._share_right_column()
        self.markers.refresh(case)
        self.banner.show_for(case.path if case is not None else None, read_only)

    def _share_right_column(self) -> None:
        """Half the right column's height for the event detail (its fields and the raw record are
        what an analyst reads most), the rest shared by the docks under it (actor chain, findings):
        split evenly, the detail showed ~4 fields and ~6 raw lines at 1600x1000."""
        w = self.window
        right = Qt.DockWidgetArea.RightDockWidgetArea
        below = [
            d
            for d in w.findChildren(QDockWidget)
            if d is not w.detail_dock
            and d.isVisible()
            and not d.isFloating()
            and w.dockWidgetArea(d) == right
        ]
        half = w.height() // 2
        rest = [half // len(below)] * len(below) if below else []
        w.resizeDocks([w.detail_dock, *below], [half, *rest], Qt.Orientation.Vertical)

    def close_guard(self) -> str | None:
        """Why the case cannot close now: work that uses its connection, or edits not saved yet
        (closing would drop them)."""
        running = [n for n in ("verify", "report", "export") if self.tasks.running(n)]
        if running:
            return (
                f"{' and '.join(running).capitalize()} is still running on this case. Cancel it in the "
                "status bar or let it finish, then close the case."
            )
        if self.annotator.lane.busy:
            return "Annotation edits are still being saved to the case; close it again in a moment."
        return None

    def _fetch_row_annotations(self, event_ids: list[int]) -> dict[int, Any]:
        """Runs on the table's page thread: one query for a page of rows."""
        session = self.window.session
        return dict(annotation_views.for_events(session.case, event_ids)) if session is not None else {}

    @Slot(str)
    def _on_zone_changed(self, _name: str) -> None:
        """Findings and marker tooltips write their times again, in the new display zone."""
        self.findings.show_data()
        self.markers.refresh(self.window.session.case if self.window.session is not None else None)

    @Slot(str)
    def _on_annotations_changed(self, description: str) -> None:
        w = self.window
        w.statusBar().showMessage(description, 8000)
        self.findings.refresh()
        self.markers.refresh(w.session.case if w.session is not None else None)
        w.table_model.refresh_extras()
        if _uses_annotations(w.filter_bar.event_filter.text):
            w.table_model.refresh()  # `tag:` / `is:starred` rows changed
            w.timeline.refresh()

    # -- gestures with dialogs -------------------------------------------------------------
    def ask_tags(self) -> None:
        if self.annotator.writable_case() is None:
            return
        ids = self.annotator.selected_ids()
        if not ids:
            self.annotator.refused.emit("Select one or more events first.")
            return
        known = self._known_tags()
        dialog = TagDialog(self.annotator.current_annotations(ids), ids, known, self.window)
        self.dialog = dialog
        if dialog.exec() == QDialog.DialogCode.Accepted:
            add, remove = dialog.changes()
            self.annotator.apply_tags(add, remove, ids)
        self.dialog = None

    def _known_tags(self) -> list[str]:
        return sorted({*edits.STANDARD_TAGS, *self.findings.known_tags()})

    def annotation_of(self, event_id: int) -> annotation_views.EventAnnotation | None:
        """From the table's cached pages (exact, refreshed after each edit), else the findings."""
        extra = self.window.table_model.extra_for_event(event_id)
        if isinstance(extra, annotation_views.EventAnnotation):
            return extra
        return self.findings.annotation_of(event_id)

    def ask_event_note(self, event_id: int | None = None) -> None:
        if self.annotator.writable_case() is None:
            return
        if event_id is None:
            ids = self.annotator.selected_ids()
            if not ids:
                self.annotator.refused.emit("Select an event first.")
                return
            event_id = ids[0]
        current = self.annotator.current_annotations([event_id]).get(event_id)
        dialog = NoteDialog(
            "Note on event", f"Event {event_id}", current.note if current else None, self.window
        )
        self.dialog = dialog
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.annotator.set_note(event_id, dialog.note())
        self.dialog = None

    def ask_entity_note(self, kind: str, value: str) -> None:
        case = self.annotator.writable_case()
        if case is None:
            return
        current = self.findings.entity_note_of(kind, value)
        about = f"{kind} <b>{value}</b>: the note shows wherever this value is noted (findings, report)."
        dialog = NoteDialog(f"Note on {kind} {value}", about, current, self.window)
        self.dialog = dialog
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.annotator.set_entity_note(kind, value, dialog.note())
        self.dialog = None

    def ask_bookmark(self) -> None:
        if self.annotator.writable_case() is None:
            return
        rng = self.current_range()
        if rng is None:
            self.annotator.refused.emit("Select a time range first: Shift+drag on the timeline.")
            return
        dialog = BookmarkDialog(rng[0], rng[1], self.window)
        self.dialog = dialog
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.annotator.add_bookmark(dialog.name.text(), rng[0], rng[1], dialog.note.text())
        self.dialog = None

    def current_range(self) -> tuple[Any, Any] | None:
        """The filter bar's time range (set by a timeline selection), else None."""
        return self.window.filter_bar.event_filter.time_range

    # -- value menus -----------------------------------------------------------------------
    def fill_value_menu(self, menu: QMenu, ctx: ValueContext) -> None:
        case = self.annotator.case
        if case is None:
            return
        suffix = "  (read-only case)" if case.read_only else ""
        writable = not case.read_only
        if ctx.event_id is not None:
            ids = self._ids_for(ctx.event_id)
            label = "event" if len(ids) == 1 else f"{len(ids):,} selected events"
            star = menu.addAction(f"★ Star / unstar {label}{suffix}", lambda: self.annotator.toggle_star(ids))
            tags = menu.addMenu(f"Tag {label}{suffix}")
            for tag in edits.STANDARD_TAGS:
                tags.addAction(tag, partial(self.annotator.set_tag, tag, True, ids))
            tags.addSeparator()
            tags.addAction("Other tags…", self.ask_tags)
            note = menu.addAction(f"Note on this event…{suffix}", partial(self.ask_event_note, ctx.event_id))
            for a in (star, tags.menuAction(), note):
                a.setEnabled(writable)
        if ctx.value:
            kind = entity_kind_for(ctx.field) if ctx.field else "value"
            short = ctx.value if len(ctx.value) <= 40 else ctx.value[:37] + "…"
            existing = self.findings.entity_note_of(kind, ctx.value)
            text = f"Note on {kind} {short}…" + (f'  (now: "{existing[:30]}")' if existing else "")
            act = menu.addAction(text + suffix, partial(self.ask_entity_note, kind, ctx.value))
            act.setEnabled(writable)

    def fill_findings_menu(self, menu: QMenu, kind: str, value: object) -> None:
        """Edit a finding where it is listed: unstar, untag, re-note, remove a bookmark."""
        writable = self.annotator.case is not None and not self.annotator.case.read_only
        edits_done: list[QAction] = []
        if kind == "event" and isinstance(value, int):
            menu.addAction("Go to event", partial(self.navigator.go_to_event, value))
            current = self.annotator.current_annotations([value]).get(value)
            edits_done.append(menu.addAction("Star / unstar", partial(self.annotator.toggle_star, [value])))
            for tag in current.tags if current else ():
                edits_done.append(
                    menu.addAction(f"Remove tag {tag}", partial(self.annotator.set_tag, tag, False, [value]))
                )
            edits_done.append(menu.addAction("Edit note…", partial(self.ask_event_note, value)))
        elif kind == "entity" and isinstance(value, (tuple, list)):  # Qt may hand a tuple back as a list
            ekind, evalue = str(value[0]), str(value[1])
            edits_done.append(menu.addAction("Edit note…", partial(self.ask_entity_note, ekind, evalue)))
            edits_done.append(
                menu.addAction("Remove note", partial(self.annotator.set_entity_note, ekind, evalue, None))
            )
            menu.addAction(f"Filter events by {evalue}", partial(self.apply_filter_text, f'"{evalue}"'))
        elif kind == "bookmark" and isinstance(value, annotation_views.Bookmark):
            menu.addAction(
                "Show this time range", partial(self.navigator.go_to_range, value.start, value.end)
            )
            edits_done.append(
                menu.addAction("Remove bookmark", partial(self.annotator.remove_bookmark, value.bookmark_id))
            )
        for act in edits_done:
            act.setEnabled(writable)

    def _ids_for(self, event_id: int) -> list[int]:
        """The whole selection when the clicked row is in it, else just the clicked event."""
        selected = self.annotator.selected_ids()
        return selected if event_id in selected else [event_id]

    # -- other actions ---------------------------------------------------------------------
    def _extend_query_menu(self) -> None:
        tab = self.window.query_dock.current_tab
        act = self.window.query_dock.menu.addAction(
            "Export result with provenance…", partial(self.handover.ask_export, "query")
        )
        act.setEnabled(tab is not None and tab.model.result is not None and self.window.session is not None)
        act.setToolTip("CSV, JSONL or Parquet with evidence file, its SHA-256 and the record index per row")

    def apply_filter_text(self, text: str) -> None:
        bar = self.window.filter_bar
        bar.edit.setText(text)
        bar.apply_text()

    def ask_open_read_only(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open case read-only (auditor mode)", "", CASE_FILTER
        )
        if path:
            self.window.open_case(Path(path), read_only=True)

    def show_activity_log(self) -> ActivityLogDialog | None:
        session = self.window.session
        if session is None:
            return None
        if self.activity_dialog is None:
            self.activity_dialog = ActivityLogDialog(session.case, self.window)
        else:
            self.activity_dialog.refresh()
        self.activity_dialog.show()
        self.activity_dialog.raise_()
        return self.activity_dialog


def _uses_annotations(text: str) -> bool:
    low = text.lower()
    return any(word in low for word in ("tag:", "is:", "has:"))
