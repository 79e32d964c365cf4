"""TimelineWidget: bars add up to SQL counts, stacking follows the schema, zoom re-queries with
finer buckets, keys zoom/pan/fit, and a shift-drag selects a time range."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QThreadPool
from PySide6.QtTest import QTest

from viewer import schema
from viewer.core.case_file import CaseFile
from viewer.gui.timeline_widget import TimelineWidget, default_stack_field

TIMEOUT = 10_000


@pytest.fixture
def case(case_path: Path) -> Iterator[CaseFile]:
    c = CaseFile.open(case_path, read_only=True)
    yield c
    QThreadPool.globalInstance().waitForDone(TIMEOUT)
    c.close()


@pytest.fixture
def timeline(qtbot, case: CaseFile) -> TimelineWidget:  # type: ignore[no-untyped-def]
    w = TimelineWidget()
    qtbot.addWidget(w)
    w.resize(1200, 320)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.bucketsDrawn, timeout=TIMEOUT):
        w.set_source(case.cursor)
    return w


def _heights(w: TimelineWidget) -> float:
    return float(sum(np.sum(item.opts["height"]) for item in w.bar_items()))


def _sql_count(case: CaseFile, rng: tuple[dt.datetime, dt.datetime]) -> int:
    return int(
        case.cursor().execute("SELECT count(*) FROM events WHERE ts >= ? AND ts < ?", list(rng)).fetchone()[0]
    )


def test_bars_sum_to_event_count(timeline: TimelineWidget, case: CaseFile) -> None:
    items = timeline.bar_items()
    assert items, "no bars drawn"
    assert all(np.all(np.asarray(i.opts["height"]) > 0) for i in items)
    total = case.cursor().execute("SELECT count(*) FROM events").fetchone()[0]
    assert _heights(timeline) == total == timeline.buckets.total
    assert timeline.queried_range is not None
    assert timeline.bucket_label.text().startswith("bucket: ")
    assert "UTC+00:00" in timeline.plot_item.getAxis("bottom").labelText
    assert timeline.axis.utcOffset == 0


def test_default_stack_and_choices_come_from_schema(qtbot, timeline: TimelineWidget, case: CaseFile) -> None:  # type: ignore[no-untyped-def]
    assert timeline.stack_by == default_stack_field().name
    choices = [timeline.stack_combo.itemData(i) for i in range(timeline.stack_combo.count())]
    assert choices == [f.name for f in schema.chartable_fields()]
    sources = {r[0] for r in case.cursor().execute("SELECT DISTINCT source_type FROM events").fetchall()}
    assert set(timeline.buckets.series) <= sources | {"other"}
    for name in sources:
        assert name in timeline.legend_label.text()
    with qtbot.waitSignal(timeline.bucketsDrawn, timeout=TIMEOUT):
        timeline.set_stack_by("region")
    regions = {r[0] for r in case.cursor().execute("SELECT DISTINCT region FROM events").fetchall()}
    assert set(timeline.buckets.series) - {"other"} <= regions
    assert _heights(timeline) == timeline.buckets.total == 20_000


def test_zoom_requeries_with_finer_buckets(qtbot, timeline: TimelineWidget, case: CaseFile) -> None:  # type: ignore[no-untyped-def]
    coarse = timeline.buckets.bucket
    with qtbot.waitSignal(timeline.bucketsDrawn, timeout=TIMEOUT):
        timeline.zoom(0.02)
    assert timeline.buckets.bucket < coarse
    assert _heights(timeline) == _sql_count(case, timeline.queried_range)
    lo, hi = timeline.view_box.viewRange()[0]
    q0, q1 = timeline.queried_range
    assert q0.timestamp() <= lo + 1 and q1.timestamp() >= hi - 1  # the query covers the view


def test_keys_zoom_pan_and_fit(qtbot, timeline: TimelineWidget) -> None:  # type: ignore[no-untyped-def]
    vb = timeline.view_box
    lo, hi = vb.viewRange()[0]
    timeline.plot_widget.setFocus()
    QTest.keyClick(timeline.plot_widget, Qt.Key.Key_Plus)
    lo2, hi2 = vb.viewRange()[0]
    assert (hi2 - lo2) == pytest.approx((hi - lo) / 2, rel=0.01)
    QTest.keyClick(timeline.plot_widget, Qt.Key.Key_Right)
    lo3, _ = vb.viewRange()[0]
    assert lo3 > lo2
    QTest.keyClick(timeline.plot_widget, Qt.Key.Key_Minus)
    QTest.keyClick(timeline.plot_widget, Qt.Key.Key_Home)
    lo4, hi4 = vb.viewRange()[0]
    assert lo4 <= lo + 1 and hi4 >= hi - 1
    # y never pans or zooms with the mouse: counts stay readable.
    assert vb.state["mouseEnabled"] == [True, False]


def test_shift_drag_selects_a_range(qtbot, timeline: TimelineWidget) -> None:  # type: ignore[no-untyped-def]
    view = timeline.plot_widget
    vb = timeline.view_box
    rect = vb.sceneBoundingRect()
    a = view.mapFromScene(rect.left() + rect.width() * 0.3, rect.center().y())
    b = view.mapFromScene(rect.left() + rect.width() * 0.6, rect.center().y())
    shift = Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(timeline.rangeSelected, timeout=TIMEOUT) as blocker:
        QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, shift, a)
        for k in range(1, 11):
            QTest.mouseMove(view.viewport(), QPoint(a.x() + (b.x() - a.x()) * k // 10, a.y()))
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, shift, b)
    start, end = blocker.args
    assert isinstance(start, dt.datetime) and start.tzinfo is not None
    assert start < end
    x0 = vb.mapSceneToView(view.mapToScene(a)).x()
    x1 = vb.mapSceneToView(view.mapToScene(b)).x()
    assert start.timestamp() == pytest.approx(x0, abs=(x1 - x0) * 0.02)
    assert end.timestamp() == pytest.approx(x1, abs=(x1 - x0) * 0.02)
    assert timeline.region.isVisible()


def test_no_source_draws_nothing(qtbot, timeline: TimelineWidget) -> None:  # type: ignore[no-untyped-def]
    timeline.set_source(None)
    assert timeline.bar_items() == []
    assert timeline.buckets is None
