"""Background threads run at a lower CPU priority than the window's main thread (Linux).

On two cores, a page read, a timeline count, a case's hash and DuckDB's own threads easily keep
both cores busy, and the main thread then waits its turn to paint: on a 10M-event case a query
result took 115-197 ms to show with all threads equal, 50 ms with the others at nice 10; the
longest stall of `benchmarks/gui_responsiveness.py` went from 115-197 to 69-84 ms. The main
thread is mostly idle, so the background work loses little.

Linux schedules threads as tasks, each with its own nice value, inherited by the threads it
starts. A pool thread lowers itself when it first runs a job (`lower_current`); DuckDB starts its
worker threads from the thread that opens the database, the main thread, so the window lowers
them once a case is open (`lower_others`). A raised nice value cannot be lowered again without
privileges: the main thread is never touched. Elsewhere (macOS, Windows) this does nothing.
"""

from __future__ import annotations

import os
import sys
import threading

#: The nice value of every thread but the main one (0 is the default, 19 the lowest priority).
BACKGROUND_NICE = 10
_SUPPORTED = sys.platform.startswith("linux")
_lowered = threading.local()


def _lower(tid: int) -> None:
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except OSError:  # the thread ended meanwhile, or the system refuses: no harm
        pass


def lower_current() -> None:
    """Lower the calling thread (once; never the main thread)."""
    if (
        not _SUPPORTED
        or getattr(_lowered, "done", False)
        or threading.current_thread() is threading.main_thread()
    ):
        return
    _lowered.done = True
    _lower(threading.get_native_id())


def lower_others() -> None:
    """Lower every thread of the process but the main thread (DuckDB's, Qt's, Python's)."""
    if not _SUPPORTED:
        return
    main = threading.main_thread().native_id
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return
    for tid in tids:
        if tid != main:
            _lower(tid)
