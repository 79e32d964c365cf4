"""The timeline: stacked bars of event counts over time, re-queried as the user zooms.

Bars come from `viewer.core.timeline.bucket_counts` sized to the visible range and the plot's
pixel width, so a 10M-event case draws a few hundred bars, never millions of points. Pan/zoom
(mouse: x only; keyboard: +/- zoom, left/right pan, Home fit) restarts a ~60 ms debounce; the
re-query runs on a `SupersedingRunner`, so only the newest visible range is drawn. Shift-drag
selects a time range (a `LinearRegionItem`, adjustable afterwards) and emits `rangeSelected`.

Stacking is by any `chartable` field of `viewer.schema`; the legend sits in the header row so it
never covers bars.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from collections.abc import Callable
from typing import Any, cast

import duckdb
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from viewer import schema
from viewer.core.event_query import EventFilter
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_axis import ZonedDateAxis
from viewer.gui.time_text import format_duration, from_epoch
from viewer.gui.timeline_query import TimelineRequest, run_request

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]

#: Distinct, colour-blind-friendlier series colours (Okabe-Ito, then Tableau); "other" is grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#8C564B",
    "#7F7F7F",
    "#17BECF",
)
OTHER_COLOUR = "#B0B0B0"
MIN_BAR_PX = 4  # a bar is at least this many pixels wide: bucket count = plot width / 4
MAX_BUCKETS = 2000
DEBOUNCE_MS = 60


def default_stack_field() -> schema.Field:
    """The first chartable field that is also a default column (the source type)."""
    fields = schema.chartable_fields()
    return next((f for f in fields if f.default_column), fields[0])


class _TimelineViewBox(pg.ViewBox):
    """A ViewBox where shift + left-drag draws a time selection instead of panning."""

    selectionDragged = Signal(float, float, bool)  # x0, x1 (epoch seconds), finished

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # pyqtgraph override
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            a = self.mapSceneToView(ev.buttonDownScenePos()).x()
            b = self.mapSceneToView(ev.scenePos()).x()
            self.selectionDragged.emit(min(a, b), max(a, b), bool(ev.isFinish()))
            return
        super().mouseDragEvent(ev, axis)


class TimelineWidget(QWidget):
    """Stacked bucket counts of the current filter (without its time range) over time."""

    rangeSelected = Signal(object, object)  # start: datetime, end: datetime (UTC)
    bucketsDrawn = Signal(object)  # the Buckets just drawn (tests, status)
    queryFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cur_factory: CursorFactory | None = None
        self._filter = EventFilter()
        self._extent: tuple[float, float] | None = None
        self._bars: list[pg.BarGraphItem] = []
        self._buckets: Any = None
        self._queried: tuple[dt.datetime, dt.datetime] | None = None
        self._suppress_requery = False
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_result)
        self._runner.failed.connect(self.queryFailed)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._requery_visible)
        # Annotation markers (issue #6): events along the top of the plot, bookmarks as bands.
        self._marker_points: list[tuple[float, str, str]] = []
        self._marker_ranges: list[tuple[float, float, str]] = []
        self._marker_items: list[Any] = []
        self._build()

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.stack_combo = QComboBox(self)
        for f in schema.chartable_fields():
            self.stack_combo.addItem(f.title, f.name)
        self.stack_combo.setCurrentIndex(self.stack_combo.findData(default_stack_field().name))
        self.stack_combo.setToolTip("Stack the bars by this field")
        self.stack_combo.currentIndexChanged.connect(lambda _i: self._query(fit=False))
        self.legend_label = QLabel(self)
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setWordWrap(True)
        self.bucket_label = QLabel("bucket: –", self)
        self.bucket_label.setToolTip("Width of one bar; it adapts to the zoom")

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(QLabel("Stack by:", self))
        head.addWidget(self.stack_combo)
        head.addSpacing(12)
        head.addWidget(self.legend_label, 1)
        head.addSpacing(12)
        head.addWidget(self.bucket_label)

        self.view_box = _TimelineViewBox()
        self.axis = ZonedDateAxis()
        self.plot_widget = pg.PlotWidget(
            viewBox=self.view_box, axisItems={"bottom": self.axis}, background="w"
        )
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self.axis.set_title("Time")
        self.plot_item.setLabel("left", "events")
        self.plot_item.hideButtons()
        self.plot_item.showGrid(x=True, y=True, alpha=0.15)
        for name in ("bottom", "left"):
            ax = self.plot_item.getAxis(name)
            ax.setPen(pg.mkPen("#555"))
            ax.setTextPen(pg.mkPen("#222"))
        self.view_box.setMouseEnabled(x=True, y=False)
        self.view_box.setMenuEnabled(False)
        self.view_box.sigXRangeChanged.connect(self._on_x_range_changed)
        self.view_box.selectionDragged.connect(self._on_selection_dragged)
        self.region = pg.LinearRegionItem(
            orientation="vertical", brush=pg.mkBrush(255, 200, 0, 60), pen=pg.mkPen("#C08000", width=1.5)
        )
        self.region.setZValue(10)
        self.region.hide()
        self.region.sigRegionChangeFinished.connect(self._on_region_finished)
        self.plot_item.addItem(self.region, ignoreBounds=True)
        self.marker_scatter = pg.ScatterPlotItem(
            pen=pg.mkPen("#333", width=0.6),
            symbol="t",
            size=11,
            tip=lambda x, y, data: str(data),
            hoverable=True,
        )
        self.marker_scatter.setZValue(15)
        self.plot_item.addItem(self.marker_scatter, ignoreBounds=True)
        self.plot_widget.installEventFilter(self)
        self.plot_widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.plot_widget.setToolTip(
            "Drag: pan · wheel: zoom · Shift+drag: select a time range\n"
            "Keys: + / − zoom, ← / → pan, Home fits all"
        )

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.plot_widget, 1)
        self.setMinimumHeight(160)

    # -- public API ------------------------------------------------------------------------
    @property
    def stack_by(self) -> str:
        return str(self.stack_combo.currentData())

    def set_stack_by(self, name: str) -> None:
        self.stack_combo.setCurrentIndex(self.stack_combo.findData(name))

    @property
    def buckets(self) -> Any:
        """The Buckets currently drawn (None before the first draw)."""
        return self._buckets

    @property
    def queried_range(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The [start, end) the drawn buckets count (the view plus a margin, within the data)."""
        return self._queried

    def bar_items(self) -> list[pg.BarGraphItem]:
        return list(self._bars)

    def set_source(self, cur_factory: CursorFactory | None, filt: EventFilter | None = None) -> None:
        """Chart a case (None: clear); fits the view to the data."""
        self._cur_factory = cur_factory
        self._filter = _without_time(filt or EventFilter())
        self._extent = None
        self.clear_selection()
        if cur_factory is None:
            self._runner.cancel()
            self._queried = None
            self._draw(None)
            return
        self._query(fit=True)

    def set_filter(self, filt: EventFilter) -> None:
        """Chart another filter; its time range is shown as the selection, not applied."""
        base = _without_time(filt)
        if filt.time_range:
            self.set_selection(filt.time_range)
        else:
            self.clear_selection()
        if base != self._filter:
            self._filter = base
            # Fit to what the new filter matches: bars sized for its span, where the hits are.
            self._extent = None
            self._query(fit=True)

    def refresh(self) -> None:
        self._extent = None
        self._query(fit=True)

    def fit_all(self) -> None:
        if self._extent is not None:
            lo, hi = self._extent
            self.view_box.setXRange(lo, hi, padding=0.02)

    def zoom(self, factor: float) -> None:
        """factor < 1 zooms in around the centre of the view."""
        lo, hi = self.view_box.viewRange()[0]
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * factor
        self.view_box.setXRange(mid - half, mid + half, padding=0)

    def pan(self, fraction: float) -> None:
        lo, hi = self.view_box.viewRange()[0]
        d = (hi - lo) * fraction
        self.view_box.setXRange(lo + d, hi + d, padding=0)

    def set_selection(self, rng: tuple[dt.datetime, dt.datetime]) -> None:
        self.region.blockSignals(True)
        self.region.setRegion((rng[0].timestamp(), rng[1].timestamp()))
        self.region.blockSignals(False)
        self.region.show()

    def clear_selection(self) -> None:
        self.region.hide()

    def select_range(self, start: dt.datetime, end: dt.datetime) -> None:
        """Select programmatically, exactly as a shift-drag would."""
        self.set_selection((start, end))
        self.rangeSelected.emit(start, end)

    def set_markers(
        self, points: list[tuple[float, str, str]], ranges: list[tuple[float, float, str]]
    ) -> None:
        """Replace the annotation markers: `points` as (epoch seconds, colour, tooltip) drawn as
        triangles along the top of the plot, `ranges` as (start, end, name) shaded bands."""
        self._marker_points, self._marker_ranges = list(points), list(ranges)
        self._draw_markers()

    def marker_items(self) -> list[Any]:
        """The drawn markers: bookmark bands and labels, then the event scatter when it has points."""
        return list(self._marker_items) + ([self.marker_scatter] if self._marker_points else [])

    def _draw_markers(self) -> None:
        for item in self._marker_items:
            self.plot_item.removeItem(item)
        self._marker_items = []
        top = self.view_box.viewRange()[1][1]
        for x0, x1, name in self._marker_ranges:
            band = pg.LinearRegionItem(
                (x0, max(x1, x0 + 1e-3)),
                movable=False,
                brush=pg.mkBrush(60, 90, 200, 55),
                pen=pg.mkPen("#3b5bbf", width=1, style=Qt.PenStyle.DashLine),
            )
            band.setZValue(5)  # over the bars, translucent: a band under full bars is invisible
            band.setToolTip(name)
            label = pg.TextItem(name, color="#2b4f9e", anchor=(0, 0))
            label.setPos(x0, top)
            label.setZValue(20)
            self._marker_items += [band, label]
        for item in self._marker_items:
            self.plot_item.addItem(item, ignoreBounds=True)
        # One scatter for the life of the widget, so a click handler connected once keeps working.
        pts = self._marker_points
        self.marker_scatter.setData(
            x=[p[0] for p in pts],
            y=[top * 0.97] * len(pts),
            brush=[pg.mkBrush(p[1]) for p in pts],
            data=[p[2] for p in pts],
        )

    # -- querying --------------------------------------------------------------------------
    def _max_buckets(self, span_factor: float = 1.0) -> int:
        width = self.view_box.width() or self.plot_widget.width() or 800
        return int(max(10, min(MAX_BUCKETS, width * span_factor / MIN_BAR_PX)))

    def _query(self, fit: bool, reuse_extent: bool = True) -> None:
        if self._cur_factory is None:
            return
        if fit or self._extent is None:
            req = TimelineRequest(
                self._cur_factory, self._filter, self.stack_by, None, None, self._max_buckets()
            )
        else:
            # Ask for half a view more on each side so short pans show bars at once.
            lo, hi = self.view_box.viewRange()[0]
            span = hi - lo
            req = TimelineRequest(
                self._cur_factory,
                self._filter,
                self.stack_by,
                lo - span / 2,
                hi + span / 2,
                self._max_buckets(2.0),
                self._extent if reuse_extent else None,
            )
        self._runner.submit(lambda token: run_request(req, token))

    @Slot()
    def _requery_visible(self) -> None:
        self._query(fit=False)

    @Slot(object, object)
    def _on_x_range_changed(self, _vb: object, _rng: object) -> None:
        if not self._suppress_requery and self._extent is not None:
            self._debounce.start()

    @Slot(object)
    def _on_result(self, result: object) -> None:
        extent, buckets, fitted, queried = cast(tuple[Any, Any, bool, Any], result)
        self._extent = extent
        self._queried = queried
        if fitted and extent is not None:
            self._suppress_requery = True
            try:
                self.view_box.setXRange(extent[0], extent[1], padding=0.02)
            finally:
                self._suppress_requery = False
        self._draw(buckets)

    # -- drawing ---------------------------------------------------------------------------
    def _draw(self, buckets: Any) -> None:
        for item in self._bars:
            self.plot_item.removeItem(item)
        self._bars = []
        self._buckets = buckets
        if buckets is None or len(buckets.edges) < 2:
            self.legend_label.setText("<span style='color:#777'>no events</span>")
            self.bucket_label.setText("bucket: –")
            self.bucketsDrawn.emit(buckets)
            return
        edges = np.asarray(buckets.edges, dtype=float)
        base = np.zeros(len(edges) - 1)
        legend = []
        for i, (name, counts) in enumerate(buckets.series.items()):
            heights = np.asarray(counts, dtype=float)
            colour = _colour(i, name)
            mask = heights > 0
            if mask.any():
                item = pg.BarGraphItem(
                    x0=edges[:-1][mask],
                    x1=edges[1:][mask],
                    y0=base[mask],
                    height=heights[mask],
                    brush=pg.mkBrush(colour),
                    pen=None,
                    name=name,
                )
                self.plot_item.addItem(item)
                self._bars.append(item)
            base = base + heights
            # Non-breaking inside an entry: the label wraps between entries, never within one.
            legend.append(
                f"<span style='color:{colour}; font-size:14px'>■</span>&nbsp;"
                f"{html.escape(_series_title(name))}&nbsp;"
                f"<span style='color:#666'>{int(heights.sum()):,}</span>"
            )
        top = float(base.max()) if len(base) else 0.0
        self.view_box.setYRange(0, max(1.0, top * 1.08), padding=0)
        self.legend_label.setText("&nbsp;&nbsp; ".join(legend) or "<span style='color:#777'>no events</span>")
        self.bucket_label.setText(f"bucket: {format_duration(buckets.bucket)}")
        self._draw_markers()  # they sit at the top of the new y range
        self.bucketsDrawn.emit(buckets)

    # -- selection and keys ----------------------------------------------------------------
    @Slot(float, float, bool)
    def _on_selection_dragged(self, x0: float, x1: float, finished: bool) -> None:
        self.region.blockSignals(True)
        self.region.setRegion((x0, x1))
        self.region.blockSignals(False)
        self.region.show()
        if finished and x1 > x0:
            self.rangeSelected.emit(from_epoch(x0), from_epoch(x1))

    @Slot(object)
    def _on_region_finished(self, _item: object) -> None:
        if self.region.isVisible():
            x0, x1 = self.region.getRegion()
            self.rangeSelected.emit(from_epoch(x0), from_epoch(x1))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # Qt override
        if obj is self.plot_widget and event.type() == QEvent.Type.KeyPress:
            return self._handle_key(event)  # type: ignore[arg-type]
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # Qt override
        if not self._handle_key(event):
            super().keyPressEvent(event)

    def _handle_key(self, event: QKeyEvent) -> bool:
        for keys, _what, act in TIMELINE_KEYS:
            if event.key() in keys:
                act(self)
                return True
        return False


