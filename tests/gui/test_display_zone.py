"""The display zone: times shown in a zone the analyst picks, the case untouched, every view
following a change at once and the choice remembered."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QInputDialog, QMessageBox

from viewer.gui import display_zone, time_text
from viewer.gui.main_window import MainWindow
from viewer.gui.pivots.panel import PanelModel
from viewer.gui.time_axis import ZonedDateAxis

from .conftest import WAIT_MS, open_window

KOLKATA = dt.timedelta(hours=5, minutes=30)


@pytest.mark.parametrize(
    ("spec", "name", "offset"),
    [
        ("UTC", "UTC", dt.timedelta(0)),
        ("z", "UTC", dt.timedelta(0)),
        ("+05:30", "+05:30", KOLKATA),
        ("UTC-8", "-08:00", dt.timedelta(hours=-8)),
        ("-0800", "-08:00", dt.timedelta(hours=-8)),
        ("+00:00", "UTC", dt.timedelta(0)),
        ("Asia/Kolkata", "Asia/Kolkata", KOLKATA),
    ],
)
def test_zone_forms_a_user_types(spec: str, name: str, offset: dt.timedelta) -> None:
    zone, shown = time_text.parse_zone(spec)
    assert shown == name
    assert dt.datetime(2024, 3, 12, tzinfo=dt.UTC).astimezone(zone).utcoffset() == offset


@pytest.mark.parametrize("spec", ["Mars/Olympus_Mons", "+25:00", "+05:75", "noon", ""])
def test_a_zone_that_names_nothing_is_refused_with_the_forms_to_use(spec: str) -> None:
    with pytest.raises(ValueError, match=r"UTC|offset"):
        time_text.parse_zone(spec)


def test_local_follows_the_machine_zone_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert time_text.local_zone_name() == "America/New_York"
    zone, name = time_text.parse_zone("local (America/New_York)")  # as the picker lists it
    assert name == "America/New_York" and isinstance(zone, ZoneInfo)


def test_each_time_carries_its_own_offset_across_a_change_to_summer_time() -> None:
    time_text.set_display_zone("Europe/Berlin")
    winter = dt.datetime(2024, 3, 30, 12, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2024, 4, 1, 12, 0, tzinfo=dt.UTC)
    assert time_text.format_ts(winter) == "2024-03-30 13:00:00.000 +01:00"
    assert time_text.format_ts(summer) == "2024-04-01 14:00:00.000 +02:00"
    assert time_text.format_range(winter, summer) == (
        "2024-03-30 13:00:00 → 2024-04-01 14:00:00 (Europe/Berlin, UTC+01:00 → UTC+02:00)"
    )
    assert time_text.zone_tag() == "Europe/Berlin"  # a header cannot name one offset
    time_text.set_display_zone("+05:30")
    assert time_text.zone_tag() == "+05:30" and time_text.zone_label() == "UTC+05:30"
    # The case's time is the same instant, whatever the zone shows.
    assert time_text.to_display(winter).astimezone(dt.UTC) == winter


def test_times_at_the_ends_of_the_calendar_stay_shown_in_utc_where_the_zone_cannot() -> None:
    first = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    last = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    time_text.set_display_zone("America/Los_Angeles")
    assert time_text.format_ts(first) == "0001-01-01 00:00:00.000 +00:00"  # no year 0 to show
    assert time_text.format_ts(last).endswith("-08:00")
    time_text.set_display_zone("Asia/Tokyo")
    assert time_text.format_ts(last) == "9999-12-31 23:59:59.000 +00:00"
    assert time_text.format_ts(first) == "0001-01-01 09:18:59.000 +09:18:59"  # Tokyo's mean solar time


def _shown_axis(qtbot) -> ZonedDateAxis:  # type: ignore[no-untyped-def]
    """An axis in a shown plot: pyqtgraph measures its labels with the painter's font."""
    axis = ZonedDateAxis()
    plot = pg.PlotWidget(axisItems={"bottom": axis})
    qtbot.addWidget(plot)
    plot.resize(1200, 300)
    plot.show()
    qtbot.waitExposed(plot)
    qtbot.waitUntil(lambda: hasattr(axis, "fontMetrics"), timeout=WAIT_MS)
    return axis


