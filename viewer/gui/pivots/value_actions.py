"""“Pivot on this value”: what every table cell, detail-pane value and actor-chain identity offers.

Which values are entities comes from the field metadata (`kinds.KINDS`, built from the schema's
pivot flags), never from a list here. A raw-record node, which has no normalized field, offers
free-text filtering of its value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu

from viewer.core.entities.filter_terms import kind_for_field, values_text
from viewer.core.entities.kinds import EntityKind
from viewer.gui.pivots.entity_card import has_card
from viewer.gui.value_menu import ValueContext

if TYPE_CHECKING:
    from viewer.gui.pivots.feature import PivotFeature

SUBMENU = "Pivot on this value"


def _short(value: str, n: int = 40) -> str:
    return value if len(value) <= n else value[: n - 1] + "…"


def fill_entity_menu(menu: QMenu, feature: PivotFeature, kind: EntityKind, entities: list[str]) -> None:
    """The actions on one or several entities of a kind."""
    what = _short(entities[0]) if len(entities) == 1 else f"{len(entities)} {kind.title.lower()}"
    menu.addAction(f"Filter to {what}", lambda: feature.filter_entities(kind.name, entities))
    menu.addAction(f"Exclude {what}", lambda: feature.filter_entities(kind.name, entities, negate=True))
    if len(entities) == 1 and kind.is_resource:  # its ARN, bare name, a bucket's objects
        menu.addAction(
            "Filter to this resource under all its names", lambda: feature.filter_resource(entities[0])
        )
    if len(entities) == 1:
        entity = entities[0]
        card = menu.addAction("Open entity card", lambda: feature.open_card(kind.name, entity))
        card.setEnabled(has_card(kind.name))
        if not has_card(kind.name):
            card.setToolTip("Cards exist for principals, IP addresses and resources")
        menu.addAction(f"Show in the {kind.title} panel", lambda: feature.show_in_panel(kind.name, entity))
    menu.addAction("Add to swimlanes", lambda: feature.add_lanes(kind.name, entities))


def contribute(feature: PivotFeature, menu: QMenu, ctx: ValueContext) -> None:
    """The value-menu contributor (registered with `window.value_menus`)."""
    if ctx.value is None or feature.window.session is None:
        return
    kind = kind_for_field(ctx.field)
    if kind is None:
        if ctx.field is None:  # a raw-record node: free text is the only honest pivot
            term = values_text("", [ctx.value])
            if term is not None:
                text = term[1:]  # "" field: drop the leading ':'
                menu.addAction(f"Search for “{_short(ctx.value)}”", lambda: feature.filters.add_term(text))
        return
    sub = menu.addMenu(SUBMENU)
    fill_entity_menu(sub, feature, kind, [ctx.value])
