"""MainWindow end to end on a 20k-event synthetic case: bars, range filter, detail, columns,
filter errors, empty states, read-only badge, recent cases, j/k navigation."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTableView

from viewer import schema
from viewer.gui.main_window import MainWindow

from .conftest import N_EVENTS, WAIT_MS, open_window


def test_open_case_draws_bars_and_fills_status(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    assert win.stack.currentWidget() is win.splitter
    heights = [np.asarray(i.opts["height"]) for i in win.timeline.bar_items()]
    assert heights and all((h > 0).all() for h in heights)
    assert sum(h.sum() for h in heights) == N_EVENTS
    assert win.table_model.rowCount() == N_EVENTS
    assert win.filter_bar.count_label.text() == f"{N_EVENTS:,} events"
    qtbot.waitUntil(lambda: win.count_label.text() != "", timeout=WAIT_MS)
    assert win.count_label.text() == f"{N_EVENTS:,} events in case"
    first, last = sql.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    assert win.span_label.text().startswith(f"{first:%Y-%m-%d %H:%M:%S} → {last:%Y-%m-%d %H:%M:%S}")
    assert win.span_label.text().endswith("(UTC+00:00)")
    assert str(case_path) in win.path_label.text()


def test_event_detail_has_the_most_room_of_the_right_column(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    """The fields and raw record of the selected event get more height than any dock under them
    (actor chain, findings), which share the rest: split evenly, the detail showed ~4 fields."""
    from PySide6.QtWidgets import QDockWidget

    win = open_window(qtbot, settings, case_path)
    right = [
        d
        for d in win.findChildren(QDockWidget)
        if d.isVisible() and win.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea
    ]
    below = [d for d in right if d is not win.detail_dock]
    assert {d.objectName() for d in below} >= {"actor_chain_dock", "findings_dock"}
    detail = win.detail_dock.height()
    assert all(detail > 1.5 * d.height() for d in below), [
        (d.objectName(), d.height(), detail) for d in below
    ]


def test_queries_open_under_the_table_and_leave_the_detail_its_height(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    """The side columns own the bottom corners: the query dock opens under the timeline and table
    only, so the event detail beside it keeps the height it had."""
    win = open_window(qtbot, settings, case_path)
    before = win.detail_dock.height()
    win.show_queries()
    qtbot.waitUntil(lambda: win.query_dock.isVisible() and win.query_dock.height() > 100, timeout=WAIT_MS)
    qtbot.wait(50)  # the dock layout settles
    assert win.query_dock.geometry().right() < win.detail_dock.geometry().left()
    assert win.detail_dock.height() >= before


def test_swimlanes_open_without_widening_the_window(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    """Between the side columns, the swimlanes dock must not demand more width than the table
    does: its status line wraps (unwrapped, the window's minimum width grew from 792 to 1154 px).
    Nor most of the table's height."""
    win = open_window(qtbot, settings, case_path)
    before = win.minimumSizeHint().width()
    principal = sql.execute(
        "SELECT principal_id FROM events WHERE principal_id IS NOT NULL LIMIT 1"
    ).fetchone()[0]
    pivots = win.features[0]
    pivots.add_lanes("principal_id", [principal])
    qtbot.waitUntil(lambda: pivots.lanes_dock.isVisible(), timeout=WAIT_MS)
    qtbot.wait(50)
    assert win.minimumSizeHint().width() <= before + 20
    # It opens at about a third of the window (its size hint took ~60% of the middle column).
    assert pivots.lanes_dock.height() <= 0.4 * win.height()


def test_selecting_a_range_filters_the_table(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    start = dt.datetime(2024, 3, 10, 6, 0, tzinfo=dt.UTC)
    end = dt.datetime(2024, 3, 11, 18, 30, tzinfo=dt.UTC)
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS) as blocker:
        win.timeline.select_range(start, end)
    expected = sql.execute("SELECT count(*) FROM events WHERE ts >= ? AND ts < ?", [start, end]).fetchone()[0]
    assert 0 < expected < N_EVENTS
    assert blocker.args == [expected]
    assert win.table_model.rowCount() == expected
    assert win.filter_bar.range_label.isVisible()
    assert win.timeline.region.isVisible()
    # The timeline keeps charting everything: the range is a selection, not a filter on the bars.
    assert win.timeline.buckets.total == N_EVENTS
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        win.filter_bar.range_clear.click()
    assert win.table_model.rowCount() == N_EVENTS
    assert not win.timeline.region.isVisible()


def test_clicking_a_row_shows_raw_json_and_provenance(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    source_of = "SELECT source_type FROM events WHERE event_id = ?"
    row = next(  # a CloudTrail record (the synthetic case's other sources wrap theirs in a key)
        r
        for r in range(3, 40)
        if sql.execute(source_of, [win.table_model.event_id_at(r)]).fetchone()[0] == "cloudtrail"
    )
    rect = win.table.visualRect(win.table_model.index(row, 1))
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS) as blocker:
        QTest.mouseClick(
            win.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
        )
    detail = blocker.args[0]
    event_id = win.table_model.event_id_at(row)
    assert detail.event_id == event_id
    raw = json.loads(
        sql.execute("SELECT raw::VARCHAR FROM events WHERE event_id = ?", [event_id]).fetchone()[0]
    )
    tree = win.detail.raw_tree
    top = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    assert set(top) == set(raw)
    assert top["eventID"].text(1) == raw["eventID"]
    assert top["userIdentity"].isExpanded()  # small record: expanded by default
    assert json.loads(win.detail.raw_json_text()) == raw
    fields = {
        win.detail.fields_table.item(r, 0).toolTip(): win.detail.fields_table.item(r, 1).text()
        for r in range(win.detail.fields_table.rowCount())
    }
    assert fields["action"] == raw["eventName"]
    prov = win.detail.provenance_label.text()
    assert "part-0000" in prov and "record" in prov and "sha256" in prov
    assert "/evidence/synthetic/part-" in win.detail.provenance_label.toolTip()  # full path on hover
    win.detail.copy_raw_json()
    from PySide6.QtWidgets import QApplication

    assert json.loads(QApplication.clipboard().text()) == raw


def test_j_and_k_move_through_events(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.table.select_row(0)
    win.table.setFocus()
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS):
        QTest.keyClick(win.table, Qt.Key.Key_J)
    assert win.table.currentIndex().row() == 1
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS):
        QTest.keyClick(win.table, Qt.Key.Key_J)
    assert win.table.currentIndex().row() == 2
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS) as blocker:
        QTest.keyClick(win.table, Qt.Key.Key_K)
    assert win.table.currentIndex().row() == 1
    assert blocker.args[0].event_id == win.table_model.event_id_at(1)


