"""Builds the free-text index in the background after an import, and says so in the status bar.

The index is deferred (see viewer.core.derived): the case is usable at once and search stays
exact while it builds, only slower. Starting an import cancels the build (both write the case);
the window restarts it when the import is done.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from PySide6.QtWidgets import QLabel, QWidget

from viewer.core import derived
from viewer.core.case_file import CaseFile
from viewer.core.jobs import Job, JobContext, Progress
from viewer.core.write_space import DeferredSpaceError
from viewer.gui.jobs_qt import JobHandle, start_job

_WORKING_TIP = "Search works meanwhile; events not yet indexed are checked directly"


def _build_if_needed(case: CaseFile, ctx: JobContext) -> DeferredSpaceError | None:
    if derived.pending(case.cursor()):
        try:
            derived.update_deferred(case, ctx)
        except DeferredSpaceError as exc:  # a full disk: said in the status bar, not raised
            return exc
    return None


#: How long closing a case waits for a cancelled build to stop (a machine too busy can take longer).
STOP_WAIT_MS = 30_000


class SearchIndexer(QObject):
    #: The build found no room on the disk (the message says what became of it); the window
    #: opens the case again when DuckDB gave up its database over it.
    noRoom = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.label = QLabel(parent)
        self.label.setToolTip(_WORKING_TIP)
        self.label.hide()
        self._handle: JobHandle | None = None
        self._no_room: str | None = None  # what the last build said when it found no room
        self._then: CaseFile | None = None  # the case to build for once a cancelled build stopped
        # A thread of its own: a build of minutes (10M events) took one of the global pool's two
        # threads, and a long scan on the other (the timeline of a free-text filter while the
        # index builds) then left the table's first page waiting for either (over 60 s at 10M).
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, case: CaseFile | None) -> None:
        """Build what the index lacks for `case`; while a cancelled build still stops, once it has."""
        if case is not None and self._handle is not None and self._handle.token.cancelled:
            self._then = case
            return
        self._then = None
        if case is None or case.read_only or self._handle is not None:
            return
        self._no_room = None
        self.label.setToolTip(_WORKING_TIP)
        self.label.hide()
        job = Job("Indexing for search", lambda ctx: _build_if_needed(case, ctx))
        self._handle = start_job(job, self, self.pool)
        self._handle.progress.connect(self._on_progress)
        self._handle.finished.connect(self._on_built)
        self._handle.done.connect(self._on_done)

    def cancel(self) -> None:
        self._then = None
        if self._handle is not None:
            self._handle.cancel()

    def cancel_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Cancel and wait for the build to roll back (before the case's connection closes);
        False when it still runs after `timeout_ms` (default STOP_WAIT_MS)."""
        self.cancel()
        return self.pool.waitForDone(STOP_WAIT_MS if timeout_ms is None else timeout_ms)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        self.label.setText(f"{p.phase or 'indexing'}…")
        self.label.show()

    @Slot(object)
    def _on_built(self, no_room: object) -> None:
        if isinstance(no_room, DeferredSpaceError):
            self._no_room = str(no_room)
            lacking = "disk full" if no_room.disk else "out of memory"
            self.label.setText(f"<span style='color:#C62828'>⚠ search index: {lacking}</span>")
            self.label.setToolTip(html.escape(str(no_room)))

    @Slot()
    def _on_done(self) -> None:
        self._handle = None  # first: the window may open the case again on noRoom
        then, self._then = self._then, None
        if self._no_room is not None:
            self.label.show()
            self.noRoom.emit(self._no_room)
            return
        self.label.hide()
        if then is not None:
            self.start(then)
