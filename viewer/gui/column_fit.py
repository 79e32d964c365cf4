"""Column widths fitted to the rows on screen, never to rows beyond them.

`QTableView.sizeHintForColumn` (and `resizeColumnsToContents`, which calls it) sizes the rows on
screen and then up to 1,000 more (the header's `resizeContentsPrecision`), each cell through the
Python model's `data()` for every role the delegate reads: fitting the event table's columns
blocked the main thread 350-400 ms when a 1M-event case opened. Setting the precision to 0 is no
cure: a hidden view, or one with fewer rows than its height, then sizes every row.
"""

from __future__ import annotations

from PySide6.QtWidgets import QTableView

#: At most this many rows are sized, however tall the view.
MAX_ROWS = 200


def content_width(view: QTableView, column: int) -> int:
    """The widest cell of `column` among the rows on screen, as the view's delegate sizes it
    (text, icon and margins, plus the grid line), 0 without rows."""
    model = view.model()
    rows = model.rowCount() if model is not None else 0
    if rows == 0:
        return 0
    top = max(view.rowAt(0), 0)
    bottom = view.rowAt(view.viewport().height() - 1)
    if bottom < 0:  # fewer rows than the view is tall, or not laid out yet
        bottom = rows - 1
    bottom = min(bottom, top + MAX_ROWS - 1)
    grid = 1 if view.showGrid() else 0
    return max(
        view.sizeHintForIndex(model.index(row, column)).width() + grid for row in range(top, bottom + 1)
    )


def fit_columns(view: QTableView, max_width: int) -> None:
    """Each column as wide as its title or its widest cell on screen, at most `max_width`."""
    model = view.model()
    header = view.horizontalHeader()
    for column in range(model.columnCount() if model is not None else 0):
        width = max(header.sectionSizeHint(column), content_width(view, column))
        view.setColumnWidth(column, min(width, max_width))
