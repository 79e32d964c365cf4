"""Column fitting sizes the rows on screen only: Qt's sizeHintForColumn also sized 1,000 rows
beyond them through the Python model (350-400 ms of blocked main thread at a 1M-event open)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QTableView

from viewer.gui.column_fit import content_width, fit_columns

ROWS = 10_000
LONG_ROW = 5_000  # far below the screen
_Index = QModelIndex | QPersistentModelIndex


class CountingModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows_asked: set[int] = set()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else ROWS

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else 2

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        self.rows_asked.add(index.row())
        if index.column() == 1 and index.row() == LONG_ROW:
            return "x" * 300
        return f"row {index.row()}"

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return ["first", "second"][section]
        return None


def _view(qtbot) -> tuple[QTableView, CountingModel]:  # type: ignore[no-untyped-def]
    model = CountingModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    model.rows_asked.clear()
    return view, model


def test_only_rows_on_screen_are_sized(qtbot) -> None:  # type: ignore[no-untyped-def]
    view, model = _view(qtbot)
    bottom = view.rowAt(view.viewport().height() - 1)
    assert 0 < bottom < 100
    width = content_width(view, 1)
    assert model.rows_asked and max(model.rows_asked) <= bottom
    assert width == max(view.sizeHintForIndex(model.index(r, 1)).width() for r in range(bottom + 1)) + 1
    # What Qt's own hint does, and why it is not used: it reads the rows far below the screen.
    model.rows_asked.clear()
    assert view.sizeHintForColumn(1) > width
    assert LONG_ROW in model.rows_asked or max(model.rows_asked) > bottom


def test_scrolled_view_sizes_its_screenful(qtbot) -> None:  # type: ignore[no-untyped-def]
    view, model = _view(qtbot)
    view.scrollTo(model.index(LONG_ROW, 0), QTableView.ScrollHint.PositionAtTop)
    qtbot.waitUntil(lambda: view.rowAt(0) == LONG_ROW)
    model.rows_asked.clear()
    assert content_width(view, 1) > view.fontMetrics().horizontalAdvance("x" * 300)
    assert min(model.rows_asked) == LONG_ROW and max(model.rows_asked) < LONG_ROW + 100


def test_fit_columns_caps_and_keeps_titles(qtbot) -> None:  # type: ignore[no-untyped-def]
    view, model = _view(qtbot)
    view.scrollTo(model.index(LONG_ROW, 0), QTableView.ScrollHint.PositionAtTop)
    qtbot.waitUntil(lambda: view.rowAt(0) == LONG_ROW)
    fit_columns(view, 200)
    assert view.columnWidth(1) == 200
    assert view.columnWidth(0) >= view.horizontalHeader().sectionSizeHint(0)


def test_views_without_rows_or_model_fit_nothing(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = QTableView()
    qtbot.addWidget(view)
    assert content_width(view, 0) == 0
    fit_columns(view, 200)  # no model: nothing to fit, and no error
