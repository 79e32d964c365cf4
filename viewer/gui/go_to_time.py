"""View › Go to time (Ctrl+G): the table's first event at a moment an analyst was given.

A ticket says "14:03 UTC", a colleague "10:03 our time", a log line `1710252187`: the moment
is typed as it came (ISO-8601 with or without an offset, epoch seconds or milliseconds,
US/EU dates, CLF; `formats.timeparse.guess`), read in the display zone when it names no
offset. A time of day alone (`14:03`, `14:03:07Z`, `09:15 +02:00`) is on the day of the event
shown in the detail pane, or else of the middle of the timeline, in the zone it is read in.
The timeline centres on it at its present zoom and the table selects the first event at or
after it under the current filter (the last at or before it when sorted newest first),
read and counted by SQL in the background (`paging.row_at_time`; guessing the format alone takes
~100 ms of DuckDB, too long for the window's thread). While a free-text search is still
counting, the table may not have reached that row yet: the jump waits for it (the status bar
says so) rather than landing on the last row found so far.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QAbstractItemView, QInputDialog, QMessageBox

from viewer.core.jobs import CancelToken
from viewer.core.paging import row_at_time
from viewer.formats.timeparse import guess, parse_values
from viewer.gui import time_text
from viewer.gui.jobs_qt import SupersedingRunner

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow


# A time of day with an optional fraction and zone: 14:03, 14:03:07.250, 14:03Z, 9:15 UTC, 09:15+0200.
_TIME_OF_DAY = re.compile(
    r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?", re.IGNORECASE
)


def parse_moment(text: str, zone: str | None = None, day_of: dt.datetime | None = None) -> dt.datetime:
    """`text` as a UTC moment; a time without an offset is in `zone` (a `time_text` zone name;
    the display zone if None), a time of day alone on the day `day_of` falls on there.
    ValueError, with the forms that work, when nothing reads it."""
    zone = zone or time_text.display_zone_name()
    value = text.strip()
    at_day = _time_of_day(value, zone, day_of)
    if at_day is not None:
        return at_day
    spec = guess([value], zone=zone) if value else None
    moment = parse_values([value], spec)[0] if spec is not None else None
    if moment is None:
        raise ValueError(
            f"cannot read '{text}' as a time: give e.g. 2024-03-12 14:03:07 (in {zone}), "
            "2024-03-12T14:03:07Z, 2024-03-12 16:03+02:00 or 1710252187"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _time_of_day(value: str, zone: str, day_of: dt.datetime | None) -> dt.datetime | None:
    """A time of day alone (None for any other text) on `day_of`'s date in its zone."""
    m = _TIME_OF_DAY.fullmatch(value)
    if m is None:
        return None
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"cannot read '{value}' as a time of day: hours 0-23, minutes and seconds 0-59")
    micro = int((m.group(4) or "0")[:6].ljust(6, "0"))
    tz = time_text.parse_zone(m.group(5) or zone)[0]
    if day_of is None:
        raise ValueError(f"'{value}' names no day: give the date too (e.g. 2024-03-12 {value})")
    day = day_of.astimezone(tz).date()
    return dt.datetime.combine(day, dt.time(hour, minute, second, micro), tz).astimezone(dt.UTC)


WAITING = "Going to"  # the status bar's words while a jump waits for a counting search


