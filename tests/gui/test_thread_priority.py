"""Background threads yield the CPU to the window's main thread (Linux: nice values per thread)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from viewer.core.jobs import CancelToken
from viewer.gui import thread_priority
from viewer.gui.jobs_qt import SupersedingRunner

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's"
)


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def test_pool_jobs_run_below_the_main_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    main_before = _nice(threading.get_native_id())
    runner = SupersedingRunner()

    def work(_token: CancelToken) -> tuple[int, bool]:
        return _nice(threading.get_native_id()), threading.current_thread() is threading.main_thread()

    with qtbot.waitSignal(runner.resultReady, timeout=5_000) as got:
        runner.submit(work)
    nice, on_main = got.args[0]
    assert not on_main and nice >= thread_priority.BACKGROUND_NICE
    assert _nice(threading.get_native_id()) == main_before


def test_lower_others_lowers_every_thread_but_the_main_one() -> None:
    main_before = _nice(threading.get_native_id())
    release, ready = threading.Event(), threading.Event()
    tid: list[int] = []

    def idle() -> None:
        tid.append(threading.get_native_id())
        ready.set()
        release.wait(10)

    worker = threading.Thread(target=idle)
    worker.start()
    try:
        assert ready.wait(5)
        assert _nice(tid[0]) == main_before  # a new thread starts at its creator's value
        thread_priority.lower_others()
        assert _nice(tid[0]) >= thread_priority.BACKGROUND_NICE
        assert _nice(threading.get_native_id()) == main_before
    finally:
        release.set()
        worker.join()


def test_the_main_thread_never_lowers_itself() -> None:
    before = _nice(threading.get_native_id())
    thread_priority.lower_current()
    assert _nice(threading.get_native_id()) == before
