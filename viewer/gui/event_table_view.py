"""The event table view: sensible column widths, time-only sorting and the column chooser.

The column chooser is the header's context menu; it lists every schema field (not the raw
record), so a new normalized field shows up here without GUI changes.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QApplication, QHeaderView, QMenu, QTableView, QWidget

from viewer import schema
from viewer.gui.column_fit import content_width
from viewer.gui.event_table_model import TIME_FIELD, EventTableModel, chooseable_fields
from viewer.gui.value_menu import ValueContext, ValueMenus

#: Width of a column in average characters, by kind; strings get a middle width.
_CHARS_BY_KIND = {
    schema.Kind.TIMESTAMP: 31,
    schema.Kind.IP: 17,
    schema.Kind.INT: 10,
    schema.Kind.BOOL: 8,
}
_CHARS_DEFAULT = 18
_MAX_CHARS = 40  # content-fitted columns stop here; the text elides and the tooltip has it all


class EventTableView(QTableView):
    """A QTableView tuned for the paged `EventTableModel`."""

    eventActivated = Signal(object)  # event_id (a 64-bit int) of the current row, when known

    def __init__(self, model: EventTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Event table")  # names it where its keys are listed (Help › Keyboard shortcuts)
        self._model = model
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Extended: exports and annotations act on a selection of rows (shift/ctrl-click).
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        vh = self.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        hh = self.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setStretchLastSection(True)
        hh.setSectionsMovable(False)
        hh.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        hh.customContextMenuRequested.connect(self._header_menu)
        hh.setSortIndicatorShown(True)
        hh.sectionClicked.connect(self._header_clicked)
        self._widths: dict[str, int] = {}  # by field name, kept across model resets
        self._restoring = False
        self._needs_fit = True
        hh.sectionResized.connect(self._section_resized)
        model.modelRefreshed.connect(self._after_reset)
        model.pageLoaded.connect(self._page_loaded)
        self._copy = QAction("Copy row", self)
        self._copy.setShortcut(QKeySequence.StandardKey.Copy)
        self._copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self._copy.triggered.connect(self.copy_current_row)
        self.addAction(self._copy)
        #: Features add their actions on a cell (pivot on this value, tag the event...).
        self.value_menus: ValueMenus | None = None
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._cell_menu)
        self._after_reset()

    # -- columns ---------------------------------------------------------------------------
    def column_menu(self) -> QMenu:
        """The chooser: one checkable action per field (exposed for tests and the View menu)."""
        menu = QMenu("Columns", self)
        self.fill_column_menu(menu)
        return menu

    def fill_column_menu(self, menu: QMenu) -> None:
        menu.clear()
        shown = set(self._model.columns)
        for f in chooseable_fields():
            act = menu.addAction(f.title)
            act.setCheckable(True)
            act.setChecked(f.name in shown)
            act.setData(f.name)
            act.setToolTip(f.name)
            # The time column anchors sorting and paging: it cannot be hidden.
            act.setEnabled(f is not TIME_FIELD)
            act.toggled.connect(lambda on, name=f.name: self.toggle_column(name, on))
        menu.addSeparator()
        menu.addAction("Reset to default columns", self.reset_columns)

    def toggle_column(self, name: str, on: bool) -> None:
        cols = list(self._model.columns)
        if on and name not in cols:
            order = [f.name for f in chooseable_fields()]
            cols.append(name)
            cols.sort(key=order.index)
        elif not on and name in cols and len(cols) > 1:
            cols.remove(name)
        else:
            return
        self._model.set_columns(cols)

    def reset_columns(self) -> None:
        self._model.set_columns([f.name for f in schema.default_columns()])

    @Slot(QPoint)
    def _header_menu(self, pos: QPoint) -> None:
        self.column_menu().exec(self.horizontalHeader().mapToGlobal(pos))

    @Slot()
    def _after_reset(self) -> None:
        """A model reset re-creates the header sections: restore widths, re-fit new columns."""
        char = self.fontMetrics().horizontalAdvance("0")
        hh = self.horizontalHeader()
        self._restoring = True
        for col in range(self._model.columnCount()):
            f = self._model.field_at(col)
            width = self._widths.get(f.name)
            if width is None:
                self._needs_fit = True
                chars = _CHARS_BY_KIND.get(f.kind, _CHARS_DEFAULT)
                width = max(chars * char + 12, hh.fontMetrics().horizontalAdvance(f.title) + 28)
            hh.resizeSection(col, width)
        self._restoring = False
        self._sync_sort_indicator()
        # A new query's rows start at the top: the old scroll offset means nothing in them (it
        # left a filtered view hundreds of rows down, its first rows out of sight).
        self.scrollToTop()

    def _sync_sort_indicator(self) -> None:
        hh = self.horizontalHeader()
        tcol = self._model.column_of(TIME_FIELD.name)
        hh.blockSignals(True)
        if tcol >= 0:
            order = Qt.SortOrder.DescendingOrder if self._model.descending else Qt.SortOrder.AscendingOrder
            hh.setSortIndicator(tcol, order)
        else:
            hh.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        hh.blockSignals(False)

    @Slot(int, int, int)
    def _section_resized(self, col: int, _old: int, new: int) -> None:
        if not self._restoring and 0 <= col < self._model.columnCount():
            self._widths[self._model.field_at(col).name] = new

    @Slot(int)
    def _header_clicked(self, section: int) -> None:
        if self._model.field_at(section) is TIME_FIELD:
            self._model.set_descending(not self._model.descending)
        self._sync_sort_indicator()  # other columns do not sort: put the indicator back

    # -- navigation ------------------------------------------------------------------------
    def select_row(self, row: int) -> None:
        if 0 <= row < self._model.rowCount():
            idx = self._model.index(row, 0)
            self.setCurrentIndex(idx)
            self.scrollTo(idx)

    def step(self, delta: int) -> None:
        """Move the current row by `delta` (j/k)."""
        cur = self.currentIndex()
        row = cur.row() + delta if cur.isValid() else 0
        self.select_row(max(0, min(row, self._model.rowCount() - 1)))

    def currentChanged(self, current, previous) -> None:  # type: ignore[no-untyped-def]  # Qt override
        super().currentChanged(current, previous)
        if current.isValid():
            event_id = self._model.event_id_at(current.row())
            if event_id is not None:
                self.eventActivated.emit(event_id)

    def _fit_columns_to_content(self) -> None:
        """Size columns never sized before to the rows on screen, within sane bounds."""
        hh = self.horizontalHeader()
        char = self.fontMetrics().horizontalAdvance("0")
        for col in range(self._model.columnCount()):
            f = self._model.field_at(col)
            if f.name in self._widths:
                continue
            title = hh.fontMetrics().horizontalAdvance(f.title) + 28
            content = content_width(self, col) + 8
            hh.resizeSection(col, max(title, min(content, _MAX_CHARS * char)))

    @Slot(int)
    def _page_loaded(self, page: int) -> None:
        if self._needs_fit:
            self._needs_fit = False
            self._fit_columns_to_content()
        # The current row was reached (j/k, End) before its page arrived: report it now.
        cur = self.currentIndex()
        if cur.isValid() and cur.row() // self._model.PAGE_SIZE == page:
            event_id = self._model.event_id_at(cur.row())
            if event_id is not None:
                self.eventActivated.emit(event_id)

    def copy_current_row(self) -> None:
        cur = self.currentIndex()
        if not cur.isValid():
            return
        cells = [str(self._model.index(cur.row(), c).data() or "") for c in range(self._model.columnCount())]
        QApplication.clipboard().setText("\t".join(cells))

    def selected_event_ids(self) -> list[int]:
        """Event ids of the selected rows whose pages are loaded, in row order. Read from the
        selection's row ranges: `selectedRows()` asks the model for the flags of every selected
        cell (70-130 ms for 200 rows on a busy 2-core machine), too slow for a key press."""
        rows: set[int] = set()
        selection = self.selectionModel().selection()
        for i in range(selection.count()):
            rng = selection.at(i)
            rows.update(range(rng.top(), rng.bottom() + 1))
        ids = [self._model.event_id_at(r) for r in sorted(rows)]
        return [i for i in ids if i is not None]

    def value_context(self, row: int, column: int) -> ValueContext:
        """What a context menu on this cell acts on."""
        f = self._model.field_at(column)
        text = self._model.index(row, column).data() if self._model.is_row_loaded(row) else None
        return ValueContext(
            field=f.name,
            value=str(text) if text not in (None, "") else None,
            event_id=self._model.event_id_at(row),
            origin="table",
        )

    @Slot(QPoint)
    def _cell_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        menu = self.build_cell_menu(index.row(), index.column())
        menu.exec(self.viewport().mapToGlobal(pos))

    def build_cell_menu(self, row: int, column: int) -> QMenu:
        """The cell's context menu (exposed so tests can inspect it without exec)."""
        ctx = self.value_context(row, column)
        menu = QMenu(self)
        copy_value = menu.addAction("Copy value")
        copy_value.setEnabled(ctx.value is not None)
        copy_value.triggered.connect(lambda: QApplication.clipboard().setText(ctx.value or ""))
        menu.addAction(self._copy)
        if self.value_menus is not None:
            self.value_menus.fill(menu, ctx)
        return menu
