"""The Qt job adapter: signals arrive in the GUI thread, cancel works, stale results are dropped.

Lock-gated workers (threading.Event) make ordering deterministic without sleeps.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from viewer.core.jobs import Cancelled, CancelToken, Job, JobContext
from viewer.gui.jobs_qt import SupersedingRunner, start_job

TIMEOUT = 5000


def test_job_reports_progress_and_result_in_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    threads: list[object] = []

    def work(ctx: JobContext) -> int:
        for i in range(3):
            ctx.progress.records = i + 1
            ctx.report(force=True)
        return 42

    handle = start_job(Job("count", work))
    handle.progress.connect(lambda p: threads.append((QThread.currentThread(), p.records)))
    with qtbot.waitSignal(handle.finished, timeout=TIMEOUT) as blocker:
        pass
    assert blocker.args == [42]
    assert not handle.running
    assert all(t is QThread.currentThread() for t, _ in threads)  # slots ran in the GUI thread


def test_job_cancel_emits_cancelled(qtbot) -> None:  # type: ignore[no-untyped-def]
    started, release = threading.Event(), threading.Event()

    def work(ctx: JobContext) -> None:
        started.set()
        release.wait(TIMEOUT / 1000)
        ctx.check()  # raises Cancelled once the token is set

    handle = start_job(Job("gated", work))
    assert started.wait(TIMEOUT / 1000)
    with qtbot.waitSignal(handle.cancelled, timeout=TIMEOUT):
        handle.cancel()
        release.set()


def test_job_failure_reaches_the_ui(qtbot) -> None:  # type: ignore[no-untyped-def]
    def work(ctx: JobContext) -> None:
        raise ValueError("bad evidence")

    handle = start_job(Job("fails", work))
    with qtbot.waitSignal(handle.failed, timeout=TIMEOUT) as blocker:
        pass
    assert blocker.args[0].startswith("bad evidence")


def test_superseding_runner_delivers_only_the_newest(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = SupersedingRunner()
    gate, started = threading.Event(), threading.Event()
    first_cancelled = threading.Event()
    results: list[object] = []
    runner.resultReady.connect(results.append)

    def slow(token: CancelToken) -> str:
        token.on_cancel(first_cancelled.set)
        started.set()
        gate.wait(TIMEOUT / 1000)
        return "stale"

    runner.submit(slow)
    assert started.wait(TIMEOUT / 1000)
    with qtbot.waitSignal(runner.resultReady, timeout=TIMEOUT) as blocker:
        runner.submit(lambda token: "fresh")
    assert blocker.args == ["fresh"]
    assert first_cancelled.is_set()  # the superseded request was told to stop (e.g. cursor.interrupt)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=TIMEOUT)
    # Let the stale worker finish and its (dropped) signal be processed.
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    qtbot.wait(0)
    assert results == ["fresh"]


def test_superseding_runner_reports_errors_of_the_newest(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = SupersedingRunner()

    def boom(token: CancelToken) -> None:
        raise RuntimeError("query failed")

    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT) as blocker:
        runner.submit(boom)
    assert "query failed" in blocker.args[0]


def test_cancelled_inside_runner_is_silent(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = SupersedingRunner()
    seen: list[object] = []
    runner.resultReady.connect(seen.append)
    runner.failed.connect(seen.append)

    def cancelled(token: CancelToken) -> None:
        raise Cancelled()

    runner.submit(cancelled)
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    qtbot.wait(0)
    assert seen == []
