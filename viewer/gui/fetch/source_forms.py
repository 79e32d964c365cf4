"""The fetch panel's source forms: one class per source, registered with `register`.

A form is the widget for one source's request (a trail bucket, LookupEvents, CloudWatch Logs…)
plus three calls into that source's core module: `request()` reads the fields (raising
`FormError` for bad input, in the GUI thread), `estimate()` and `fetch()` run on a worker
thread. The panel knows nothing else about a source, so a new one is one class. Field values are
remembered between sessions through `fields` (a name -> widget map saved as JSON in QSettings).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import QDate, QDateTime, QSettings, Qt, QTime, QTimeZone
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from viewer.core.case_file import CaseFile
from viewer.core.fetch.acquisition import FetchReport
from viewer.core.fetch.aws_auth import AwsTarget
from viewer.core.jobs import JobContext

SOURCE_FORMS: list[type[SourceForm]] = []


def register(cls: type[SourceForm]) -> type[SourceForm]:
    """Add a form class to the source picker (at its `order`)."""
    if all(c.key != cls.key for c in SOURCE_FORMS):
        SOURCE_FORMS.append(cls)
        SOURCE_FORMS.sort(key=lambda c: c.order)
    return cls


class FormError(ValueError):
    """Bad input in a source form, said so the user can fix it."""


class SourceForm(QWidget):
    """One source's request fields and the core calls that estimate and fetch it."""

    key: ClassVar[str] = ""  # the CLI's source name, e.g. "aws-s3"
    title: ClassVar[str] = ""
    hint: ClassVar[str] = ""  # one line under the picker: what the source is and its limits
    order: ClassVar[int] = 100  # place in the picker

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, QWidget] = {}
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

    # -- what a source provides ------------------------------------------------------------
    def request(self) -> Any:
        """The core request built from the fields (GUI thread); FormError if a field is wrong."""
        raise NotImplementedError

    def estimate(self, target: AwsTarget, request: Any, cache: Path | None) -> str:
        """What the fetch would cost, in words (worker thread)."""
        raise NotImplementedError

    def fetch(
        self, case: CaseFile, target: AwsTarget, request: Any, cache: Path, ctx: JobContext
    ) -> FetchReport:
        """Run the fetch (worker thread)."""
        raise NotImplementedError

    # -- helpers for subclasses ------------------------------------------------------------
    def line(self, name: str, label: str, placeholder: str = "", tip: str = "") -> QLineEdit:
        w = QLineEdit(self)
        w.setPlaceholderText(placeholder)
        w.setToolTip(tip)
        return self._add(name, label, w)

    def check(self, name: str, label: str, checked: bool, tip: str = "") -> QCheckBox:
        w = QCheckBox(label, self)
        w.setChecked(checked)
        w.setToolTip(tip)
        self.fields[name] = w
        self.form.addRow("", w)
        return w

    def day(self, name: str, label: str, days_ago: int) -> QDateEdit:
        w = QDateEdit(QDate.currentDate().addDays(-days_ago), self)
        w.setCalendarPopup(True)
        w.setDisplayFormat("yyyy-MM-dd")
        return self._add(name, label, w)

    def moment(self, name: str, label: str, days_ago: int) -> QDateTimeEdit:
        """A UTC date and time, shown with its offset."""
        now = QDateTime.currentDateTimeUtc()
        value = QDateTime(now.date().addDays(-days_ago), QTime(0, 0), QTimeZone.utc())
        w = QDateTimeEdit(value, self)
        w.setTimeZone(QTimeZone.utc())
        w.setCalendarPopup(True)
        w.setDisplayFormat("yyyy-MM-dd HH:mm:ss '+00:00'")
        return self._add(name, label, w)

    def spin(self, name: str, label: str, lo: int, hi: int, value: int, suffix: str = "") -> QSpinBox:
        w = QSpinBox(self)
        w.setRange(lo, hi)
        w.setValue(value)
        w.setSuffix(suffix)
        return self._add(name, label, w)

    def choice(self, name: str, label: str, items: list[tuple[str, str]]) -> QComboBox:
        w = QComboBox(self)
        for text, data in items:
            w.addItem(text, data)
        return self._add(name, label, w)

    def text(self, name: str, label: str, placeholder: str = "") -> QPlainTextEdit:
        w = QPlainTextEdit(self)
        w.setPlaceholderText(placeholder)
        w.setMinimumHeight(80)
        return self._add(name, label, w)

    def _add(self, name: str, label: str, w: Any) -> Any:
        self.fields[name] = w
        self.form.addRow(label, w)
        return w

    # -- remembered values -----------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, w in self.fields.items():
            if isinstance(w, QLineEdit):
                out[name] = w.text()
            elif isinstance(w, QPlainTextEdit):
                out[name] = w.toPlainText()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, QDateTimeEdit) and not isinstance(w, QDateEdit):
                out[name] = w.dateTime().toString(Qt.DateFormat.ISODate)
            elif isinstance(w, QDateEdit):
                out[name] = w.date().toString(Qt.DateFormat.ISODate)
            elif isinstance(w, QSpinBox):
                out[name] = w.value()
            elif isinstance(w, QComboBox):
                out[name] = w.currentData()
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            w = self.fields.get(name)
            if w is None or value is None:
                continue
            if isinstance(w, QLineEdit):
                w.setText(str(value))
            elif isinstance(w, QPlainTextEdit):
                w.setPlainText(str(value))
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QDateTimeEdit) and not isinstance(w, QDateEdit):
                parsed = QDateTime.fromString(str(value), Qt.DateFormat.ISODate)
                if parsed.isValid():
                    w.setDateTime(parsed.toTimeZone(QTimeZone.utc()))
            elif isinstance(w, QDateEdit):
                day = QDate.fromString(str(value), Qt.DateFormat.ISODate)
                if day.isValid():
                    w.setDate(day)
            elif isinstance(w, QSpinBox):
                w.setValue(int(value))
            elif isinstance(w, QComboBox):
                w.setCurrentIndex(max(0, w.findData(value)))

    def save(self, settings: QSettings) -> None:
        settings.setValue(f"fetch/source/{self.key}", json.dumps(self.values()))

    def restore(self, settings: QSettings) -> None:
        raw = settings.value(f"fetch/source/{self.key}")
        if raw:
            # Settings from an older version that do not parse: keep the defaults.
            with contextlib.suppress(ValueError, TypeError):
                self.set_values(json.loads(str(raw)))


def words(text: str) -> tuple[str, ...]:
    """'a, b c' -> ('a', 'b', 'c'): lists typed into one field."""
    return tuple(w for w in text.replace(",", " ").split() if w)


def utc(w: QDateTimeEdit) -> dt.datetime:
    return dt.datetime.fromtimestamp(w.dateTime().toSecsSinceEpoch(), dt.UTC)


def py_date(w: QDateEdit) -> dt.date:
    d = w.date()
    return dt.date(d.year(), d.month(), d.day())
