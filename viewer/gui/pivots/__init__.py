"""Pivot panels, entity cards and swimlanes (issue #5). Filled in by its own work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow


class PivotFeature:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
