"""The result grid: a Qt model over a materialized query result, served in blocks by rowid."""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from viewer.core.query.runner import QueryResult, QueryRunner
from viewer.gui.time_text import format_ts

BLOCK = 500  # rows per fetch: a rowid range of a temp table, a few milliseconds
MAX_BLOCKS = 40
MAX_CELL = 400  # characters shown per cell; copy and export carry the full value

_Index = QModelIndex | QPersistentModelIndex


def cell_text(value: Any, full: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return format_ts(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    return text if full or len(text) <= MAX_CELL else text[:MAX_CELL] + "…"


def first_rows(runner: QueryRunner, result: QueryResult) -> list[dict[str, Any]]:
    """The result's first block of rows, as `ResultModel` holds them (call it in a worker)."""
    return runner.page(result, 0, BLOCK).to_pylist()


class ResultModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner: QueryRunner | None = None
        self.result: QueryResult | None = None
        self._blocks: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()

    def set_result(
        self,
        runner: QueryRunner | None,
        result: QueryResult | None,
        first_block: list[dict[str, Any]] | None = None,
    ) -> None:
        """Show `result`; `first_block`, its first BLOCK rows read in the query's worker (`first_rows`),
        spares the window that read when the result arrives."""
        self.beginResetModel()
        if self.runner is not None and self.runner is not runner:
            self.runner.close()
        self.runner, self.result = runner, result
        self._blocks.clear()
        if first_block is not None and result is not None:
            self._blocks[0] = first_block
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() or self.result is None else self.result.rows

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() or self.result is None else len(self.result.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or self.result is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.result.columns[section]
        return section + 1

    def row(self, row: int) -> dict[str, Any]:
        """The full values of one result row."""
        assert self.runner is not None and self.result is not None
        block = row // BLOCK
        if block not in self._blocks:
            table = self.runner.page(self.result, block * BLOCK, BLOCK)
            self._blocks[block] = table.to_pylist()
            while len(self._blocks) > MAX_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(block)
        return self._blocks[block][row - block * BLOCK]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.result is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = self.row(index.row())[self.result.columns[index.column()]]
            text = cell_text(value)
            return text if role == Qt.ItemDataRole.DisplayRole or len(text) > 60 else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            typ = self.result.types[index.column()]
            if typ in ("BIGINT", "INTEGER", "HUGEINT", "DOUBLE", "FLOAT", "SMALLINT", "UBIGINT", "DECIMAL"):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
