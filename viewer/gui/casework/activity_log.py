"""The activity log viewer: the case's append-only record of imports, edits, queries and exports.

A non-modal window (the timeline stays usable behind it), newest first, read in the background.
It only reads: Caseline has no code path that updates or deletes `activity_log` rows.
"""

from __future__ import annotations

import json
from typing import Any, cast

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.core.case_file import CaseFile
from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts

MAX_ROWS = 10_000
_HEADERS = ("Time", "User", "Tool", "Action", "Detail")
_Index = QModelIndex | QPersistentModelIndex


def read_activity(
    case: CaseFile, action: str | None, limit: int = MAX_ROWS
) -> tuple[list[tuple[Any, ...]], int]:
    """Newest first: (logged_at, os_user, tool_version, action, compact detail) and the total."""
    cur = case.cursor()
    where, params = ("action = ?", [action]) if action else ("true", [])
    total = cur.execute(f"SELECT count(*) FROM activity_log WHERE {where}", params).fetchall()[0][0]
    rows = cur.execute(
        f"SELECT logged_at, os_user, tool_version, action, CAST(detail AS VARCHAR) FROM activity_log "
        f"WHERE {where} ORDER BY logged_at DESC LIMIT ?",
        [*params, int(limit)],
    ).fetchall()
    return [(*r[:4], _compact(r[4])) for r in rows], int(total)


def _compact(detail: str | None) -> str:
    if not detail:
        return ""
    try:
        return json.dumps(json.loads(detail), separators=(", ", ": "), default=str)
    except ValueError:
        return detail


class ActivityModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[Any, ...]] = []

    def set_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(_HEADERS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        value = self.rows[index.row()][index.column()]
        if index.column() == 0 and value is not None:
            return format_ts(value)
        return "" if value is None else str(value)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _HEADERS[section]
        return None


class ActivityLogDialog(QDialog):
    """Non-modal viewer of one case's activity log."""

    def __init__(self, case: CaseFile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case = case
        self.setWindowTitle(f"Activity log — {case.path.name}")
        self.setModal(False)
        self.resize(1000, 520)
        self.model = ActivityModel(self)
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._show)
        self._runner.failed.connect(self._on_failed)
        self.action_combo = QComboBox(self)
        self.action_combo.addItem("all actions", None)
        for action in self._actions():
            self.action_combo.addItem(action, action)
        self.action_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        refresh = QPushButton("Refresh", self)
        refresh.clicked.connect(self.refresh)
        self.summary = QLabel("", self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:", self))
        top.addWidget(self.action_combo)
        top.addWidget(refresh)
        top.addWidget(self.summary, 1)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((220, 90, 70, 130)):
            self.view.setColumnWidth(col, width)
        note = QLabel(
            "Append-only: every import, annotation change, query run, verification and export is "
            "recorded here with time, OS user and tool version. Caseline never edits or deletes these rows"
            + (" (this read-only session adds none)." if case.read_only else "."),
            self,
        )
        note.setWordWrap(True)
        note.setStyleSheet("QLabel { color: #555; }")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(note)
        self.refresh()

    def _actions(self) -> list[str]:
        rows = self.case.cursor().execute("SELECT DISTINCT action FROM activity_log ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]

    def refresh(self) -> None:
        case, action = self.case, self.action_combo.currentData()

        def work(_token: CancelToken) -> tuple[list[tuple[Any, ...]], int]:
            return read_activity(case, action)

        self.summary.setText("reading…")
        self._runner.submit(work)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.summary.setText(f"Could not read the log: {message.splitlines()[0]}")

    @Slot(object)
    def _show(self, result: object) -> None:
        rows, total = cast(tuple[list[tuple[Any, ...]], int], result)
        self.model.set_rows(rows)
        shown = f"{len(rows):,} newest of {total:,}" if total > len(rows) else f"{total:,}"
        self.summary.setText(f"{shown} entries")

    def closeEvent(self, event: Any) -> None:  # Qt override
        self._runner.cancel()
        super().closeEvent(event)
