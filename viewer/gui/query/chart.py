"""Drawing a result: a time series (time column + number) as bars over time, a group-by as bars.

What to draw is read and shaped by `chart_data`, in the query's worker thread (a page of up to
5,000 rows, sorted): done in the main thread when the result arrived, it blocked the window
55-90 ms for a 10,000-row result. The widget only draws it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from viewer.core.query.runner import QueryResult, QueryRunner
from viewer.gui.time_axis import ZonedDateAxis

MAX_POINTS = 5000
MAX_BARS = 30
_NUMERIC = ("BIGINT", "INTEGER", "HUGEINT", "DOUBLE", "FLOAT", "SMALLINT", "UBIGINT", "TINYINT", "DECIMAL")


def chart_kind(result: QueryResult) -> tuple[str, str, str] | None:
    """('time'|'bars', x column, y column) when the result can be drawn, else None."""
    numeric = [c for c, t in zip(result.columns, result.types, strict=True) if t.startswith(_NUMERIC)]
    if not numeric:
        return None
    if result.time_column is not None:
        return "time", result.time_column, numeric[0]
    labels = [c for c, t in zip(result.columns, result.types, strict=True) if t == "VARCHAR"]
    if labels:
        return "bars", labels[0], numeric[0]
    return None


@dataclass(frozen=True)
class ChartData:
    """A result's drawable shape: bars over time (`xs` epoch seconds) or the top groups (`labels`)."""

    shape: str  # 'time' | 'bars'
    x: str
    y: str
    xs: np.ndarray
    ys: np.ndarray
    labels: tuple[str, ...] = ()


def chart_data(runner: QueryRunner, result: QueryResult) -> ChartData | None:
    """The drawable part of a result (its first MAX_POINTS rows), None when it has no drawable
    shape. Reads the case: call it from a worker, never from the main thread."""
    kind = chart_kind(result)
    if kind is None:
        return None
    shape, x, y = kind
    rows = runner.page(result, 0, MAX_POINTS, columns=[x, y]).to_pylist()
    rows = [r for r in rows if r[x] is not None and r[y] is not None]
    if shape == "time":
        rows.sort(key=lambda r: r[x])
        xs = np.array([r[x].timestamp() if isinstance(r[x], dt.datetime) else float(r[x]) for r in rows])
        return ChartData(shape, x, y, xs, np.array([float(r[y]) for r in rows]))
    rows = sorted(rows, key=lambda r: -float(r[y]))[:MAX_BARS]
    return ChartData(
        shape,
        x,
        y,
        np.arange(len(rows)),
        np.array([float(r[y]) for r in rows]),
        tuple(str(r[x])[:24] for r in rows),
    )


class ResultChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel("", self)
        self.plot = pg.PlotWidget(self, background="w")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        lay.addWidget(self.caption)
        lay.addWidget(self.plot, 1)

    def show_data(self, data: ChartData | None) -> bool:
        """Draw what `chart_data` prepared; False (and a caption saying why) when nothing."""
        self.plot.clear()
        if data is None:
            self.caption.setText("Nothing to draw: a chart needs a number column and a time or text column.")
            return False
        if data.shape == "time":
            xs = data.xs
            width = float(np.median(np.diff(xs))) * 0.9 if len(xs) > 1 else 1.0
            axis = ZonedDateAxis()
            self.plot.setAxisItems({"bottom": axis})
            axis.set_title(data.x)  # 'ts (Europe/Berlin)': the zone named where the times are
            self.plot.addItem(pg.BarGraphItem(x=xs, height=data.ys, width=width, brush="#1565C0"))
            self.caption.setText(f"{data.y} over {data.x}, {len(xs):,} points")
        else:
            self.plot.setAxisItems({"bottom": pg.AxisItem("bottom")})
            self.plot.addItem(pg.BarGraphItem(x=data.xs, height=data.ys, width=0.8, brush="#1565C0"))
            self.plot.getAxis("bottom").setTicks([list(enumerate(data.labels))])
            self.caption.setText(f"{data.y} by {data.x}: top {len(data.labels)}")
        self.plot.autoRange()
        return True
