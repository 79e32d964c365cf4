"""Python's cyclic garbage collector runs in the Qt main thread only.

Why: the collector runs in whichever thread happens to allocate past its threshold. When that is
a worker thread (a table page being formatted, an index being built) and the garbage holds a Qt
object, the object's C++ destructor runs in the worker: it takes one of Qt's signal-slot locks and
then waits for the GIL, which shiboken released around the delete. If the main thread, holding
the GIL, is deleting another object whose lock is the same one (Qt shares a small pool of them),
both wait for ever. CI hung this way: the main thread in `QObject::~QObject` waiting for the lock,
a page worker in `gc` -> `QObject::~QObject` -> `GilState::acquire`.

So automatic collection is turned off and a main-thread timer collects instead, each tick the
generations whose allocation counts passed the interpreter's own thresholds (what the automatic
collector would have done, only in the right thread). Reference counting, which frees almost
everything, is unaffected; only cycles wait for the next tick.

The oldest generation also waits, as in the interpreter, until the heap has grown by a quarter
since its last collection: CPython collects it only when the objects promoted into it since
then number a quarter of those it held, so that full collections cost time in proportion to
growth. A full collection walks every object the process holds: after planning an import of
20,000 files, 146-166 ms of blocked window each time, and without the rule one came after every
ten collections of the middle generation. The interpreter's counts are not readable from Python;
pymalloc's allocated blocks (`sys.getallocatedblocks`, free to read) stand in for them, the net
growth of the heap rather than every promotion.
"""

from __future__ import annotations

import gc
import sys

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 250


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
        """Collect the oldest generation that is due (and the younger ones); objects freed."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.thresholds[generation]:
                if generation == 2 and not self.heap_grew():
                    continue  # as the interpreter does: the younger generations instead
                self.collections += 1
                freed = gc.collect(generation)
                if generation == 2:
                    self.full_collections += 1
                    self.heap_after_full = sys.getallocatedblocks()
                return freed
        return 0

    def heap_grew(self) -> bool:
        """True when the heap grew by a quarter since the last full collection (see the module)."""
        return sys.getallocatedblocks() - self.heap_after_full > self.heap_after_full // 4


_collector: MainThreadCollector | None = None


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
