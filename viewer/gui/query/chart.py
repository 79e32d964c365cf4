"""Drawing a result: a time series (time column + number) as bars over time, a group-by as bars."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from viewer.core.query.runner import QueryResult, QueryRunner

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

    def show_result(self, runner: QueryRunner, result: QueryResult) -> bool:
        """Draw the result; False (and a caption saying why) when it has no drawable shape."""
        self.plot.clear()
        kind = chart_kind(result)
        if kind is None:
            self.caption.setText("Nothing to draw: a chart needs a number column and a time or text column.")
            return False
        shape, x, y = kind
        rows = runner.page(result, 0, MAX_POINTS).select([x, y]).to_pylist()
        rows = [r for r in rows if r[x] is not None and r[y] is not None]
        if shape == "time":
            rows.sort(key=lambda r: r[x])
            xs = np.array([r[x].timestamp() if isinstance(r[x], dt.datetime) else float(r[x]) for r in rows])
            ys = np.array([float(r[y]) for r in rows])
            width = float(np.median(np.diff(xs))) * 0.9 if len(xs) > 1 else 1.0
            self.plot.setAxisItems({"bottom": pg.DateAxisItem(utcOffset=0)})
            self.plot.addItem(pg.BarGraphItem(x=xs, height=ys, width=width, brush="#1565C0"))
            self.caption.setText(f"{y} over {x} (UTC), {len(rows):,} points")
        else:
            rows = sorted(rows, key=lambda r: -float(r[y]))[:MAX_BARS]
            xs = np.arange(len(rows))
            self.plot.setAxisItems({"bottom": pg.AxisItem("bottom")})
            self.plot.addItem(
                pg.BarGraphItem(x=xs, height=[float(r[y]) for r in rows], width=0.8, brush="#1565C0")
            )
            ticks = [(i, str(r[x])[:24]) for i, r in enumerate(rows)]
            self.plot.getAxis("bottom").setTicks([ticks])
            self.caption.setText(f"{y} by {x}: top {len(rows)}")
        self.plot.autoRange()
        return True
