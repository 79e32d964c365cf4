"""Pivots and correlation in the window (issue #5): panels, value menus, actor chain, cards, lanes.

Installed once per window by `viewer.gui.features`; talks to the window only through its public
attributes. Every entity kind the core knows (`kinds.KINDS`) gets a panel dock, tabified on the
left; the kinds whose fields are correlation keys are shown in the tab group, the rest are one
click away in View ▸ Pivot panels. The group is hidden until asked for (Ctrl+Shift+P) or until a
pivot needs it, so the timeline and table keep their width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMessageBox

from viewer.core.entities.filter_terms import actor_text, kind_for_field, pivot_text, resource_text
from viewer.core.entities.kinds import KINDS, EntityKind, entity_kind
from viewer.core.entities.swimlanes import ACTOR_KIND, Lane
from viewer.core.event_detail import EventDetail
from viewer.core.event_query import EventFilter
from viewer.gui.pivots.actor_chain_view import ActorChainWidget
from viewer.gui.pivots.entity_card import EntityCardWidget, has_card
from viewer.gui.pivots.entity_tables import EntityTables
from viewer.gui.pivots.panel import PivotPanel
from viewer.gui.pivots.pivot_filter import PivotFilter
from viewer.gui.pivots.swimlane_view import SwimlaneWidget
from viewer.gui.pivots.value_actions import contribute, fill_entity_menu
from viewer.gui.shortcuts_help import KEYS_GROUP
from viewer.schema import field as schema_field

if TYPE_CHECKING:
    from viewer.gui.case_session import CaseSession
    from viewer.gui.main_window import MainWindow

SHOW_PANELS_SHORTCUT = "Ctrl+Shift+P"
CARD_HEIGHT_SHARE = 0.5
#: Share of the window's height the swimlanes dock opens with.
LANES_HEIGHT_SHARE = 0.35
#: Window width from which a case opens with the panels shown: the table keeps ~720 px beside
#: them and the event detail (the window on a 1920 px screen is 1728 px wide).
PANELS_SHOWN_FROM_WIDTH = 1700
PANEL_WIDTH = 470  # entity, events and failures visible without scrolling


def _shown_by_default(kind: EntityKind) -> bool:
    """Kinds whose columns join events across sources (the schema's correlation keys)."""
    return any(schema_field(c).correlation_key for c in kind.columns)


def _dock(title: str, name: str, widget: object, window: MainWindow) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)  # type: ignore[arg-type]
    return dock


