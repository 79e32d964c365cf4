"""The entity card: one screen about a principal, an IP address or a resource.

The card is `entities.cards` (a few selective GROUP BYs) computed in the background and shown as
HTML sections in a non-modal dock. Values of pivotable columns are links: a click opens that
entity's card when it has one, or filters the events by it.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import duckdb
from PySide6.QtCore import QUrl, Signal, Slot
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from viewer.core.entities import builder
from viewer.core.entities.cards import CARDS
from viewer.core.entities.filter_terms import kind_for_field
from viewer.core.jobs import CancelToken
from viewer.gui.display_zone import zone_changed
from viewer.gui.jobs_qt import SupersedingRunner
from viewer.gui.time_text import format_ts, format_ts_short, zone_label, zone_tag

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]

_SUMMARY = ("events", "failures", "first_seen", "last_seen", "sources", "clouds")
_LINK_SCHEME = "entity"
#: Rows shown per section: a rich-text table lays out on the GUI thread (200 rows took ~300 ms).
MAX_SECTION_ROWS = 25
#: Card columns (of `entities.cards`) that are not event fields, and the field their values are in
#: events: an actor and a session are principals; a role is the issuer of its sessions.
#: Card sections listing plain `value`s, and the event field those values come from.
_SECTION_FIELDS = {
    "ips": "src_ip",
    "regions": "region",
    "user_agents": "user_agent",
    "principals": "principal_id",
}
_CARD_COLUMNS = {
    "actor": "principal_id",
    "session": "principal_id",
    "role": "session_issuer",
    "role_arn": "session_issuer",
}


def has_card(kind_name: str) -> bool:
    return kind_name in CARDS


def _title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _cell(column: str, value: Any, section: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return html.escape(format_ts_short(value))  # the column header carries the offset
    if isinstance(value, list | tuple):
        return html.escape(", ".join(str(v) for v in value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    text = html.escape(str(value))
    if column == "value":
        column = _SECTION_FIELDS.get(section, column)
    field = column if kind_for_field(column) is not None else _CARD_COLUMNS.get(column)
    if field is not None:
        return f"<a href='{_LINK_SCHEME}:{field}/{quote(str(value), safe='')}'>{text}</a>"
    return text


def _offset_suffix(sample: Any) -> str:
    return f" ({zone_tag()})" if isinstance(sample, dt.datetime) else ""


def card_html(card: dict[str, Any]) -> str:
    """The card as HTML (the entity is the widget's title): a summary line, then one section per
    list: entries for rows with a time span, else a table."""
    s = card
    parts = [
        "<p>"
        f"<b>{s.get('events') or 0:,}</b> events, <b style='color:#C62828'>{s.get('failures') or 0:,}</b> failures"
        f"<br>first {html.escape(format_ts(s.get('first_seen')))} · last {html.escape(format_ts(s.get('last_seen')))}"
        f"<br>sources: {html.escape(', '.join(s.get('sources') or []))} · clouds: "
        f"{html.escape(', '.join(s.get('clouds') or []))}</p>"
    ]
    for key, value in card.items():
        if key in _SUMMARY or key in ("principal_id", "ip", "target_id"):
            continue
        if isinstance(value, dict):  # e.g. same_actor: {credentials: [...], principals: [...]}
            items = "".join(
                f"<li>{html.escape(_title(k))}: {', '.join(_cell('principal_id' if k == 'principals' else 'credential_id', v) for v in vs) or '–'}</li>"
                for k, vs in value.items()
            )
            parts.append(f"<h4 style='margin:6px 2px 2px'>{html.escape(_title(key))}</h4><ul>{items}</ul>")
            continue
        if not isinstance(value, list):
            continue
        if value and not isinstance(value[0], dict):  # plain values, e.g. a resource's other names
            parts.append(f"<p>{html.escape(_title(key))}: {html.escape(', '.join(map(str, value)))}</p>")
            continue
        parts.append(f"<h4 style='margin:6px 2px 2px'>{html.escape(_title(key))} ({len(value)})</h4>")
        if not value:
            parts.append("<p style='color:#777'>none</p>")
            continue
        timed = any(isinstance(v, dt.datetime) for r in value[:MAX_SECTION_ROWS] for v in r.values())
        parts.append(_entries_html(key, value) if timed else _table_html(key, value))
        if len(value) > MAX_SECTION_ROWS:
            parts.append(
                f"<p style='color:#777'>… and {len(value) - MAX_SECTION_ROWS:,} more (in time order; "
                "filter to the entity to see them all)</p>"
            )
    parts.append(f"<p style='color:#777'>Times in {zone_label()}.</p>")
    return "".join(parts)


def _table_html(section: str, rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0].keys())
    head = "".join(
        f"<th align='left'>{html.escape(_title(c))}{_offset_suffix(rows[0].get(c))}</th>" for c in columns
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(c, r.get(c), section)}</td>" for c in columns) + "</tr>"
        for r in rows[:MAX_SECTION_ROWS]
    )
    return f"<table cellspacing='0' cellpadding='2' border='0'><tr>{head}</tr>{body}</table>"


def _entries_html(section: str, rows: list[dict[str, Any]]) -> str:
    """Rows with a time span as two-line entries: what (the text columns, linked), then the
    counts and the span. A seven-column table in the card's narrow dock wrapped its headers
    letter by letter ("Princip al id") and hid the rows below the fold."""
    out = []
    for r in rows[:MAX_SECTION_ROWS]:
        what, counts, times = [], [], []
        for column, value in r.items():
            if value is None or (column == "actor" and value == r.get("principal_id")):
                continue
            if isinstance(value, dt.datetime):
                times.append(html.escape(format_ts_short(value)))
            elif isinstance(value, int) and not isinstance(value, bool):
                if column == "failures" and value == 0:
                    continue
                style = " style='color:#C62828'" if column == "failures" else ""
                counts.append(f"<span{style}>{value:,} {html.escape(column.replace('_', ' '))}</span>")
            else:
                label = "" if column in ("value", "principal_id") else f"{html.escape(_title(column))}: "
                what.append(label + _cell(column, value, section))
        span = " → ".join(times)
        detail = " · ".join([*counts, span] if span else counts)
        out.append(
            f"<p style='margin:2px 2px 6px 2px'>{' · '.join(what)}<br>"
            f"<span style='color:#555'>{detail}</span></p>"
        )
    return "".join(out)


class EntityCardWidget(QWidget):
    cardShown = Signal(str, str, object)  # kind, entity, card dict (tests)
    linkActivated = Signal(str, str)  # field, value
    filterRequested = Signal(str, str)  # kind, entity

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cur_factory: CursorFactory | None = None
        self._current: tuple[str, str] | None = None
        self._card: dict[str, Any] | None = None
        self._runner = SupersedingRunner(self)
        self._runner.resultReady.connect(self._on_card)
        self._runner.failed.connect(self._on_failed)
        self.title = QLabel(self)
        self.filter_button = QPushButton("Filter events to it", self)
        self.filter_button.clicked.connect(self._request_filter)
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)
        # ARNs and user agents have no spaces: break them anywhere rather than scroll sideways.
        self.browser.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.browser.anchorClicked.connect(self._on_link)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.filter_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(head)
        lay.addWidget(self.browser, 1)
        self.set_source(None)
        zone_changed().connect(self._on_zone_changed)

    @property
    def current(self) -> tuple[str, str] | None:
        return self._current

    @property
    def card(self) -> dict[str, Any] | None:
        return self._card

    def set_source(self, cur_factory: CursorFactory | None) -> None:
        self._runner.cancel()
        self._cur_factory = cur_factory
        self._current, self._card = None, None
        self.title.setText("No entity")
        self.filter_button.setEnabled(False)
        self.browser.setHtml(
            "<p style='color:#777'>Open a card from a pivot panel, a table cell or the actor chain "
            "(right-click → Open entity card).</p>"
        )

    def show_entity(self, kind_name: str, entity: str) -> None:
        if self._cur_factory is None or kind_name not in CARDS:
            return
        factory, build = self._cur_factory, CARDS[kind_name]
        self._current, self._card = (kind_name, entity), None
        self.title.setText(f"<b>{html.escape(entity)}</b>")
        self.filter_button.setEnabled(True)
        self.browser.setHtml("<p style='color:#777'>Building the card…</p>")

        def work(token: CancelToken) -> tuple[str, str, dict[str, Any] | None]:
            cur = factory()
            remove = token.interrupts(cur)
            try:
                if not builder.is_ready(cur):
                    return kind_name, entity, None
                return kind_name, entity, build(cur, entity)
            finally:
                remove()
                cur.close()

        self._runner.submit(work)

    @Slot(str)
    def _on_zone_changed(self, _name: str) -> None:
        if self._card is not None:  # the card's times, written again in the new display zone
            self.browser.setHtml(card_html(self._card))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.browser.setHtml(f"<p>⚠ {html.escape(message.splitlines()[0])}</p>")

    @Slot(object)
    def _on_card(self, result: object) -> None:
        assert isinstance(result, tuple)
        kind_name: str = result[0]
        entity: str = result[1]
        card: dict[str, Any] | None = result[2]
        if card is None:
            self.browser.setHtml(
                "<p>The entity tables are not built yet (being built, or the case is read-only); the card "
                "needs them. Try again in a moment.</p>"
            )
            return
        self._card = card
        self.browser.setHtml(card_html(card))
        self.cardShown.emit(kind_name, entity, card)

    @Slot(QUrl)
    def _on_link(self, url: QUrl) -> None:
        if url.scheme() != _LINK_SCHEME:
            return
        field, _, value = url.path().partition("/")
        self.linkActivated.emit(field, unquote(value))

    def _request_filter(self) -> None:
        if self._current is not None:
            self.filterRequested.emit(*self._current)
