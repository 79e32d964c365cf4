""" "Map fields…": turn an unknown CSV / JSON file into a saved custom format.

The first records are shown as a table with, in front, the event time as it will be stored
(UTC). The user picks the time field and how it is written (the preview and the count of sample
rows that parse update as they choose), which fields become the principal, IP, action, target and
the other normalized columns, then names the format and saves it. Reading the sample and parsing
the preview times run in the background (SupersedingRunner): typing a zone never freezes the UI.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core.custom_formats import (
    Sample,
    TimePreview,
    draft_format,
    preview_times,
    read_sample,
    suggest_columns,
    suggest_time_field,
)
from viewer.formats import custom_store
from viewer.formats.custom import MAPPABLE_COLUMNS
from viewer.formats.timeparse import FORMAT_TITLES, TimeFormat, TimeSpec, guess
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.schema import field as schema_field

#: The roles almost every log has, asked first; the rest are under "More columns".
KEY_COLUMNS = (
    "principal_id",
    "principal_name",
    "src_ip",
    "action",
    "target_id",
    "outcome",
    "service",
    "cloud_account",
    "region",
    "event_uid",
)
_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "+02:00",
)
_NONE = "—"
_ERROR = "color:#C62828"


@dataclass(frozen=True)
class _Loaded:
    sample: Sample
    time_field: str | None
    time_format: TimeFormat | None
    columns: dict[str, str]


def _read_with_suggestions(path: str) -> _Loaded:
    """Runs on a worker: reading and guessing both touch the disk and DuckDB."""
    sample = read_sample(path)
    time_field = suggest_time_field(sample)
    spec = guess(sample.values(time_field)) if time_field else None
    return _Loaded(sample, time_field, spec.format if spec else None, suggest_columns(sample, time_field))


def _name_from(path: str) -> str:
    """A starting name from the file name: 'VPN Export-2024.csv.gz' -> 'vpn_export'."""
    stem = re.split(r"[.]", re.split(r"[\\/]", path)[-1])[0].lower()
    stem = re.sub(r"[^a-z0-9]+", "_", re.sub(r"[-_ ]?\d[\d_-]*$", "", stem)).strip("_")
    return stem[:40] or "my_format"


def _local_zone() -> str:
    name = getattr(dt.datetime.now().astimezone().tzinfo, "key", None)
    return name if isinstance(name, str) else "UTC"


def _utc_text(t: Any) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " +00:00" if t else ""


class FieldMappingDialog(QDialog):
    """Define a custom format from a sample of `path`. Modal to the import dialog, never blocking."""

    sampleReady = Signal(object)  # Sample (tests wait on it)
    previewReady = Signal(object)  # TimePreview
    formatSaved = Signal(str)  # spec name, custom:NAME
    importRequested = Signal(str)  # spec name: saved, and the user wants the import to go on

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Map fields — define a custom format")
        self.resize(1000, 680)
        self._path = path
        self._sample: Sample | None = None
        self._confirm_overwrite = False
        self._loader = SupersedingRunner(self)
        self._loader.resultReady.connect(self._show_sample)
        self._loader.failed.connect(self._sample_failed)
        self._previewer = SupersedingRunner(self)
        self._previewer.resultReady.connect(self._show_preview)
        self._previewer.failed.connect(self._preview_failed)
        self._build()
        self._set_enabled(False)
        self._loader.submit(lambda _token: _read_with_suggestions(path))

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.source_label = QLabel(f"Reading the first records of {self._path}…", self)
        self.source_label.setWordWrap(True)
        self.table = QTableWidget(self)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)

        self.time_field = QComboBox(self)
        self.time_format = QComboBox(self)
        for fmt in TimeFormat:
            self.time_format.addItem(FORMAT_TITLES[fmt], fmt.value)  # Qt stores a plain str
        for combo in (self.time_field, self.time_format):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(24)
        self.zone = QComboBox(self)
        self.zone.setEditable(True)
        for z in dict.fromkeys((*_ZONES, _local_zone())):
            self.zone.addItem(z)
        self.pattern = QLineEdit(self)
        self.pattern.setPlaceholderText("%d %b %Y %H:%M:%S")
        self.preview_label = QLabel(self)
        self.preview_label.setWordWrap(True)
        time_box = QGroupBox("Event time", self)
        form = QFormLayout(time_box)
        form.addRow("&Time field:", self.time_field)
        form.addRow("&Written as:", self.time_format)
        form.addRow("&Zone (values without offset):", self.zone)
        form.addRow("&Pattern:", self.pattern)
        form.addRow(self.preview_label)
        self.time_field.currentIndexChanged.connect(self._time_changed)
        self.time_format.currentIndexChanged.connect(self._time_changed)
        self.zone.currentTextChanged.connect(self._time_changed)
        self.pattern.textChanged.connect(self._time_changed)

        self.column_combos: dict[str, QComboBox] = {}
        roles = QWidget(self)
        roles_form = QFormLayout(roles)
        roles_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for col in (*KEY_COLUMNS, *[c for c in MAPPABLE_COLUMNS if c not in KEY_COLUMNS]):
            if col == KEY_COLUMNS[0]:
                roles_form.addRow(QLabel("<b>Main columns</b>", roles))
            elif col not in KEY_COLUMNS and not any(c not in KEY_COLUMNS for c in self.column_combos):
                roles_form.addRow(QLabel("<b>More columns</b>", roles))
            combo = QComboBox(roles)
            combo.setObjectName(f"column_{col}")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
            combo.currentIndexChanged.connect(self._label_columns)
            self.column_combos[col] = combo
            roles_form.addRow(schema_field(col).title + ":", combo)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(roles)
        columns_box = QGroupBox("Columns: which field fills each column", self)
        QVBoxLayout(columns_box).addWidget(scroll)

        bottom = QWidget(self)
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(time_box, 5)
        row.addWidget(columns_box, 4)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(bottom)
        split.setSizes([300, 340])

        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("e.g. acme_vpn (lower-case letters, digits, _ or -)")
        self.title_edit = QLineEdit(self)
        self.title_edit.setPlaceholderText("e.g. ACME VPN session export")
        self.name_edit.textChanged.connect(self._name_changed)
        names = QFormLayout()
        names.addRow("&Name:", self.name_edit)
        names.addRow("T&itle:", self.title_edit)
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)

        self.buttons = QDialogButtonBox(self)
        self.save_import_button = self.buttons.addButton(
            "Save and &import", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.save_button = self.buttons.addButton("&Save format", QDialogButtonBox.ButtonRole.ApplyRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.save_import_button.setToolTip("Save the format and import with it (Ctrl+Return)")
        self.save_button.setToolTip("Save the format for later (Ctrl+S)")
        self.save_import_button.clicked.connect(lambda: self.save(then_import=True))
        self.save_button.clicked.connect(lambda: self.save(then_import=False))
        self.buttons.rejected.connect(self.reject)
        QShortcut(QKeySequence.StandardKey.Save, self).activated.connect(lambda: self.save(then_import=False))
        QShortcut(QKeySequence("Ctrl+Return"), self).activated.connect(lambda: self.save(then_import=True))

        lay = QVBoxLayout(self)
        lay.addWidget(self.source_label)
        lay.addWidget(split, 1)
        lay.addLayout(names)
        lay.addWidget(self.message_label)
        lay.addWidget(self.buttons)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.time_field, self.time_format, self.zone, self.name_edit, self.title_edit):
            w.setEnabled(on)
        for combo in self.column_combos.values():
            combo.setEnabled(on)
        self.save_button.setEnabled(on)
        self.save_import_button.setEnabled(on)
        self.pattern.setEnabled(on and self.time_format.currentData() == TimeFormat.STRPTIME.value)

    # -- the sample ------------------------------------------------------------------------
    @property
    def sample(self) -> Sample | None:
        return self._sample

    @Slot(object)
    def _show_sample(self, loaded: object) -> None:
        assert isinstance(loaded, _Loaded)
        sample = loaded.sample
        self._sample = sample
        where = f", records at {sample.records_path}" if sample.records_path not in (None, "$") else ""
        self.source_label.setText(
            f"<b>{sample.path}</b> — {sample.shape.value.upper()}{where}, first {len(sample.rows)} "
            f"record(s), {len(sample.fields)} field(s). Pick the time field, then the columns."
        )
        if not sample.rows:
            self.source_label.setText(
                f"<span style='{_ERROR}'>No complete record in the first 64 KB of {sample.path}: "
                "nothing to map.</span>"
            )
            return
        self._fill_table(sample)
        choices = [_NONE, *sample.fields]
        for combo in self.column_combos.values():
            combo.addItems(choices)
        self.time_field.addItems(sample.fields)
        if loaded.time_field:
            self.time_field.setCurrentText(loaded.time_field)
        if loaded.time_format is not None:
            self.time_format.setCurrentIndex(self.time_format.findData(loaded.time_format.value))
        for col, name in loaded.columns.items():
            if col in self.column_combos:
                self.column_combos[col].setCurrentText(name)
        self._set_enabled(True)
        self._time_changed()
        self.name_edit.setText(_name_from(sample.path))
        self.name_edit.selectAll()
        self.name_edit.setFocus()
        self.sampleReady.emit(sample)

    def _fill_table(self, sample: Sample) -> None:
        self.table.setColumnCount(len(sample.fields) + 1)
        self.table.setRowCount(len(sample.rows))
        self._label_columns()
        for r, row in enumerate(sample.rows):
            for c, name in enumerate(sample.fields, start=1):
                value = row.get(name)
                item = QTableWidgetItem("" if value is None else value[:200])
                item.setToolTip(value or "")
                self.table.setItem(r, c, item)
        self._fit_columns()

    @Slot()
    def _label_columns(self, *_args: object) -> None:
        """Headers say what each field becomes: 'Client IP → Source IP'."""
        if self._sample is None:
            return
        roles: dict[str, list[str]] = {}
        for col, name in self.columns().items():
            roles.setdefault(name, []).append(schema_field(col).title)
        time_field = self.time_field.currentText()
        labels = ["Time stored (UTC)"]
        for name in self._sample.fields:
            became = (["Time"] if name == time_field else []) + roles.get(name, [])
            labels.append(f"{name}\n→ {', '.join(became)}" if became else name)
        self.table.setHorizontalHeaderLabels(labels)
        self._fit_columns()

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        for c in range(self.table.columnCount()):
            self.table.setColumnWidth(c, min(self.table.columnWidth(c), 260))

    @Slot(str)
    def _sample_failed(self, message: str) -> None:
        self.source_label.setText(f"<span style='{_ERROR}'>⚠ {message.splitlines()[0]}</span>")

    # -- the time preview ------------------------------------------------------------------
    def time_spec(self) -> TimeSpec:
        fmt = TimeFormat(self.time_format.currentData())
        pattern = self.pattern.text().strip() or None
        return TimeSpec(fmt, self.zone.currentText().strip() or "UTC", pattern)

    @Slot()
    def _time_changed(self, *_args: object) -> None:
        sample = self._sample
        if sample is None or not self.time_field.currentText():
            return
        self._label_columns()
        spec = self.time_spec()
        self.pattern.setEnabled(spec.format is TimeFormat.STRPTIME)
        self.zone.setEnabled(spec.uses_zone)
        field = self.time_field.currentText()
        self.preview_label.setText("parsing…")
        self._previewer.submit(lambda _token: preview_times(sample, field, spec))

    @Slot(object)
    def _show_preview(self, preview: object) -> None:
        assert isinstance(preview, TimePreview)
        for r, t in enumerate(preview.times):
            item = QTableWidgetItem(_utc_text(t) or "✗ no time")
            if t is None:
                item.setForeground(Qt.GlobalColor.red)
            self.table.setItem(r, 0, item)
        self._fit_columns()
        colour = (
            "#1B5E20" if preview.parsed == len(preview.times) else "#B26A00" if preview.parsed else "#C62828"
        )
        first = next((t for t in preview.times if t is not None), None)
        tail = f" — first: {_utc_text(first)}" if first else " — rows without a time are rejected at import"
        self.preview_label.setText(f"<span style='color:{colour}'><b>{preview.summary}</b>{tail}</span>")
        self.previewReady.emit(preview)

    @Slot(str)
    def _preview_failed(self, message: str) -> None:
        self.preview_label.setText(f"<span style='{_ERROR}'>⚠ {message.splitlines()[0]}</span>")

    # -- saving ----------------------------------------------------------------------------
    def columns(self) -> dict[str, str]:
        return {c: combo.currentText() for c, combo in self.column_combos.items() if combo.currentIndex() > 0}

    @Slot()
    def _name_changed(self, *_args: object) -> None:
        self._confirm_overwrite = False
        self.message_label.clear()

    def save(self, then_import: bool) -> bool:
        """Validate and write the format; problems are shown inline (no blocking message box)."""
        if self._sample is None or not self._sample.rows:
            return False
        name = self.name_edit.text().strip()
        try:
            fmt = draft_format(
                self._sample,
                name,
                self.time_field.currentText(),
                self.time_spec(),
                self.columns(),
                self.title_edit.text().strip(),
            )
        except ValueError as exc:
            self._message(str(exc), error=True)
            return False
        exists = custom_store.path_of(name).exists()
        if exists and not self._confirm_overwrite:
            self._confirm_overwrite = True
            self._message(f"A custom format named {name!r} exists already: save again to replace it.", True)
            return False
        try:
            path = custom_store.save(fmt, overwrite=exists)
        except OSError as exc:
            self._message(f"Could not save: {exc}", error=True)
            return False
        self._message(f"Saved as {fmt.spec_name} in {path}")
        self.formatSaved.emit(fmt.spec_name)
        if then_import:
            self.importRequested.emit(fmt.spec_name)
            self.accept()
        return True

    def _message(self, text: str, error: bool = False) -> None:
        self.message_label.setText(f"<span style='{_ERROR}'>⚠ {text}</span>" if error else text)

    def done(self, result: int) -> None:  # Qt override: drop in-flight work with the window
        self._loader.cancel()
        self._previewer.cancel()
        super().done(result)
