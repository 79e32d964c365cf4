"""The background work of the table's current pager, on a thread of its own.

A free-text view keeps finding rows after its first screen (`EventPager.advance`), and a filtered
view reads its rows whole for pages that need no query. `PagerWorker` runs that as a cancellable
core job and reports how many rows are final, tagged with the model's epoch so a report about an
older query is dropped. It has its own one-thread pool: a search still counting after a minute
must not hold a thread of the shared pool (two on a 2-core machine) that pages need.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
from PySide6.QtCore import QObject, QThreadPool, Signal

from viewer.core.jobs import Job, JobContext
from viewer.core.paging import EventPager
from viewer.gui.jobs_qt import JobHandle, start_job

#: Seconds of work between two reports (each may append rows to the table).
STEP_SECONDS = 0.3


class PagerWorker(QObject):
    """Runs `EventPager.advance` until the pager has no work left; one pager at a time."""

    rowsFound = Signal(int, int)  # epoch, rows final so far (the search goes on)
    finished = Signal(int, int)  # epoch, rows (exact)
    failed = Signal(int, str)  # epoch, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._handle: JobHandle | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(
        self, pager: EventPager, cur_factory: Callable[[], duckdb.DuckDBPyConnection], epoch: int
    ) -> None:
        self.stop()

        def work(ctx: JobContext) -> int:
            cur = cur_factory()  # its own cursor: pages are served on another lane meanwhile
            try:
                while not pager.advance(cur, ctx.token, seconds=STEP_SECONDS):
                    ctx.progress.records = pager.count()
                    ctx.report(force=True)
                return pager.count()
            finally:
                cur.close()

        handle = start_job(Job("Finding matches", work), self, self.pool)
        handle.progress.connect(lambda p: self.rowsFound.emit(epoch, int(p.records)))
        handle.finished.connect(lambda n: self._done(handle, epoch, int(n)))
        handle.failed.connect(lambda msg: self._failed(handle, epoch, msg))
        self._handle = handle

    def stop(self) -> None:
        """Cancel the running work (it interrupts its query); its reports are dropped."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def wait_idle(self, ms: int = 5000) -> bool:
        """Wait until the worker thread let go of its cursor (before its connection closes)."""
        return self.pool.waitForDone(ms)

    def _done(self, handle: JobHandle, epoch: int, n: int) -> None:
        if handle is self._handle:
            self._handle = None
        self.finished.emit(epoch, n)

    def _failed(self, handle: JobHandle, epoch: int, message: str) -> None:
        if handle is self._handle:
            self._handle = None
        self.failed.emit(epoch, message)
