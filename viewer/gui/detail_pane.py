"""The detail of one event: normalized fields, the raw record as a tree, and its provenance.

The record is fetched in the background (`fetch_event`); selecting rows quickly only shows the
last one. Copy: Ctrl+C copies the selected value (field or raw node), the context menus offer
"Copy value" and "Copy raw JSON".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import duckdb
from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer import schema
from viewer.core.event_detail import EventDetail, fetch_event, fetch_raw, parse_raw
from viewer.core.jobs import CancelToken
from viewer.gui.event_table_model import display_value
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.value_menu import ValueContext, ValueMenus

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
EXPAND_ALL_MAX_NODES = 400  # small records open fully; big ones open one level


class DetailPane(QWidget):
    """Shows one event; `show_event` fetches it off the UI thread."""

    eventShown = Signal(object)  # EventDetail
    fetchFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._detail: EventDetail | None = None
        self._event_id: int | None = None
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_fetched)
        self._runner.failed.connect(self._on_failed)
        # The raw record alone comes back first (one column to decompress, not ~45): the tree
        # shows it while the normalized fields are still being read.
        self._raw_runner = SupersedingRunner(self)
        self._raw_runner.resultReady.connect(self._on_raw)
        self._raw_shown_for: int | None = None
        #: Features add their actions on a value (pivot on it, note the entity...).
        self.value_menus: ValueMenus | None = None
        self._build()
        self.clear()

    def _build(self) -> None:
        self.title_label = QLabel(self)
        bold = QFont(self.font())
        bold.setBold(True)
        self.title_label.setFont(bold)
        self.provenance_label = QLabel(self)
        self.provenance_label.setWordWrap(True)
        self.provenance_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.provenance_label.setStyleSheet("QLabel { color: #444; }")
        self.copy_raw_button = QPushButton("Copy raw JSON", self)
        self.copy_raw_button.clicked.connect(self.copy_raw_json)

        self.fields_table = QTableWidget(0, 2, self)
        self.fields_table.setHorizontalHeaderLabels(["Field", "Value"])
        self.fields_table.verticalHeader().setVisible(False)
        self.fields_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.fields_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.fields_table.horizontalHeader().setStretchLastSection(True)
        self.fields_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.fields_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.fields_table.setWordWrap(False)

        self.raw_tree = QTreeWidget(self)
        self.raw_tree.setHeaderLabels(["Raw record", "Value"])
        self.raw_tree.setUniformRowHeights(True)
        self.raw_tree.setAlternatingRowColors(True)
        self.raw_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.raw_tree.header().resizeSection(0, 200)

        for w in (self.fields_table, self.raw_tree):
            w.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            w.customContextMenuRequested.connect(lambda pos, w=w: self._context_menu(w, pos))
        copy = QAction("Copy value", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy.triggered.connect(self.copy_value)
        self.addAction(copy)

        head = QHBoxLayout()
        head.addWidget(self.title_label, 1)
        head.addWidget(self.copy_raw_button)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.fields_table)
        split.addWidget(self.raw_tree)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addLayout(head)
        lay.addWidget(self.provenance_label)
        lay.addWidget(split, 1)

    # -- public API ------------------------------------------------------------------------
    @property
    def detail(self) -> EventDetail | None:
        return self._detail

    def clear(self) -> None:
        self._runner.cancel()
        self._raw_runner.cancel()
        self._detail, self._event_id, self._raw_shown_for = None, None, None
        self.title_label.setText("No event selected")
        self.provenance_label.setText(
            "<span style='color:#777'>Select a row in the table to see its fields, "
            "raw record and where it came from.</span>"
        )
        self.fields_table.setRowCount(0)
        self.raw_tree.clear()
        self.copy_raw_button.setEnabled(False)

    def show_event(self, cur_factory: CursorFactory, event_id: int) -> None:
        if event_id == self._event_id and self._detail is not None:
            return
        self._event_id = event_id

        def raw_work(token: CancelToken) -> tuple[int, tuple[str, int, int] | None]:
            cur = cur_factory()
            try:
                return event_id, fetch_raw(cur, event_id)
            finally:
                cur.close()

        def work(token: CancelToken) -> tuple[int, EventDetail | None]:
            cur = cur_factory()
            try:
                return event_id, fetch_event(cur, event_id)
            finally:
                cur.close()

        self._raw_runner.submit(raw_work)
        self._runner.submit(work)

    def raw_json_text(self) -> str:
        d = self._detail
        if d is None:
            return ""
        return d.raw_text if getattr(d, "raw_text", None) else json.dumps(d.raw, indent=2, default=str)

    # -- fetched ---------------------------------------------------------------------------
    @Slot(object)
    def _on_fetched(self, result: object) -> None:
        event_id, detail = cast(tuple[int, EventDetail | None], result)
        if detail is None:
            self.clear()
            self.title_label.setText(f"Event {event_id} not found")
            return
        self._detail = detail
        self._raw_runner.cancel()
        self._fill_fields(detail)
        if self._raw_shown_for != event_id:  # refilling would close what the user opened
            self._fill_raw(detail.raw)
        self._fill_provenance(detail)
        self.copy_raw_button.setEnabled(True)
        self.eventShown.emit(detail)

    @Slot(object)
    def _on_raw(self, result: object) -> None:
        event_id, found = cast(tuple[int, tuple[str, int, int] | None], result)
        if (
            found is None
            or event_id != self._event_id
            or self._detail is not None
            and self._detail.event_id == event_id
        ):
            return
        raw_text, evidence_id, record_index = found
        self.fields_table.setRowCount(0)  # the previous event's fields must not sit beside this record
        self._fill_raw(parse_raw(raw_text)[0])
        self._raw_shown_for = event_id
        self.title_label.setText(f"Event #{event_id}")
        self.provenance_label.setText(f"<b>Evidence #{evidence_id}</b> · <b>record</b> #{record_index}")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.title_label.setText("Could not load the event")
        self.provenance_label.setText(message.splitlines()[0] if message else "")
        self.fetchFailed.emit(message)

    def refill_times(self) -> None:
        """The fields again, their times in the display zone (after the zone changed)."""
        if self._detail is not None:
            self._fill_fields(self._detail)

    def _fill_fields(self, d: EventDetail) -> None:
        rows: list[tuple[str, str, str]] = []
        known = set()
        for f in schema.NORMALIZED_FIELDS:
            known.add(f.name)
            value = d.fields.get(f.name)
            if value is not None and value != "":
                rows.append((f.title, f.name, display_value(f, value)))
        for name, value in d.fields.items():
            if name not in known and name != schema.RAW.name and value is not None:
                rows.append((name, name, str(value)))
        self.fields_table.setRowCount(len(rows))
        for r, (title, name, text) in enumerate(rows):
            key = QTableWidgetItem(title)
            key.setToolTip(name)
            key.setData(Qt.ItemDataRole.UserRole, name)
            key.setForeground(Qt.GlobalColor.darkGray)
            val = QTableWidgetItem(text)
            val.setToolTip(text if len(text) > 40 else "")
            self.fields_table.setItem(r, 0, key)
            self.fields_table.setItem(r, 1, val)
        self.title_label.setText(f"Event #{self._event_id}")

    def _fill_raw(self, raw: Any) -> None:
        self.raw_tree.clear()
        count = _add_json(self.raw_tree.invisibleRootItem(), raw)
        if count <= EXPAND_ALL_MAX_NODES:
            self.raw_tree.expandAll()
        else:
            self.raw_tree.expandToDepth(0)

    def _fill_provenance(self, d: EventDetail) -> None:
        path, rec, sha, fmt, evidence_id = _provenance(d)
        parts = []
        if path:
            # The file name only: archive and S3 paths run to hundreds of characters (tooltip has all).
            name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
            ev = f" #{evidence_id}" if evidence_id is not None else ""
            parts.append(f"<b>Evidence{ev}</b> {_esc(name)}")
        if fmt:
            parts.append(_esc(str(fmt)))
        if rec is not None:
            parts.append(f"<b>record</b> #{rec}")
        if sha:
            parts.append(f"<b>sha256</b> <tt>{_esc(str(sha)[:12])}…</tt>")
        self.provenance_label.setText(" · ".join(parts) or "<i>no provenance recorded</i>")
        self.provenance_label.setToolTip(
            "\n".join(x for x in (str(path or ""), f"sha256 {sha}" if sha else "") if x)
        )

    # -- copying ---------------------------------------------------------------------------
    def selected_value(self) -> str | None:
        focus = QApplication.focusWidget()
        if focus is self.raw_tree or (focus is not self.fields_table and self.raw_tree.currentItem()):
            node = self.raw_tree.currentItem()
            if node is not None:
                return str(node.data(0, Qt.ItemDataRole.UserRole) or node.text(1))
        row = self.fields_table.currentRow()
        cell = self.fields_table.item(row, 1) if row >= 0 else None
        if cell is not None:
            return cell.text()
        return None

    @Slot()
    def copy_value(self) -> None:
        value = self.selected_value()
        QApplication.clipboard().setText(value if value is not None else self.raw_json_text())

    @Slot()
    def copy_raw_json(self) -> None:
        QApplication.clipboard().setText(self.raw_json_text())

    def _context_menu(self, widget: QWidget, pos: QPoint) -> None:
        self.build_context_menu(widget).exec(widget.mapToGlobal(pos))

    def build_context_menu(self, widget: QWidget) -> QMenu:
        """The menu for the current value of `widget` (fields table or raw tree)."""
        menu = QMenu(self)
        menu.addAction("Copy value", self.copy_value).setEnabled(self.selected_value() is not None)
        menu.addAction("Copy raw JSON", self.copy_raw_json).setEnabled(self._detail is not None)
        if self.value_menus is not None:
            self.value_menus.fill(menu, self.value_context(widget))
        return menu

    def value_context(self, widget: QWidget) -> ValueContext:
        """The current value of the fields table or the raw tree, with its field or JSON path."""
        if widget is self.raw_tree:
            node = self.raw_tree.currentItem()
            if node is None or node.childCount():
                return ValueContext(None, None, self._event_id, "detail")
            path: list[str] = []
            item: QTreeWidgetItem | None = node
            while item is not None:
                key = item.text(0)
                path.append(key if key.startswith("[") or not path else key + ".")
                item = item.parent()
            json_path = "".join(reversed(path)).replace(".[", "[")
            return ValueContext(None, node.text(1), self._event_id, "detail", json_path=json_path)
        row = self.fields_table.currentRow()
        key_item = self.fields_table.item(row, 0) if row >= 0 else None
        cell = self.fields_table.item(row, 1) if row >= 0 else None
        name = key_item.data(Qt.ItemDataRole.UserRole) if key_item is not None else None
        return ValueContext(
            str(name) if name else None, cell.text() if cell is not None else None, self._event_id, "detail"
        )


def _provenance(d: EventDetail) -> tuple[Any, Any, Any, Any, Any]:
    """(path, record index, sha256, format, evidence id) from `d.provenance`."""
    p = getattr(d, "provenance", None)
    if p is not None:
        return p.path, p.record_index, p.sha256, p.format, p.evidence_id
    # Flat attributes, as first specified for the read core.
    return (
        getattr(d, "evidence_path", None),
        getattr(d, "record_index", None),
        getattr(d, "evidence_sha256", None),
        None,
        None,
    )


def _add_json(parent: QTreeWidgetItem, value: Any) -> int:
    """Add `value`'s children under `parent`; returns the number of nodes added."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        return 0
    n = 0
    for key, child in items:
        item = QTreeWidgetItem(parent, [str(key), _leaf_text(child)])
        copy_text = json.dumps(child, default=str) if isinstance(child, (dict, list)) else _leaf_text(child)
        item.setData(0, Qt.ItemDataRole.UserRole, copy_text)
        if isinstance(child, (dict, list)):
            item.setForeground(1, Qt.GlobalColor.gray)
        n += 1 + _add_json(item, child)
    return n


def _leaf_text(value: Any) -> str:
    if isinstance(value, dict):
        return f"{{{len(value)}}}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
