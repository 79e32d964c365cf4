"""Where annotations show: a decoration on each annotated row, markers on the timeline.

Rows: the table model fetches `annotation_views.for_events` with each page on its worker thread
(`EventTableModel.set_row_extras`), so a page costs one small query, never one per cell; the
first column gets an icon (star, tag colour, note mark) and a tooltip, the row a light tint.
Timeline: the annotated events and bookmarks of the whole case are read in the background after
each change (a case has thousands of annotations, not millions) and drawn as markers and bands.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from viewer.core.case_file import CaseFile
from viewer.core.casework import annotation_views
from viewer.core.casework.annotation_views import EventAnnotation
from viewer.core.jobs import CancelToken
from viewer.gui.casework.annotation_dialogs import STAR_COLOUR, annotation_colour
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

MAX_MARKERS = 5000  # drawn on the timeline; the findings dock lists them all

_ICONS: dict[tuple[bool, str | None, bool], QIcon] = {}


def row_icon(ann: EventAnnotation) -> QIcon:
    """★ when starred, a dot in the tag colour when tagged, a corner mark when noted."""
    tag_colour = annotation_colour(False, ann.tags) if ann.tags else None
    key = (ann.starred, tag_colour, ann.note is not None)
    icon = _ICONS.get(key)
    if icon is None:
        icon = QIcon(_paint_icon(*key))
        _ICONS[key] = icon
    return icon


def _paint_icon(starred: bool, tag_colour: str | None, noted: bool) -> QPixmap:
    pm = QPixmap(28, 14)  # narrow: it shares the time column
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    if starred:
        font = QFont()
        font.setPixelSize(13)
        p.setFont(font)
        p.setPen(QColor(STAR_COLOUR))
        p.drawText(QRectF(0, -1, 12, 15), Qt.AlignmentFlag.AlignCenter, "★")
    if tag_colour is not None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(tag_colour))
        p.drawEllipse(QPointF(16.5, 7), 4, 4)
    if noted:
        p.setPen(QColor("#455A64"))
        p.drawRect(QRectF(21.5, 2.5, 6, 9))
        p.drawLine(QPointF(23, 5.5), QPointF(26, 5.5))
        p.drawLine(QPointF(23, 8.5), QPointF(26, 8.5))
    p.end()
    return pm


def row_tooltip(ann: EventAnnotation) -> str:
    parts = []
    if ann.starred:
        parts.append("★ starred")
    if ann.tags:
        parts.append("tags: " + ", ".join(ann.tags))
    if ann.note:
        parts.append("note: " + ann.note)
    return "\n".join(parts)


def present_row(extra: Any, role: int, column: int) -> Any:
    """The table model's `ExtrasPresent` for annotations."""
    if not isinstance(extra, EventAnnotation):
        return None
    if role == Qt.ItemDataRole.DecorationRole and column == 0:
        return row_icon(extra)
    if role == Qt.ItemDataRole.ToolTipRole and column == 0:
        return row_tooltip(extra)
    if role == Qt.ItemDataRole.BackgroundRole:
        colour = QColor(annotation_colour(extra.starred, extra.tags))
        colour.setAlpha(28)
        return colour
    return None


class TimelineMarkers(QObject):
    """Keeps the timeline's markers in step with the case's annotations; a click on a marker
    emits `eventClicked` with its event id."""

    eventClicked = Signal(object)

    def __init__(self, window: MainWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.loaded = 0  # markers drawn at the last refresh (tests, status)
        self.event_ids: list[int] = []  # in the order of the drawn points
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._draw)
        window.timeline.marker_scatter.sigClicked.connect(self._clicked)

    def refresh(self, case: CaseFile | None) -> None:
        if case is None:
            self._runner.cancel()
            self.window.timeline.set_markers([], [])
            return

        def work(_token: CancelToken) -> MarkerData:
            return _marker_data(case)

        self._runner.submit(work)

    @Slot(object)
    def _draw(self, data: object) -> None:
        points, ranges, ids = cast(MarkerData, data)
        self.loaded = len(points) + len(ranges)
        self.event_ids = ids
        self.window.timeline.set_markers(points, ranges)

    @Slot(object, object, object)
    def _clicked(self, _item: object, points: Any, _event: object) -> None:
        if len(points):
            index = int(points[0].index())
            if 0 <= index < len(self.event_ids):
                self.eventClicked.emit(self.event_ids[index])


MarkerData = tuple[list[tuple[float, str, str]], list[tuple[float, float, str]], list[int]]


def _marker_data(case: CaseFile) -> MarkerData:
    lo = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    hi = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    points, ids = [], []
    for m in annotation_views.markers_in_range(case, lo, hi, MAX_MARKERS):
        what = (["★"] if m.starred else []) + list(m.tags) + (["note"] if m.has_note else [])
        points.append(
            (m.ts.timestamp(), annotation_colour(m.starred, m.tags), f"{format_ts(m.ts)}  {' '.join(what)}")
        )
        ids.append(m.event_id)
    ranges = [(b.start.timestamp(), b.end.timestamp(), b.name) for b in annotation_views.bookmarks(case)]
    return points, ranges, ids
