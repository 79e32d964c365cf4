"""`render timechart | barchart`: no SQL meaning, a hint for the UI's chart.

Defaults follow KQL's render documentation: the x axis is the first column (a datetime for a
timechart), the y axes are the numeric columns, and string columns split the series.
`with (title=..., xcolumn=..., ycolumns=a, b, series=c)` overrides them; other chart kinds and
properties are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from lark import Tree

from viewer.core.query.kql.literals import string_value
from viewer.core.query.kql.model import DATETIME, LONG, REAL, STRING, Relation
from viewer.core.query.kql.scalars import node, token

CHART_KINDS = ("timechart", "barchart")
_LIST_PROPS = ("ycolumns", "series")


@dataclass(frozen=True)
class RenderHint:
    kind: str  # "timechart" or "barchart"
    x: str  # column on the x axis (barchart: the category column)
    y: tuple[str, ...]  # numeric columns drawn
    series: tuple[str, ...] = ()  # columns whose values split the data into series
    title: str | None = None


def render_hint(text: str, op: Tree, relation: Relation) -> RenderHint:
    kind = str(op.children[0])
    if kind not in CHART_KINDS:
        raise node(text, op.children[0]).error(
            f"render {kind} is not supported (timechart, barchart are)", kind
        )
    props: dict[str, list[str]] = {}
    last: str | None = None
    for prop in op.children[1:]:
        if not isinstance(prop, Tree):
            continue
        if prop.data == "render_list_item":
            if last not in _LIST_PROPS:
                raise node(text, prop).error("a bare name here must continue ycolumns= or series=", "with")
            props[last].append(str(prop.children[0]))
            continue
        key, value = str(prop.children[0]), token(prop.children[1])
        if key not in ("title", "xcolumn", *_LIST_PROPS):
            raise node(text, prop).error(f"render property {key} is not supported", key)
        is_string = value.type == "STRING"
        props[key] = [string_value(value) if is_string else str(value)]
        last = key
    names = relation.names()
    for key in ("xcolumn", *_LIST_PROPS):
        for name in props.get(key, []):
            if name not in names:
                raise node(text, op).error(f"render {key}: no column {name!r}", name)
    if not names:
        raise node(text, op).error("render needs at least one column", "render")
    x = props.get("xcolumn", [names[0]])[0]
    types = {c.name: c.type for c in relation.columns}
    if kind == "timechart" and types[x] != DATETIME:
        raise node(text, op).error(f"timechart needs a datetime x axis; {x!r} is {types[x]}", "timechart")
    y = props.get("ycolumns") or [n for n in names if n != x and types[n] in (LONG, REAL)]
    series = props.get("series") or [n for n in names if n != x and n not in y and types[n] == STRING]
    title = props.get("title", [None])[0]
    return RenderHint(kind, x, tuple(y), tuple(series), title)
