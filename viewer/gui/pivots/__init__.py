"""Pivot panels, actor chain, entity cards and swimlanes (issue #5); `feature.PivotFeature` wires them."""

from __future__ import annotations

from viewer.gui.pivots.feature import PivotFeature

__all__ = ["PivotFeature"]
