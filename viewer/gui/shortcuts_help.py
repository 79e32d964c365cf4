"""Help › Keyboard shortcuts (F1): every key the window answers, read from the window itself.

Menu actions are listed from the menus as they stand (features add theirs at start-up), the
actions of docks and panels from the widgets that own them, and the keys a widget handles
itself (the timeline's zoom and pan, the query editor's run and complete) from the tables
those widgets act on: the list cannot drift from what the keys do. It opens as a tool window
beside the main one, never over the timeline as a modal dialog would, and filters as you type.

`clashes` finds two actions that answer the same key where both can be live at once: Qt then
runs neither and prints "Ambiguous shortcut overload" (Close case and Close query tab once
shared Ctrl+F4, and the key did nothing in the query workbench).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QHeaderView,
    QLineEdit,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.query.editor import EDITOR_KEYS
from viewer.gui.timeline_widget import TIMELINE_KEYS

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

_NATIVE = QKeySequence.SequenceFormat.NativeText
#: A widget property naming the place its keys are listed under (the pivot panels' sixteen docks
#: share one), where its own title would name each apart.
KEYS_GROUP = "keys_group"
ANYWHERE = "Anywhere in the window"


@dataclass(frozen=True)
class Key:
    where: str  # the menu, or the part of the window that must have the focus
    keys: str  # as the platform writes them: "Ctrl+G", "J", "Ctrl+Return"
    what: str


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…").strip()


def _keys_text(sequences: list[QKeySequence]) -> str:
    """The sequences as the platform writes them, leaving out the keys only special keyboards
    have ("Open", "Find": Qt binds those to the standard actions too)."""
    typed = [s for s in sequences if not s.isEmpty() and s[0].key().value < Qt.Key.Key_Back.value]  # type: ignore[index]
    return ", ".join(s.toString(_NATIVE) for s in typed)


def _owner_name(action: QAction) -> str:
    """Where a widget's own action works: the dock holding it, or the nearest widget with a
    title (the event table); ANYWHERE for the window's own."""
    title = ""
    widget = action.parent()
    while isinstance(widget, QWidget) and widget.parent() is not None:
        group = widget.property(KEYS_GROUP)
        if isinstance(group, str) and group:
            title = group
            break
        if isinstance(widget, QDockWidget):
            title = widget.windowTitle() or title
            break
        title = title or widget.windowTitle()
        widget = widget.parent()
    return f"{_plain(title)} (with the focus there)" if title else ANYWHERE


def window_keys(window: MainWindow) -> list[Key]:
    """Every key of `window`: menus first (in their order), then the keys that need the focus
    in one part of it."""
    found: list[Key] = []
    listed: set[int] = set()

    def walk(menu: QMenu, where: str) -> None:
        for action in menu.actions():
            sub = action.menu()
            if isinstance(sub, QMenu):
                walk(sub, f"{where} › {_plain(action.text())}")
            elif not action.isSeparator() and id(action) not in listed:  # first menu wins
                listed.add(id(action))
                if action.shortcuts():
                    found.append(Key(where, _keys_text(action.shortcuts()), _plain(action.text())))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, _plain(top.text()))
    for action in window.findChildren(QAction):
        if id(action) not in listed and action.shortcuts() and action.text():
            listed.add(id(action))
            found.append(Key(_owner_name(action), _keys_text(action.shortcuts()), _plain(action.text())))
    for where, action, what in window.keys_elsewhere:
        found.append(Key(where, _keys_text(action.shortcuts()), what))
    for shortcut in window.findChildren(QShortcut):
        if shortcut.whatsThis() and not shortcut.key().isEmpty():
            found.append(Key(ANYWHERE, shortcut.key().toString(_NATIVE), shortcut.whatsThis()))
    for where, table, prefix in (
        ("Timeline (with the focus there)", TIMELINE_KEYS, ""),
        ("Query editor", EDITOR_KEYS, "Ctrl+"),
    ):
        for keys, what, _act in table:
            names = dict.fromkeys(QKeySequence(k).toString(_NATIVE) for k in keys)
            found.append(Key(where, ", ".join(prefix + n for n in names), what))
    # The same action listed twice (a table view's "Clear selection" in every pivot panel) once.
    return list(dict.fromkeys(found))


def _scope(action: QAction) -> QWidget | None:
    """The widget whose focus makes `action`'s shortcut live; None: the whole window."""
    context = action.shortcutContext()
    parent = action.parent()
    if context in (Qt.ShortcutContext.WidgetShortcut, Qt.ShortcutContext.WidgetWithChildrenShortcut):
        return parent if isinstance(parent, QWidget) else None
    return None


def clashes(window: MainWindow) -> list[tuple[str, str, str]]:
    """(key, action, action) for each two enabled actions of `window` that share a key and can
    be live at once: either is window-wide, or one's widget holds the other's."""
    actions = [a for a in window.findChildren(QAction) if a.isEnabled() and a.shortcuts()]
    out = []
    for i, a in enumerate(actions):
        for b in actions[i + 1 :]:
            shared = {s.toString() for s in a.shortcuts()} & {s.toString() for s in b.shortcuts()}
            if not shared:
                continue
            wa, wb = _scope(a), _scope(b)
            nested = wa is None or wb is None or wa is wb or wa.isAncestorOf(wb) or wb.isAncestorOf(wa)
            if nested:
                out.append((sorted(shared)[0], _plain(a.text()), _plain(b.text())))
    return out


class ShortcutsWindow(QDialog):
    """The list, filtered by what is typed above it (words of the action, its keys or its place)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, Qt.WindowType.Tool)
        self.main_window = window
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(560, 620)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter: zoom, ctrl+g, query…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Keys", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree, 1)

    def refresh(self) -> None:
        """List the keys as the window has them now (a feature's actions appear once installed)."""
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for key in window_keys(self.main_window):
            group = groups.get(key.where)
            if group is None:
                group = groups[key.where] = QTreeWidgetItem(self.tree, [key.where])
                group.setFirstColumnSpanned(True)
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
            QTreeWidgetItem(group, [key.keys, key.what])
        self.tree.expandAll()
        self._apply_filter(self.filter.text())

    def _groups(self) -> list[tuple[QTreeWidgetItem, list[QTreeWidgetItem]]]:
        groups = [self.tree.topLevelItem(g) for g in range(self.tree.topLevelItemCount())]
        return [(g, [c for r in range(g.childCount()) if (c := g.child(r)) is not None]) for g in groups if g]

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        for group, rows in self._groups():
            shown = 0
            for row in rows:
                haystack = f"{group.text(0)} {row.text(0)} {row.text(1)}".lower()
                hide = not all(w in haystack for w in words)
                row.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)

    def visible_rows(self) -> list[tuple[str, str, str]]:
        """(where, keys, what) of the rows the filter leaves shown, in order."""
        return [
            (group.text(0), row.text(0), row.text(1))
            for group, rows in self._groups()
            if not group.isHidden()
            for row in rows
            if not row.isHidden()
        ]


def install(window: MainWindow) -> ShortcutsWindow:
    """Help › Keyboard shortcuts (F1), added after every other menu."""
    shown = ShortcutsWindow(window)

    def show() -> None:
        shown.refresh()
        shown.show()
        shown.raise_()
        shown.filter.setFocus(Qt.FocusReason.ShortcutFocusReason)

    menu = window.menuBar().addMenu("&Help")
    action = QAction("&Keyboard shortcuts", window)
    action.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
    action.triggered.connect(show)
    window.addAction(action)
    menu.addAction(action)
    window.shortcuts_action = action
    return shown
