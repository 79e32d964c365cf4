"""Value context menus: features see the field, value and event of the clicked table cell or
detail-pane value, and their actions appear after the view's own."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu

from viewer.gui.value_menu import ValueContext

from .conftest import WAIT_MS, open_window


def test_table_cell_menu_passes_field_value_and_event(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    seen: list[ValueContext] = []

    def contribute(menu: QMenu, ctx: ValueContext) -> None:
        seen.append(ctx)
        menu.addAction(f"Pivot on {ctx.value}")

    win.value_menus.register(contribute)
    col = win.table_model.column_of("action")
    menu = win.table.build_cell_menu(0, col)
    texts = [a.text() for a in menu.actions()]
    event_id = win.table_model.event_id_at(0)
    (action,) = sql.execute("SELECT action FROM events WHERE event_id = ?", [event_id]).fetchall()[0]
    assert seen == [ValueContext("action", action, event_id, "table")]
    assert texts[0] == "Copy value" and texts[-1] == f"Pivot on {action}"
    assert menu.actions()[-2].isSeparator()


def test_detail_menu_names_the_field_or_the_json_path(qtbot, settings, case_path, sql) -> None:  # type: ignore[no-untyped-def]
    win = open_window(qtbot, settings, case_path)
    seen: list[ValueContext] = []
    win.value_menus.register(lambda _m, ctx: seen.append(ctx))
    event_id = win.table_model.event_id_at(0)
    with qtbot.waitSignal(win.detail.eventShown, timeout=WAIT_MS):
        win.table.select_row(0)
    fields = win.detail.fields_table
    row = next(r for r in range(fields.rowCount()) if fields.item(r, 0).toolTip() == "source_type")
    fields.setCurrentCell(row, 1)
    win.detail.build_context_menu(fields)
    (source_type,) = sql.execute("SELECT source_type FROM events WHERE event_id = ?", [event_id]).fetchall()[
        0
    ]
    assert seen[-1] == ValueContext("source_type", source_type, event_id, "detail")

    tree = win.detail.raw_tree
    top = next(
        tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).childCount()
    )
    leaf = top.child(0)
    while leaf.childCount():
        leaf = leaf.child(0)
    tree.setCurrentItem(leaf)
    win.detail.build_context_menu(tree)
    ctx = seen[-1]
    assert ctx.field is None and ctx.event_id == event_id and ctx.value == leaf.text(1)
    assert ctx.json_path is not None and ctx.json_path.startswith(top.text(0))
    assert ctx.json_path.endswith(leaf.text(0))
