"""One pivot panel: the entities of one kind with counts, failures, first/last seen, sources.

The rows are one page of `pivots.panel_rows` (sorted and searched in SQL, never in Qt), fetched on
a `SupersedingRunner`: a newer search, sort or time range supersedes and interrupts the older
query. Selecting rows announces the entities; the feature turns them into a filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.core.entities.kinds import EntityKind
from viewer.core.entities.pivots import PanelPage, PanelRow, panel_rows
from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts, zone_tag

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
TimeRange = tuple[dt.datetime, dt.datetime]
PAGE_ROWS = 500
SEARCH_DEBOUNCE_MS = 200

#: (header, sort key of `pivots.SORT_KEYS` or None when SQL cannot sort by it)
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("Entity", "entity"),
    ("Events", "events"),
    ("Failures", "failures"),
    ("First seen", "first_seen"),
    ("Last seen", "last_seen"),
    ("Sources", None),
    ("Clouds", None),
)
_NUMERIC = {1, 2}
_TIME_KEYS = {"first_seen", "last_seen"}


class PanelModel(QAbstractTableModel):
    """The rows of one panel page; sorting asks the panel to re-query (`sortRequested`)."""

    sortRequested = Signal(str, bool)  # sort key, descending

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PanelRow] = []
        # Display texts per row, made when a row is first painted: formatting a time costs
        # ~0.3 ms, and a 500-row page formatted up front blocked the GUI thread ~300 ms.
        self._texts: dict[int, tuple[str, ...]] = {}

    def set_rows(self, rows: list[PanelRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._texts = {}
        self.endResetModel()

    def forget_texts(self) -> None:
        """Drop the formatted texts (the display zone changed); rows are formatted again on paint."""
        self._texts = {}

    def _row_texts(self, row: int) -> tuple[str, ...]:
        texts = self._texts.get(row)
        if texts is None:
            r = self._rows[row]
            texts = (
                r.entity,
                f"{r.events:,}",
                f"{r.failures:,}" if r.failures else "",
                format_ts(r.first_seen),
                format_ts(r.last_seen),
                ", ".join(r.sources),
                ", ".join(r.clouds),
            )
            self._texts[row] = texts
        return texts

    def row_at(self, row: int) -> PanelRow:
        return self._rows[row]

    def entities(self) -> list[str]:
        return [r.entity for r in self._rows]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            title, key = COLUMNS[section]
            return f"{title} ({zone_tag()})" if key in _TIME_KEYS else title
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return "Click to sort (in SQL)" if COLUMNS[section][1] else "Not sortable"
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r, c = self._rows[index.row()], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._row_texts(index.row())[c]
        if role == Qt.ItemDataRole.TextAlignmentRole and c in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and c == 2 and r.failures:
            from PySide6.QtGui import QColor

            return QColor("#C62828")
        if role == Qt.ItemDataRole.UserRole:
            return r.entity
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:  # Qt override
        key = COLUMNS[column][1]
        if key is not None:
            self.sortRequested.emit(key, order == Qt.SortOrder.DescendingOrder)


class PivotPanel(QWidget):
    """Search box, status line and the table of one entity kind."""

    selectionChanged = Signal(list)  # the selected entities (may be empty)
    pageShown = Signal(object)  # PanelPage, after it is in the table (tests, status)
    queryFailed = Signal(str)

    def __init__(self, kind: EntityKind, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self._cur_factory: CursorFactory | None = None
        self._time_range: TimeRange | None = None
        self._sort, self._descending = "events", True
        self._stale = True
        self._page: PanelPage | None = None
        self._select_after_load: str | None = None
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_page)
        self._runner.failed.connect(self._on_failed)
        self._runner.busyChanged.connect(self._show_status)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.refresh)
        #: Filled by the feature: extra context-menu actions on the selected entities.
        self.menu_builder: Callable[[QMenu, PivotPanel, list[str]], None] | None = None
        self._build()

    def _build(self) -> None:
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(f"Search {self.kind.title.lower()}…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.status = QLabel(self)
        self.status.setStyleSheet("QLabel { color: #555; }")
        self.status.setWordWrap(True)
        self.model = PanelModel(self)
        self.model.sortRequested.connect(self._on_sort)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        self.view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().resizeSection(0, 240)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # ARNs differ at both ends
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        clear = QAction("Clear selection", self.view)
        clear.setShortcut(QKeySequence("Escape"))
        clear.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        clear.triggered.connect(self.view.clearSelection)
        self.view.addAction(clear)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)
        self._show_status(False)

    # -- public ----------------------------------------------------------------------------
    @property
    def page(self) -> PanelPage | None:
        return self._page

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def set_source(self, cur_factory: CursorFactory | None) -> None:
        self._runner.cancel()
        self._cur_factory = cur_factory
        self._page = None
        self.model.set_rows([])
        self._stale = True
        self._show_status(False)

    def set_time_range(self, time_range: TimeRange | None) -> None:
        if time_range != self._time_range:
            self._time_range = time_range
            self._stale = True

    def refresh_if_stale(self) -> None:
        if self._stale:
            self.refresh()

    def mark_stale(self) -> None:
        self._stale = True

    def refresh(self) -> None:
        """Query the page for the current search, sort and time range (newest request wins)."""
        self._search_timer.stop()
        if self._cur_factory is None:
            return
        self._stale = False
        factory, kind, rng = self._cur_factory, self.kind.name, self._time_range
        search, sort, desc = self.search.text().strip(), self._sort, self._descending

        def work(token: CancelToken) -> PanelPage:
            cur = factory()
            remove = token.interrupts(cur)
            try:
                return panel_rows(cur, kind, rng, search, sort, desc, PAGE_ROWS)
            finally:
                remove()
                cur.close()

        self._runner.submit(work)

    def show_entity(self, entity: str) -> None:
        """Search for `entity` and select its row once the page is in."""
        self._select_after_load = entity
        self.search.setText(entity)
        self.refresh()

    def selected_entities(self) -> list[str]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [self.model.row_at(r).entity for r in rows]

    def select_entities(self, entities: list[str]) -> None:
        """Select the rows of these entities (those on the page)."""
        sm = self.view.selectionModel()
        wanted = set(entities)
        sm.clearSelection()
        from PySide6.QtCore import QItemSelectionModel

        for r, e in enumerate(self.model.entities()):
            if e in wanted:
                flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
                sm.select(self.model.index(r, 0), flags)

    # -- slots -----------------------------------------------------------------------------
    @Slot(str, bool)
    def _on_sort(self, key: str, descending: bool) -> None:
        self._sort, self._descending = key, descending
        self.refresh()

    @Slot(object)
    def _on_page(self, page: object) -> None:
        assert isinstance(page, PanelPage)
        self._page = page
        keep = self._select_after_load
        self._select_after_load = None
        self.view.selectionModel().blockSignals(True)
        self.model.set_rows(page.rows)
        self.view.selectionModel().blockSignals(False)
        self._show_status(False)
        if keep is not None:  # "show in panel": select it without filtering by it
            self.view.selectionModel().blockSignals(True)
            self.select_entities([keep])
            self.view.selectionModel().blockSignals(False)
            self.view.viewport().update()
        self.pageShown.emit(page)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.status.setText(f"⚠ {message.splitlines()[0]}")
        self.queryFailed.emit(message)

    @Slot()
    def _on_selection(self) -> None:
        self.selectionChanged.emit(self.selected_entities())

    @Slot(bool)
    def _show_status(self, busy: bool) -> None:
        if self._cur_factory is None:
            self.status.setText("No case open.")
            return
        if busy:
            self.status.setText(
                "Counting…" if self._page is None else self.status.text().split(" ·")[0] + " · updating…"
            )
            return
        p = self._page
        if p is None:
            self.status.setText("")
            return
        scope = "in the time range" if self._time_range else "in the case"
        if p.total_entities == 0:
            search = self.search.text().strip()
            self.status.setText(
                f"No {self.kind.title.lower()} matching '{search}' {scope}." if search else f"None {scope}."
            )
            return
        shown = (
            f"{len(p.rows):,} of {p.total_entities:,}"
            if p.total_entities > len(p.rows)
            else f"{p.total_entities:,}"
        )
        slow = "" if p.exact_from_tables else " · counted from events (entity tables not built)"
        self.status.setText(f"{shown} {scope}{slow}. Select to filter; right-click for more.")

    @Slot(QPoint)
    def _context_menu(self, pos: QPoint) -> None:
        menu = self.build_menu()
        if menu is not None:
            menu.exec(self.view.viewport().mapToGlobal(pos))

    def build_menu(self) -> QMenu | None:
        """The selection's context menu (exposed so tests can inspect it without exec)."""
        entities = self.selected_entities()
        if not entities or self.menu_builder is None:
            return None
        menu = QMenu(self)
        self.menu_builder(menu, self, entities)
        return menu
