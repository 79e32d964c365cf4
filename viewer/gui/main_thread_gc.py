"""Python's cyclic garbage collector runs in the Qt main thread only.

Why: the collector runs in whichever thread happens to allocate past its threshold. When that is
a worker thread (a table page being formatted, an index being built) and the garbage holds a Qt
object, the object's C++ destructor runs in the worker: it takes one of Qt's signal-slot locks and
then waits for the GIL, which shiboken released around the delete. If the main thread, holding
the GIL, is deleting another object whose lock is the same one (Qt shares a small pool of them),
both wait for ever. CI hung this way: the main thread in `QObject::~QObject` waiting for the lock,
a page worker in `gc` -> `QObject::~QObject` -> `GilState::acquire`.

So automatic collection is turned off and a main-thread timer collects instead, each tick what
passed the interpreter's own thresholds (what the automatic collector would have done, only in
the right thread; the young generations together, see `collect`). Reference counting, which
frees almost everything, is unaffected; only cycles wait for the next tick.

The oldest generation also waits, as in the interpreter, until the heap has grown by a quarter
since its last collection: CPython collects it only when the objects promoted into it since
then number a quarter of those it held, so that full collections cost time in proportion to
growth. A full collection walks every object the process holds: after planning an import of
20,000 files, 146-166 ms of blocked window each time, and without the rule one came after every
ten collections of the middle generation. The interpreter's counts are not readable from Python;
pymalloc's allocated blocks (`sys.getallocatedblocks`, free to read) stand in for them, the net
growth of the heap rather than every promotion.

Growth is not enough when the growth is a big structure that lives on: planning an import of
200,000 files builds 1.4M objects (seven a file), and each of the full collections on the way
walked them all, up to 0.9-1.2 s of blocked window. The import window therefore holds the oldest
generation (`hold_oldest`) while it makes, shows or imports a plan of 10,000 files or more (a
smaller one lets go when it is shown); the young generations are still collected, and reference
counting frees the plan when the window lets it go.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 50


class MainThreadCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.collections = 0  # how many ticks found something to collect (tests read it)
        self.full_collections = 0
        self.heap_after_full = sys.getallocatedblocks()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(interval_ms)

    def collect(self) -> int:
        """Collect what is due; objects freed. The two young generations go together: a tick
        sees everything allocated since the last one (by every thread), and collected apart, the
        middle generation held ten ticks of survivors when it came due (up to 230 ms a walk while
        an import of 200,000 files was planned); together, each young object is walked once."""
        counts = gc.get_count()
        if counts[2] > self.thresholds[2] and not _holds and self.heap_grew():
            self.collections += 1
            self.full_collections += 1
            freed = gc.collect(2)
            self.heap_after_full = sys.getallocatedblocks()
            return freed
        if counts[0] > self.thresholds[0] or counts[1] > self.thresholds[1]:
            self.collections += 1
            return gc.collect(1)
        return 0

    def heap_grew(self) -> bool:
        """True when the heap grew by a quarter since the last full collection (see the module)."""
        return sys.getallocatedblocks() - self.heap_after_full > self.heap_after_full // 4


_collector: MainThreadCollector | None = None
_holds = 0  # main thread only, as the collector


def hold_oldest() -> Callable[[], None]:
    """Put off collections of the oldest generation until the returned function is called (once
    is enough; later calls do nothing). Call both from the main thread. For the lifetime of a
    structure of millions of objects: a full collection would walk all of them (see the module)."""
    global _holds
    _holds += 1
    held = True

    def release() -> None:
        global _holds
        nonlocal held
        if held:
            held = False
            _holds -= 1
            if not _holds and _collector is not None and shiboken6.isValid(_collector):
                # What grew meanwhile was mostly the structure held, let go now: growth counts
                # from here, or the first tick would walk what is left (1.6 s after an import
                # of 200,000 files, its report and the window's rows).
                _collector.heap_after_full = sys.getallocatedblocks()

    return release


def install(app: QCoreApplication) -> MainThreadCollector:
    """Turn automatic collection off and collect from the main thread (call it from there, once
    the application exists); idempotent while the application lives."""
    global _collector
    if _collector is None or not shiboken6.isValid(_collector):
        _collector = MainThreadCollector(app)
    return _collector


def freeze_startup() -> None:
    """Move everything alive now (the modules, the window, the open case's models) out of the
    collector's reach: they live as long as the application, and a collection of the oldest
    generation walked them all from the main thread each time (117k objects on the sample case:
    58-68 ms, a stall the window shows; after the freeze, under 1 ms). Call it once the window
    is up: it collects once first (that much, once), so no garbage is frozen."""
    gc.collect()
    gc.freeze()
    if _collector is not None and shiboken6.isValid(_collector):
        _collector.heap_after_full = sys.getallocatedblocks()
