"""Thin Qt adapter over the Qt-free job abstraction in `viewer.core.jobs`.

Two shapes of background work exist in the window:

* `JobHandle` / `start_job`: a long, cancellable job (an import) whose progress the UI observes.
* `SupersedingRunner`: a lane for "newest request wins" queries (timeline buckets on zoom, table
  pages while scrolling, the detail of the selected row). Every submit bumps a generation counter;
  a result that comes back with an older generation is dropped, and the older request's cancel
  token is fired so a hook can interrupt its DuckDB query.

Worker threads never touch widgets: they only emit signals on a `QObject` that lives in the GUI
thread, and the receiving slots (methods of GUI-thread objects) run there through queued
connections.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from viewer.core.jobs import Cancelled, CancelToken, Job, JobContext, Progress
from viewer.gui import thread_priority


class JobSignals(QObject):
    """Signals a worker emits; the object itself lives in (and is owned by) the GUI thread."""

    progress = Signal(object)  # Progress snapshot
    finished = Signal(object)  # the job's return value
    failed = Signal(str)  # a message for the user (the traceback goes to the tooltip/log)
    cancelled = Signal()


class _JobRunnable(QRunnable):
    def __init__(self, job: Job[Any], ctx: JobContext, signals: JobSignals) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._job = job
        self._ctx = ctx
        self._signals = signals

    def run(self) -> None:  # Qt override: runs on a pool thread
        thread_priority.lower_current()
        try:
            result = self._job.run(self._ctx)
        except Cancelled:
            self._signals.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI
            if self._ctx.token.cancelled:
                self._signals.cancelled.emit()
            else:
                self._signals.failed.emit(_describe(exc))
        else:
            # Finished is finished even if Cancel came too late: the work was done and kept.
            self._signals.finished.emit(result)


class JobHandle(QObject):
    """A running job as the UI sees it: signals plus `cancel()`."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()  # after any of finished / failed / cancelled

    def __init__(self, job: Job[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.token = CancelToken()
        self.running = False
        self._signals = JobSignals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._signals.cancelled.connect(self._on_cancelled)

    def start(self, pool: QThreadPool | None = None) -> JobHandle:
        signals = self._signals

        def report(p: Progress) -> None:
            # A copy: the job keeps mutating its Progress while the GUI thread reads this one.
            signals.progress.emit(dataclasses.replace(p))

        ctx = JobContext(token=self.token, on_progress=report)
        self.running = True
        (pool or QThreadPool.globalInstance()).start(_JobRunnable(self.job, ctx, signals))
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @Slot(object)
    def _on_progress(self, p: object) -> None:
        if self.running:
            self.progress.emit(p)

    @Slot(object)
    def _on_finished(self, result: object) -> None:
        self.running = False
        self.finished.emit(result)
        self.done.emit()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.running = False
        self.failed.emit(message)
        self.done.emit()

    @Slot()
    def _on_cancelled(self) -> None:
        self.running = False
        self.cancelled.emit()
        self.done.emit()


def start_job(job: Job[Any], parent: QObject | None = None, pool: QThreadPool | None = None) -> JobHandle:
    """Run `job` on the thread pool and return the handle that carries its signals."""
    return JobHandle(job, parent).start(pool)


class _ResultSignals(QObject):
    result = Signal(int, object)
    error = Signal(int, str)


class _CallRunnable(QRunnable):
    def __init__(
        self, generation: int, fn: Callable[[CancelToken], Any], token: CancelToken, signals: _ResultSignals
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._generation = generation
        self._fn = fn
        self._token = token
        self._signals = signals

    def run(self) -> None:  # Qt override: runs on a pool thread
        if self._token.cancelled:
            return  # superseded before it started: do no work at all
        thread_priority.lower_current()
        try:
            value = self._fn(self._token)
        except Cancelled:
            return
        except BaseException as exc:  # noqa: BLE001 - reported, never raised into Qt
            if not self._token.cancelled:
                self._signals.error.emit(self._generation, _describe(exc))
            return
        if not self._token.cancelled:
            self._signals.result.emit(self._generation, value)


class SupersedingRunner(QObject):
    """Runs one kind of request in the background; only the newest submitted request reports.

    `fn` receives the request's CancelToken; it may register an `on_cancel` hook (for instance
    `cursor.interrupt`) so a superseded DuckDB query stops early. Results are delivered in the GUI
    thread through `resultReady(object)`; failures through `failed(str)`.
    """

    resultReady = Signal(object)
    failed = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._generation = 0
        self._token: CancelToken | None = None
        self._busy = False
        self._signals = _ResultSignals(self)
        self._signals.result.connect(self._on_result)
        self._signals.error.connect(self._on_error)

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, fn: Callable[[CancelToken], Any]) -> int:
        """Start `fn` in the background, superseding any request still in flight."""
        self.cancel()
        self._generation += 1
        self._token = CancelToken()
        self._set_busy(True)
        self._pool.start(_CallRunnable(self._generation, fn, self._token, self._signals))
        return self._generation

    def cancel(self) -> None:
        """Drop whatever is in flight; its result will never be delivered."""
        if self._token is not None:
            self._token.cancel()
            self._token = None
        self._generation += 1
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

    @Slot(int, object)
    def _on_result(self, generation: int, value: object) -> None:
        if generation != self._generation:
            return  # stale: a newer request superseded it
        self._token = None
        self._set_busy(False)
        self.resultReady.emit(value)

    @Slot(int, str)
    def _on_error(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._token = None
        self._set_busy(False)
        self.failed.emit(message)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6))
    return f"{text}\n\n{tb}"
