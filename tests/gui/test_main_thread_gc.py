"""Cyclic garbage holding Qt objects is collected in the main thread, never in a worker.

A worker collecting a cycle that holds a QObject deadlocked the suite (viewer.gui.main_thread_gc):
here a worker makes such garbage past every threshold, and the collections must all happen in the
main thread, where the timer collects them.
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref

from PySide6.QtCore import QObject

from viewer.gui import main_thread_gc


class _Cycle:
    def __init__(self) -> None:
        self.me = self
        self.qobject = QObject()


def test_worker_garbage_is_collected_by_the_main_thread(qtbot, qapp) -> None:  # type: ignore[no-untyped-def]
    collector = main_thread_gc.install(qapp)
    assert collector is main_thread_gc.install(qapp)  # one per application
    assert not gc.isenabled()
    threads: list[str] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            threads.append(threading.current_thread().name)

    refs: list[weakref.ref] = []

    def worker() -> None:
        for _ in range(5 * sum(collector.thresholds)):  # far past every generation's threshold
            refs.append(weakref.ref(_Cycle()))
            _ = [[] for _ in range(20)]  # allocations that count towards a collection

    gc.callbacks.append(record)
    try:
        t = threading.Thread(target=worker, name="worker")
        t.start()
        t.join()
        assert "worker" not in threads  # the worker allocated past the thresholds, never collected
        assert any(r() is not None for r in refs)  # its garbage is still there...
        qtbot.waitUntil(lambda: all(r() is None for r in refs), timeout=5000)  # ...until the timer runs
    finally:
        gc.callbacks.remove(record)
    assert threads and set(threads) == {threading.main_thread().name}
    assert collector.collections > 0


def test_the_started_application_leaves_its_startup_objects_out_of_collections(
    qtbot, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Once the window is up, what it was built from is frozen: a collection of the oldest
    generation no longer walks it (it did from the main thread, tens of ms each time)."""
    from viewer.gui import app as gui_app

    monkeypatch.setenv("CASELINE_DATA_DIR", str(tmp_path / "data"))
    gc.unfreeze()
    before = gc.get_freeze_count()
    win = gui_app.start(None)
    assert win is not None
    qtbot.addWidget(win)
    frozen = gc.get_freeze_count()
    assert before == 0 and frozen > 10_000
    assert gc.is_tracked(win) and not any(o is win for o in gc.get_objects())  # the window among them
    gc.unfreeze()


def test_the_oldest_generation_waits_until_the_heap_grew_by_a_quarter(qapp) -> None:  # type: ignore[no-untyped-def]
    """As in the interpreter, a due collection of the oldest generation is put off (the younger
    ones collected instead) until the heap has grown by a quarter since the last one: each walks
    every object of the process, 146-166 ms of blocked window after planning 20,000 files."""
    collector = main_thread_gc.install(qapp)
    generations: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            generations.append(info["generation"])

    def make_the_oldest_due() -> list:
        gc.collect(1)  # the young generations emptied; each such collection counts towards the oldest
        while gc.get_count()[2] <= collector.thresholds[2]:
            gc.collect(1)
        assert gc.get_count()[0] <= collector.thresholds[0]  # nothing else is due meanwhile...
        return [[] for _ in range(2 * collector.thresholds[0])]  # ...but the youngest, kept alive

    gc.callbacks.append(record)
    try:
        collector.heap_after_full = sys.getallocatedblocks()
        young = make_the_oldest_due()
        full_before = collector.full_collections
        generations.clear()
        collector.collect()
        assert generations == [1]  # put off: the heap has not grown (the young ones collected)
        assert collector.full_collections == full_before

        kept = [[i] for i in range(sys.getallocatedblocks() // 2)]  # the heap grows by half
        young += make_the_oldest_due()
        generations.clear()
        collector.collect()
        assert generations == [2]
        assert collector.full_collections == full_before + 1
        assert collector.heap_after_full >= len(kept)  # measured again after the collection
    finally:
        gc.callbacks.remove(record)
