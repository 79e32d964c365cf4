"""The cyclic garbage collector is held off while an import runs, and comes back as it was."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from viewer.core import chunk_import, gc_pause
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

OTLP = Path(__file__).resolve().parents[1] / "data" / "formats" / "otel_logs" / "logs.json"


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_turns_the_collector_off_and_back_on(collector_on: None) -> None:
    with gc_pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_already_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with gc_pause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_holds_in_two_threads_end_with_the_last(collector_on: None) -> None:
    entered, release = threading.Event(), threading.Event()

    def other_import() -> None:
        with gc_pause.paused():
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=other_import)
    with gc_pause.paused():
        worker.start()
        assert entered.wait(10)
    assert not gc.isenabled()  # the other thread's import still runs
    release.set()
    worker.join(10)
    assert gc.isenabled()


def test_collect_young_frees_a_cycle_while_paused(collector_on: None) -> None:
    class Node:
        pass

    with gc_pause.paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None  # reference counting alone cannot free a cycle
        gc_pause.collect_young()
        assert gone() is None


def test_no_collection_when_the_collector_was_already_off(collector_on: None) -> None:
    """The window turns automatic collection off and collects from the Qt main thread only; an
    import, in a worker thread there, must not collect (a Qt object destroyed in a worker can
    deadlock)."""

    class Node:
        pass

    gc.disable()  # as gui.main_thread_gc leaves it
    with gc_pause.paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        kept = weakref.ref(a)
        del a, b
        gc_pause.collect_young()
        assert kept() is not None
    gc.collect()
    assert kept() is None


def test_an_import_runs_with_the_collector_off(
    tmp_path: Path, collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[bool] = []
    young = gc_pause.collect_young

    def noting() -> None:
        states.append(gc.isenabled())
        young()

    monkeypatch.setattr(chunk_import.gc_pause, "collect_young", noting)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [OTLP])
    assert report.total("kept") > 0
    assert states and not any(states)  # off at every chunk
    assert gc.isenabled()


def test_a_failed_import_gives_the_collector_back(
    tmp_path: Path, collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("reader broke")

    monkeypatch.setattr(chunk_import.gc_pause, "collect_young", broken)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(RuntimeError, match="reader broke"):
            import_paths(case, [OTLP])
        assert case.summary().events == 0
    assert gc.isenabled()
