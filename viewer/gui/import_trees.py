"""The two trees of the import dialog: the plan (before) and the summary (after), and the progress line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from viewer.core.ingest import PlannedFile
from viewer.core.jobs import Progress

PLAN_COLUMNS = ["File", "Format", "Role", "Size", "Notes"]
SUMMARY_COLUMNS = ["File", "Format", "Role", "Seen", "Kept", "Rejected", "Duplicate", "Notes"]
_ROLE_COLOURS = {"events": "#1B5E20", "digest": "#0D47A1", "unknown": "#B71C1C", "container": "#555555"}


def mb(n: float) -> str:
    return f"{n / 1024**2:,.1f} MB"


def file_size(n: int) -> str:
    """A file's size: in KB under a megabyte (a bucket's files: "0.0 MB" said nothing)."""
    return f"{n / 1024:,.1f} KB" if n < 1024**2 else mb(n)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_text(p: Progress) -> str:
    """'files 3/10 · 120,000 records · 45.2 MB / 196.0 MB · 12,345 rec/s · ETA 0:12'."""
    parts = [p.phase or "working"]
    parts.append(f"files {p.files_done}/{p.files_total}" if p.files_total else f"files {p.files_done}")
    parts.append(f"{p.records:,} records")
    parts.append(f"{mb(p.bytes_done)} / {mb(p.bytes_total)}" if p.bytes_total else mb(p.bytes_done))
    parts.append(f"{p.rate:,.0f} rec/s")
    parts.append(f"ETA {_eta(p.eta_seconds)}")
    line = " · ".join(parts)
    return f"{line}\n⚠ {p.message}" if p.message else line


class BatchFiller:
    """Adds a tree's top-level items a batch per turn of the event loop. Building an item costs
    ~40 us, so listing a CloudTrail bucket's 20,000 files at once held the window 0.8 s (a
    150,000-file bucket: ~6 s); a batch of 500 keeps each turn near 20-40 ms. The first batch is added at
    once, so a plan of a few hundred files is complete when `fill` returns."""

    BATCH = 500

    def __init__(self, tree: QTreeWidget) -> None:
        self.tree = tree
        self._generation = 0

    def fill(self, make: Callable[[int], QTreeWidgetItem], count: int, done: Callable[[], None]) -> None:
        """Add `make(0)` ... `make(count - 1)` in order, then call `done`. A later `fill` or
        `stop` abandons the batches still to come."""
        self._generation += 1
        generation = self._generation

        def step(start: int) -> None:
            if generation != self._generation:
                return
            end = min(count, start + self.BATCH)
            self.tree.addTopLevelItems([make(i) for i in range(start, end)])
            if end < count:
                QTimer.singleShot(0, lambda: step(end))
            else:
                done()

        step(0)

    def stop(self) -> None:
        self._generation += 1


def plan_item(index: int, pf: PlannedFile, notes: list[str], known_formats: str) -> QTreeWidgetItem:
    """One planned file; its plan index rides in the first column's UserRole."""
    item = QTreeWidgetItem(
        [
            pf.source.display_path,
            pf.spec.name if pf.spec else "—",
            pf.role,
            file_size(pf.source.size),
            "; ".join(notes),
        ]
    )
    item.setForeground(2, _brush(_ROLE_COLOURS.get(pf.role, "#222")))
    item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setToolTip(0, pf.source.display_path)
    item.setData(0, Qt.ItemDataRole.UserRole, index)
    tip = [*notes, f"Known formats: {known_formats}"] if pf.role == "unknown" else notes
    item.setToolTip(4, "\n".join(tip))
    return item


def summary_item(fr: Any) -> QTreeWidgetItem:
    """One imported file with its counts; its warnings are children, one expand away."""
    c = fr.counts
    item = QTreeWidgetItem(
        [
            fr.path,
            fr.format or "—",
            fr.role,
            f"{c.seen:,}",
            f"{c.kept:,}",
            f"{c.rejected:,}",
            f"{c.duplicate:,}",
            fr.note,
        ]
    )
    for col in range(3, 7):
        item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setToolTip(0, fr.path)
    if fr.warnings:
        item.setText(7, " ".join(filter(None, [f"{len(fr.warnings)} warning(s) ▸", fr.note])))
        item.setForeground(7, _brush("#B26A00"))
        for w in fr.warnings:
            child = QTreeWidgetItem([w])
            item.addChild(child)
            child.setFirstColumnSpanned(True)
    return item


def make_tree(parent: QWidget, headers: list[str]) -> QTreeWidget:
    t = QTreeWidget(parent)
    t.setHeaderLabels(headers)
    t.setRootIsDecorated(True)
    t.setAlternatingRowColors(True)
    t.setUniformRowHeights(True)
    # Paths of one bucket share their start: the end (the file's name) tells them apart.
    t.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    h = t.header()
    h.setStretchLastSection(True)
    h.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    h.resizeSection(0, 380)
    h.resizeSection(1, 200)
    return t


def _brush(colour: str) -> QBrush:
    return QBrush(QColor(colour))
