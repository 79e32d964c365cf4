"""Auditor mode: a case opened read-only in the window is byte-for-byte the same file afterwards,
whatever the analyst tries (annotations, import, queries, verify, report, export), and the window
says why those actions are off."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtTest import QTest

from viewer.core.casework import annotations as edits
from viewer.gui.casework import CaseworkFeature
from viewer.gui.casework.annotator import READ_ONLY_MESSAGE

from ..conftest import WAIT_MS, open_window
from .conftest import sha256


def _feature(win) -> CaseworkFeature:  # type: ignore[no-untyped-def]
    return next(f for f in win.features if isinstance(f, CaseworkFeature))


def test_read_only_window_leaves_the_case_file_unchanged(qtbot, settings, trail_case, tmp_path):
    path, evidence, key_file = trail_case
    # Some history to show, made while writable.
    from viewer.core.case_file import CaseFile

    with CaseFile.open(path) as case:
        first = case.cursor().execute("SELECT min(event_id) FROM events").fetchall()[0][0]
        edits.tag_events(case, [first], "malicious")
    before = sha256(path)

    win = open_window(qtbot, settings, path, read_only=True)
    feature = _feature(win)

    # The window says so: the banner explains and names the file's hash at open.
    assert feature.banner.isVisible() and win.read_only_badge.isVisible()
    qtbot.waitUntil(lambda: feature.banner.sha256_at_open is not None, timeout=WAIT_MS)
    assert feature.banner.sha256_at_open == before
    assert "READ-ONLY" in feature.banner.label.text() and before in feature.banner.label.text()

    # Annotation actions are disabled with the reason; shortcuts do nothing.
    for act in (feature.star_action, feature.tag_action, feature.note_action, feature.undo_action):
        assert not act.isEnabled() and act.toolTip() == READ_ONLY_MESSAGE
    sm = win.table.selectionModel()
    sm.select(
        win.table_model.index(0, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    win.table.setFocus()
    for key, mod in (
        (Qt.Key.Key_S, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier),
        (Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier),
    ):
        QTest.keyClick(win.table, key, mod)
    # Called directly (a value menu, a script), every gesture is refused with the reason.
    with qtbot.waitSignal(feature.annotator.refused) as refused:
        assert not feature.annotator.toggle_star([first])
    assert refused.args == [READ_ONLY_MESSAGE]
    assert not feature.annotator.set_tag("benign", True, [first])
    assert not feature.annotator.add_bookmark(
        "x", dt.datetime(2024, 5, 1, tzinfo=dt.UTC), dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    )
    assert not feature.annotator.undo()
    menu = win.table.build_cell_menu(0, 0)
    star = next(a for a in menu.actions() if a.text().startswith("★"))
    assert not star.isEnabled() and "read-only" in star.text()

    # Import is off; saving a query is off; running one works.
    assert not win.import_action.isEnabled() and win.show_import_dialog() is None
    assert not win.query_dock.save_action.isEnabled()
    win.show_queries()
    tab = win.query_dock.current_tab
    tab.editor.setPlainText("SELECT source_type, count(*) AS n FROM events GROUP BY ALL")
    tab.run()
    qtbot.waitUntil(lambda: tab.model.result is not None, timeout=WAIT_MS)

    # Verify, report and export run; their results stay out of the case.
    assert feature.evidence.start_verify(str(evidence), str(key_file))
    qtbot.waitUntil(lambda: feature.evidence.last_verify is not None, timeout=WAIT_MS)
    assert all(r.run_id is None for r in feature.evidence.last_verify.results)
    custody_result, digests = feature.evidence.last_verify.results
    assert custody_result.ok and custody_result.counts()["evidence:unchanged"] == 6
    # The newest digest's signature lives in S3 metadata only: reported, never passed silently.
    assert digests.counts()["digest:valid"] == 2 and digests.counts()["log_file:valid"] == 3
    qtbot.waitUntil(
        lambda: sorted(r.kind for r in feature.findings.session_results) == ["cloudtrail_digests", "verify"],
        timeout=WAIT_MS,
    )
    feature.handover.start_report(tmp_path / "audit.html")
    qtbot.waitUntil(lambda: feature.handover.last_report is not None, timeout=WAIT_MS * 3)
    feature.handover.start_export("filter", tmp_path / "all.csv")
    qtbot.waitUntil(lambda: feature.handover.last_export is not None, timeout=WAIT_MS)

    win.close_case()
    assert sha256(path) == before
    assert not path.with_name(path.name + ".wal").exists()