#: The keys the timeline answers when it has the focus: what `_handle_key` does and what
#: Help › Keyboard shortcuts lists, from this one table.
TIMELINE_KEYS: tuple[tuple[tuple[Qt.Key, ...], str, Callable[[TimelineWidget], None]], ...] = (
    ((Qt.Key.Key_Plus, Qt.Key.Key_Equal), "Zoom in (or the mouse wheel)", lambda w: w.zoom(0.5)),
    ((Qt.Key.Key_Minus, Qt.Key.Key_Underscore), "Zoom out", lambda w: w.zoom(2.0)),
    ((Qt.Key.Key_Left,), "Pan to earlier", lambda w: w.pan(-0.2)),
    ((Qt.Key.Key_Right,), "Pan to later", lambda w: w.pan(0.2)),
    ((Qt.Key.Key_Home,), "Fit the whole case", lambda w: w.fit_all()),
)


def _without_time(filt: EventFilter) -> EventFilter:
    return dataclasses.replace(filt, time_range=None) if filt.time_range else filt


def _series_title(name: Any) -> str:
    return "(none)" if name is None or name == "" else str(name)


def _colour(i: int, name: Any) -> str:
    if isinstance(name, str) and name.lower() in ("other", "(other)"):
        return OTHER_COLOUR
    return PALETTE[i % len(PALETTE)]
