"""The Findings dock: what the analyst marked and what verification found, in one list.

Sections: starred/tagged/noted events (time, tags, action, principal, note), entity notes,
bookmarks, and integrity results (the newest stored `verify` and CloudTrail digest runs, plus
results of this session that a read-only case cannot store, such as a bundle's verification).
Everything is read in the background after each change. Double-click: an event opens in the
table and detail pane, a bookmark becomes the time range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core.case_file import CaseFile
from viewer.core.casework import annotation_views, findings
from viewer.core.casework.annotation_views import AnnotatedEvent, Bookmark, EntityNote, EventAnnotation
from viewer.core.casework.findings import IntegrityResult
from viewer.core.jobs import CancelToken
from viewer.gui.casework.annotation_dialogs import annotation_colour
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts

MAX_EVENTS = 5000
MAX_FINDINGS_SHOWN = 200  # per result; the report and `caseline verify` list every one
_OK, _BAD = QColor("#1D6B2C"), QColor("#A11D1D")
KIND_ROLE = Qt.ItemDataRole.UserRole
VALUE_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass
class FindingsData:
    events: list[AnnotatedEvent] = field(default_factory=list)
    entity_notes: list[EntityNote] = field(default_factory=list)
    bookmarks: list[Bookmark] = field(default_factory=list)
    integrity: list[IntegrityResult] = field(default_factory=list)


def load_findings(case: CaseFile) -> FindingsData:
    stored = [findings.latest(case, k) for k in ("verify", "cloudtrail_digests")]
    return FindingsData(
        annotation_views.annotated_events(case, MAX_EVENTS),
        annotation_views.entity_notes(case),
        annotation_views.bookmarks(case),
        [r for r in stored if r is not None],
    )


class FindingsDock(QDockWidget):
    eventActivated = Signal(object)  # event id
    rangeActivated = Signal(object, object)  # start, end (UTC)
    verifyRequested = Signal()
    activityRequested = Signal()
    loaded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Findings", parent)
        self.setObjectName("findings_dock")
        self.case: CaseFile | None = None
        self.data = FindingsData()
        self.session_results: list[IntegrityResult] = []  # not stored in the case
        self._by_event: dict[int, AnnotatedEvent] = {}
        self._notes: dict[tuple[str, str], str] = {}
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._show)
        self._runner.failed.connect(self._on_failed)
        body = QWidget(self)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        buttons = QHBoxLayout()
        self.verify_button = QPushButton("Verify evidence…", body)
        self.verify_button.setToolTip(
            "Re-hash the evidence against the ledger and validate CloudTrail digests"
        )
        self.verify_button.clicked.connect(self.verifyRequested)
        self.activity_button = QPushButton("Activity log", body)
        self.activity_button.clicked.connect(self.activityRequested)
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.activity_button)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 0)
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.progress.hide()
        lay.addWidget(self.progress)
        self.status = QLabel("", body)
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.tree = QTreeWidget(body)
        self.tree.setHeaderLabels(["Finding", "Detail"])
        self.tree.setColumnWidth(0, 250)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemActivated.connect(self._activated)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        #: Fills a row's context menu: (menu, kind, value); set by the feature that owns the edits.
        self.menu_builder: Callable[[QMenu, str, object], None] | None = None
        lay.addWidget(self.tree, 1)
        self.setWidget(body)

    # -- loading ---------------------------------------------------------------------------
    def set_case(self, case: CaseFile | None) -> None:
        self.case = case
        self.session_results = []
        self.verify_button.setEnabled(case is not None)
        self.activity_button.setEnabled(case is not None)
        self.refresh()

    def refresh(self) -> None:
        case = self.case
        if case is None:
            self._runner.cancel()
            self._show(FindingsData())
            return

        def work(_token: CancelToken) -> FindingsData:
            return load_findings(case)

        self._runner.submit(work)

    def show_data(self) -> None:
        """What was loaded last, written again (the display zone changed)."""
        self._show(self.data)

    def add_session_result(self, result: IntegrityResult) -> None:
        """A result shown until the case closes (read-only cases cannot store it)."""
        self.session_results = [r for r in self.session_results if r.kind != result.kind] + [result]
        self.refresh()

    def set_busy(self, message: str | None) -> None:
        self.progress.setVisible(message is not None)
        self.verify_button.setEnabled(message is None and self.case is not None)
        if message is not None:
            self.status.setText(message)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.status.setText(f"Could not read findings: {message.splitlines()[0]}")

    # -- drawing ---------------------------------------------------------------------------
    @Slot(object)
    def _show(self, data: object) -> None:
        assert isinstance(data, FindingsData)
        self.data = data
        self._by_event = {e.event_id: e for e in data.events}
        self._notes = {(n.entity_kind, n.entity_value): n.note for n in data.entity_notes}
        self.tree.clear()
        if self.case is None:
            self.status.setText("No case open.")
            self.loaded.emit()
            return
        self._events_section(data.events)
        self._simple_section(
            "Entity notes",
            [
                (f"{n.entity_kind} {n.entity_value}", n.note, "entity", (n.entity_kind, n.entity_value))
                for n in data.entity_notes
            ],
            "Right-click a value in the table or detail pane to note an IP or principal.",
        )
        self._simple_section(
            "Bookmarks",
            [
                (b.name, f"{format_ts(b.start)} → {format_ts(b.end)}  {b.note}".rstrip(), "bookmark", b)
                for b in data.bookmarks
            ],
            "Select a time range on the timeline (Shift+drag), then Ctrl+B.",
        )
        stored_kinds = {r.kind for r in self.session_results}
        results = [r for r in data.integrity if r.kind not in stored_kinds] + self.session_results
        self._integrity_section(results)
        self.tree.expandToDepth(0)
        if not self.progress.isVisible():
            n = len(data.events)
            self.status.setText(
                f"{n:,} annotated event(s), {len(data.entity_notes):,} entity note(s), "
                f"{len(data.bookmarks):,} bookmark(s). Double-click to go there."
            )
        self.loaded.emit()

    def _section(self, title: str, count: int) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [f"{title} ({count:,})", ""])
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        return item

    def _events_section(self, events: list[AnnotatedEvent]) -> None:
        head = self._section("Starred and tagged events", len(events))
        if not events:
            QTreeWidgetItem(head, ["(none yet)", "Select events and press S (star), T (tag) or N (note)."])
        for e in events:
            marks = ("★ " if e.starred else "") + ", ".join(e.tags)
            what = " · ".join(str(x) for x in (e.action, e.principal, e.src_ip) if x)
            item = QTreeWidgetItem(head, [f"{format_ts(e.ts)}  {marks}".rstrip(), e.note or what])
            item.setToolTip(1, "\n".join(x for x in (what, e.note or "") if x))
            item.setForeground(0, QBrush(QColor(annotation_colour(e.starred, e.tags))))
            item.setData(0, KIND_ROLE, "event")
            item.setData(0, VALUE_ROLE, e.event_id)

    def _simple_section(self, title: str, rows: list[tuple[str, str, str, object]], empty: str) -> None:
        head = self._section(title, len(rows))
        if not rows:
            QTreeWidgetItem(head, ["(none yet)", empty])
        for label, detail, kind, value in rows:
            item = QTreeWidgetItem(head, [label, detail])
            item.setToolTip(1, detail)
            item.setData(0, KIND_ROLE, kind)
            item.setData(0, VALUE_ROLE, value)

    def _integrity_section(self, results: list[IntegrityResult]) -> None:
        head = self._section("Integrity", len(results))
        if not results:
            QTreeWidgetItem(head, ["not verified", "Verify evidence… re-hashes the evidence files."])
        for r in results:
            verdict = (
                "VERIFIED" if r.ok else f"NOT VERIFIED ({len(r.failures):,} of {len(r.findings):,} failed)"
            )
            when = f"  {format_ts(r.started_at)}" if isinstance(r.started_at, dt.datetime) else ""
            stored = "" if r.run_id is not None else "  (this session, not stored)"
            item = QTreeWidgetItem(
                head, [f"{_TITLES.get(r.kind, r.kind)}: {verdict}", f"{when}{stored}".strip()]
            )
            item.setForeground(0, QBrush(_OK if r.ok else _BAD))
            counts = ", ".join(f"{k} {v:,}" for k, v in r.counts().items())
            item.setToolTip(0, counts)
            QTreeWidgetItem(item, ["counts", counts])
            shown = (
                r.failures[:MAX_FINDINGS_SHOWN]
                + [f for f in r.findings if f.passed][: max(0, MAX_FINDINGS_SHOWN - len(r.failures))]
            )
            for f in shown:
                child = QTreeWidgetItem(item, [f"{f.status}  {f.subject_kind}", f.message])
                child.setToolTip(1, f.message)
                child.setForeground(0, QBrush(_OK if f.passed else _BAD))
            if len(r.findings) > len(shown):
                QTreeWidgetItem(item, [f"… {len(r.findings) - len(shown):,} more", "all are in the report"])

    @Slot(QTreeWidgetItem, int)
    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        kind, value = item.data(0, KIND_ROLE), item.data(0, VALUE_ROLE)
        if kind == "event":
            self.eventActivated.emit(int(value))
        elif kind == "bookmark" and isinstance(value, Bookmark):
            self.rangeActivated.emit(value.start, value.end)

    # -- what the dock knows (read by the feature instead of querying on the UI thread) -------
    def annotation_of(self, event_id: int) -> EventAnnotation | None:
        e = self._by_event.get(event_id)
        return None if e is None else EventAnnotation(e.event_id, e.starred, e.tags, e.note)

    def entity_note_of(self, kind: str, value: str) -> str | None:
        return self._notes.get((kind, value))

    def known_tags(self) -> list[str]:
        return sorted({t for e in self.data.events for t in e.tags})

    def build_menu(self, item: QTreeWidgetItem) -> QMenu:
        """The context menu of a row (exposed so tests can inspect it without exec)."""
        menu = QMenu(self)
        kind, value = item.data(0, KIND_ROLE), item.data(0, VALUE_ROLE)
        if kind and self.menu_builder is not None:
            self.menu_builder(menu, str(kind), value)
        return menu

    @Slot(QPoint)
    def _context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is not None:
            menu = self.build_menu(item)
            if not menu.isEmpty():
                menu.exec(self.tree.viewport().mapToGlobal(pos))

    def items_of(self, kind: str) -> list[QTreeWidgetItem]:
        """The rows of one kind ("event", "entity", "bookmark"): tests and keyboard navigation."""
        out: list[QTreeWidgetItem] = []
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            for j in range(head.childCount() if head is not None else 0):
                child = head.child(j) if head is not None else None
                if child is not None and child.data(0, KIND_ROLE) == kind:
                    out.append(child)
        return out


_TITLES = {"verify": "Evidence", "cloudtrail_digests": "CloudTrail digests", "bundle": "Bundle"}