class TimeJump(QObject):
    """Goes to a moment: the timeline centred on it, the table's row selected."""

    located = Signal(object, int)  # the moment (UTC), the table row selected (-1: no row)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_row)
        self._runner.failed.connect(lambda m: window.statusBar().showMessage(m.splitlines()[0], 10000))
        window.caseChanged.connect(self._on_case_changed)
        # A jump past the rows a counting search has found so far: (moment, row), landed when
        # the count reaches the row, forgotten when the table shows another view.
        self._waiting: tuple[dt.datetime, int] | None = None
        window.table_model.countChanged.connect(self._on_count)
        window.table_model.modelRefreshed.connect(self._forget_waiting)

    @Slot(object)
    def _on_case_changed(self, _session: object) -> None:
        self._runner.cancel()  # before the case closes: a count still running is interrupted
        self._waiting = None

    @Slot()
    def _forget_waiting(self) -> None:
        if self._waiting is not None and self.window.statusBar().currentMessage().startswith(WAITING):
            self.window.statusBar().clearMessage()  # the jump it told of will not happen
        self._waiting = None

    @Slot(object)
    def _on_count(self, _count: object) -> None:
        if self._waiting is not None:
            self._land(*self._waiting)

    def ask(self) -> None:
        if self.window.session is None:
            return
        shown = self.window.detail.detail
        start = shown.fields.get("ts") if shown is not None else None
        day_of = start if isinstance(start, dt.datetime) else self._view_middle()
        on_day = day_of.astimezone(time_text.display_zone()).strftime("%Y-%m-%d")
        text, ok = QInputDialog.getText(
            self.window,
            "Go to time",
            f"Time ({time_text.zone_label()} unless it names its offset, e.g. Z or +02:00;\n"
            f"a time of day alone, such as 14:03, is on {on_day}):",
            text=time_text.format_ts_short(start) if isinstance(start, dt.datetime) else "",
        )
        if ok and text.strip():
            self.go_to_text(text, day_of)

    def _view_middle(self) -> dt.datetime:
        lo, hi = self.window.timeline.view_box.viewRange()[0]
        return dt.datetime.fromtimestamp((lo + hi) / 2, dt.UTC)

    def go_to_text(self, text: str, day_of: dt.datetime | None = None) -> None:
        """Go to the moment `text` names, read in the display zone of now (in the background); a
        time of day alone on the day of `day_of` (default: the middle of the timeline)."""
        zone = time_text.display_zone_name()
        day = day_of or self._view_middle()
        self._count(lambda: parse_moment(text, zone, day))

    def go_to(self, moment: dt.datetime) -> None:
        self._count(lambda: moment)

    def _count(self, moment_of: Callable[[], dt.datetime]) -> None:
        session = self.window.session
        if session is None:
            return
        self._waiting = None  # this jump replaces one still waiting
        model = self.window.table_model
        factory, filt, descending = session.cursor, model.event_filter, model.descending

        def work(token: CancelToken) -> tuple[dt.datetime, int, object] | str:
            try:
                moment = moment_of()
            except ValueError as exc:
                return str(exc)
            cur = factory()
            remove = token.interrupts(cur)  # a newer jump, or the case closing, stops the count
            try:
                return moment, row_at_time(cur, filt, moment, descending), (filt, descending)
            finally:
                remove()
                cur.close()

        self._runner.submit(work)

    @Slot(object)
    def _on_row(self, result: object) -> None:
        if isinstance(result, str):  # the text named no time
            QMessageBox.warning(self.window, "Go to time", result)
            return
        moment, row, view = cast(tuple[dt.datetime, int, object], result)
        model = self.window.table_model
        if view != (model.event_filter, model.descending):  # the table changed while counting
            self.go_to(moment)
            return
        timeline = self.window.timeline
        lo, hi = timeline.view_box.viewRange()[0]
        half = (hi - lo) / 2  # centred at the present zoom
        timeline.view_box.setXRange(moment.timestamp() - half, moment.timestamp() + half, padding=0)
        self._land(moment, row)

    def _land(self, moment: dt.datetime, row: int) -> None:
        """Select `row`, or wait for a counting search to reach it."""
        model = self.window.table_model
        count = model.rowCount()
        shown = time_text.format_ts(moment)
        if row >= count and not model.count_exact:
            self._waiting = (moment, row)
            self.window.statusBar().showMessage(
                f"{WAITING} {shown}: row {row + 1:,}, the search has found {count:,} rows so far…"
            )
            return
        self._waiting = None
        if count == 0:
            self.window.statusBar().showMessage(f"No event in the table to go to at {shown}.", 10000)
            self.located.emit(moment, -1)
            return
        row = min(row, count - 1)  # after the last event: the last one
        table = self.window.table
        table.select_row(row)
        # The moment mid-table: what came before it matters as much as what followed.
        table.scrollTo(self.window.table_model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        self.window.statusBar().showMessage(f"Went to {shown}: row {row + 1:,} of {count:,}.", 10000)
        self.located.emit(moment, row)


def install(window: MainWindow) -> TimeJump:
    jump = TimeJump(window)
    action = window.view_menu.addAction("&Go to time…")
    action.setShortcut("Ctrl+G")
    action.triggered.connect(jump.ask)
    window.addAction(action)  # the shortcut works with the menu bar hidden too
    window.go_to_time_action = action
    return jump
