"""A date axis that draws its ticks on the display zone's wall clock (`time_text`).

pyqtgraph's DateAxisItem knows UTC with a fixed offset, or the machine's local zone; an analyst
in Berlin may look at a case in Asia/Kolkata. So this axis works in the display zone's "wall
seconds" (epoch seconds plus the zone's offset at the middle of the view): pyqtgraph places its
ticks there as in UTC (midnights, whole hours), and each label is written with the offset of its
own moment, so a view over a change to summer time labels every tick right. pyqtgraph's own
step to the machine's local hour is switched off: it moved hour ticks by half an hour on a
machine at +05:30 even when the axis showed UTC.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np
import pyqtgraph as pg
import shiboken6

from viewer.gui import time_text


def _ticks_as_given(ticks: np.ndarray, _spacing: int, _skip: int) -> np.ndarray:
    return ticks


def _moments(walls: list[float], shift: float) -> list[float]:
    """The instants whose wall clock reads each of `walls` (pyqtgraph placed them as if the
    view's middle offset held throughout). Across a change of offset in the view, the ticks
    beyond it move by the change, so a week over the start of summer time still has its days on
    midnight; a wall time the change skips (02:30 the night clocks go forward) has no instant
    and no tick."""
    out: list[float] = []
    for wall in walls:
        guess = wall - shift
        moment = wall - time_text.offset_at(guess).total_seconds()
        moment = wall - time_text.offset_at(moment).total_seconds()
        if moment + time_text.offset_at(moment).total_seconds() == wall and (not out or moment > out[-1]):
            out.append(moment)
    return out


class ZonedDateAxis(pg.DateAxisItem):
    """Date axis in the display zone, with day ticks that name the month ("Mar 13", not "13")."""

    _live: weakref.WeakSet[ZonedDateAxis] = weakref.WeakSet()

    def __init__(self, orientation: str = "bottom", **kwargs: Any) -> None:
        super().__init__(orientation=orientation, utcOffset=0, **kwargs)
        self._shift = 0.0  # seconds added to epoch seconds to reach the wall clock, for this view
        self._title = ""  # the label's words before the zone, once `set_title` gave them
        # Copies: the zoom levels are module-level objects shared with every other date axis.
        levels: Any = getattr(self, "zoomLevels")  # noqa: B009 - pyqtgraph sets it untyped
        copied = type(levels)((k, copy.deepcopy(v)) for k, v in levels.items())
        self.zoomLevels = copied
        for level in copied.values():
            level.moveTicksToLocalTimeCoords = _ticks_as_given
            for spec in level.tickSpecs:
                if spec.format in ("%d", "%a %d"):
                    spec.format = "%b %d" if spec.format == "%d" else "%a %b %d"
        ZonedDateAxis._live.add(self)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        self._shift = time_text.offset_at((minVal + maxVal) / 2).total_seconds()
        shifted = super().tickValues(minVal + self._shift, maxVal + self._shift, size)
        return [(spacing, _moments(ticks, self._shift)) for spacing, ticks in shifted]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        wall = [v + time_text.offset_at(v).total_seconds() for v in values]
        return list(super().tickStrings(wall, scale, spacing))

    def set_title(self, title: str = "Time") -> None:
        """Label the axis 'Time (UTC+00:00)' or 'Time (Europe/Berlin)', kept current by `redraw_all`."""
        self._title = title
        self.setLabel(f"{title} ({time_text.zone_label()})")

    @classmethod
    def redraw_all(cls) -> None:
        """After the display zone changed: every live axis names the zone and draws its ticks again."""
        for axis in list(cls._live):
            if not shiboken6.isValid(axis):  # its plot was closed; Python still holds the wrapper
                cls._live.discard(axis)
                continue
            if axis._title:
                axis.set_title(axis._title)
            axis.picture = None
            axis.update()
