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


@pytest.mark.parametrize("text", ["yesterday-ish", "", "14h99", "2024-13-45"])
def test_what_is_no_time_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read .* as a time: give e.g. 2024-03-12"):
        parse_moment(text)


DAY_OF = dt.datetime(2024, 3, 12, 20, 0, tzinfo=dt.UTC)  # already Mar 13 in Kolkata (01:30)


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("14:03", "Asia/Kolkata", dt.datetime(2024, 3, 13, 8, 33, tzinfo=dt.UTC)),  # Kolkata's day
        ("14:03Z", "Asia/Kolkata", dt.datetime(2024, 3, 12, 14, 3, tzinfo=dt.UTC)),  # UTC's day
        ("14:03:07.25 +02:00", "UTC", dt.datetime(2024, 3, 12, 12, 3, 7, 250000, tzinfo=dt.UTC)),
        ("9:15 utc", "Asia/Kolkata", dt.datetime(2024, 3, 12, 9, 15, tzinfo=dt.UTC)),
        ("23:59:59", "UTC", dt.datetime(2024, 3, 12, 23, 59, 59, tzinfo=dt.UTC)),
    ],
)
def test_a_time_of_day_alone_is_on_the_day_given_in_its_zone(
    text: str, zone: str, expected: dt.datetime
) -> None:
    assert parse_moment(text, zone, DAY_OF) == expected


def test_a_time_of_day_needs_a_day_and_a_clock() -> None:
    with pytest.raises(ValueError, match="names no day: give the date too"):
        parse_moment("14:03", "UTC")
    with pytest.raises(ValueError, match="hours 0-23, minutes and seconds 0-59"):
        parse_moment("24:10", "UTC", DAY_OF)
    with pytest.raises(ValueError, match="hours 0-23, minutes and seconds 0-59"):
        parse_moment("14:99", "UTC", DAY_OF)


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


def test_ctrl_g_with_a_time_of_day_goes_to_it_on_the_shown_events_day(
    qtbot, settings, case_path, sql
) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    time_text.set_display_zone("+05:30")
    zone = time_text.display_zone()
    times = [
        r[0].replace(tzinfo=dt.UTC)
        for r in sql.execute("SELECT ts FROM events ORDER BY ts, event_id").fetchall()
    ]
    row = next(i for i in range(len(times) // 2, len(times)) if 2 <= times[i].astimezone(zone).hour <= 22)
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS):
        win.table.select_row(row)
    target = (times[row] - dt.timedelta(minutes=90)).replace(microsecond=0)
    typed = target.astimezone(zone).strftime("%H:%M:%S")  # the clock alone, at +05:30

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        assert times[row].astimezone(zone).strftime("%Y-%m-%d") in dialog.labelText()
        dialog.setTextValue(typed)
        dialog.accept()

    QTimer.singleShot(200, answer)
    with qtbot.waitSignal(win.time_jump.located, timeout=WAIT_MS) as blocker:
        win.go_to_time_action.trigger()
    moment, landed = blocker.args
    assert moment == target
    assert landed == sum(1 for t in times if t < target)


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
    with qtbot.waitSignal(model.modelRefreshed, timeout=WAIT_MS):  # another view: the jump is off
        model.set_descending(True)
    assert "Going to" not in win.statusBar().currentMessage()
    with qtbot.waitSignal(model.modelRefreshed, timeout=WAIT_MS):
        model.set_descending(False)
    assert not model.count_exact and located == []
    win.time_jump.go_to(moment)
    qtbot.waitUntil(lambda: "so far" in win.statusBar().currentMessage(), timeout=WAIT_MS)
    gate.set()
    qtbot.waitUntil(lambda: located != [], timeout=WAIT_MS)
    assert located == [target]  # landed once the count reached it
    assert win.table.currentIndex().row() == target
    assert f"Went to {time_text.format_ts(moment)}: row {target + 1:,} of" in win.statusBar().currentMessage()
