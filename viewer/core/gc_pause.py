"""Python's cyclic garbage collector held off while an import runs (and while it is planned).

Why: the Python readers (nested shapes, CSV, damaged files) parse documents of thousands of records
into dicts and lists, and every 700 allocations the collector walks the young ones; the documents
that live through a chunk are walked again in the older generations, with everything the process
has loaded. Profiled on 200k OTLP log records, a fifth of the import's CPU went to the collector
(`gc_list_size`, `untrack_tuples`...) for nothing: parsed JSON holds no reference cycles, and
reference counting frees it. Held off, that import took 4.4-5.7 s against 5.8-6.9 s.

Cycles can still come from elsewhere in the process (the window's objects while a background
import runs, an exception kept with its traceback), so the young generations are collected once
per chunk (`collect_young`): one walk of what is new since the last chunk, not one every 700
allocations. The collector is back as it was when the last import holding it off ends; imports
in several threads of one process count as one hold.

In the window the automatic collector is already off: `gui.main_thread_gc` collects from the Qt
main thread only, since a collection in a worker thread can destroy a Qt object there and
deadlock. An import (which runs in a worker there) then changes nothing and collects nothing: the
pause only collects what it turned off itself.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holds = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the `with` block (and until every other hold has ended)."""
    global _holds, _was_enabled
    with _lock:
        if _holds == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holds += 1
    try:
        yield
    finally:
        with _lock:
            _holds -= 1
            if _holds == 0 and _was_enabled:
                gc.enable()


def collect_young() -> None:
    """Collect the two young generations (what is new since the last time) while a pause holds
    the collector off; nothing when it was off before (the window's main-thread collector)."""
    with _lock:
        ours = _holds > 0 and _was_enabled
    if ours:
        gc.collect(1)
