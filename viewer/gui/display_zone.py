"""View > Time zone: the zone every time in the window is shown in, kept in the settings.

The case stays in UTC; only what is drawn changes (`time_text`). A change is announced by
`zone_changed()` so that each part of the window writes its times again: item views repaint
(their models format on paint), labels and trees built once are filled again by their owners,
date axes redraw their ticks, and the timeline asks for bars from the new zone's midnights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal, SignalInstance
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QCompleter,
    QDialog,
    QInputDialog,
    QMessageBox,
    QWidget,
)

from viewer.gui import time_text
from viewer.gui.time_axis import ZonedDateAxis

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

SETTING = "display/time_zone"


class _ZoneNotifier(QObject):
    changed = Signal(str)  # the zone's name, as `time_text.display_zone_name` gives it


_notifier: _ZoneNotifier | None = None


def zone_changed() -> SignalInstance:
    """The signal every part of the window that writes times follows."""
    global _notifier
    if _notifier is None:
        _notifier = _ZoneNotifier(QApplication.instance())
    return _notifier.changed


def restore(settings: QSettings) -> None:
    """The zone the analyst chose last time; UTC when none was, or when it no longer parses."""
    spec = str(settings.value(SETTING, time_text.UTC_NAME) or time_text.UTC_NAME)
    try:
        time_text.set_display_zone(spec)
    except ValueError:
        time_text.set_display_zone(time_text.UTC_NAME)


def apply(spec: str, settings: QSettings | None = None) -> None:
    """Show times in the zone `spec` names from now on (ValueError if it names none), remember it,
    and have every view write its times again. 'local' is remembered as such, so the window
    follows the machine when it travels."""
    time_text.set_display_zone(spec)
    if settings is not None:
        local = spec.strip().lower().startswith(time_text.LOCAL)
        settings.setValue(SETTING, time_text.LOCAL if local else time_text.display_zone_name())
    ZonedDateAxis.redraw_all()
    zone_changed().emit(time_text.display_zone_name())


def repaint_item_views(root: QWidget) -> None:
    """Every table and tree under `root` writes its cells and headers again (their models format
    times when painted; a model that keeps formatted texts drops them in `forget_texts`)."""
    for view in root.findChildren(QAbstractItemView):
        model = view.model()
        if model is None:
            continue
        forget = getattr(model, "forget_texts", None)
        if callable(forget):
            forget()
        rows, cols = model.rowCount(), model.columnCount()
        if cols:
            model.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, cols - 1)
        if rows and cols:
            model.dataChanged.emit(model.index(0, 0), model.index(rows - 1, cols - 1))
        view.viewport().update()


def picker(window: QWidget, choices: list[str]) -> QInputDialog:
    """The zone picker: an editable list whose completion finds a zone by any part of its name
    ('kolk' offers Asia/Kolkata: nobody remembers which region a city is filed under)."""
    dialog = QInputDialog(window)
    dialog.setWindowTitle("Time zone")
    dialog.setLabelText(
        "Show times in (the case stays in UTC; type a zone name or an offset such as +05:30):"
    )
    dialog.setComboBoxItems(choices)
    dialog.setComboBoxEditable(True)
    combo = dialog.findChild(QComboBox)
    if combo is not None:
        completer = QCompleter(choices, dialog)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        combo.setCompleter(completer)
    return dialog


def _choose(window: QWidget, choices: list[str]) -> tuple[str, bool]:
    dialog = picker(window, choices)
    try:
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.textValue(), accepted
    finally:
        dialog.deleteLater()


def ask_zone(window: MainWindow) -> bool:
    """The picker: the current zone first, then UTC, the machine's zone, a few common ones and
    every other IANA name; any offset such as +05:30 may be typed. True when the zone changed."""
    choices = time_text.zone_choices()
    current = time_text.display_zone_name()
    if current in choices:
        choices.remove(current)
    choices.insert(0, current)
    spec, ok = _choose(window, choices)
    if not ok or not spec.strip() or spec.strip() == current:
        return False
    try:
        apply(spec, window.settings)
    except ValueError as exc:
        QMessageBox.warning(window, "Time zone", str(exc))
        return False
    return True


class _AskOnClick(QObject):
    """Clicking the status bar's time span opens the picker: where the zone is named, it is changed."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        left = isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.LeftButton
        if left and event.type() == QEvent.Type.MouseButtonRelease:
            ask_zone(self.window)
            return True
        return super().eventFilter(watched, event)


def install(window: MainWindow) -> None:
    """Add View > Time zone… and a click on the status bar's time span (the saved zone was
    restored before the window was built)."""
    action = window.view_menu.addAction("Time &zone…")
    action.triggered.connect(lambda: ask_zone(window))
    window.zone_action = action
    label = window.span_label
    label.setCursor(Qt.CursorShape.PointingHandCursor)
    label.setToolTip("The case's time span, in the display zone. Click to show times in another zone.")
    label.installEventFilter(_AskOnClick(window))
    zone_changed().connect(window.on_zone_changed)  # a bound slot: let go when the window goes


def refresh_window(window: MainWindow) -> None:
    """The window's own parts write their times again (features follow `zone_changed` themselves)."""
    window.show_summary_times()
    window.filter_bar.show_range()
    window.detail.refill_times()
    repaint_item_views(window)
    window.timeline.refresh()  # bars from the new zone's midnights and hours
