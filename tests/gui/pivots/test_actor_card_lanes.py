"""Actor chain, entity card, swimlanes and the building state on a real multi-source case; the
expected values come from the sample's truth file and from SQL written here."""

from __future__ import annotations

import datetime as dt

import numpy as np
from entities import stories
from PySide6.QtWidgets import QTabBar

from viewer.core.entities.swimlanes import Lane
from viewer.gui import display_zone

from ..conftest import WAIT_MS, open_window, slow_to_stop
from .test_pivot_panels import _count, _ip_where, _window


def _event(sql, where: str, params: list) -> int:  # type: ignore[no-untyped-def]
    return int(sql.execute(f"SELECT max(event_id) FROM events WHERE {where}", params).fetchall()[0][0])


def test_actor_chain_of_an_assumed_role_event_names_the_human(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    truth = pivot_case[1]["attacker"]
    leaked = next(k for k, why in truth["long_term_access_keys"].items() if "leaked" in why)
    user = next(a for a in truth["principal_arns"] if a.endswith(":user/ci-deploy"))
    # The cross-account session: two AssumeRole hops back to the leaked key of ci-deploy.
    key, session = next((k, a) for k, a in truth["temporary_access_keys"].items() if ":333333333333:" in a)
    event_id = _event(pivot_sql, "credential_id = ? AND principal_id = ?", [key, session])
    with qtbot.waitSignal(feature.chain.chainShown, timeout=WAIT_MS) as blocker:
        win.detail.show_event(win.session.cursor, event_id)
    chain = blocker.args[0]
    assert chain is not None and chain.actor == user and not chain.gap
    assert feature.chain.actor_label.text() == f"Actor: {user}"
    shown = [
        feature.chain.tree.topLevelItem(i).text(0) for i in range(feature.chain.tree.topLevelItemCount())
    ]
    assert shown[0] == session and shown[-1] == leaked and key in shown
    assert truth["source_identity"] in feature.chain.note_label.text()
    # "Everything this actor did": the human's events under every identity of the network story too.
    ev = _event(pivot_sql, "principal_id = ?", [stories.SESSION_ARN])
    with qtbot.waitSignal(feature.chain.chainShown, timeout=WAIT_MS) as blocker:
        win.detail.show_event(win.session.cursor, ev)
    assert blocker.args[0].actor == stories.USER_ARN
    n = _count(win, qtbot, feature.chain.everything_button.click)
    (expected,) = pivot_sql.execute(
        "SELECT count(*) FROM events WHERE principal_id = ? OR credential_id IN (?, ?)",
        [stories.USER_ARN, stories.USER_KEY, stories.SESSION_KEY],
    ).fetchall()[0]
    assert n == expected and win.filter_bar.event_filter.text == f"actor:{stories.USER_ARN}"


def test_entity_card_of_an_ip(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    with qtbot.waitSignal(feature.card.cardShown, timeout=WAIT_MS) as blocker:
        feature.open_card("src_ip", stories.ATTACKER_IP)
    kind, entity, card = blocker.args
    assert (kind, entity) == ("ip", stories.ATTACKER_IP) and feature.card_dock.isVisible()
    (n,) = pivot_sql.execute(
        f"SELECT count(*) FROM events WHERE {_ip_where(stories.ATTACKER_IP)}"
    ).fetchall()[0]
    assert card["events"] == n
    principals = {r["value"] for r in card["principals"]}
    assert {stories.USER_ARN, stories.SESSION_ARN} <= principals
    text = feature.card.browser.toPlainText()
    assert "Principals" in text and stories.SESSION_ARN in text and "+00:00" in text
    # A principal in the card is a link to its own card.
    with qtbot.waitSignal(feature.card.cardShown, timeout=WAIT_MS) as blocker:
        feature.card.linkActivated.emit("principal_id", stories.USER_ARN)
    assert blocker.args[:2] == ["principal_id", stories.USER_ARN]
    assert [r["role_arn"] for r in blocker.args[2]["roles_assumed"]] == [stories.ROLE_ARN]


def _visible_tab_bars(win) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [
        [tb.tabText(i) for i in range(tb.count())]
        for tb in win.findChildren(QTabBar)
        if tb.isVisible() and tb.geometry().intersects(win.rect())
    ]


def test_the_entity_card_opens_as_a_tab_beside_the_event_detail(qtbot, settings, pivot_case) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    qtbot.wait(50)  # let the dock layout settle
    # Hidden, the card leaves no tab bar behind (one was once drawn over the actor chain).
    assert not feature.card_dock.isVisible()
    assert not any("Entity card" in tabs for tabs in _visible_tab_bars(win))
    with qtbot.waitSignal(feature.card.cardShown, timeout=WAIT_MS):
        feature.open_card("src_ip", stories.ATTACKER_IP)
    qtbot.wait(50)
    assert win.tabifiedDockWidgets(feature.card_dock) == [win.detail_dock]
    [tabs] = [t for t in _visible_tab_bars(win) if "Entity card" in t]
    assert tabs == ["Event detail", "Entity card"]
    # The tab bar sits between the detail/card group and the actor chain, not over the chain.
    bar = next(
        tb
        for tb in win.findChildren(QTabBar)
        if tb.isVisible() and tb.count() == 2 and "Entity card" in [tb.tabText(i) for i in range(2)]
    )
    chain_top = feature.chain_dock.mapTo(win, feature.chain_dock.rect().topLeft()).y()
    assert bar.mapTo(win, bar.rect().bottomLeft()).y() <= chain_top


def test_swimlanes_draw_the_totals_of_each_entity(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    truth = pivot_case[1]["attacker"]
    user = next(a for a in truth["principal_arns"] if a.endswith(":user/ci-deploy"))
    ip = truth["ips"][0]
    feature.add_lane("principal_id", user)
    with qtbot.waitSignal(feature.lanes.lanesDrawn, timeout=WAIT_MS) as blocker:
        feature.add_lane("ip", ip)
    buckets = blocker.args[0]
    assert feature.lanes_dock.isVisible() and feature.lanes.lanes == [
        Lane("principal_id", user),
        Lane("ip", ip),
    ]
    start, end = buckets.edges[0], buckets.edges[-1]
    span = "ts >= to_timestamp(?) AND ts < to_timestamp(?)"
    (n_user,) = pivot_sql.execute(
        f"SELECT count(*) FROM events WHERE principal_id = ? AND {span}", [user, start, end]
    ).fetchall()[0]
    (n_ip,) = pivot_sql.execute(
        f"SELECT count(*) FROM events WHERE {_ip_where(ip)} AND {span}", [start, end]
    ).fetchall()[0]
    assert n_user > 0 and n_ip > 0
    assert buckets.total(Lane("principal_id", user)) == n_user and buckets.total(Lane("ip", ip)) == n_ip
    # Same bucket edges as the timeline's bucketing (nice width, aligned origin), and a linked x axis.
    assert buckets.bucket == win.timeline.buckets.bucket  # bars of the same width as the timeline's
    width = buckets.bucket.total_seconds()
    assert np.allclose(np.diff(buckets.edges), width) and buckets.edges[0] % min(width, 86400) == 0
    (lo, hi) = win.timeline.view_box.viewRange()[0]
    with qtbot.waitSignal(feature.lanes.lanesDrawn, timeout=WAIT_MS) as blocker:
        win.timeline.view_box.setXRange(lo + (hi - lo) / 4, hi - (hi - lo) / 4, padding=0)
    narrower = blocker.args[0]
    assert narrower.edges[-1] - narrower.edges[0] < end - start
    ticks = feature.lanes.plot_item.getAxis("left")._tickLevels[0]  # noqa: SLF001 - what is drawn
    assert any(f"({n_user:,})" in t or "(" in t for _, t in ticks)


def test_stale_entity_tables_are_built_in_the_background(qtbot, settings, stale_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    from viewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    feature = win.features[0]
    states: list[str] = []
    feature.tables.stateChanged.connect(states.append)
    with qtbot.waitSignal(feature.tables.ready, timeout=60_000):
        assert win.open_case(stale_case)
    assert any(s.startswith("Building entity tables") for s in states) and feature.tables.label.isHidden()
    panel = feature.show_panel("principal_id")
    qtbot.waitUntil(lambda: panel.page is not None and not panel.busy, timeout=WAIT_MS)
    assert panel.page.exact_from_tables
    (n,) = pivot_sql.execute("SELECT count(DISTINCT principal_id) FROM events").fetchall()[0]
    assert panel.page.total_entities == n


def test_read_only_stale_case_says_so_and_still_counts(qtbot, settings, stale_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, stale_case, read_only=True)
    feature = win.features[0]
    qtbot.waitUntil(lambda: "read-only" in feature.tables.state, timeout=WAIT_MS)
    panel = feature.show_panel("principal_id")
    qtbot.waitUntil(lambda: panel.page is not None and not panel.busy, timeout=WAIT_MS)
    assert not panel.page.exact_from_tables and "counted from events" in panel.status.text()
    (n,) = pivot_sql.execute("SELECT count(DISTINCT principal_id) FROM events").fetchall()[0]
    assert panel.page.total_entities == n


def test_closing_while_the_tables_build_cancels_the_build(qtbot, settings, stale_case) -> None:  # type: ignore[no-untyped-def]
    from viewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    feature = win.features[0]
    with qtbot.waitSignal(feature.tables.stateChanged, timeout=WAIT_MS):
        assert win.open_case(stale_case)
    assert feature.tables.running
    assert win.close_case()  # the guard stopped the build before the connection closed
    qtbot.waitUntil(lambda: not feature.tables.running, timeout=WAIT_MS)
    assert win.session is None and feature.tables.label.isHidden()


def test_fit_to_lanes_moves_the_timeline_to_their_events(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    lane = Lane("actor", stories.USER_ARN)
    with qtbot.waitSignal(feature.lanes.lanesDrawn, timeout=WAIT_MS):
        feature.add_lane("actor", stories.USER_ARN)
    with qtbot.waitSignal(feature.lanes.lanesDrawn, timeout=WAIT_MS) as blocker:
        feature.lanes.fit_button.click()
    (n, first, last) = pivot_sql.execute(
        "SELECT count(*), epoch(min(ts)), epoch(max(ts)) FROM events WHERE principal_id = ? OR credential_id IN (?, ?)",
        [stories.USER_ARN, stories.USER_KEY, stories.SESSION_KEY],
    ).fetchall()[0]
    assert blocker.args[0].total(lane) == n > 0
    lo, hi = win.timeline.view_box.viewRange()[0]
    assert (
        lo <= first and last <= hi and hi - lo < 86400
    )  # the timeline followed: hours, not the case's weeks


def test_entity_card_of_a_bucket_covers_its_arn_and_objects(qtbot, settings, pivot_case) -> None:  # type: ignore[no-untyped-def]
    """The card of a bucket found by its bare name shows who read its objects, named by ARN."""
    win, feature = _window(qtbot, settings, pivot_case[0])
    exfil = pivot_case[1]["exfiltration"]
    with qtbot.waitSignal(feature.card.cardShown, timeout=WAIT_MS) as blocker:
        feature.open_card("target_id", exfil["bucket"])
    kind, entity, card = blocker.args
    assert (kind, entity) == ("target_id", exfil["bucket"])
    # Docked beside the event detail, the card gets the room its sections need.
    # (~270 of 900 px before it asked for half the window; other docks' minimum sizes cap it.)
    qtbot.waitUntil(lambda: feature.card_dock.height() >= 0.35 * win.height(), timeout=WAIT_MS)
    reads = [
        r
        for r in card["touched_by"]
        if r["principal_id"] == exfil["principal_arn"] and r["action"] == "GetObject"
    ]
    assert [r["events"] for r in reads] == [exfil["get_object_count"]]
    text = feature.card.browser.toPlainText()
    assert f"objects (arn:aws:s3:::{exfil['bucket']}/...)" in text and "GetObject" in text
    # Who, then how many and when, readable in the narrow dock (not a seven-column table).
    first, last = (
        dt.datetime.fromisoformat(exfil[k]).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        for k in ("first_get_object", "last_get_object")
    )
    assert (
        f"{exfil['principal_arn']} · Action: GetObject\n{exfil['get_object_count']} events · {first} → {last}"
        in text
    )


def test_swimlane_bars_line_up_with_the_timeline_in_the_display_zone(qtbot, settings, pivot_case) -> None:  # type: ignore[no-untyped-def]
    """In a zone half an hour off UTC's hours, lanes and timeline both begin their bars at that
    zone's hours (or midnights): the bars of one time sit under each other."""
    settings.setValue(display_zone.SETTING, "+05:30")
    win, feature = _window(qtbot, settings, pivot_case[0])
    user = next(a for a in pivot_case[1]["attacker"]["principal_arns"] if a.endswith(":user/ci-deploy"))
    with qtbot.waitSignal(feature.lanes.lanesDrawn, timeout=WAIT_MS) as blocker:
        feature.add_lane("principal_id", user)
    lanes, bars = blocker.args[0], win.timeline.buckets
    width = lanes.bucket.total_seconds()
    assert lanes.bucket == bars.bucket and width >= 3600
    shift = 5.5 * 3600
    assert round(lanes.edges[0] + shift) % round(min(width, 86400)) == 0
    assert round(bars.edges[0] + shift) % round(min(width, 86400)) == 0
    assert round(lanes.edges[0] - bars.edges[0]) % round(width) == 0


def test_a_build_that_does_not_stop_in_time_keeps_the_case_open(
    qtbot, settings, stale_case, monkeypatch, told
) -> None:  # type: ignore[no-untyped-def]
    """Closing the connection under a build that had not stopped crashed the process."""
    from viewer.gui.main_window import MainWindow
    from viewer.gui.pivots import entity_tables

    gate = slow_to_stop(monkeypatch, entity_tables, "ensure_entity_tables", "STOP_WAIT_MS")
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    feature = win.features[0]
    assert win.open_case(stale_case)
    qtbot.waitUntil(lambda: feature.tables.running, timeout=WAIT_MS)  # started once the summary came
    assert not win.close_case() and win.session is not None
    assert told and "still stopping" in told[-1]
    gate.set()
    qtbot.waitUntil(lambda: not feature.tables.running, timeout=WAIT_MS)
    assert win.close_case() and win.session is None
