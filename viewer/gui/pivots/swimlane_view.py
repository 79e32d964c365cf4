"""The swimlane dock: one lane per chosen entity, aligned with the main timeline.

The plot's x axis is linked to the timeline's view box (pyqtgraph lines linked views up pixel
for pixel when they overlap on screen), so panning or zooming either moves both. Each change of
the visible range re-queries `swimlanes.lane_counts` in the background (debounced, newest wins).
Bars are scaled per lane (a quiet actor stays visible beside a busy one); failures are drawn red
over the lane's bars, and each lane's label carries its total in the visible range.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QVBoxLayout, QWidget

from viewer.core.entities.swimlanes import Lane, LaneBuckets, lane_counts, lanes_extent
from viewer.core.jobs import CancelToken
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_axis import ZonedDateAxis
from viewer.gui.time_text import format_duration, from_epoch, offset_at

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
DEBOUNCE_MS = 80
MIN_BAR_PX = 4
LANE_HEIGHT = 0.8
LANE_COLOUR = "#0072B2"
FAILURE_COLOUR = "#C62828"
MAX_LABEL = 26


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else "…" + text[-(MAX_LABEL - 1) :]


class SwimlaneWidget(QWidget):
    lanesDrawn = Signal(object)  # LaneBuckets (tests, status)
    lanesChanged = Signal()

    def __init__(self, axis: ZonedDateAxis | None = None, parent: QWidget | None = None) -> None:
        """`axis`: the bottom axis to use (give a new one of the timeline's class so both read alike)."""
        super().__init__(parent)
        self._axis = axis
        self._linked: pg.ViewBox | None = None
        #: The timeline's current bucket width: lanes use the same one so bars line up.
        self.bucket_hint: Callable[[], dt.timedelta | None] | None = None
        self._syncing = False
        self._cur_factory: CursorFactory | None = None
        self._lanes: list[Lane] = []
        self._items: list[Any] = []
        self._buckets: LaneBuckets | None = None
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._draw)
        self._runner.failed.connect(self._on_failed)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh)
        self._build()

    def _build(self) -> None:
        self.axis = self._axis or ZonedDateAxis()
        self.plot_widget = pg.PlotWidget(axisItems={"bottom": self.axis}, background="w")
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=False, alpha=0.15)
        self.axis.set_title("Time")
        self.view_box = self.plot_item.getViewBox()
        self.view_box.setMouseEnabled(x=True, y=False)
        self.view_box.sigXRangeChanged.connect(lambda *_: self._debounce.start())
        self.view_box.sigXRangeChanged.connect(lambda *_: self._lead())
        self.plot_item.getAxis("left").setWidth(330)
        self.plot_item.hideButtons()
        self.info = QLabel(self)
        self.info.setStyleSheet("QLabel { color: #555; }")
        # Wraps rather than widening the dock: it sits between the side columns, under the table.
        self.info.setWordWrap(True)
        self.remove_button = QToolButton(self)
        self.remove_button.setText("Remove lane")
        self.remove_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.remove_menu = QMenu(self.remove_button)
        self.remove_menu.aboutToShow.connect(self._fill_remove_menu)
        self.remove_button.setMenu(self.remove_menu)
        self.fit_button = QPushButton("Fit to lanes", self)
        self.fit_button.setToolTip("Show the time span of the lanes' events (the timeline follows)")
        self.fit_button.clicked.connect(self.fit_to_lanes)
        self._fit_runner = SupersedingRunner(self)
        self._fit_runner.resultReady.connect(self._on_extent)
        self._fit_runner.failed.connect(self._on_failed)
        self.clear_button = QPushButton("Clear lanes", self)
        self.clear_button.clicked.connect(self.clear_lanes)
        head = QHBoxLayout()
        head.addWidget(self.info, 1)
        head.addWidget(self.fit_button)
        head.addWidget(self.remove_button)
        head.addWidget(self.clear_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addLayout(head)
        lay.addWidget(self.plot_widget, 1)
        self._show_info()

    # -- public ----------------------------------------------------------------------------
    @property
    def lanes(self) -> list[Lane]:
        return list(self._lanes)

    @property
    def buckets(self) -> LaneBuckets | None:
        return self._buckets

    def link_to(self, view_box: pg.ViewBox) -> None:
        """Follow (and drive) the main timeline's visible range: the same range, not pyqtgraph's
        pixel alignment (which shifts the range when the two plots sit at different x on screen)."""
        self._linked = view_box
        view_box.sigXRangeChanged.connect(lambda _vb, rng: self._follow(rng))
        self._sync_with_linked()

    def set_source(self, cur_factory: CursorFactory | None) -> None:
        self._runner.cancel()
        self._cur_factory = cur_factory
        self._lanes = []
        self._buckets = None
        self._clear_items()
        self._show_info()

    def add_lane(self, lane: Lane) -> None:
        lane = lane.normalized()
        if lane not in self._lanes:
            self._lanes.append(lane)
            self.lanesChanged.emit()
        self.refresh()

    def remove_lane(self, lane: Lane) -> None:
        if lane in self._lanes:
            self._lanes.remove(lane)
            self.lanesChanged.emit()
        self.refresh()

    def clear_lanes(self) -> None:
        self._lanes = []
        self.lanesChanged.emit()
        self.refresh()

    def fit_to_lanes(self) -> None:
        if self._cur_factory is None or not self._lanes:
            return
        factory, lanes = self._cur_factory, list(self._lanes)

        def work(token: CancelToken) -> tuple[dt.datetime, dt.datetime] | None:
            cur = factory()
            remove = token.interrupts(cur)
            try:
                return lanes_extent(cur, lanes)
            finally:
                remove()
                cur.close()

        self._fit_runner.submit(work)

    @Slot(object)
    def _on_extent(self, extent: object) -> None:
        if not isinstance(extent, tuple):
            return
        lo, hi = extent[0].timestamp(), extent[1].timestamp()
        pad = max(30.0, (hi - lo) * 0.02)
        self.view_box.setXRange(lo - pad, hi + pad, padding=0)

    def refresh(self) -> None:
        self._debounce.stop()
        if self._cur_factory is None or not self._lanes:
            self._runner.cancel()
            self._buckets = None
            self._clear_items()
            self._show_info()
            return
        self._sync_with_linked()
        (lo, hi) = self.view_box.viewRange()[0]
        if hi - lo <= 0 or lo <= 0:
            return  # no time range yet (the timeline has not drawn)
        factory, lanes = self._cur_factory, list(self._lanes)
        start, end = from_epoch(lo), from_epoch(hi)
        hint = self.bucket_hint() if self.bucket_hint is not None else None
        align = offset_at((lo + hi) / 2)  # as the timeline: bars from the display zone's midnights
        if hint is not None and hint.total_seconds() > 0:
            max_buckets = max(1, math.ceil((hi - lo) / hint.total_seconds()))
        else:
            max_buckets = max(1, max(50, int(self.view_box.width())) // MIN_BAR_PX)

        def work(token: CancelToken) -> LaneBuckets:
            cur = factory()
            remove = token.interrupts(cur)
            try:
                return lane_counts(cur, lanes, start, end, max_buckets, token, align)
            finally:
                remove()
                cur.close()

        self._runner.submit(work)
        self.info.setText(self.info.text().split(" ·")[0] + " · updating…")

    def _sync_with_linked(self) -> None:
        """Take the linked view's range (a hidden dock missed its changes)."""
        if self._linked is not None:
            self._follow(self._linked.viewRange()[0])

    def _follow(self, rng: list[float]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.view_box.setXRange(rng[0], rng[1], padding=0)
        finally:
            self._syncing = False

    def _lead(self) -> None:
        """The analyst panned or zoomed the lanes: the timeline follows."""
        if self._linked is None or self._syncing or not self.isVisible():
            return
        self._syncing = True
        try:
            lo, hi = self.view_box.viewRange()[0]
            self._linked.setXRange(lo, hi, padding=0)
        finally:
            self._syncing = False

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        super().showEvent(event)
        self._debounce.start()

    # -- drawing ---------------------------------------------------------------------------
    def _clear_items(self) -> None:
        for item in self._items:
            self.plot_item.removeItem(item)
        self._items = []
        self.plot_item.getAxis("left").setTicks([[]])

    @Slot(object)
    def _draw(self, result: object) -> None:
        assert isinstance(result, LaneBuckets)
        self._buckets = result
        self._clear_items()
        x0, x1 = result.edges[:-1], result.edges[1:]
        ticks = []
        n_lanes = len(self._lanes)
        for i, lane in enumerate(self._lanes):
            if lane not in result.counts:
                continue
            y = n_lanes - 1 - i  # first lane on top
            counts, fails = result.counts[lane], result.failures[lane]
            peak = max(1, int(counts.max()) if counts.size else 1)
            nz = counts > 0
            kind, _, entity = lane.title.partition(": ")
            ticks.append((y, f"{kind}: {_short(entity)}  ({result.total(lane):,})"))
            if nz.any():
                self._add_bars(x0[nz], x1[nz], y, counts[nz] / peak, LANE_COLOUR)
            fz = fails > 0
            if fz.any():
                self._add_bars(x0[fz], x1[fz], y, fails[fz] / peak, FAILURE_COLOUR)
            line = pg.InfiniteLine(pos=y - LANE_HEIGHT / 2 - 0.1, angle=0, pen=pg.mkPen("#DDDDDD"))
            self.plot_item.addItem(line)
            self._items.append(line)
        self.plot_item.getAxis("left").setTicks([ticks])
        self.view_box.setYRange(-0.6, n_lanes - 0.4, padding=0)
        self._show_info()
        self.lanesDrawn.emit(result)

    def _add_bars(self, x0: np.ndarray, x1: np.ndarray, y: int, frac: np.ndarray, colour: str) -> None:
        height = np.maximum(frac * LANE_HEIGHT, 0.06)  # a single event stays visible
        item = pg.BarGraphItem(x0=x0, x1=x1, y0=y - LANE_HEIGHT / 2, height=height, brush=colour, pen=None)
        self.plot_item.addItem(item)
        self._items.append(item)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.info.setText(f"⚠ {message.splitlines()[0]}")

    def _show_info(self) -> None:
        if self._cur_factory is None:
            self.info.setText("No case open.")
        elif not self._lanes:
            self.info.setText(
                "No lanes yet: right-click an entity in a pivot panel, a table cell or the actor chain "
                "and choose “Add to swimlanes” to compare what actors did when."
            )
        elif self._buckets is not None:
            self.info.setText(
                f"{len(self._lanes)} lane(s) · bucket {format_duration(self._buckets.bucket)} · bars scaled per "
                "lane, failures in red · x axis follows the timeline"
            )
        else:
            self.info.setText(f"{len(self._lanes)} lane(s)")

    def _fill_remove_menu(self) -> None:
        self.remove_menu.clear()
        for lane in self._lanes:
            action = self.remove_menu.addAction(_short(lane.title))
            action.triggered.connect(partial(self.remove_lane, lane))
        if not self._lanes:
            self.remove_menu.addAction("(no lanes)").setEnabled(False)
