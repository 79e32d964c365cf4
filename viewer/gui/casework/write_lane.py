"""A background lane for annotation edits: one at a time, in the order they were made.

Edits must land in order (star, then undo), so the lane starts the next edit only when the
previous one ended. They run on the shared thread pool, which the window drains before it closes
a case's connection; edits still queued then are dropped (`clear`), never run on a closed case.
Workers never touch widgets: results come back as signals.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from viewer.core.jobs import Job, JobContext
from viewer.gui.jobs_qt import JobHandle, start_job


class WriteLane(QObject):
    finished = Signal(str, object)  # description, the edit's return value
    failed = Signal(str, str)  # description, message for the user
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: deque[tuple[str, Callable[[], Any]]] = deque()
        self._running: JobHandle | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def submit(self, description: str, edit: Callable[[], Any]) -> None:
        """Queue `edit` (a closure over the case); it runs after every edit queued before it."""
        self._queue.append((description, edit))
        if self._running is None:
            self._start_next()

    def clear(self) -> None:
        """Drop edits not started yet (the case they were meant for is closing)."""
        self._queue.clear()

    def _start_next(self) -> None:
        if not self._queue:
            self._running = None
            self.idle.emit()
            return
        description, edit = self._queue.popleft()

        def run(_ctx: JobContext) -> Any:
            return edit()

        handle = start_job(Job(description, run), self)
        self._running = handle
        handle.finished.connect(lambda value: self.finished.emit(description, value))
        handle.failed.connect(lambda message: self.failed.emit(description, message))
        handle.done.connect(lambda: self._done(handle))

    def _done(self, handle: JobHandle) -> None:
        handle.deleteLater()
        if self._running is handle:
            self._start_next()

    def wait_idle(self, ms: int = 5000) -> bool:
        """Block until the running edit ended (tests; the window drains the pool on close)."""
        return QThreadPool.globalInstance().waitForDone(ms)
