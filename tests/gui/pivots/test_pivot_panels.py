"""Pivot panels and value menus on a real multi-source case: what they count and what a click
filters, checked against SQL written here, independently of the code under test."""

from __future__ import annotations

import datetime as dt

from entities import stories
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QMenu

from viewer.core.entities.kinds import KINDS
from viewer.gui.pivots.panel import PanelModel
from viewer.gui.pivots.value_actions import SUBMENU

from ..conftest import WAIT_MS, open_window


def _window(qtbot, settings, path):  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, path)
    feature = win.features[0]
    qtbot.waitUntil(lambda: not feature.tables.running, timeout=WAIT_MS)
    return win, feature


def _show(qtbot, feature, kind: str):  # type: ignore[no-untyped-def]
    panel = feature.panels[kind]
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        feature.show_panel(kind)
        panel.refresh()
    return panel


def _count(win, qtbot, apply) -> int:  # type: ignore[no-untyped-def]
    """Apply a filter change and return the table's count once it is known."""
    with qtbot.waitSignal(
        win.table_model.countChanged, timeout=WAIT_MS, check_params_cb=lambda n: isinstance(n, int)
    ) as blocker:
        apply()
    return int(blocker.args[0])


def _ip_where(ip: str) -> str:
    spellings = f"('{ip}', '::ffff:{ip}')"
    return f"(src_ip IN {spellings} OR dst_ip IN {spellings})"


def test_a_panel_for_every_kind_and_the_model_is_sound(qtbot, qtmodeltester, settings, pivot_case) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    assert set(feature.panels) == {k.name for k in KINDS}
    assert {d.objectName() for d in feature.panel_docks.values()} == {f"pivot_{k.name}_dock" for k in KINDS}
    panel = _show(qtbot, feature, "principal_id")
    assert isinstance(panel.model, PanelModel)
    qtmodeltester.check(panel.model)


