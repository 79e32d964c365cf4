"""Annotations from the window: shortcuts on the selection, value menus, undo/redo, and where they
show (table decoration, `tag:`/`is:starred` filters, timeline markers, findings dock)."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

from viewer.gui.casework import CaseworkFeature
from viewer.gui.casework.annotation_dialogs import NoteDialog, TagDialog

from ..conftest import WAIT_MS, open_window
from .conftest import wait_edits


def _feature(win) -> CaseworkFeature:  # type: ignore[no-untyped-def]
    return next(f for f in win.features if isinstance(f, CaseworkFeature))


def _select_rows(win, rows: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
    sm = win.table.selectionModel()
    sm.clearSelection()
    sm.setCurrentIndex(win.table_model.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate)
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for r in rows:
        sm.select(win.table_model.index(r, 0), flags)
    win.table.setFocus()
    return win.table.selected_event_ids()


def _refocus(qtbot, win) -> None:  # type: ignore[no-untyped-def]
    """After a modal dialog the offscreen platform does not give the window back its activation."""
    win.activateWindow()
    win.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=WAIT_MS)


def _sql(win, query: str, params=None):  # type: ignore[no-untyped-def]
    return win.session.case.cursor().execute(query, params or []).fetchall()


def test_star_tag_note_with_shortcuts_undo_redo(qtbot, settings, work_case):
    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    ids = _select_rows(win, [1, 2, 3])
    assert len(ids) == 3

    QTest.keyClick(win.table, Qt.Key.Key_S)  # S: star the selection
    wait_edits(qtbot, feature)
    assert sorted(r[0] for r in _sql(win, "SELECT event_id FROM event_stars")) == sorted(ids)

    # T: the tag dialog opens with the selection's tags; check one standard tag, type a free one.
    def fill_tags() -> None:
        dialog = feature.dialog
        assert isinstance(dialog, TagDialog)
        dialog.boxes["malicious"].setChecked(True)
        dialog.free.setText("stage-2")
        dialog.accept()

    QTimer.singleShot(0, fill_tags)
    QTest.keyClick(win.table, Qt.Key.Key_T)
    wait_edits(qtbot, feature)
    tags = _sql(win, "SELECT event_id, tag FROM event_tags ORDER BY ALL")
    assert tags == sorted([(i, t) for i in ids for t in ("malicious", "stage-2")])
    # One dialog, one action: a single undo would take both tags back.
    assert _sql(win, "SELECT count(DISTINCT action_id) FROM annotation_changes WHERE attribute = 'tag'") == [
        (1,)
    ]

    def write_note() -> None:
        dialog = feature.dialog
        assert isinstance(dialog, NoteDialog)
        dialog.edit.setPlainText("first login from the attacker IP")
        dialog.accept()

    _refocus(qtbot, win)
    QTimer.singleShot(0, write_note)
    QTest.keyClick(win.table, Qt.Key.Key_N)  # N: note on the current event
    wait_edits(qtbot, feature)
    assert _sql(win, "SELECT event_id, note FROM event_notes") == [
        (ids[0], "first login from the attacker IP")
    ]

    # Ctrl+Z reverts the newest gesture (the note), Ctrl+Shift+Z brings it back.
    _refocus(qtbot, win)
    QTest.keyClick(win.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_edits(qtbot, feature)
    assert _sql(win, "SELECT count(*) FROM event_notes") == [(0,)]
    assert "Undid" in win.statusBar().currentMessage()
    QTest.keyClick(
        win.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    wait_edits(qtbot, feature)
    assert _sql(win, "SELECT count(*) FROM event_notes") == [(1,)]

    # S again on an all-starred selection unstars it.
    QTest.keyClick(win.table, Qt.Key.Key_S)
    wait_edits(qtbot, feature)
    assert _sql(win, "SELECT count(*) FROM event_stars") == [(0,)]


def test_annotations_show_in_table_filter_timeline_and_findings(qtbot, settings, work_case):
    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    all_ids = [r[0] for r in _sql(win, "SELECT event_id FROM events ORDER BY ts, event_id")]
    starred, tagged = all_ids[5:8], all_ids[1500:1504]
    feature.annotator.set_tag("malicious", True, tagged)
    feature.annotator.toggle_star(starred)
    with qtbot.waitSignal(feature.findings.loaded, timeout=WAIT_MS):
        wait_edits(qtbot, feature)

    # Table: the loaded first page carries the annotations as a decoration, fetched per page.
    qtbot.waitUntil(lambda: win.table_model.row_extra(5) is not None, timeout=WAIT_MS)
    assert win.table_model.row_extra(5).starred
    icon = win.table_model.index(5, 0).data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(icon, QIcon) and not icon.isNull()
    assert "starred" in win.table_model.index(5, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert win.table_model.row_extra(4) is None

    # Filter: `tag:malicious` and `is:starred` count what SQL counts.
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS) as sig:
        feature.apply_filter_text("tag:malicious")
    assert sig.args[0] == _sql(win, "SELECT count(*) FROM event_tags WHERE tag = 'malicious'")[0][0] == 4
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS) as sig:
        feature.apply_filter_text("is:starred -tag:malicious")
    assert sig.args[0] == 3

    # Timeline: one marker per annotated event.
    qtbot.waitUntil(lambda: feature.markers.loaded == 7, timeout=WAIT_MS)
    scatter = [i for i in win.timeline.marker_items() if hasattr(i, "points")]
    assert len(scatter) == 1 and len(scatter[0].points()) == 7

    # Findings: both groups listed; a double-click selects the event's row in the table.
    events = feature.findings.items_of("event")
    assert sorted(int(i.data(0, Qt.ItemDataRole.UserRole + 1)) for i in events) == sorted(starred + tagged)
    feature.apply_filter_text("")
    qtbot.waitUntil(lambda: win.table_model.event_count() == 2500, timeout=WAIT_MS)
    target = next(i for i in events if int(i.data(0, Qt.ItemDataRole.UserRole + 1)) == tagged[2])
    with qtbot.waitSignal(feature.navigator.eventShown, timeout=WAIT_MS) as shown:
        feature.findings.tree.itemActivated.emit(target, 0)
    assert shown.args == [tagged[2], 1502]
    qtbot.waitUntil(lambda: win.table_model.event_id_at(win.table.currentIndex().row()) == tagged[2])

    # A click on a timeline marker goes to its event too.
    (scatter,) = [i for i in win.timeline.marker_items() if hasattr(i, "points")]
    first_point = scatter.points()[0]
    with qtbot.waitSignal(feature.navigator.eventShown, timeout=WAIT_MS) as shown:
        scatter.sigClicked.emit(scatter, [first_point], None)
    assert shown.args == [feature.markers.event_ids[0], 5]


def test_value_menu_entity_note_and_bookmark(qtbot, settings, work_case):
    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    col = win.table_model.column_of("src_ip")
    if col < 0:
        win.table.toggle_column("src_ip", True)
        qtbot.waitUntil(lambda: win.table_model.column_of("src_ip") >= 0 and win.table_model.is_row_loaded(0))
        col = win.table_model.column_of("src_ip")
    row = next(r for r in range(50) if win.table_model.index(r, col).data())
    ip = win.table_model.index(row, col).data()
    menu = win.table.build_cell_menu(row, col)
    texts = [a.text() for a in menu.actions()]
    assert any(t.startswith("★ Star / unstar") for t in texts)
    note_action = next(a for a in menu.actions() if a.text().startswith(f"Note on ip {ip}"))

    def write_note() -> None:
        assert isinstance(feature.dialog, NoteDialog)
        feature.dialog.edit.setPlainText("attacker")
        feature.dialog.accept()

    QTimer.singleShot(0, write_note)
    note_action.trigger()
    with qtbot.waitSignal(feature.findings.loaded, timeout=WAIT_MS):
        wait_edits(qtbot, feature)
    assert _sql(win, "SELECT entity_kind, entity_value, note FROM entity_notes") == [("ip", ip, "attacker")]
    assert [i.text(1) for i in feature.findings.items_of("entity")] == ["attacker"]

    # Ctrl+B bookmarks the time range selected on the timeline.
    start = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
    end = dt.datetime(2024, 3, 3, tzinfo=dt.UTC)
    win.timeline.select_range(start, end)

    def name_it() -> None:
        assert feature.dialog is not None
        feature.dialog.name.setText("initial access")  # type: ignore[attr-defined]
        feature.dialog.accept()

    _refocus(qtbot, win)
    QTimer.singleShot(0, name_it)
    QTest.keyClick(win.table, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(feature.findings.loaded, timeout=WAIT_MS):
        wait_edits(qtbot, feature)
    assert _sql(win, "SELECT name, start_ts, end_ts FROM bookmarks") == [("initial access", start, end)]
    qtbot.waitUntil(
        lambda: any(
            getattr(i, "toolTip", lambda: "")() == "initial access" for i in win.timeline.marker_items()
        )
    )

    # Double-clicking the bookmark makes it the time range again after the range was cleared.
    win.filter_bar.clear_time_range()
    (item,) = feature.findings.items_of("bookmark")
    feature.findings.tree.itemActivated.emit(item, 0)
    assert win.filter_bar.event_filter.time_range == (start, end)

    # The findings' context menus edit in place: remove the entity note, then the bookmark.
    (entity,) = feature.findings.items_of("entity")
    menu = feature.findings.build_menu(entity)
    with qtbot.waitSignal(feature.findings.loaded, timeout=WAIT_MS):
        next(a for a in menu.actions() if a.text() == "Remove note").trigger()
        wait_edits(qtbot, feature)
    assert _sql(win, "SELECT count(*) FROM entity_notes") == [(0,)]
    (item,) = feature.findings.items_of("bookmark")
    with qtbot.waitSignal(feature.findings.loaded, timeout=WAIT_MS):
        next(
            a for a in feature.findings.build_menu(item).actions() if a.text() == "Remove bookmark"
        ).trigger()
        wait_edits(qtbot, feature)
    assert _sql(win, "SELECT count(*) FROM bookmarks") == [(0,)]
    assert feature.findings.items_of("bookmark") == []


def test_tag_dialog_refuses_a_bad_tag(qtbot, settings, work_case):
    win = open_window(qtbot, settings, work_case, read_only=False)
    dialog = TagDialog({}, [1, 2], ["malicious"], win)
    qtbot.addWidget(dialog)
    dialog.free.setText("two words 'quoted'")
    dialog._accept_if_valid()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "invalid tag" in dialog.error.text()


def test_casework_shortcuts_are_unique_in_the_window(qtbot, settings, work_case):
    """S, T, N, Ctrl+B, Ctrl+Z, Ctrl+Shift+Z, Ctrl+R, Ctrl+Shift+F: no other action of the window,
    its docks or features claims them (an ambiguous shortcut fires nothing)."""
    from PySide6.QtGui import QAction

    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    ours = [
        feature.star_action,
        feature.tag_action,
        feature.note_action,
        feature.bookmark_action,
        feature.undo_action,
        feature.redo_action,
        feature.report_action,
        feature.findings_action,
    ]
    keys = [a.shortcut().toString() for a in ours]
    assert keys == ["S", "T", "N", "Ctrl+B", "Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+R", "Ctrl+Shift+F"]
    others = [
        a.shortcut().toString()
        for a in win.findChildren(QAction)
        if a not in ours and not a.shortcut().isEmpty()
    ]
    assert not set(keys) & set(others)


def test_case_does_not_close_while_edits_are_saving(qtbot, settings, work_case):
    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    ids = [r[0] for r in _sql(win, "SELECT event_id FROM events ORDER BY event_id LIMIT 300")]
    for i in range(0, 300, 100):  # three queued edits: the later ones wait for the first
        feature.annotator.set_tag("reviewed", True, ids[i : i + 100])
    assert "still being saved" in (feature.close_guard() or "")
    wait_edits(qtbot, feature)
    assert feature.close_guard() is None
    assert _sql(win, "SELECT count(*) FROM event_tags WHERE tag = 'reviewed'") == [(300,)]
    assert win.close_case()