def test_column_chooser_adds_and_removes_columns(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    menu = win.table.column_menu()
    by_name = {a.data(): a for a in menu.actions() if a.data()}
    assert set(by_name) >= {f.name for f in schema.NORMALIZED_FIELDS}
    assert schema.RAW.name not in by_name
    assert all(by_name[f.name].isChecked() for f in schema.default_columns())
    n = win.table_model.columnCount()
    with qtbot.waitSignal(win.table_model.modelRefreshed, timeout=WAIT_MS):
        by_name["user_agent"].trigger()
    assert win.table_model.columnCount() == n + 1
    assert schema.field("user_agent").title in [
        win.table_model.headerData(c, Qt.Orientation.Horizontal) for c in range(n + 1)
    ]
    with qtbot.waitSignal(win.table_model.modelRefreshed, timeout=WAIT_MS):
        win.table.column_menu().actions()[
            [f.name for f in schema.ALL_EVENT_FIELDS if f.name != "event_id"].index("region")
        ].trigger()
    assert win.table_model.column_of("region") == -1
    assert win.table_model.columnCount() == n


def test_filter_errors_show_inline_and_valid_filters_apply(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    QTest.keyClick(win.table, Qt.Key.Key_Slash)
    assert win.filter_bar.edit.hasFocus()
    qtbot.keyClicks(win.filter_bar.edit, "bogus:1")
    QTest.keyClick(win.filter_bar.edit, Qt.Key.Key_Return)
    assert win.filter_bar.has_error() and "bogus" in win.filter_bar.error_text
    assert win.table_model.rowCount() == N_EVENTS  # the bad text was not applied
    win.filter_bar.edit.setText("outcome:failure")
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS) as blocker:
        QTest.keyClick(win.filter_bar.edit, Qt.Key.Key_Return)
    expected = sql.execute("SELECT count(*) FROM events WHERE outcome = 'failure'").fetchone()[0]
    assert blocker.args == [expected]
    assert not win.filter_bar.has_error()
    qtbot.waitUntil(
        lambda: win.timeline.buckets is not None and win.timeline.buckets.total == expected, timeout=WAIT_MS
    )


def test_a_new_filter_shows_the_top_of_its_rows(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    """The scroll offset of the rows before means nothing in the new ones: the view was left
    hundreds of rows down a filtered result, its first rows out of sight."""
    win = open_window(qtbot, settings, case_path)
    win.table.scrollTo(win.table_model.index(5_000, 0), QTableView.ScrollHint.PositionAtTop)
    qtbot.waitUntil(lambda: win.table.rowAt(0) >= 4_990, timeout=WAIT_MS)
    win.filter_bar.edit.setText("outcome:failure")
    with qtbot.waitSignal(win.table_model.modelRefreshed, timeout=WAIT_MS):
        win.filter_bar.apply_text()
    assert win.table_model.rowCount() > 100
    assert win.table.rowAt(0) == 0
    qtbot.waitUntil(lambda: win.table_model.is_row_loaded(0), timeout=WAIT_MS)


def test_read_only_badge(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path, read_only=True)
    assert win.read_only_badge.isVisible()
    assert win.read_only_badge.text() == "READ-ONLY"
    assert not win.import_action.isEnabled()
    assert "read-only" in win.windowTitle()


def test_writable_case_has_no_badge_and_recent_is_stored(qtbot, settings, case_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "copy.caseline"
    shutil.copy(case_path, copy)
    win = open_window(qtbot, settings, copy, read_only=False)
    assert not win.read_only_badge.isVisible()
    assert win.import_action.isEnabled()
    assert win.recent.paths()[0] == str(copy.resolve())
    settings.sync()
    assert str(copy.resolve()) in Path(settings.fileName()).read_text()


def test_empty_states(qtbot, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    assert win.stack.currentWidget() is win.empty_state
    assert "Open a case (Ctrl+O) or create one (Ctrl+N)" in win.empty_state.headline.text()
    assert not win.import_action.isEnabled()
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        assert win.new_case(tmp_path / "new.caseline")
    qtbot.waitUntil(lambda: win.empty_state.headline.text() == "Import evidence (Ctrl+I)", timeout=WAIT_MS)
    assert win.stack.currentWidget() is win.empty_state
    assert win.import_action.isEnabled()
    dialog = win.show_import_dialog()
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert win.close_case()
    assert "Open a case" in win.empty_state.headline.text()


def test_open_returns_quickly(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    """Counting, paging and bucketing happen in the background: opening only wires things up."""
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    t0 = time.perf_counter()
    win.open_case(case_path, read_only=True)
    elapsed = time.perf_counter() - t0
    qtbot.waitUntil(lambda: win.timeline.buckets is not None, timeout=WAIT_MS)
    assert elapsed < 0.5, f"open_case blocked the GUI thread for {elapsed * 1000:.0f} ms"


def test_the_table_columns_are_loaded_ahead_once_the_case_shows(qtbot, settings, case_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After the summary, the session loads the blocks of the columns the table shows
    (page_warmup), once per case: a case opened next gets its own load."""
    win = open_window(qtbot, settings, case_path)
    qtbot.waitUntil(lambda: win.session.warmup is not None, timeout=WAIT_MS)
    first = win.session.warmup
    assert first.loaded and first.columns == ("event_id", *win.table_model.columns)
    other = tmp_path / "other.caseline"
    shutil.copy(case_path, other)
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        assert win.open_case(other, read_only=True)
    qtbot.waitUntil(lambda: win.session.warmup is not None, timeout=WAIT_MS)
    assert win.session.path == other and win.session.warmup.loaded


def test_a_session_closed_before_its_warmup_reported_does_not_touch_the_closed_cursor(
    qtbot, case_path
) -> None:  # type: ignore[no-untyped-def]
    """The load finished on its thread, its result not yet delivered, then the case closes (as a
    window closing right after an import does): cancelling it must not interrupt its cursor,
    closed by then (that crashed the process)."""
    from PySide6.QtCore import QThreadPool

    from viewer.gui.case_session import CaseSession

    session = CaseSession.open(case_path, read_only=True)
    session.warm_pages(schema.field_names()[:3])
    assert QThreadPool.globalInstance().waitForDone(WAIT_MS)
    assert session.warmup is None  # its report is still queued
    session.close()
    session.deleteLater()


def test_closing_interrupts_the_blocks_load_rather_than_waiting_for_it(  # type: ignore[no-untyped-def]
    qtbot, settings, case_path, monkeypatch
) -> None:
    """The load scans every event of the shown columns (0.3-0.45 s at 10M events): closing the
    case waited for it with the window blocked. Now it is interrupted first."""
    import threading

    from viewer.core import page_warmup

    started = threading.Event()

    def endless(cur, _columns):  # type: ignore[no-untyped-def]
        started.set()  # a scan that only an interrupt ends
        cur.execute("SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3").fetchall()

    monkeypatch.setattr(page_warmup, "warm_pages", endless)
    win = open_window(qtbot, settings, case_path)
    assert started.wait(WAIT_MS / 1000)
    t0 = time.perf_counter()
    assert win.close_case()
    assert time.perf_counter() - t0 < 5  # the waits bound is 30 s


def test_closing_interrupts_a_pivot_panels_query_rather_than_waiting_for_it(  # type: ignore[no-untyped-def]
    qtbot, settings, case_path, monkeypatch
) -> None:
    """The features drop their sources when the case closes, which interrupts their queries; that
    came after the wait for the workers, so a panel's, card's or swimlanes' query was waited for."""
    import threading

    from viewer.gui.pivots import panel as panel_module

    started = threading.Event()

    def endless(cur, *_args):  # type: ignore[no-untyped-def]
        started.set()  # a query that only an interrupt ends
        cur.execute("SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3").fetchall()

    monkeypatch.setattr(panel_module, "panel_rows", endless)
    win = open_window(qtbot, settings, case_path)
    win.features[0].show_panel("principal_id")
    assert started.wait(WAIT_MS / 1000)
    t0 = time.perf_counter()
    assert win.close_case()
    assert time.perf_counter() - t0 < 5  # the wait's bound is 30 s


def test_a_worker_still_running_at_close_gets_its_connection_closed_after_it(
    qtbot, settings, case_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A worker that has not stopped within the close's wait (a machine too busy) still holds a
    cursor: the connection closes once it has stopped, not under it (which crashed the process)."""
    import threading

    import duckdb
    from PySide6.QtCore import QThreadPool

    from viewer.gui import main_window

    monkeypatch.setattr(main_window, "WORKERS_WAIT_MS", 50)
    win = open_window(qtbot, settings, case_path)
    session = win.session
    gate, done = threading.Event(), threading.Event()

    def busy_worker() -> None:
        try:
            gate.wait(WAIT_MS / 1000)
        finally:
            done.set()

    QThreadPool.globalInstance().start(busy_worker)
    assert win.close_case() and win.session is None  # the window let go of the case at once
    session.case.cursor().execute("SELECT count(*) FROM events").fetchall()  # still open under it
    gate.set()
    assert done.wait(WAIT_MS / 1000)

    def closed() -> bool:
        try:
            session.case.cursor()
        except duckdb.ConnectionException:
            return True
        return False

    qtbot.waitUntil(closed, timeout=WAIT_MS)
