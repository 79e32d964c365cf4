"""Fixtures for the GUI tests: one small synthetic case per session, a throwaway QSettings, and
a MainWindow that has finished its first count, page and bars."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from PySide6.QtCore import QSettings, QThreadPool
from PySide6.QtWidgets import QApplication
from support.synthetic_case import build_synthetic_case

from viewer.gui import main_thread_gc, time_text

N_EVENTS = 20_000
WAIT_MS = 10_000


@pytest.fixture(scope="session")
def case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20k-event synthetic case, built once; tests open it read-only or copy it."""
    return build_synthetic_case(tmp_path_factory.mktemp("gui_case") / "synthetic.caseline", N_EVENTS)


@pytest.fixture(scope="session")
def small_case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,500 events: three table pages, enough for paging and model tests."""
    return build_synthetic_case(tmp_path_factory.mktemp("gui_small") / "small.caseline", 2_500, seed=3)


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the window said in information boxes (title: text), instead of showing them."""
    said: list[str] = []
    monkeypatch.setattr(
        "viewer.gui.main_window.QMessageBox.information",
        lambda _w, title, text: said.append(f"{title}: {text}"),
    )
    return said


def slow_to_stop(monkeypatch: pytest.MonkeyPatch, module: object, build: str, wait: str) -> threading.Event:
    """`module.build` (a background build's work) held back until the returned gate opens, so
    it sees a cancel only then, and `module.wait` (how long closing waits for it) cut to 100 ms:
    a build still busy when the case closes, as on a machine loaded by something else."""
    monkeypatch.setattr(module, wait, 100)
    gate = threading.Event()
    real = getattr(module, build)

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        gate.wait(WAIT_MS / 1000)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, build, held)
    return gate


def build_counting_case(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """3,000 events with a search index of many small blocks, and searches that take a block per
    wave: a free-text filter on a word some events hold ("alice") is still counting after its
    first rows are shown."""
    from viewer.core import derived, search_build, text_view
    from viewer.core.case_file import CaseFile
    from viewer.gui import pager_worker

    build_synthetic_case(path, 3_000, seed=4)
    monkeypatch.setattr(search_build, "BLOCK_EVENTS", 64)
    with CaseFile.open(path) as c:
        cur = c.cursor()
        with c.transaction(cur):
            derived.update_all(cur, deferred=True)
    monkeypatch.setattr(text_view, "FIRST_WAVE_BLOCKS", 1)
    monkeypatch.setattr(text_view, "WAVE_SECONDS", 0.0)
    monkeypatch.setattr(pager_worker, "STEP_SECONDS", 0.0)
    return path


@pytest.fixture
def sql(case_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An independent read-only connection for expected values (computed from the table)."""
    con = duckdb.connect(str(case_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """QSettings in a temp INI file, so tests never touch the user's recent-case list."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(scope="session", autouse=True)
def _collect_in_main_thread(qapp: QApplication) -> None:
    """As the application does: Python's cyclic GC runs in the main thread only. Collected in a
    worker, a cycle holding a Qt object deadlocked the suite (viewer.gui.main_thread_gc)."""
    main_thread_gc.install(qapp)


@pytest.fixture(autouse=True)
def _drain_pool(qapp: object) -> Iterator[None]:
    """Workers must not outlive a test: they hold cursors on connections the test closes."""
    yield
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
    gc.unfreeze()  # a test that started the application froze what it had (freeze_startup)
    gc.collect()  # this test's cycles, in the main thread, not in the next test's workers


@pytest.fixture(autouse=True)
def _utc_display() -> Iterator[None]:
    """The display zone is the window's global: a test that changes it must not leave it."""
    yield
    time_text.set_display_zone(time_text.UTC_NAME)


def open_window(qtbot, settings: QSettings, path: Path, read_only: bool = True):  # type: ignore[no-untyped-def]
    """A shown 1400x900 MainWindow with `path` open, its count, first page and bars in."""
    from viewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    with (
        qtbot.waitSignal(win.timeline.bucketsDrawn, timeout=WAIT_MS),
        qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS),
    ):
        assert win.open_case(path, read_only=read_only)
    qtbot.waitUntil(lambda: win.table_model.is_row_loaded(0), timeout=WAIT_MS)
    return win
