"""Small input dialogs for annotations: tags of a selection, a note, a bookmark.

They only collect input; the `Annotator` makes the edits. Each opens with the current state (the
tags the selected events already carry, the note already written), so editing never starts blank.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from viewer.core.casework.annotation_views import EventAnnotation
from viewer.core.casework.annotations import STANDARD_TAGS, AnnotationError, normalize_tag
from viewer.gui.time_text import format_range

#: Colours of the standard tags, shared by the table decoration, markers and findings dock.
TAG_COLOURS = {
    "malicious": "#C62828",
    "suspicious": "#EF6C00",
    "IOC": "#6A1B9A",
    "benign": "#2E7D32",
    "reviewed": "#607D8B",
}
STAR_COLOUR = "#F9A825"
OTHER_TAG_COLOUR = "#1565C0"


def annotation_colour(starred: bool, tags: Iterable[str]) -> str:
    """One colour for an annotated event: the most severe standard tag, else star, else other."""
    tagset = set(tags)
    for tag in ("malicious", "IOC", "suspicious"):
        if tag in tagset:
            return TAG_COLOURS[tag]
    if starred:
        return STAR_COLOUR
    for tag in ("benign", "reviewed"):
        if tag in tagset:
            return TAG_COLOURS[tag]
    return OTHER_TAG_COLOUR


class TagDialog(QDialog):
    """Check standard tags, type free ones; partially checked = some of the events have it."""

    def __init__(
        self,
        current: dict[int, EventAnnotation],
        event_ids: Sequence[int],
        known_tags: Sequence[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Tag {len(event_ids):,} event(s)")
        self.setMinimumWidth(360)
        self._n = len(event_ids)
        self._had: dict[str, int] = {}
        for ann in current.values():
            for tag in ann.tags:
                self._had[tag] = self._had.get(tag, 0) + 1
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Tags of the {self._n:,} selected event(s):", self))
        self.boxes: dict[str, QCheckBox] = {}
        extra = sorted(t for t in self._had if t not in STANDARD_TAGS)
        for tag in (*STANDARD_TAGS, *extra):
            box = QCheckBox(tag, self)
            box.setStyleSheet(f"QCheckBox {{ color: {TAG_COLOURS.get(tag, OTHER_TAG_COLOUR)}; }}")
            have = self._had.get(tag, 0)
            if 0 < have < self._n:
                box.setTristate(True)
                box.setCheckState(Qt.CheckState.PartiallyChecked)
            else:
                box.setChecked(have == self._n and have > 0)
            self.boxes[tag] = box
            lay.addWidget(box)
        self.free = QLineEdit(self)
        self.free.setPlaceholderText("more tags, separated by spaces (e.g. exfil stage-2)")
        self.free.setCompleter(QCompleter(list(known_tags), self))
        lay.addWidget(self.free)
        self.error = QLabel("", self)
        self.error.setStyleSheet("QLabel { color: #C62828; }")
        self.error.setWordWrap(True)
        self.error.hide()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def changes(self) -> tuple[list[str], list[str]]:
        """(tags to add to every event, tags to remove from every event); raises AnnotationError."""
        add, remove = [], []
        for tag, box in self.boxes.items():
            state = box.checkState()
            had = self._had.get(tag, 0)
            if state == Qt.CheckState.Checked and had < self._n:
                add.append(tag)
            elif state == Qt.CheckState.Unchecked and had > 0:
                remove.append(tag)
        for word in self.free.text().split():
            tag = normalize_tag(word)
            if tag not in add:
                add.append(tag)
        return add, remove

    def _accept_if_valid(self) -> None:
        try:
            self.changes()
        except AnnotationError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.accept()


class NoteDialog(QDialog):
    """A note on an event or an entity; an empty note removes it."""

    def __init__(self, title: str, about: str, note: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        lay = QVBoxLayout(self)
        label = QLabel(about, self)
        label.setWordWrap(True)
        lay.addWidget(label)
        self.edit = QPlainTextEdit(self)
        self.edit.setPlainText(note or "")
        self.edit.setPlaceholderText("Write a note (empty removes it)")
        lay.addWidget(self.edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(460, 220)

    def note(self) -> str | None:
        return self.edit.toPlainText().strip() or None


class BookmarkDialog(QDialog):
    """Name (and note) a time range."""

    def __init__(self, start: dt.datetime, end: dt.datetime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Bookmark time range")
        self.start, self.end = start, end
        form = QFormLayout(self)
        form.addRow("Range:", QLabel(format_range(start, end), self))
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("e.g. initial access")
        form.addRow("Name:", self.name)
        self.note = QLineEdit(self)
        form.addRow("Note:", self.note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setEnabled(False)
        self.name.textChanged.connect(lambda t: self.ok_button.setEnabled(bool(t.strip())))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
