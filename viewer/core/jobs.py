"""One job abstraction for all long work, free of Qt.

A job is a callable taking a `JobContext`: it reports `Progress` through it and checks its
`CancelToken`. The CLI drives jobs in the foreground with a terminal bar; the GUI runs them on a
thread pool through a thin adapter that turns progress into signals. Neither the job nor the core
knows which face runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


#: How often a cancelled job's connection is interrupted again (`CancelToken.interrupts`).
INTERRUPT_EVERY = 0.02


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


class Cancelled(Exception):
    """Raised inside a job when its token was cancelled; the job's changes are rolled back."""


class CancelToken:
    """Thread-safe cancel flag; `on_cancel` hooks let a job interrupt a running DuckDB query."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register `hook`; returns a function that unregisters it."""
        with self._lock:
            self._hooks.append(hook)
            fire = self._event.is_set()
        if fire:
            hook()

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    def interrupts(self, target: Interruptible) -> Callable[[], None]:
        """Once cancelled, interrupt `target` (a DuckDB connection) every INTERRUPT_EVERY seconds
        until the returned function is called (which waits for the last interrupt to be done).

        For read-only work that stops at its first interrupted statement. DuckDB's `interrupt()`
        stops only a statement already running: a cancel that came before the first statement
        or between two was lost, and the next ran to its end (a superseded scan of 10M events;
        a case closed under it 30 s later crashed the process). Not for work that must still run
        statements after a cancel (a rollback, an undo): use `on_cancel`."""
        stop = threading.Event()
        started: list[threading.Thread] = []
        lock = threading.Lock()

        def keep_interrupting() -> None:
            while True:
                target.interrupt()
                if stop.wait(INTERRUPT_EVERY):
                    return

        def hook() -> None:
            with lock:
                if stop.is_set() or started:
                    return
                thread = threading.Thread(target=keep_interrupting, name="caseline-interrupt", daemon=True)
                started.append(thread)
                thread.start()

        remove_hook = self.on_cancel(hook)

        def remove() -> None:
            remove_hook()
            with lock:
                stop.set()
            for thread in started:
                thread.join()

        return remove


@dataclass
class Progress:
    """A snapshot of a job's progress. Totals are None while unknown."""

    phase: str = ""
    files_done: int = 0
    files_total: int | None = None
    records: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None
    started: float = field(default_factory=time.monotonic)
    message: str = ""

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Records per second so far."""
        e = self.elapsed
        return self.records / e if e > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.files_total:
            return min(1.0, self.files_done / self.files_total)
        return None

    @property
    def eta_seconds(self) -> float | None:
        frac = self.fraction
        if not frac or frac <= 0:
            return None
        return self.elapsed * (1 - frac) / frac


class JobContext:
    """What a running job sees: its cancel token and a progress sink (rate-limited)."""

    def __init__(
        self,
        token: CancelToken | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        min_interval: float = 0.1,
    ) -> None:
        self.token = token or CancelToken()
        self._on_progress = on_progress
        self._min_interval = min_interval
        self._last = 0.0
        self.progress = Progress()

    def report(self, force: bool = False) -> None:
        """Send the current progress, at most every `min_interval` seconds unless forced."""
        if self._on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._min_interval:
            self._last = now
            self._on_progress(self.progress)

    def check(self) -> None:
        self.token.raise_if_cancelled()


@dataclass
class Job(Generic[T]):
    """A named unit of background work."""

    title: str
    run: Callable[[JobContext], T]