def test_principal_panel_counts_equal_sql(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    panel = _show(qtbot, feature, "principal_id")
    expected = {
        r[0]: r[1:]
        for r in pivot_sql.execute(
            """SELECT principal_id, count(*), count(*) FILTER (WHERE outcome = 'failure'), min(ts), max(ts),
                      list_sort(list(DISTINCT source_type))
               FROM events WHERE principal_id IS NOT NULL GROUP BY 1"""
        ).fetchall()
    }
    page = panel.page
    assert page is not None and page.total_entities == len(expected)
    counts = [r.events for r in page.rows]
    assert counts == sorted(counts, reverse=True)
    for row in page.rows:
        n, fails, first, last, sources = expected[row.entity]
        assert (row.events, row.failures, row.first_seen, row.last_seen) == (n, fails, first, last)
        assert list(row.sources) == sources
    # What the table shows: the first row's entity, its count with thousands separators, offset times.
    assert panel.model.index(0, 0).data() == page.rows[0].entity
    assert panel.model.index(0, 1).data() == f"{page.rows[0].events:,}"
    assert panel.model.index(0, 3).data().endswith("+00:00")


def test_one_ip_across_sources_and_a_time_range(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    panel = _show(qtbot, feature, "ip")
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        panel.search.setText(stories.ATTACKER_IP)
    row = next(r for r in panel.page.rows if r.entity == stories.ATTACKER_IP)
    n, sources = pivot_sql.execute(
        f"SELECT count(*), list_sort(list(DISTINCT source_type)) FROM events WHERE {_ip_where(stories.ATTACKER_IP)}"
    ).fetchall()[0]
    assert row.events == n and list(row.sources) == sources and len(sources) >= 2
    # The panel follows the filter bar's time range.
    start = dt.datetime(2024, 5, 1, 10, 0, 30, tzinfo=dt.UTC)
    end = dt.datetime(2024, 5, 1, 23, 0, tzinfo=dt.UTC)
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        win.filter_bar.set_time_range(start, end)
    (n_range,) = pivot_sql.execute(
        f"SELECT count(*) FROM events WHERE ts >= ? AND ts < ? AND {_ip_where(stories.ATTACKER_IP)}",
        [start, end],
    ).fetchall()[0]
    rows = [r for r in panel.page.rows if r.entity == stories.ATTACKER_IP]
    assert n_range < n and [r.events for r in rows] == ([n_range] if n_range else [])


def test_selecting_entities_filters_the_table(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    panel = _show(qtbot, feature, "principal_id")
    first, second = panel.page.rows[0].entity, panel.page.rows[1].entity
    n = _count(win, qtbot, lambda: panel.view.selectRow(0))
    assert (
        n == pivot_sql.execute("SELECT count(*) FROM events WHERE principal_id = ?", [first]).fetchall()[0][0]
    )
    assert first in win.filter_bar.event_filter.text
    both = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    n2 = _count(win, qtbot, lambda: panel.view.selectionModel().select(panel.model.index(1, 0), both))
    expected = pivot_sql.execute(
        "SELECT count(*) FROM events WHERE principal_id IN (?, ?)", [first, second]
    ).fetchall()[0][0]
    assert n2 == expected
    assert win.filter_bar.event_filter.text.count("principal_id:") == 1  # the panel's term was replaced
    total = pivot_sql.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert _count(win, qtbot, panel.view.clearSelection) == total
    assert win.filter_bar.event_filter.text == ""


def test_selecting_an_ip_matches_source_or_destination(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    panel = _show(qtbot, feature, "ip")
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        panel.search.setText(stories.EXFIL_DEST)
    row = next(i for i, r in enumerate(panel.page.rows) if r.entity == stories.EXFIL_DEST)
    n = _count(win, qtbot, lambda: panel.view.selectRow(row))
    assert (
        n
        == pivot_sql.execute(f"SELECT count(*) FROM events WHERE {_ip_where(stories.EXFIL_DEST)}").fetchall()[
            0
        ][0]
    )
    assert n > 0 and win.filter_bar.event_filter.text.startswith("anyip:")


def _pivot_menu(menu: QMenu) -> QMenu:
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text() == SUBMENU)
    assert sub is not None
    return sub


def _action(menu: QMenu, prefix: str):  # type: ignore[no-untyped-def]
    return next(a for a in menu.actions() if a.text().startswith(prefix))


def test_value_menu_offers_pivot_and_applying_it_filters(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    col = win.table_model.column_of("principal_id")
    row = next(r for r in range(50) if win.table_model.index(r, col).data())
    value = win.table_model.index(row, col).data()
    sub = _pivot_menu(win.table.build_cell_menu(row, col))
    texts = [a.text() for a in sub.actions()]
    assert texts[:2] == [f"Filter to {value[:39]}…" if len(value) > 40 else f"Filter to {value}", texts[1]]
    assert any(t.startswith("Exclude") for t in texts) and "Open entity card" in texts
    assert "Add to swimlanes" in texts and any(t.startswith("Show in the") for t in texts)
    (n_value,) = pivot_sql.execute("SELECT count(*) FROM events WHERE principal_id = ?", [value]).fetchall()[
        0
    ]
    assert _count(win, qtbot, _action(sub, "Filter to").trigger) == n_value
    # Exclude, from a fresh menu on the same kind of cell: the value's events go away.
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        win.filter_bar.edit.clear()
        win.filter_bar.apply_text()
    (total,) = pivot_sql.execute("SELECT count(*) FROM events").fetchall()[0]
    qtbot.waitUntil(lambda: win.table_model.index(row, col).data() == value, timeout=WAIT_MS)
    sub = _pivot_menu(win.table.build_cell_menu(row, col))
    assert _count(win, qtbot, _action(sub, "Exclude").trigger) == total - n_value
    # A field that is not an entity (the time) offers no pivot.
    time_menu = win.table.build_cell_menu(0, win.table_model.column_of("ts"))
    assert all(a.text() != SUBMENU for a in time_menu.actions())


def test_detail_pane_value_offers_pivot(qtbot, settings, pivot_case, pivot_sql) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS):
        win.table.select_row(0)
    fields = win.detail.fields_table
    row = next(r for r in range(fields.rowCount()) if fields.item(r, 0).toolTip() == "src_ip")
    fields.setCurrentCell(row, 1)
    sub = _pivot_menu(win.detail.build_context_menu(fields))
    ip = fields.item(row, 1).text()
    n = _count(win, qtbot, _action(sub, "Filter to").trigger)
    assert n == pivot_sql.execute(f"SELECT count(*) FROM events WHERE {_ip_where(ip)}").fetchall()[0][0]


def test_header_click_sorts_in_sql_and_show_in_panel_selects_without_filtering(
    qtbot, settings, pivot_case, pivot_sql
) -> None:  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    panel = _show(qtbot, feature, "principal_id")
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        panel.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # failures
    top = pivot_sql.execute(
        """SELECT principal_id, count(*) FILTER (WHERE outcome = 'failure') AS f FROM events
           WHERE principal_id IS NOT NULL GROUP BY 1 ORDER BY f DESC, principal_id LIMIT 3"""
    ).fetchall()
    assert [(r.entity, r.failures) for r in panel.page.rows[:3]] == top
    text_before = win.filter_bar.event_filter.text
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        feature.show_in_panel("principal_id", stories.USER_ARN)
    assert panel.selected_entities() == [stories.USER_ARN]
    assert win.filter_bar.event_filter.text == text_before
    assert (
        panel.model.index(0, 0).data() == stories.USER_ARN and feature.panel_docks["principal_id"].isVisible()
    )


def test_value_menu_of_a_bucket_filters_it_under_all_its_names(
    qtbot, settings, pivot_case, pivot_sql
) -> None:  # type: ignore[no-untyped-def]
    """A bucket named bare in one event: "under all its names" also finds its ARN and objects."""
    win, feature = _window(qtbot, settings, pivot_case[0])
    bucket = pivot_case[1]["exfiltration"]["bucket"]
    win.filter_bar.edit.setText(f"target_id:{bucket}")
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        win.filter_bar.apply_text()
    col = win.table_model.column_of("target_id")
    qtbot.waitUntil(lambda: win.table_model.index(0, col).data() == bucket, timeout=WAIT_MS)
    sub = _pivot_menu(win.table.build_cell_menu(0, col))
    win.filter_bar.edit.clear()
    win.filter_bar.apply_text()
    (n,) = pivot_sql.execute(
        "SELECT count(*) FROM events WHERE target_id IN (?, ?) OR starts_with(target_id, ?)",
        [bucket, "arn:aws:s3:::" + bucket, f"arn:aws:s3:::{bucket}/"],
    ).fetchall()[0]
    (exact,) = pivot_sql.execute("SELECT count(*) FROM events WHERE target_id = ?", [bucket]).fetchall()[0]
    assert n > exact
    assert _count(win, qtbot, _action(sub, "Filter to this resource under all its names").trigger) == n
    assert win.filter_bar.event_filter.text == f"resource:{bucket}"


def test_the_target_panel_lists_a_bucket_with_its_objects_and_a_click_selects_them(
    qtbot, settings, pivot_case, pivot_sql
) -> None:  # type: ignore[no-untyped-def]
    """One row per bucket: its ARN, bare name and objects counted together; the click writes
    `target:` and the table counts what the row counted (SQL written here)."""
    win, feature = _window(qtbot, settings, pivot_case[0])
    bucket = "arn:aws:s3:::" + pivot_case[1]["exfiltration"]["bucket"]
    panel = _show(qtbot, feature, "target_id")
    with qtbot.waitSignal(panel.pageShown, timeout=WAIT_MS):
        panel.search.setText(pivot_case[1]["exfiltration"]["bucket"])
    assert [r.entity for r in panel.page.rows] == [bucket]
    (n,) = pivot_sql.execute(
        """SELECT count(*) FROM events WHERE target_id = ? OR starts_with(target_id, ?)
           OR (target_id = ? AND target_type IN ('AWS::S3::Bucket', 'S3Bucket'))""",
        [bucket, bucket + "/", bucket.removeprefix("arn:aws:s3:::")],
    ).fetchall()[0]
    assert panel.page.rows[0].events == n
    assert _count(win, qtbot, lambda: panel.view.selectRow(0)) == n
    assert win.filter_bar.event_filter.text == f"target:{bucket}"


def test_a_wide_window_opens_its_first_case_with_the_panels_shown(qtbot, settings, pivot_case) -> None:  # type: ignore[no-untyped-def]
    """Wide enough, the correlation panels come with the first case (at 1400 px they stay in the
    View menu); panels the analyst hid stay hidden for the next case."""
    from viewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1900, 1000)
    win.show()
    qtbot.waitExposed(win)
    feature = win.features[0]
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        assert win.open_case(pivot_case[0], read_only=True)
    shown = {k for k, d in feature.panel_docks.items() if d.isVisible()}
    assert {"principal_id", "ip", "target_id"} <= shown
    feature.toggle_panels()
    assert not any(d.isVisible() for d in feature.panel_docks.values())
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        assert win.open_case(pivot_case[0], read_only=True)
    assert not any(d.isVisible() for d in feature.panel_docks.values())