def _ticks(axis: ZonedDateAxis, lo: float, hi: float) -> dict[float, list[float]]:
    return dict(axis.tickValues(lo, hi, 1200))


def test_day_ticks_fall_on_the_zones_midnights_and_are_labelled_there(qtbot) -> None:  # type: ignore[no-untyped-def]
    lo = dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()
    hi = lo + 6 * 86400
    axis = _shown_axis(qtbot)
    utc_days = _ticks(axis, lo, hi)[86400]
    assert utc_days and all(t % 86400 == 0 for t in utc_days)
    time_text.set_display_zone("Asia/Kolkata")
    days = _ticks(axis, lo, hi)[86400]
    assert days and all((t + KOLKATA.total_seconds()) % 86400 == 0 for t in days)
    labels = axis.tickStrings(days, 1.0, 86400)
    expected = [dt.datetime.fromtimestamp(t, ZoneInfo("Asia/Kolkata")).strftime("%b %d") for t in days]
    assert labels == expected


def test_hour_ticks_follow_a_change_to_summer_time_in_their_labels(qtbot) -> None:  # type: ignore[no-untyped-def]
    time_text.set_display_zone("Europe/Berlin")
    axis = _shown_axis(qtbot)
    lo = dt.datetime(2024, 3, 31, 0, 0, tzinfo=dt.UTC).timestamp()  # 01:00 -> 03:00 local at 01:00 UTC
    hours = _ticks(axis, lo, lo + 12 * 3600)[3600]
    assert hours
    labels = axis.tickStrings(hours, 1.0, 3600)
    expected = [dt.datetime.fromtimestamp(t, ZoneInfo("Europe/Berlin")).strftime("%H:%M") for t in hours]
    assert labels == expected and "02:00" not in labels  # 02:00 never happened in Berlin that night


def test_day_ticks_stay_on_midnight_across_a_change_to_summer_time(qtbot) -> None:  # type: ignore[no-untyped-def]
    # A week over Berlin's change: one offset for the whole view put the days on one side of it
    # at 01:00 or 23:00.
    time_text.set_display_zone("Europe/Berlin")
    axis = _shown_axis(qtbot)
    berlin = ZoneInfo("Europe/Berlin")
    for start in (dt.datetime(2024, 3, 27, tzinfo=dt.UTC), dt.datetime(2024, 10, 23, tzinfo=dt.UTC)):
        lo = start.timestamp()
        days = _ticks(axis, lo, lo + 8 * 86400)[86400]
        assert len(days) >= 7
        assert [dt.datetime.fromtimestamp(t, berlin).strftime("%H:%M") for t in days] == ["00:00"] * len(days)
        assert len({dt.datetime.fromtimestamp(t, berlin).date() for t in days}) == len(days)


def test_changing_the_zone_rewrites_every_time_in_the_window(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    qtbot.waitUntil(lambda: win.span_label.text() != "", timeout=WAIT_MS)
    model = win.table_model
    time_col = model.columns.index("ts")
    utc_text = model.data(model.index(0, time_col))
    assert utc_text.endswith("+00:00")
    utc_edges = win.timeline.buckets.edges
    assert round(utc_edges[0]) % round(win.timeline.buckets.bucket.total_seconds()) == 0
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS):
        win.table.select_row(0)
    first, last = sql.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    lo, hi = first + dt.timedelta(hours=1), first + dt.timedelta(hours=5)
    with qtbot.waitSignal(model.countChanged, timeout=WAIT_MS):
        win.filter_bar.set_time_range(lo.replace(tzinfo=dt.UTC), hi.replace(tzinfo=dt.UTC))
    qtbot.waitUntil(lambda: model.is_row_loaded(0), timeout=WAIT_MS)
    ts0 = sql.execute("SELECT ts FROM events WHERE event_id = ?", [model.event_id_at(0)]).fetchone()[0]

    with qtbot.waitSignal(win.timeline.bucketsDrawn, timeout=WAIT_MS):
        display_zone.apply("Asia/Kolkata", settings)
    qtbot.waitUntil(lambda: model.is_row_loaded(0), timeout=WAIT_MS)  # its page, read again

    local = ts0.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    assert (
        model.data(model.index(0, time_col))
        == f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} +05:30"
    )
    shown = first.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    assert win.span_label.text().startswith(f"{shown:%Y-%m-%d %H:%M:%S} → ")
    assert win.span_label.text().endswith("(Asia/Kolkata, UTC+05:30)")
    assert win.filter_bar.range_label.text().endswith("(Asia/Kolkata, UTC+05:30)")
    fields = {
        win.detail.fields_table.item(r, 0).toolTip(): win.detail.fields_table.item(r, 1).text()
        for r in range(win.detail.fields_table.rowCount())
    }
    assert fields["ts"].endswith("+05:30")
    assert win.timeline.axis.labelText == "Time (Asia/Kolkata)"
    edges, width = win.timeline.buckets.edges, win.timeline.buckets.bucket.total_seconds()
    assert width >= 3600  # the whole case in view: hour or wider bars...
    assert round(edges[0] + KOLKATA.total_seconds()) % round(width) == 0  # ...from the zone's hours
    assert round(edges[0]) % round(width) != 0  # which are not UTC's
    assert settings.value(display_zone.SETTING) == "Asia/Kolkata"


