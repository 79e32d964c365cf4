"""The optional parts of the main window, each installed by one call.

A feature gets the main window once, adds its docks, menus and value-menu actions, and follows
`MainWindow.caseChanged` (a `CaseSession` or None). Features talk to the window only through
its public attributes (filter_bar, table, detail, timeline, value_menus, session, menus) so that
each lives in its own package and the window does not grow with every capability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow


def install_features(window: MainWindow) -> list[Any]:
    """Create every feature for `window`, in menu order; returns them (tests reach in)."""
    from viewer.gui.casework import CaseworkFeature
    from viewer.gui.fetch import FetchFeature
    from viewer.gui.pivots import PivotFeature

    return [PivotFeature(window), CaseworkFeature(window), FetchFeature(window)]
