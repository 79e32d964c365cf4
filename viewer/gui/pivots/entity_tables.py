"""Keeps the case's entity (correlation) tables current, in the background, and says so.

`entities.builder` is meant to run with each import (registered in `viewer.core.derived`); a case
imported before that, or whose tables are stale, gets them built here after it opens or after an
import, as the CLI does. Meanwhile panels count from the events (same answer, slower) and the actor
chain and cards say they are waiting. A read-only case cannot be changed: it is reported, not built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QWidget

from viewer.core.case_file import CaseFile
from viewer.core.entities import builder
from viewer.core.jobs import Cancelled, Job, JobContext
from viewer.core.write_space import lacking_disk, resource_failure
from viewer.gui.jobs_qt import JobHandle, start_job

READY, BUILT, READ_ONLY = "ready", "built", "read-only"
_WAITING_TIP = "Pivot panels count from the events meanwhile; actor chains and cards wait"


@dataclass(frozen=True)
class NoRoom:
    """The build found no room to write (the disk full, or the memory); the case is as before."""

    disk: bool
    message: str


def ensure_entity_tables(case: CaseFile, ctx: JobContext) -> str | NoRoom:
    """READY when the tables cover the events, BUILT after bringing them up to date, READ_ONLY when
    they are stale and the case cannot be written, NoRoom when the build found no room."""
    cur = case.cursor()
    try:
        if builder.is_ready(cur):
            return READY
        if case.read_only:
            return READ_ONLY
        ctx.progress.phase = "building entity tables"
        ctx.report(force=True)
        remove = ctx.token.on_cancel(cur.interrupt)
        try:
            with case.transaction(cur):
                builder.update(cur, ctx)
        except duckdb.InterruptException as exc:
            raise Cancelled() from exc
        except duckdb.Error as exc:
            if not resource_failure(exc):
                raise
            disk = lacking_disk(exc)
            lacking = "disk space" if disk else "memory"
            first = str(exc).splitlines()[0]
            return NoRoom(disk, f"the entity tables could not be written for want of {lacking}: {first}")
        finally:
            remove()
        return BUILT
    finally:
        cur.close()


#: How long closing a case waits for a cancelled build to stop (a machine too busy can take longer).
STOP_WAIT_MS = 10_000


class EntityTables(QObject):
    """Runs `ensure_entity_tables` as a job; `ready` tells the views to re-query."""

    ready = Signal()
    stateChanged = Signal(str)  # the status text (empty when there is nothing to say)
    #: A build that found no room (after the job ended): the window opens the case again when
    #: DuckDB gave up its database over it.
    noRoom = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.label = QLabel(parent)
        self.label.setToolTip(_WAITING_TIP)
        self.label.hide()
        self._handle: JobHandle | None = None
        self._case: CaseFile | None = None
        self._started = 0.0
        self._again = False
        self._no_room = ""
        self.state = ""
        self._tick = QTimer(self, interval=1000)
        # A thread of its own: a build of minutes must not take a thread of the global pool,
        # where the table's pages and the timeline's bars are fetched (2 threads on 2 cores).
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._tick.timeout.connect(self._show_elapsed)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, case: CaseFile | None) -> None:
        """Check (and build if needed) for `case`; a call while a build runs checks again after it."""
        self._case = case
        if case is None:
            self.cancel()
            return
        if self._handle is not None:
            self._again = True
            return
        self._again = False
        self.label.setToolTip(_WAITING_TIP)
        job = Job("Building entity tables", lambda ctx: ensure_entity_tables(case, ctx))
        self._handle = start_job(job, self, self.pool)
        self._handle.progress.connect(self._on_progress)
        self._handle.finished.connect(self._on_finished)
        self._handle.failed.connect(self._on_failed)
        self._handle.done.connect(self._on_done)

    def cancel(self) -> None:
        self._again = False
        if self._handle is not None:
            self._handle.cancel()

    def cancel_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Cancel and wait for the build to roll back (before the case's connection closes);
        False when it still runs after `timeout_ms` (default STOP_WAIT_MS)."""
        self.cancel()
        return self.pool.waitForDone(STOP_WAIT_MS if timeout_ms is None else timeout_ms)

    def _set_state(self, text: str) -> None:
        self.state = text
        self.label.setText(text)
        self.label.setVisible(bool(text))
        self.stateChanged.emit(text)

    @Slot(object)
    def _on_progress(self, _p: object) -> None:
        if not self._tick.isActive():
            self._started = time.monotonic()
            self._tick.start()
        self._set_state("Building entity tables…")

    def _show_elapsed(self) -> None:
        self._set_state(f"Building entity tables… {time.monotonic() - self._started:.0f} s")

    @Slot(object)
    def _on_finished(self, result: object) -> None:
        if isinstance(result, NoRoom):
            self._no_room = result.message
            lacking = "disk full" if result.disk else "out of memory"
            self._set_state(f"Entity tables not built: {lacking} (counts come from the events)")
            self.label.setToolTip(result.message)
        elif result == READ_ONLY:
            self._set_state("Entity tables not built (read-only case): counts come from the events")
        else:
            self._set_state("")
        if result in (READY, BUILT):
            self.ready.emit()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._set_state(f"Entity tables failed: {message.splitlines()[0]}")

    @Slot()
    def _on_done(self) -> None:
        self._tick.stop()
        self._handle = None
        if self.state.startswith("Building"):
            self._set_state("")  # cancelled
        no_room, self._no_room = self._no_room, ""
        if no_room:
            self.noRoom.emit(no_room)  # may open the case again: nothing of this job is used after
        elif self._again:
            self.start(self._case)
