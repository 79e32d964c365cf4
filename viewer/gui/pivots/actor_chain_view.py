"""“Who really did this”: the actor chain of the event in the detail pane.

When the detail pane shows an event, `actors.actor_chain` runs in the background (newest event
wins) and the chain is listed from the event's own identity back to the actor: key -> session ->
role -> the principal who assumed it. The actor is named at the top with the actions an analyst
takes next: everything that actor did, its card, a swimlane.

An event without a principal (a flow record, a GuardDuty finding) has no identity chain; for it the
list shows what the network attribution knows instead (`network.attribute_event`: the interface and
instance behind its addresses at that moment, and who launched the instance) and a finding's links
(the keys, addresses and resources it names), each row pivotable like an identity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
from viewer.core.entities.actors import NO_PRINCIPAL, ActorChain, Hop, actor_chain
from viewer.core.entities.network import Attribution, attribute_event, finding_links
from viewer.core.jobs import CancelToken
from viewer.gui.display_zone import zone_changed
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
NOT_BUILT = "not built"
#: A finding's link kinds: the value-menu field each pivots on, and how the row reads.
_LINK_ROWS = {
    "access_key": ("credential_id", "access key named by the finding"),
    "principal": ("principal_id", "principal named by the finding"),
    "ip": ("src_ip", "address named by the finding"),
    "instance": ("target_id", "instance named by the finding"),
    "eni": ("target_id", "interface named by the finding"),
}


@dataclass(frozen=True)
class NetworkView:
    """What stands in for an identity chain when the event has no principal."""

    attributions: list[Attribution] = field(default_factory=list)
    links: dict[str, list[str]] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, str]]:
        """(value, how it is linked, value-menu field) in display order."""
        out: list[tuple[str, str, str]] = []
        for a in self.attributions:
            if a.eni:
                out.append((a.eni, f"network interface ({a.evidence})", "target_id"))
            if a.instance_id:
                out.append((a.instance_id, f"instance behind {a.ip or a.eni} ({a.evidence})", "target_id"))
            if a.launched_by:
                out.append((a.launched_by, "launched the instance (RunInstances)", "principal_id"))
        for kind, values in self.links.items():
            fld, how = _LINK_ROWS.get(kind, ("target_id", f"{kind} named by the finding"))
            out.extend((v, how, fld) for v in values)
        return out

    @property
    def actor(self) -> str | None:
        return next((a.launched_by_actor for a in self.attributions if a.launched_by_actor), None)


def _kind_text(hop: Hop) -> str:
    """How a hop reads in the list. The chain's last key is "root" in the walk's sense (nothing
    issued it), which an AWS analyst would read as the root user: say what it is instead."""
    if hop.kind != "root key":
        return hop.kind
    return "long-term access key" if hop.identity.startswith("AKIA") else "first key known in the chain"


class ActorChainWidget(QWidget):
    chainShown = Signal(object)  # ActorChain | None (tests)
    networkShown = Signal(object)  # NetworkView | None: the event had no principal (tests)
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
        zone_changed().connect(self._on_zone_changed)

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

        def work(token: CancelToken) -> tuple[ActorChain | None, NetworkView | None] | str:
            cur = factory()
            remove = token.interrupts(cur)
            try:
                if not builder.is_ready(cur):
                    return NOT_BUILT
                chain = actor_chain(cur, event_id)
                if chain is None or chain.hops[0].identity != NO_PRINCIPAL:
                    return chain, None
                return chain, NetworkView(attribute_event(cur, event_id), finding_links(cur, event_id))
            finally:
                remove()
                cur.close()

        self.actor_label.setText("Resolving the actor…")
        self._runner.submit(work)

    @Slot(str)
    def _on_zone_changed(self, _name: str) -> None:
        """The chain's times, written again in the new display zone."""
        if self._chain is None or self.tree.topLevelItemCount() != len(self._chain.hops):
            return  # nothing shown, or a network view (it writes no times)
        for i, hop in enumerate(self._chain.hops):
            item = self.tree.topLevelItem(i)
            if item is not None:
                item.setText(2, format_ts(hop.ts))

    def _enable(self, on: bool) -> None:
        for b in (self.everything_button, self.card_button, self.lane_button):
            b.setEnabled(on)

    @Slot(object)
    def _on_chain(self, outcome: object) -> None:  # (ActorChain | None, NetworkView | None) or NOT_BUILT
        self.tree.clear()
        result, network = outcome if isinstance(outcome, tuple) else (outcome, None)
        if network is not None and network.rows():
            self._show_network(result, network)
            return
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
                [hop.identity, _kind_text(hop) + (f" — {hop.note}" if hop.note else ""), format_ts(hop.ts)]
            )
            item.setToolTip(0, hop.identity)
            is_key = hop.credential_id is not None and hop.identity == hop.credential_id
            item.setData(0, Qt.ItemDataRole.UserRole, "credential_id" if is_key else "principal_id")
            item.setToolTip(1, _kind_text(hop) + (f"\n{hop.note}" if hop.note else ""))
            self.tree.addTopLevelItem(item)
        self._enable(result.actor is not None)
        self.chainShown.emit(result)

    def _show_network(self, chain: ActorChain, network: NetworkView) -> None:
        """An event without a principal: its network attribution and a finding's links."""
        self._chain = ActorChain(chain.event_id, network.actor, chain.hops) if network.actor else None
        instances = [a.instance_id for a in network.attributions if a.instance_id]
        if network.actor:
            self.actor_label.setText(f"Actor: {network.actor} (launched {', '.join(instances)})")
        elif instances:
            self.actor_label.setText(f"No principal: instance {', '.join(instances)}")
        else:
            self.actor_label.setText("No principal: what the finding names")
        launched = any(a.launched_by for a in network.attributions)
        if network.attributions:
            note = "No identity made this record: its interface and instance at that time" + (
                "; the launch record names who started the instance"
                if launched
                else "; no RunInstances record in the case says who started it"
            )
        else:
            note = "No identity made this record: the keys, addresses and resources the finding names"
        self.note_label.setText(note)
        for value, how, fld in network.rows():
            item = QTreeWidgetItem([value, how, ""])
            item.setToolTip(0, value)
            item.setData(0, Qt.ItemDataRole.UserRole, fld)
            self.tree.addTopLevelItem(item)
        self._enable(network.actor is not None)
        self.chainShown.emit(self._chain)
        self.networkShown.emit(network)

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