class PivotFeature:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.filters = PivotFilter(window.filter_bar)
        self._panels_offered = False  # shown once on a wide window (`_offer_panels`)
        self.tables = EntityTables(window)
        window.worker_pools.append(self.tables.pool)  # closing a case waits for the build
        window.statusBar().addPermanentWidget(self.tables.label)
        self.panels: dict[str, PivotPanel] = {}
        self.panel_docks: dict[str, QDockWidget] = {}
        self._build_panels()
        self.chain = ActorChainWidget()
        self.chain_dock = _dock("Who did this (actor chain)", "actor_chain_dock", self.chain, window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.chain_dock)
        window.splitDockWidget(window.detail_dock, self.chain_dock, Qt.Orientation.Vertical)
        self.card = EntityCardWidget()
        self.card_dock = _dock("Entity card", "entity_card_dock", self.card, window)
        # Tabified with the event detail only when first shown (`_place_card`): a hidden dock
        # tabified at start-up left its group's tab bar drawn over the actor chain.
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.card_dock)
        self.card_dock.hide()
        self.card_dock.toggleViewAction().triggered.connect(self._card_toggled)
        self.lanes = SwimlaneWidget(axis=type(window.timeline.axis)())  # the timeline's own axis class
        self.lanes_dock = _dock("Swimlanes", "swimlanes_dock", self.lanes, window)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.lanes_dock)
        self.lanes_dock.hide()
        self.lanes.link_to(window.timeline.view_box)
        self.lanes.bucket_hint = lambda: window.timeline.buckets.bucket if window.timeline.buckets else None
        self._build_menu()
        self._connect()

    # -- construction ----------------------------------------------------------------------
    def _build_panels(self) -> None:
        first: QDockWidget | None = None
        for kind in KINDS:
            panel = PivotPanel(kind)
            panel.selectionChanged.connect(
                lambda entities, k=kind.name: self._on_panel_selection(k, entities)
            )
            panel.menu_builder = lambda menu, p, entities: fill_entity_menu(menu, self, p.kind, entities)
            dock = _dock(kind.title, f"pivot_{kind.name}_dock", panel, self.window)
            dock.setProperty(KEYS_GROUP, "Pivot panels")  # one place in Help › Keyboard shortcuts
            dock.visibilityChanged.connect(lambda visible, p=panel: visible and p.refresh_if_stale())
            self.window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
            if first is None:
                first = dock
            else:
                self.window.tabifyDockWidget(first, dock)
            self.panels[kind.name] = panel
            self.panel_docks[kind.name] = dock
            dock.hide()

    def _build_menu(self) -> None:
        w = self.window
        self.show_action = QAction("&Pivot panels", w)
        self.show_action.setShortcut(QKeySequence(SHOW_PANELS_SHORTCUT))
        self.show_action.setToolTip("Show or hide the entity pivot panels")
        self.show_action.triggered.connect(self.toggle_panels)
        w.addAction(self.show_action)
        self.lanes_action = QAction("&Swimlanes", w)
        self.lanes_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.lanes_action.triggered.connect(self.show_lanes)
        w.addAction(self.lanes_action)
        w.view_menu.addSeparator()
        w.view_menu.addAction(self.show_action)
        self.kinds_menu = QMenu("Pivot panel &kinds", w)
        for kind in KINDS:
            self.kinds_menu.addAction(self.panel_docks[kind.name].toggleViewAction())
        w.view_menu.addMenu(self.kinds_menu)
        w.view_menu.addAction(self.chain_dock.toggleViewAction())
        w.view_menu.addAction(self.card_dock.toggleViewAction())
        w.view_menu.addAction(self.lanes_action)

    def _connect(self) -> None:
        w = self.window
        w.caseChanged.connect(self._on_case)
        w.close_guards.append(self._before_close)
        w.filter_bar.filterChanged.connect(self._on_filter)
        w.detail.eventShown.connect(self._on_event_shown)
        w.value_menus.register(lambda menu, ctx: contribute(self, menu, ctx))
        self.tables.ready.connect(self._on_tables_ready)
        self.tables.noRoom.connect(lambda said: self.window.reopen_if_lost("Entity tables", said))
        self.chain.actorFilterRequested.connect(self.filter_actor)
        self.chain.cardRequested.connect(lambda actor: self.open_card("principal_id", actor))
        self.chain.swimlaneRequested.connect(lambda actor: self.add_lane(ACTOR_KIND, actor))
        self.chain.menu_builder = self._chain_menu
        self.card.linkActivated.connect(self._on_card_link)
        self.card.filterRequested.connect(self.filter_to_card)

    # -- case and filter -------------------------------------------------------------------
    def _on_case(self, session: CaseSession | None) -> None:
        factory = session.cursor if session is not None else None
        for panel in self.panels.values():
            panel.set_source(factory)
            panel.set_time_range(None)
        self.chain.set_source(factory)
        self.card.set_source(factory)
        self.lanes.set_source(factory)
        self.filters = PivotFilter(self.window.filter_bar)
        if session is None:
            self.tables.start(None)
            return
        session.summaryReady.connect(lambda _s: self.tables.start(session.case))  # after imports too
        self._offer_panels()
        self._refresh_visible()

    def _offer_panels(self) -> None:
        """Show the correlation panels with the first case of a window wide enough to keep the
        table readable beside them (hidden, only View → Pivot panels finds them). Once per window:
        panels the analyst hid stay hidden for the next case."""
        if self._panels_offered:
            return
        self._panels_offered = True
        shown = any(d.isVisible() for d in self.panel_docks.values())
        if not shown and self.window.width() >= PANELS_SHOWN_FROM_WIDTH:
            self.toggle_panels()

    def _before_close(self) -> str | None:
        """Stops the table build (it holds a cursor of the connection that is about to close, and
        a 10M-event build outlasts the window's wait for workers), and resumes it if the close is
        refused by another feature. Refuses while the build has not stopped yet: closing the
        connection under it crashed the process (seen on a machine busy with another import)."""
        session = self.window.session
        if session is None or not self.tables.running:
            return None
        stopped = self.tables.cancel_and_wait()
        QTimer.singleShot(0, lambda: self._resume_build(session))
        if not stopped:
            return "The entity tables build is still stopping (it reads the case). Close again in a moment."
        return None

    def _resume_build(self, session: CaseSession) -> None:
        if self.window.session is session:
            self.tables.start(session.case)

    def _on_filter(self, filt: EventFilter) -> None:
        for panel in self.panels.values():
            panel.set_time_range(filt.time_range)
        self._refresh_visible()

    def _on_tables_ready(self) -> None:
        for panel in self.panels.values():
            panel.mark_stale()
        self._refresh_visible()
        detail = self.window.detail.detail
        if detail is not None:
            self.chain.show_event(detail.event_id)
        if self.card.current is not None:
            self.card.show_entity(*self.card.current)

    def _refresh_visible(self) -> None:
        for name, panel in self.panels.items():
            if not self.panel_docks[name].visibleRegion().isEmpty():
                panel.refresh_if_stale()

    def _on_event_shown(self, detail: EventDetail) -> None:
        self.chain.show_event(detail.event_id)

    # -- actions (also reached from menus) -------------------------------------------------
    def toggle_panels(self) -> None:
        docks = [d for k, d in self.panel_docks.items() if _shown_by_default(entity_kind(k))]
        show = not any(d.isVisible() for d in self.panel_docks.values())
        for dock in docks if show else self.panel_docks.values():
            dock.setVisible(show)
        if show:
            docks[0].raise_()
            self.window.resizeDocks([docks[0]], [PANEL_WIDTH], Qt.Orientation.Horizontal)

    def show_panel(self, kind_name: str) -> PivotPanel:
        name = entity_kind(kind_name).name
        dock = self.panel_docks[name]
        was_hidden = not dock.isVisible()
        dock.show()
        dock.raise_()
        if was_hidden:  # opened narrow, the counts would sit off screen
            self.window.resizeDocks([dock], [PANEL_WIDTH], Qt.Orientation.Horizontal)
        self.panels[name].refresh_if_stale()
        return self.panels[name]

    def show_in_panel(self, kind_name: str, entity: str) -> None:
        self.show_panel(kind_name).show_entity(entity)

    def filter_entities(
        self, kind_name: str, entities: list[str], negate: bool = False, source: str | None = None
    ) -> None:
        session = self.window.session
        if session is None or not entities:
            return
        cur = session.cursor()
        try:
            term = pivot_text(cur, kind_name, entities, negate)
        finally:
            cur.close()
        if term is None:
            QMessageBox.information(
                self.window,
                "Cannot pivot",
                "The filter language cannot write a value holding a double quote.",
            )
            return
        if source is None:
            self.filters.add_term(term)
        else:
            self.filters.set_term(source, term)

    def filter_to_card(self, kind_name: str, entity: str) -> None:
        """The card's "Filter events to it": the events the card counted (a resource under all its
        names; other kinds their exact value)."""
        if entity_kind(kind_name).is_resource and self.filter_resource(entity):
            return
        self.filter_entities(kind_name, [entity])

    def filter_resource(self, name: str) -> bool:
        """Filter by `resource:NAME` (the resource under every name the logs give it); False when
        the filter language cannot write the name."""
        term = resource_text(name)
        if term is not None:
            self.filters.set_term("resource", term)
        return term is not None

    def filter_actor(self, actor: str) -> None:
        term = actor_text([actor])
        if term is not None:
            self.filters.set_term("actor", term)

    def open_card(self, kind_name: str, entity: str) -> None:
        name = entity_kind(kind_name).name
        if not has_card(name):
            return
        self._place_card()
        self.card_dock.show()
        self.card_dock.raise_()
        self._make_room_for_card()
        self.card.show_entity(name, entity)

    def _make_room_for_card(self) -> None:
        """A docked card gets half the window's height when it has less: its sections need the
        room more than the actor chain and findings below it (which stay visible)."""
        w, card = self.window, self.card_dock
        wanted = int(w.height() * CARD_HEIGHT_SHARE)
        if not card.isFloating() and card.height() < wanted:
            w.resizeDocks([card], [wanted], Qt.Orientation.Vertical)

    def _card_toggled(self, shown: bool) -> None:
        if shown:
            self._place_card()

    def _place_card(self) -> None:
        """Put the entity card in a tab beside the event detail, unless the user moved it."""
        w, card = self.window, self.card_dock
        if card.isFloating() or w.tabifiedDockWidgets(card) or not w.detail_dock.isVisible():
            return
        w.tabifyDockWidget(w.detail_dock, card)

    def add_lane(self, kind_name: str, entity: str) -> None:
        kind = kind_name if kind_name == ACTOR_KIND else entity_kind(kind_name).name
        self.show_lanes()
        self.lanes.add_lane(Lane(kind, entity))

    def add_lanes(self, kind_name: str, entities: list[str]) -> None:
        for entity in entities:
            self.add_lane(kind_name, entity)

    def show_lanes(self) -> None:
        opening = not self.lanes_dock.isVisible()
        self.lanes_dock.show()
        self.lanes_dock.raise_()
        if opening and not self.lanes_dock.isFloating():
            # Opened at its own size hint, the dock took ~60% of the middle column and left the
            # table four rows; comparing a few actors needs about a third of the window.
            wanted = int(self.window.height() * LANES_HEIGHT_SHARE)
            self.window.resizeDocks([self.lanes_dock], [wanted], Qt.Orientation.Vertical)
        self.lanes.refresh()

    # -- slots -----------------------------------------------------------------------------
    def _on_panel_selection(self, kind_name: str, entities: list[str]) -> None:
        if entities:
            self.filter_entities(kind_name, entities, source=f"panel:{kind_name}")
        elif self.filters.term_of(f"panel:{kind_name}") is not None:
            self.filters.set_term(f"panel:{kind_name}", None)

    def _on_card_link(self, field_name: str, value: str) -> None:
        kind = kind_for_field(field_name)
        if kind is None:
            return
        if has_card(kind.name):
            self.open_card(kind.name, value)
        else:
            self.filter_entities(kind.name, [value])

    def _chain_menu(self, menu: QMenu, field_name: str, identity: str) -> None:
        kind = kind_for_field(field_name)
        if kind is None or identity.startswith("("):
            return
        fill_entity_menu(menu, self, kind, [identity])
        menu.addSeparator()
        menu.addAction("Everything this actor did", lambda: self.filter_actor(identity))
