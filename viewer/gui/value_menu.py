"""Context menus on values: every table cell and detail-pane value offers the same actions.

Features (pivots, annotations, ...) register *contributors*; a view that shows values builds a
`ValueContext` for the clicked value and lets each contributor add its actions. The views never
know which features exist, and a feature never reaches into a view's widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QMenu


@dataclass(frozen=True)
class ValueContext:
    """The value under the mouse.

    field: a normalized field name (`viewer.schema`), or None for a raw-record node.
    json_path: the dotted path of a raw-record node (`userIdentity.arn`), else None.
    value: the value as text, as shown (None when the cell is empty or not loaded yet).
    event_id: the event the value belongs to, when known.
    origin: "table" or "detail".
    """

    field: str | None
    value: str | None
    event_id: int | None
    origin: str
    json_path: str | None = None


Contributor = Callable[[QMenu, ValueContext], None]


class ValueMenus:
    """The registry of contributors; one per main window."""

    def __init__(self) -> None:
        self._contributors: list[Contributor] = []

    def register(self, contributor: Contributor) -> None:
        self._contributors.append(contributor)

    def fill(self, menu: QMenu, ctx: ValueContext) -> None:
        """Let every contributor add its actions, separated from what the view put first."""
        for contributor in self._contributors:
            if not menu.isEmpty() and not menu.actions()[-1].isSeparator():
                menu.addSeparator()
            contributor(menu, ctx)
