"""Report and exports from the window, in the background: files checked against the case with
independent SQL, provenance columns present, the activity log showing what was done."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtGui import QPdfWriter  # noqa: F401 - the PDF needs Qt's PDF support present

from viewer.core.casework import annotations as edits
from viewer.core.casework.export import PROVENANCE_COLUMNS
from viewer.gui.casework import CaseworkFeature

from ..conftest import WAIT_MS, open_window


def _feature(win) -> CaseworkFeature:  # type: ignore[no-untyped-def]
    return next(f for f in win.features if isinstance(f, CaseworkFeature))


def test_report_writes_html_and_pdf_and_offers_to_open(qtbot, settings, trail_case, tmp_path):
    path, _ev, _keys = trail_case
    win = open_window(qtbot, settings, path, read_only=False)
    feature = _feature(win)
    first = win.session.case.cursor().execute("SELECT min(event_id) FROM events").fetchall()[0][0]
    edits.tag_events(win.session.case, [first], "IOC")
    edits.set_entity_note(win.session.case, "ip", "198.51.100.7", "attacker relay")
    assert feature.handover.start_report(tmp_path / "case-report.html") is not None
    qtbot.waitUntil(lambda: feature.handover.last_report is not None, timeout=WAIT_MS * 3)
    files = feature.handover.last_report
    html = files.html.read_text(encoding="utf-8")
    assert "attacker relay" in html and "IOC" in html
    assert 'src="data:image/png;base64,' in html  # the window's own timeline picture
    assert files.pdf is not None and files.pdf.read_bytes().startswith(b"%PDF")
    notice = feature.handover.notice
    assert notice is not None and not notice.isModal()
    assert [b.text() for b in notice.buttons() if b.text().startswith("Open")] == ["Open HTML", "Open PDF"]
    assert "Report written" in win.statusBar().currentMessage()


def test_exports_of_filter_selection_and_query_carry_provenance(qtbot, settings, work_case, tmp_path):
    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    cur = win.session.case.cursor()

    # The current filter.
    with qtbot.waitSignal(win.table_model.countChanged, timeout=WAIT_MS):
        feature.apply_filter_text("source:cloudtrail")
    assert feature.handover.start_export("filter", tmp_path / "ct.parquet") is not None
    qtbot.waitUntil(lambda: feature.handover.last_export is not None, timeout=WAIT_MS)
    table = pq.read_table(tmp_path / "ct.parquet")
    expected = cur.execute(
        "SELECT e.event_id, v.sha256, e.record_index FROM events e JOIN evidence v USING (evidence_id) "
        "WHERE source_type = 'cloudtrail' ORDER BY ts, event_id"
    ).fetchall()
    assert table.num_rows == len(expected) > 0
    assert set(PROVENANCE_COLUMNS) <= set(table.column_names)
    got = list(
        zip(
            *(table.column(c).to_pylist() for c in ("event_id", "evidence_sha256", "record_index")),
            strict=True,
        )
    )
    assert got == expected

    # The selected rows.
    feature.handover.last_export = None
    # The filter above reset the table: select once the rows' page is back (ids are read from it).
    qtbot.waitUntil(lambda: win.table_model.is_row_loaded(4), timeout=WAIT_MS)
    sm = win.table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for r in (0, 2, 4):
        sm.select(win.table_model.index(r, 0), flags)
    ids = win.table.selected_event_ids()
    assert feature.handover.start_export("selection", tmp_path / "sel.csv") is not None
    qtbot.waitUntil(lambda: feature.handover.last_export is not None, timeout=WAIT_MS)
    with (tmp_path / "sel.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(int(r["event_id"]) for r in rows) == sorted(ids)
    assert all(r["evidence_sha256"] and r["evidence_path"] for r in rows)

    # The query tab's result, run again on a cursor of its own, every row.
    feature.handover.last_export = None
    win.show_queries()
    tab = win.query_dock.current_tab
    tab.editor.setPlainText("SELECT event_id, action FROM events WHERE outcome = 'failure'")
    tab.run()
    qtbot.waitUntil(lambda: tab.model.result is not None, timeout=WAIT_MS)
    win.query_dock.menu.aboutToShow.emit()  # the dock's own menu offers the provenance export
    offered = [a for a in win.query_dock.menu.actions() if a.text() == "Export result with provenance…"]
    assert len(offered) == 1 and offered[0].isEnabled()
    assert feature.handover.start_export("query", tmp_path / "failures.jsonl") is not None
    qtbot.waitUntil(lambda: feature.handover.last_export is not None, timeout=WAIT_MS)
    lines = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    n = cur.execute("SELECT count(*) FROM events WHERE outcome = 'failure'").fetchall()[0][0]
    assert len(lines) == n > 0 and all(line["evidence_sha256"] for line in lines)

    # Each export is in the append-only activity log, which the viewer lists.
    dialog = feature.show_activity_log()
    assert dialog is not None and not dialog.isModal()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0, timeout=WAIT_MS)
    actions = [dialog.model.rows[i][3] for i in range(dialog.model.rowCount())]
    assert actions.count("export") == 3
    logged = cur.execute("SELECT count(*) FROM activity_log").fetchall()[0][0]
    assert dialog.model.rowCount() == logged


def test_export_refuses_without_a_selection_or_query(qtbot, settings, work_case, tmp_path):
    win = open_window(qtbot, settings, work_case, read_only=False)
    feature = _feature(win)
    win.table.clearSelection()
    assert feature.handover.start_export("selection", tmp_path / "none.csv") is None
    assert "Select events" in win.statusBar().currentMessage()
    assert feature.handover.start_export("query", tmp_path / "none.csv") is None
    assert "Run a query first" in win.statusBar().currentMessage()
    assert not (tmp_path / "none.csv").exists()
