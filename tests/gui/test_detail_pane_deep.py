"""The detail pane on a record nested thousands of levels deep (DuckDB imports it; Python's JSON
parser stops near 1,000): the tree shows it cut at a readable depth, and Copy raw JSON gives
the record as stored. Before, both the raw and the full fetch raised RecursionError in the
pane's slots and the event never showed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from tests.support.deep_json import DEEP, nested, record, trail
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.json_depth import SHOWN_LEVELS
from viewer.gui.detail_pane import DetailPane

WAIT_MS = 10_000


def test_a_deep_record_shows_cut_and_copies_whole(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    evidence = trail(tmp_path / "t.json.gz", [record(0), record(1, nested(DEEP))])
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [evidence])
        cur = case.cursor()
        event_id, stored = cur.execute("SELECT event_id, raw FROM events WHERE event_uid = 'ev-1'").fetchone()
        pane = DetailPane()
        qtbot.addWidget(pane)
        with qtbot.waitSignal(pane.eventShown, timeout=WAIT_MS):
            pane.show_event(case.cursor, event_id)
        assert pane.title_label.text() == f"Event #{event_id}"
        top = {
            pane.raw_tree.topLevelItem(i).text(0): pane.raw_tree.topLevelItem(i)
            for i in range(pane.raw_tree.topLevelItemCount())
        }
        node = top["requestParameters"]
        depth = 1
        while node.childCount():
            node, depth = node.child(0), depth + 1
        assert depth == SHOWN_LEVELS  # a node per level below the record itself, the last one cut
        assert "more levels nested here" in node.text(1)
        pane.copy_raw_json()
        assert QApplication.clipboard().text() == stored
