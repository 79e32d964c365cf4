"""The query workbench in the window: run, errors at their position, back to the events, library."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from viewer.core.query import library

from .conftest import WAIT_MS, open_window


def _run(qtbot, tab, text: str, language: str = "sql") -> None:  # type: ignore[no-untyped-def]
    tab.set_text(text, language)
    with qtbot.waitSignal(tab._lane.busyChanged, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        QTest.keyClick(tab.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_enter_runs_and_the_grid_pages_the_result(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    QTest.keyClick(win, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert win.query_dock.isVisible()
    tab = win.query_dock.current_tab
    _run(qtbot, tab, "SELECT event_id, ts, action FROM events ORDER BY ts, event_id")
    expected = sql.execute("SELECT count(*) FROM events").fetchone()[0]
    assert tab.model.rowCount() == expected
    assert tab.status.text().startswith(f"{expected:,} rows")
    last = sql.execute(
        "SELECT action FROM events ORDER BY ts, event_id OFFSET ? LIMIT 1", [expected - 1]
    ).fetchone()[0]
    assert tab.model.data(tab.model.index(expected - 1, 2)) == last  # a block far from the first
    assert "+00:00" in tab.model.data(tab.model.index(0, 1))  # times carry their offset


def test_error_is_marked_at_its_line_and_column(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    tab = win.query_dock.current_tab
    _run(qtbot, tab, "SELECT action\nFROM events\nWHERE nope = 1")
    assert "nope" in tab.status.text() and "line 3, column 7" in tab.status.text()
    [mark] = tab.editor.extraSelections()
    assert mark.cursor.blockNumber() == 2 and mark.cursor.selectedText() == "nope"
    _run(qtbot, tab, "DELETE FROM events")
    assert "only SELECT" in tab.status.text()


def test_result_leads_to_the_timeline_and_the_event(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    tab = win.query_dock.current_tab
    _run(qtbot, tab, "SELECT event_id, ts FROM events WHERE action = 'GetObject' ORDER BY ts LIMIT 50")
    lo, hi = sql.execute(
        "SELECT min(ts), max(ts) FROM (SELECT ts FROM events WHERE action = 'GetObject' ORDER BY ts LIMIT 50)"
    ).fetchone()
    with qtbot.waitSignal(win.filter_bar.filterChanged, timeout=WAIT_MS) as blocker:
        tab.timeline_button.click()
    start, end = blocker.args[0].time_range
    assert start == lo and hi < end
    tab.grid.setCurrentIndex(tab.model.index(4, 0))
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS) as shown:
        tab.event_button.click()
    assert shown.args[0].event_id == tab.model.row(4)["event_id"]


def test_group_by_draws_a_chart_and_show_sql_shows_the_query(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    tab = win.query_dock.current_tab
    _run(qtbot, tab, "SELECT time_bucket(INTERVAL 1 DAY, ts) AS day, count(*) AS n FROM events GROUP BY 1")
    assert tab.chart.caption.text().startswith("n over day")
    assert len(tab.chart.plot.getPlotItem().items) == 1
    tab.sql_button.click()
    assert tab.sql_view.isVisible() and "time_bucket" in tab.sql_view.toPlainText()


def test_the_chart_is_read_in_the_worker_and_grouped_bars_are_ranked(  # type: ignore[no-untyped-def]
    qtbot, settings, case_path, sql, monkeypatch
) -> None:
    """The chart's rows and the grid's first rows are read in the query's thread, not the
    window's (a 10,000-row result blocked the main thread 55-90 ms for its chart alone); the bars
    are the top groups, largest first."""
    import threading

    from viewer.gui.query import tab as tab_module

    threads: list[threading.Thread] = []

    def recorded(real):  # type: ignore[no-untyped-def]
        def call(runner, result):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread())
            return real(runner, result)

        return call

    monkeypatch.setattr(tab_module, "chart_data", recorded(tab_module.chart_data))
    monkeypatch.setattr(tab_module, "first_rows", recorded(tab_module.first_rows))
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    tab = win.query_dock.current_tab
    _run(qtbot, tab, "SELECT action, count(*) AS n FROM events GROUP BY 1")
    assert len(threads) == 2 and all(t is not threading.main_thread() for t in threads)
    first = tab.model.row(0)  # from the rows the worker read
    assert (
        first["n"]
        == sql.execute("SELECT count(*) FROM events WHERE action = ?", [first["action"]]).fetchone()[0]
    )
    counts = [
        n
        for (n,) in sql.execute("SELECT count(*) AS n FROM events GROUP BY action ORDER BY n DESC").fetchall()
    ]
    (bars,) = tab.chart.plot.getPlotItem().items
    assert list(bars.opts["height"]) == counts[:30]
    assert tab.chart.caption.text() == f"n by action: top {min(len(counts), 30)}"


def test_library_query_opens_in_a_new_tab_and_history_remembers(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    dock = win.query_dock
    # Reads only `events`: the synthetic case is written directly, without the tables an import
    # derives (raw_volume, which volume_by_source reads).
    q = library.get("volume_per_hour")
    tab = dock.open_library_query(q.name, "sql")
    assert dock.tabs.count() == 2 and q.text("sql") in tab.editor.toPlainText()
    _run(qtbot, tab, tab.editor.toPlainText())
    assert tab.model.rowCount() > 0
    assert dock.history()[0] == ("sql", tab.editor.toPlainText().strip())


def test_completion_offers_raw_json_paths(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    dock = win.query_dock
    qtbot.waitUntil(lambda: len(dock.words.json_paths) > 0, timeout=WAIT_MS)
    tab = dock.current_tab
    tab.set_language("kql")
    tab.editor.setPlainText("")
    QTest.keyClicks(tab.editor, "raw.userIdentity.ar")
    popup = tab.editor.completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    assert tab.editor.completer.currentCompletion() == "raw.userIdentity.arn"


def test_ctrl_c_copies_the_selected_cells_with_headers(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    tab = win.query_dock.current_tab
    _run(qtbot, tab, "SELECT action, count(*) AS n FROM events GROUP BY action ORDER BY n DESC, action")
    tab.grid.selectRow(0)
    tab.grid.setFocus()
    QTest.keyClick(tab.grid, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    first = tab.model.row(0)
    assert QApplication.clipboard().text() == f"action\tn\n{first['action']}\t{first['n']}"


def test_logs_insights_says_what_it_applied_unasked(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    """A query without `sort` and `limit` gets Logs Insights' defaults; the status line and Show
    SQL say so, and the long line does not widen the dock."""
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    tab = win.query_dock.current_tab
    width = win.query_dock.minimumSizeHint().width()
    _run(qtbot, tab, "fields @timestamp, eventName", "insights")
    assert tab.status.text().startswith(f"{tab.model.rowCount():,} rows in ")
    assert "at most 10,000 rows" in tab.status.text()
    assert "most recent events first" in tab.status.toolTip()
    assert win.query_dock.minimumSizeHint().width() == width
    tab.sql_button.click()
    shown = tab.sql_view.toPlainText()
    assert shown.startswith("-- no sort: most recent events first") and "\nSELECT " in shown
