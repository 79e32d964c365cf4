"""“Who really did this”: the actor chain of the event in the detail pane.

When the detail pane shows an event, `actors.actor_chain` runs in the background (newest event
wins) and the chain is listed from the event's own identity back to the actor: key -> session ->
role -> the principal who assumed it. The actor is named at the top with the actions an analyst
takes next: everything that actor did, its card, a swimlane.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
from PySide6.QtCore import QPoint, Qt, Signal, SignalInstance, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core.entities import builder
from viewer.core.entities.actors import ActorChain, actor_chain
from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
NOT_BUILT = "not built"


class ActorChainWidget(QWidget):
    chainShown = Signal(object)  # ActorChain | None (tests)
    actorFilterRequested = Signal(str)  # the actor: filter to everything it did
    cardRequested = Signal(str)  # a principal id
    swimlaneRequested = Signal(str)  # the actor

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cur_factory: CursorFactory | None = None
        self._chain: ActorChain | None = None
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_chain)
        self._runner.failed.connect(lambda m: self.actor_label.setText(f"⚠ {m.splitlines()[0]}"))
        #: Filled by the feature: value-menu actions on an identity in the chain.
        self.menu_builder: Callable[[QMenu, str, str], None] | None = None  # (menu, field, identity)
        self._build()
        self.clear()

    def _build(self) -> None:
        self.actor_label = QLabel(self)
        self.actor_label.setWordWrap(True)
        self.actor_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bold = QFont(self.font())
        bold.setBold(True)
        self.actor_label.setFont(bold)
        self.note_label = QLabel(self)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("QLabel { color: #555; }")
        self.everything_button = QPushButton("Everything this actor did", self)
        self.everything_button.setToolTip("Filter the timeline and table by actor: (under any identity)")
        self.everything_button.clicked.connect(lambda: self._emit_actor(self.actorFilterRequested))
        self.card_button = QPushButton("Card", self)
        self.card_button.clicked.connect(lambda: self._emit_actor(self.cardRequested))
        self.lane_button = QPushButton("Swimlane", self)
        self.lane_button.clicked.connect(lambda: self._emit_actor(self.swimlaneRequested))
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Identity", "Link", "When"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().resizeSection(0, 230)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        buttons = QHBoxLayout()
        buttons.addWidget(self.everything_button)
        buttons.addWidget(self.card_button)
        buttons.addWidget(self.lane_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.actor_label)
        lay.addWidget(self.note_label)
        lay.addLayout(buttons)
        lay.addWidget(self.tree, 1)

    @property
    def chain(self) -> ActorChain | None:
        return self._chain

    def set_source(self, cur_factory: CursorFactory | None) -> None:
        self._cur_factory = cur_factory
        self.clear()

    def clear(self) -> None:
        self._runner.cancel()
        self._chain = None
        self.tree.clear()
        self.actor_label.setText("No event selected")
        self.note_label.setText("Select an event: its chain of identities back to the actor shows here.")
        self._enable(False)

    def show_event(self, event_id: int) -> None:
        if self._cur_factory is None:
            return
        factory = self._cur_factory

        def work(token: CancelToken) -> ActorChain | str | None:
            cur = factory()
            remove = token.on_cancel(cur.interrupt)
            try:
                if not builder.is_ready(cur):
                    return NOT_BUILT
                return actor_chain(cur, event_id)
            finally:
                remove()
                cur.close()

        self.actor_label.setText("Resolving the actor…")
        self._runner.submit(work)

    def _enable(self, on: bool) -> None:
        for b in (self.everything_button, self.card_button, self.lane_button):
            b.setEnabled(on)

    @Slot(object)
    def _on_chain(self, result: object) -> None:
        self.tree.clear()
        if result == NOT_BUILT or result is None:
            self._chain = None
            self.actor_label.setText("Actor not resolved yet")
            self.note_label.setText(
                "The entity tables are being built (or the case is read-only and has none); the chain "
                "appears once they are ready."
                if result == NOT_BUILT
                else "The event is no longer in the case."
            )
            self._enable(False)
            self.chainShown.emit(None)
            return
        assert isinstance(result, ActorChain)
        self._chain = result
        self.actor_label.setText(f"Actor: {result.actor or '(unknown)'}")
        notes = []
        if result.source_identity:
            notes.append(f"sourceIdentity {result.source_identity}")
        if result.gap:
            notes.append("an issuing record is missing from the case: the actor is the last identity known")
        self.note_label.setText(
            "; ".join(notes) or f"{len(result.hops)} link(s) from the event back to the actor"
        )
        for hop in result.hops:
            item = QTreeWidgetItem(
                [hop.identity, hop.kind + (f" — {hop.note}" if hop.note else ""), format_ts(hop.ts)]
            )
            item.setToolTip(0, hop.identity)
            is_key = hop.credential_id is not None and hop.identity == hop.credential_id
            item.setData(0, Qt.ItemDataRole.UserRole, "credential_id" if is_key else "principal_id")
            item.setToolTip(1, hop.kind + (f"\n{hop.note}" if hop.note else ""))
            self.tree.addTopLevelItem(item)
        self._enable(result.actor is not None)
        self.chainShown.emit(result)

    def _emit_actor(self, signal: SignalInstance) -> None:
        if self._chain is not None and self._chain.actor:
            signal.emit(self._chain.actor)

    @Slot(QPoint)
    def _context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None or self.menu_builder is None:
            return
        menu = QMenu(self)
        self.menu_builder(menu, str(item.data(0, Qt.ItemDataRole.UserRole)), item.text(0))
        if not menu.isEmpty():
            menu.exec(self.tree.viewport().mapToGlobal(pos))
