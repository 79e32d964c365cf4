"""The filter bar: the filter text, its parse errors, the visible event count and the time range.

Enter applies the text. A text that does not parse is never applied: the error is shown inline
(red, with a caret under the position) and the table keeps showing the last good filter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QToolButton, QVBoxLayout, QWidget

from viewer.core.event_query import EventFilter, FilterError, parse_filter
from viewer.gui.event_table_model import RowsSoFar
from viewer.gui.time_text import format_range

_MAX_ERROR_CHARS = 160
_ERROR_STYLE = "QLineEdit { border: 1px solid #C62828; background: #FFF5F5; }"


class FilterBar(QWidget):
    """Owns the current `EventFilter` (text + time range + field pins) and announces changes."""

    filterChanged = Signal(object)  # EventFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._filter = EventFilter()
        self._error_plain = ""
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(
            "Filter events — e.g. action:ConsoleLogin outcome:failure  (Enter applies, / focuses)"
        )
        self.edit.setClearButtonEnabled(True)
        self.edit.returnPressed.connect(self.apply_text)
        self.edit.textEdited.connect(self._on_edited)
        self.count_label = QLabel("", self)
        self.count_label.setMinimumWidth(110)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.range_label = QLabel("", self)
        self.range_label.setStyleSheet(
            "QLabel { background: #FFF3C4; border: 1px solid #E0B000; border-radius: 3px; padding: 1px 6px; }"
        )
        self.range_clear = QToolButton(self)
        self.range_clear.setText("✕")
        self.range_clear.setToolTip("Clear the time range")
        self.range_clear.setAutoRaise(True)
        self.range_clear.clicked.connect(self.clear_time_range)
        self.error_label = QLabel("", self)
        self.error_label.setStyleSheet("QLabel { color: #C62828; }")
        self.error_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.range_label)
        row.addWidget(self.range_clear)
        row.addWidget(self.count_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 2)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.error_label)
        self.show_range()
        self.error_label.hide()

    # -- state -----------------------------------------------------------------------------
    @property
    def event_filter(self) -> EventFilter:
        return self._filter

    @property
    def error_text(self) -> str:
        """The parse error as plain text ('' when the text is fine)."""
        return self._error_plain

    def has_error(self) -> bool:
        return bool(self._error_plain)

    def set_count(self, n: int | RowsSoFar | None) -> None:
        """Show the number of events the table holds: "counting…" before anything is known, and
        "≥ N so far" while a free-text search is still looking (its rows are already shown)."""
        if n is None:
            self.count_label.setText("counting…")
            self.count_label.setToolTip("")
        elif isinstance(n, RowsSoFar):
            self.count_label.setText(f"≥ {n.n:,} so far…")
            self.count_label.setToolTip(
                f"Still searching: {n.fraction:.0%} of the candidate blocks checked. The rows shown "
                "are final; more are appended as they are found."
            )
        else:
            self.count_label.setText(f"{n:,} event{'s' if n != 1 else ''}")
            self.count_label.setToolTip("")

    def reset(self) -> None:
        """Back to no filter (a new case was opened); emits nothing."""
        self._filter = EventFilter()
        self.edit.clear()
        self._set_error(None)
        self.show_range()

    # -- changes ---------------------------------------------------------------------------
    @Slot()
    def apply_text(self) -> None:
        text = self.edit.text().strip()
        if text:
            try:
                parse_filter(text)
            except FilterError as exc:
                self._set_error(exc)
                return
        self._set_error(None)
        self._emit(dataclasses.replace(self._filter, text=text))

    def set_time_range(self, start: dt.datetime, end: dt.datetime) -> None:
        self._emit(self._filter.with_time_range((start, end)))

    @Slot()
    def clear_time_range(self) -> None:
        if self._filter.time_range is not None:
            self._emit(dataclasses.replace(self._filter, time_range=None))

    def add_field(self, name: str, value: str) -> None:
        self._emit(self._filter.with_field(name, value))

    def _emit(self, filt: EventFilter) -> None:
        self._filter = filt
        self.show_range()
        self.filterChanged.emit(filt)

    def show_range(self) -> None:
        """The time range label, in the display zone (again after the zone changed)."""
        rng = self._filter.time_range
        self.range_label.setVisible(rng is not None)
        self.range_clear.setVisible(rng is not None)
        if rng is not None:
            self.range_label.setText(format_range(rng[0], rng[1]))

    @Slot(str)
    def _on_edited(self, _text: str) -> None:
        if self.has_error():
            self.edit.setStyleSheet("")  # the user is fixing it; keep the message until Enter

    def _set_error(self, exc: FilterError | None) -> None:
        if exc is None:
            self._error_plain = ""
            self.error_label.setText("")
            self.error_label.hide()
            self.edit.setStyleSheet("")
            return
        self._error_plain = getattr(exc, "message", None) or str(exc)
        short = self._error_plain
        if len(short) > _MAX_ERROR_CHARS:  # long hints (every valid field) go to the tooltip
            short = short[:_MAX_ERROR_CHARS].rsplit(" ", 1)[0] + " …"
        self.error_label.setToolTip(self._error_plain)
        message = _esc(short)
        pos = getattr(exc, "position", None)
        text = self.edit.text()
        if isinstance(pos, int) and 0 <= pos <= len(text):
            self.edit.setCursorPosition(pos)
            # The culprit underlined in its context, so the position is visible, not just counted.
            snippet = (
                _html(text[max(0, pos - 30) : pos])
                + "<u><b>"
                + _html(text[pos : pos + 1] or " ")
                + "</b></u>"
                + _html(text[pos + 1 : pos + 30])
            )
            message = f"{message}<br><tt>{snippet}</tt>"
        self.error_label.setText(f"⚠ {message}")
        self.error_label.show()
        self.edit.setStyleSheet(_ERROR_STYLE)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html(s: str) -> str:
    """Escaped, with spaces kept (the snippet lines up with what the user typed)."""
    return _esc(s).replace(" ", "&nbsp;")
