"""Help › Keyboard shortcuts (F1), and no key that two actions answer at once."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from viewer.gui.shortcuts_help import clashes

from .conftest import WAIT_MS, open_window


def _menu_actions(menu: QMenu) -> list[QAction]:
    found = []
    for action in menu.actions():
        sub = action.menu()
        found.extend(_menu_actions(sub) if isinstance(sub, QMenu) else [action])
    return found


def test_no_two_actions_answer_one_key_where_both_are_live(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()  # the workbench's own actions
    assert clashes(win) == []
    # The check sees a clash: Qt would run neither action and print "Ambiguous shortcut overload".
    twin = QAction("Another jump", win)
    twin.setShortcut(QKeySequence("Ctrl+G"))
    win.addAction(twin)
    assert ("Ctrl+G", "Go to time", "Another jump") in clashes(win)


def test_the_close_key_closes_the_query_tab_in_the_workbench_and_the_case_elsewhere(
    qtbot, settings, case_path
) -> None:  # type: ignore[no-untyped-def]
    """Close case and Close query tab both had Ctrl+F4, which then did nothing in the workbench."""
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    win.query_dock.new_tab()
    tabs = win.query_dock.tabs.count()
    editor = win.query_dock.current_tab.editor
    editor.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor, timeout=WAIT_MS)
    QTest.keyClick(editor, Qt.Key.Key_F4, Qt.KeyboardModifier.ControlModifier)
    assert win.query_dock.tabs.count() == tabs - 1 and win.session is not None
    win.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is win.table, timeout=WAIT_MS)
    QTest.keyClick(
        win.table, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier
    )  # the platform's other Close key
    qtbot.waitUntil(lambda: win.session is None, timeout=WAIT_MS)


def test_f1_lists_every_key_beside_the_timeline_and_filters_as_you_type(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    assert win.shortcuts_action is not None and "F1" in win.shortcuts_action.shortcut().toString()
    win.shortcuts_action.trigger()
    listing = win.shortcuts_window
    qtbot.waitExposed(listing)
    assert not listing.isModal() and win.isVisible()  # a tool window: the timeline stays in view
    rows = listing.visible_rows()
    what = {(where, text) for where, _keys, text in rows}
    for top in win.menuBar().actions():
        for action in _menu_actions(top.menu()):
            if action.shortcuts():
                keys = action.shortcuts()[0].toString(QKeySequence.SequenceFormat.NativeText)
                assert any(keys in k and action.text().replace("&", "").rstrip("…") == t for _w, k, t in rows)
    assert ("View", "Go to time") in what
    assert any(w.startswith("Timeline") and k == "+, =" for w, k, _t in rows)
    assert any(w == "Query editor" and "Ctrl+Return" in k for w, k, _t in rows)
    assert any(w.startswith("Pivot panels") and t == "Clear selection" for w, _k, t in rows)
    assert ("Anywhere in the window", "/", "Focus filter") in rows
    qtbot.keyClicks(listing.filter, "zoom")
    shown = listing.visible_rows()
    assert shown and all("zoom" in f"{w} {k} {t}".lower() for w, k, t in shown)
    assert len(shown) < len(rows)
    listing.filter.clear()
    assert listing.visible_rows() == rows


def test_the_close_key_in_a_floating_workbench_closes_its_tab(qtbot, settings, case_path) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    win.show_queries()
    win.query_dock.setFloating(True)
    win.query_dock.new_tab()
    tabs = win.query_dock.tabs.count()
    editor = win.query_dock.current_tab.editor
    win.query_dock.activateWindow()
    editor.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor, timeout=WAIT_MS)
    QTest.keyClick(editor, Qt.Key.Key_F4, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.query_dock.tabs.count() == tabs - 1, timeout=WAIT_MS)
    assert win.session is not None