def test_the_zone_is_remembered_and_a_bad_one_is_refused(qtbot, settings: QSettings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.setValue(display_zone.SETTING, "America/Los_Angeles")
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    assert time_text.display_zone_name() == "America/Los_Angeles"
    assert win.timeline.axis.labelText == "Time (America/Los_Angeles)"
    warned: list[str] = []
    monkeypatch.setattr(display_zone, "_choose", lambda *a: ("Atlantis/Lost", True))
    monkeypatch.setattr(QMessageBox, "warning", lambda _w, _t, text: warned.append(text))
    assert not display_zone.ask_zone(win)
    assert warned and "unknown time zone 'Atlantis/Lost'" in warned[0]
    assert time_text.display_zone_name() == "America/Los_Angeles"  # unchanged
    monkeypatch.setattr(display_zone, "_choose", lambda *a: ("+05:45", True))
    assert display_zone.ask_zone(win)
    assert settings.value(display_zone.SETTING) == "+05:45"
    # Where the status bar names the zone, a click changes it.
    win.show()
    qtbot.waitExposed(win)
    monkeypatch.setattr(display_zone, "_choose", lambda *a: ("Europe/Berlin", True))
    QTest.mouseClick(win.span_label, Qt.MouseButton.LeftButton)
    assert time_text.display_zone_name() == "Europe/Berlin"
    assert settings.value(display_zone.SETTING) == "Europe/Berlin"
    settings.setValue(display_zone.SETTING, "Not/AZone")  # a setting from elsewhere: UTC, no error
    display_zone.restore(settings)
    assert time_text.display_zone_name() == "UTC"


def test_pivot_panels_name_the_zone_in_their_time_headers() -> None:
    model = PanelModel()
    heads = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert "First seen (+00:00)" in heads and "Last seen (+00:00)" in heads
    time_text.set_display_zone("Europe/Berlin")
    heads = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert "First seen (Europe/Berlin)" in heads and "Events" in heads


def test_the_picker_finds_a_zone_by_any_part_of_its_name(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = display_zone.picker(None, time_text.zone_choices())  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    combo = dialog.findChild(QComboBox)
    assert combo is not None and combo.isEditable()
    completer = combo.completer()
    completer.setCompletionPrefix("kolk")
    found = [completer.completionModel().index(r, 0).data() for r in range(completer.completionCount())]
    assert found == ["Asia/Kolkata"]
    dialog.setTextValue("+05:30")
    assert dialog.textValue() == "+05:30"  # an offset may be typed too


def test_choosing_in_the_real_picker_changes_the_zone(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        dialog.setTextValue("Asia/Kolkata")
        dialog.accept()

    QTimer.singleShot(200, answer)
    assert win.zone_action is not None
    win.zone_action.trigger()
    assert time_text.display_zone_name() == "Asia/Kolkata"
    assert settings.value(display_zone.SETTING) == "Asia/Kolkata"
