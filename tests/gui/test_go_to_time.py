"""View › Go to time: a moment typed as it came, the table's first event at it selected and the
timeline centred on it."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from viewer.gui import time_text
from viewer.gui.go_to_time import parse_moment

from .conftest import WAIT_MS, build_counting_case, open_window


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2024-03-12T14:03:07Z", "Asia/Kolkata", dt.datetime(2024, 3, 12, 14, 3, 7, tzinfo=dt.UTC)),
        ("2024-03-12 14:03:07", "UTC", dt.datetime(2024, 3, 12, 14, 3, 7, tzinfo=dt.UTC)),
        ("2024-03-12 14:03:07", "Asia/Kolkata", dt.datetime(2024, 3, 12, 8, 33, 7, tzinfo=dt.UTC)),
        ("2024-03-12 16:03:07+02:00", "America/New_York", dt.datetime(2024, 3, 12, 14, 3, 7, tzinfo=dt.UTC)),
        ("1710252187", "Asia/Kolkata", dt.datetime(2024, 3, 12, 14, 3, 7, tzinfo=dt.UTC)),
        ("1710252187000", "UTC", dt.datetime(2024, 3, 12, 14, 3, 7, tzinfo=dt.UTC)),
    ],
)
def test_a_moment_is_read_as_it_came(text: str, zone: str, expected: dt.datetime) -> None:
    time_text.set_display_zone(zone)
    assert parse_moment(text) == expected


@pytest.mark.parametrize("text", ["yesterday-ish", "", "14:99"])
def test_what_is_no_time_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read .* as a time: give e.g. 2024-03-12"):
        parse_moment(text)


def _table_times(win, sql, rows):  # type: ignore[no-untyped-def]
    model = win.table_model
    return [
        sql.execute("SELECT ts FROM events WHERE event_id = ?", [model.event_id_at(r)]).fetchone()[0]
        for r in rows
    ]


def test_going_to_a_moment_selects_its_first_event_and_centres_the_timeline(
    qtbot, settings, case_path, sql
) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    times = [r[0] for r in sql.execute("SELECT ts FROM events ORDER BY ts, event_id").fetchall()]
    moment = (times[len(times) // 3] + dt.timedelta(microseconds=1)).replace(tzinfo=dt.UTC)
    lo, hi = win.timeline.view_box.viewRange()[0]
    with qtbot.waitSignal(win.time_jump.located, timeout=WAIT_MS) as blocker:
        win.time_jump.go_to(moment)
    row = blocker.args[1]
    assert row == sum(1 for t in times if t.replace(tzinfo=dt.UTC) < moment)
    qtbot.waitUntil(lambda: win.table_model.is_row_loaded(row), timeout=WAIT_MS)
    assert win.table.currentIndex().row() == row
    before, at = _table_times(win, sql, [row - 1, row])
    assert before.replace(tzinfo=dt.UTC) < moment <= at.replace(tzinfo=dt.UTC)
    new_lo, new_hi = win.timeline.view_box.viewRange()[0]
    assert abs((new_lo + new_hi) / 2 - moment.timestamp()) < 1 and abs((new_hi - new_lo) - (hi - lo)) < 1
    assert "row" in win.statusBar().currentMessage()


def test_ctrl_g_reads_a_time_in_the_display_zone_newest_first(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        win.table_model.set_descending(True)
    time_text.set_display_zone("+05:30")
    times = [r[0] for r in sql.execute("SELECT ts FROM events ORDER BY ts").fetchall()]
    target = times[len(times) // 2].replace(tzinfo=dt.UTC, microsecond=0)
    typed = target.astimezone(time_text.display_zone()).strftime("%Y-%m-%d %H:%M:%S")  # no offset

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        dialog.setTextValue(typed)
        dialog.accept()

    QTimer.singleShot(200, answer)
    with qtbot.waitSignal(win.time_jump.located, timeout=WAIT_MS) as blocker:
        assert win.go_to_time_action is not None and win.go_to_time_action.shortcut().toString() == "Ctrl+G"
        win.go_to_time_action.trigger()
    moment, row = blocker.args
    assert moment == target  # read at +05:30, not as UTC
    assert row == sum(1 for t in times if t.replace(tzinfo=dt.UTC) > target)  # newest first
    qtbot.waitUntil(lambda: win.table_model.is_row_loaded(row), timeout=WAIT_MS)
    (at,) = _table_times(win, sql, [row])
    assert at.replace(tzinfo=dt.UTC) <= target


def test_closing_the_case_interrupts_a_count_still_running(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    located: list[object] = []
    win.time_jump.located.connect(lambda *a: located.append(a))
    win.time_jump.go_to(dt.datetime(2024, 3, 12, tzinfo=dt.UTC))
    assert win.close_case()  # returns once the count has been interrupted or has finished
    qtbot.wait(300)
    assert win.session is None and located == []  # nothing selected in a window with no case


def test_a_text_that_names_no_time_is_refused_without_moving(qtbot, settings, case_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox

    win = open_window(qtbot, settings, case_path)
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _w, _t, text: warned.append(text))
    view = win.timeline.view_box.viewRange()[0]
    win.time_jump.go_to_text("sometime on tuesday")  # read in the background, not the window's thread
    qtbot.waitUntil(lambda: bool(warned), timeout=WAIT_MS)
    assert "cannot read 'sometime on tuesday' as a time" in warned[0]
    assert win.timeline.view_box.viewRange()[0] == view


def test_a_jump_past_the_rows_a_search_has_found_waits_for_its_count(
    qtbot, settings, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A free-text search shows its first rows while it counts on; a jump to a moment beyond
    them once landed on the last row found so far. It now waits and lands on the right row."""
    import threading

    from viewer.core.case_file import CaseFile
    from viewer.core.event_query import EventFilter, where_sql
    from viewer.core.paging import EventPager

    path = build_counting_case(tmp_path / "indexed.caseline", monkeypatch)
    with CaseFile.open(path) as case:
        cur = case.cursor()
        word = "alice"
        where, params = where_sql(EventFilter(text=word), use_index=False)  # the search, by scanning
        sql = f"SELECT ts FROM events WHERE {where} ORDER BY ts, event_id"
        matching = [r[0] for r in cur.execute(sql, params).fetchall()]
    gate = threading.Event()  # holds the search's count until the jump has been asked
    advance = EventPager.advance

    def held_advance(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        gate.wait(WAIT_MS / 1000)
        return advance(self, *args, **kwargs)

    monkeypatch.setattr(EventPager, "advance", held_advance)
    win = open_window(qtbot, settings, path)
    model = win.table_model
    with qtbot.waitSignal(model.modelRefreshed, timeout=WAIT_MS):
        model.set_filter(EventFilter(text=word))
    found = model.rowCount()
    assert not model.count_exact and 0 < found < len(matching) - 5
    target = len(matching) - 3
    moment = matching[target].replace(tzinfo=dt.UTC)
    located: list[int] = []
    win.time_jump.located.connect(lambda _m, row: located.append(row))
    win.time_jump.go_to(moment)
    qtbot.waitUntil(lambda: "so far" in win.statusBar().currentMessage(), timeout=WAIT_MS)
    assert located == []  # not on the last row found so far
    gate.set()
    qtbot.waitUntil(lambda: located != [], timeout=WAIT_MS)
    assert located == [target]  # landed once the count reached it
    assert win.table.currentIndex().row() == target
    assert f"Went to {time_text.format_ts(moment)}: row {target + 1:,} of" in win.statusBar().currentMessage()
