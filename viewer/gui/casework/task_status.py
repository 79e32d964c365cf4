"""Long case work in the background, shown in the status bar with a busy bar and Cancel.

Verify, report, export and bundle opening run through `start_job`; the window stays usable (no
modal dialog over the timeline). When the job ends the widget hides and `done` carries the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from viewer.core.jobs import Job, JobContext
from viewer.gui.jobs_qt import JobHandle, start_job


class TaskStatus(QWidget):
    """One background task at a time per kind; shows what runs and lets the user cancel it."""

    finished = Signal(str, object)  # task name, result
    failed = Signal(str, str)  # task name, message
    cancelled = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("", self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # DuckDB's COPY and hashing report no fraction: an honest busy bar
        self.bar.setMaximumWidth(120)
        self.bar.setMaximumHeight(14)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self.handles: dict[str, JobHandle] = {}
        self.hide()

    def running(self, name: str) -> bool:
        return name in self.handles

    def start(self, name: str, text: str, work: Callable[[JobContext], Any]) -> JobHandle | None:
        """Run `work(ctx)` in the background unless a task of this name is already running."""
        if name in self.handles:
            return None
        handle = start_job(Job(text, work), self)
        self.handles[name] = handle
        # The task leaves `handles` before its outcome is announced, so whoever hears it may start
        # the next task of the same kind at once (a report right after an export...).
        handle.finished.connect(lambda result: self._announce(name, self.finished.emit, result))
        handle.failed.connect(lambda message: self._announce(name, self.failed.emit, message))
        handle.cancelled.connect(lambda: self._announce(name, self.cancelled.emit))
        handle.done.connect(lambda: self._done(name))
        self._show()
        return handle

    @Slot()
    def cancel(self) -> None:
        for handle in self.handles.values():
            handle.cancel()

    def _announce(self, name: str, emit: Callable[..., Any], *args: Any) -> None:
        self._done(name)
        emit(name, *args)

    def _done(self, name: str) -> None:
        handle = self.handles.pop(name, None)
        if handle is not None:
            handle.deleteLater()
        self._show()

    def _show(self) -> None:
        self.label.setText(" · ".join(h.job.title for h in self.handles.values()))
        self.setVisible(bool(self.handles))
