"""ImportDialog: the plan shows detected formats and roles, an import fills the case and the
summary, Cancel rolls back. Skipped with a reason when the importer is not there."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

ingest = pytest.importorskip(
    "viewer.core.ingest", reason="viewer.core.ingest (the importer) is not available"
)

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.jobs import JobContext  # noqa: E402
from viewer.gui.import_dialog import ImportDialog, progress_text  # noqa: E402

TIMEOUT = 15_000


def _cloudtrail_file(path: Path, n: int, minute: int = 0) -> Path:
    records = [
        {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "accountId": "111122223333",
                "arn": "arn:aws:iam::111122223333:user/alice",
                "userName": "alice",
            },
            "eventTime": f"2024-03-12T14:{(minute + i // 60) % 60:02d}:{i % 60:02d}Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15",
            "requestID": f"REQ{minute}-{i}",
            "eventID": f"{minute:04d}-{i:06d}",
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333",
        }
        for i in range(n)
    ]
    path.write_text(json.dumps({"Records": records}))
    return path


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    _cloudtrail_file(folder / "trail-a.json", 120, 0)
    _cloudtrail_file(folder / "trail-b.json", 80, 10)
    (folder / "notes.txt").write_text("analyst notes, not a log\n")
    return folder


@pytest.fixture
def case(tmp_path: Path) -> Any:
    c = CaseFile.create(tmp_path / "import.caseline")
    yield c
    c.close()


def _event_count(case: CaseFile) -> int:
    return int(case.cursor().execute("SELECT count(*) FROM events").fetchone()[0])


def _planned(qtbot, dialog: ImportDialog, paths: list[str]) -> Any:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(dialog.planReady, timeout=TIMEOUT) as blocker:
        dialog.set_paths(paths)
    return blocker.args[0]


def test_dialog_is_non_modal(qtbot, case) -> None:  # type: ignore[no-untyped-def]
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    assert not dialog.isModal()


def test_plan_shows_format_and_role_per_file(qtbot, case, evidence) -> None:  # type: ignore[no-untyped-def]
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.import_button.isEnabled()
    _planned(qtbot, dialog, [str(evidence)])
    rows = {
        Path(dialog.plan_tree.topLevelItem(i).text(0)).name: (
            dialog.plan_tree.topLevelItem(i).text(1),
            dialog.plan_tree.topLevelItem(i).text(2),
        )
        for i in range(dialog.plan_tree.topLevelItemCount())
    }
    assert rows["trail-a.json"] == ("aws_cloudtrail", "events")
    assert rows["trail-b.json"] == ("aws_cloudtrail", "events")
    assert rows["notes.txt"][1] == "unknown"
    assert dialog.import_button.isEnabled()
    assert _event_count(case) == 0  # planning writes nothing


def test_the_collector_leaves_a_plan_alone_while_the_window_holds_it(
    qtbot, case, evidence, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A bucket's plan is millions of objects: while the window makes, shows or imports one, the
    collector's oldest generation (a walk of every object) waits; closing lets it go. A plan of a
    few files lets go as soon as it is shown."""
    from viewer.gui import import_dialog, main_thread_gc

    before = main_thread_gc._holds  # noqa: SLF001 - the count is the observable state
    small = ImportDialog(case)
    qtbot.addWidget(small)
    _planned(qtbot, small, [str(evidence)])
    assert main_thread_gc._holds == before  # noqa: SLF001 - 3 files: not held
    small.close()

    monkeypatch.setattr(import_dialog, "HOLD_COLLECTOR_FROM", 3)  # the evidence's three files
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    _planned(qtbot, dialog, [str(evidence)])
    assert main_thread_gc._holds == before + 1  # noqa: SLF001
    # The status counts come from the planner's thread, and Map fields finds the unknown file.
    assert "2 event files, 1 of unknown format" in dialog.status_label.text()
    assert dialog.map_button.isEnabled()
    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT):
        dialog.start_import()
    assert main_thread_gc._holds == before  # noqa: SLF001 - the import done, the plan let go
    _planned(qtbot, dialog, [str(evidence)])
    assert main_thread_gc._holds == before + 1  # noqa: SLF001
    dialog.close()
    assert main_thread_gc._holds == before  # noqa: SLF001


def test_import_fills_case_and_summary(qtbot, case, evidence) -> None:  # type: ignore[no-untyped-def]
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    _planned(qtbot, dialog, [str(evidence)])
    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT) as blocker:
        dialog.start_import()
        assert dialog.running
        assert not dialog.add_files_button.isEnabled()
    report = blocker.args[0]
    assert report.total("kept") == 200
    assert _event_count(case) == 200
    assert dialog.pages.currentWidget() is dialog.summary_tree
    summary = {
        Path(dialog.summary_tree.topLevelItem(i).text(0)).name: dialog.summary_tree.topLevelItem(i)
        for i in range(dialog.summary_tree.topLevelItemCount())
    }
    a = summary["trail-a.json"]
    assert [a.text(c) for c in range(3, 7)] == ["120", "120", "0", "0"]  # seen kept rejected duplicate
    notes = summary["notes.txt"]
    assert notes.childCount() >= 1  # the warning is one expand away
    assert "unknown format" in notes.child(0).text(0)


def test_cancel_rolls_back(qtbot, case, evidence) -> None:  # type: ignore[no-untyped-def]
    """A gated run_import: it waits until the test has pressed Cancel, then runs the real import
    with the cancelled token, which must raise Cancelled and leave the case untouched."""
    entered, release = threading.Event(), threading.Event()

    def gated(c: CaseFile, plan: Any, ctx: JobContext) -> Any:
        entered.set()
        release.wait(TIMEOUT / 1000)
        return ingest.run_import(c, plan, ctx)

    dialog = ImportDialog(case, run_import=gated)
    qtbot.addWidget(dialog)
    dialog.show()
    _planned(qtbot, dialog, [str(evidence)])
    dialog.start_import()
    assert entered.wait(TIMEOUT / 1000)
    assert dialog.cancel_button.isVisible()
    with qtbot.waitSignal(dialog.importCancelled, timeout=TIMEOUT):
        dialog.cancel_button.click()
        release.set()
    assert not dialog.running
    assert "cancelled" in dialog.status_label.text()
    assert _event_count(case) == 0
    assert case.cursor().execute("SELECT count(*) FROM evidence").fetchone()[0] == 0


def test_progress_text_names_every_figure() -> None:
    from viewer.core.jobs import Progress

    p = Progress(
        phase="reading",
        files_done=3,
        files_total=10,
        records=120_000,
        bytes_done=45 * 1024**2,
        bytes_total=196 * 1024**2,
    )
    text = progress_text(p)
    for part in ("files 3/10", "120,000 records", "45.0 MB / 196.0 MB", "rec/s", "ETA"):
        assert part in text


def test_many_files_are_listed_a_batch_per_event_loop_turn(  # type: ignore[no-untyped-def]
    qtbot, case, tmp_path, monkeypatch
) -> None:
    """A bucket's thousands of files are listed in batches, so the window answers meanwhile;
    the plan is announced once every file is listed, each row in plan order."""
    from viewer.gui import import_trees

    monkeypatch.setattr(import_trees.BatchFiller, "BATCH", 3)
    folder = tmp_path / "bucket"
    folder.mkdir()
    for i in range(10):
        _cloudtrail_file(folder / f"trail-{i:02d}.json", 2, i)
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    plan = _planned(qtbot, dialog, [str(folder)])
    tree = dialog.plan_tree
    assert tree.topLevelItemCount() == 10
    assert [tree.topLevelItem(i).data(0, 256) for i in range(10)] == list(range(10))  # UserRole
    assert [Path(tree.topLevelItem(i).text(0)).name for i in range(10)] == [
        Path(pf.source.display_path).name for pf in plan.files
    ]
    # Listing again: the first batch at once, the rest on later turns of the event loop.
    ready: list[object] = []
    dialog.planReady.connect(ready.append)
    dialog._show_plan((plan, {}, plan.summary()))
    assert tree.topLevelItemCount() == 3 and not ready
    qtbot.waitUntil(lambda: bool(ready), timeout=TIMEOUT)
    assert tree.topLevelItemCount() == 10
    # A new plan abandons the batches of the old one: no row is listed twice.
    dialog._show_plan((plan, {}, plan.summary()))
    dialog._show_plan((plan, {}, plan.summary()))
    qtbot.waitUntil(lambda: len(ready) == 2, timeout=TIMEOUT)
    qtbot.wait(50)
    assert tree.topLevelItemCount() == 10 and len(ready) == 2


def _bucket(folder: Path, files: int) -> Path:
    """Many small CloudTrail files, and a zip of a few (unpacked while planning)."""
    import shutil

    folder.mkdir()
    for i in range(files):
        _cloudtrail_file(folder / f"trail-{i:05d}.json", 1, i % 60)
    few = folder.parent / "few"
    few.mkdir()
    for i in range(3):
        _cloudtrail_file(few / f"zipped-{i}.json", 1, i)
    shutil.make_archive(str(folder / "bundle"), "zip", few)
    return folder


def test_planning_shows_files_found_then_files_detected(qtbot, case, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The window counts what planning has done while it runs (a bucket of small files takes a
    while), then hides the bar when the plan is listed."""
    folder = _bucket(tmp_path / "bucket", 300)
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    shown: list[tuple[str, bool, int, int]] = []
    dialog.planProgress.connect(  # after the window's own slot: what it shows then
        lambda _sent: shown.append(
            (
                dialog.status_label.text(),
                dialog.progress_bar.isVisible(),
                dialog.progress_bar.value(),
                dialog.progress_bar.maximum(),
            )
        )
    )
    plan = _planned(qtbot, dialog, [str(folder)])
    files = len(plan.files)
    assert files == 300 + 1 + 3
    assert any(text.startswith("Finding files: ") and visible for text, visible, _, _ in shown)
    detecting = [s for s in shown if s[0].startswith("Detecting formats: ")]
    assert detecting and all(visible and top == files for _, visible, _, top in detecting)
    assert f"{files:,} of {files:,} files" in detecting[-1][0] and detecting[-1][2] == files
    assert not dialog.progress_bar.isVisible()
    assert "file(s): " in dialog.status_label.text()


def test_closing_while_planning_stops_it_and_removes_what_it_unpacked(  # type: ignore[no-untyped-def]
    qtbot, case, tmp_path, monkeypatch
) -> None:
    import tempfile

    from PySide6.QtCore import QThreadPool

    unpacked = tmp_path / "tmp"
    unpacked.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(unpacked))  # where archives are unpacked
    folder = _bucket(tmp_path / "bucket", 1500)
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    counts: list[int] = []

    def close_once_detecting(sent: object) -> None:
        progress = sent[1]  # type: ignore[index]
        if progress.files_total:
            counts.append(progress.files_done)
            if dialog.isVisible():
                dialog.close()

    dialog.planProgress.connect(close_once_detecting)
    with qtbot.assertNotEmitted(dialog.planReady, wait=500):
        dialog.set_paths([str(folder)])
        qtbot.waitUntil(lambda: bool(counts), timeout=TIMEOUT)
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT)
    assert counts and max(counts) < 1500 + 1 + 3  # stopped before every file was looked at
    assert list(unpacked.iterdir()) == []


def test_a_full_disk_is_said_so_and_the_case_stays_as_it_was(  # type: ignore[no-untyped-def]
    qtbot, case, tmp_path, monkeypatch
) -> None:
    """DuckDB's temporary files limited to 1 MB, as a nearly full disk limits them, under a
    192 MB write limit that 80,000 records spill past (core test: test_write_space). The window
    says the disk is full, once, with no memory-tuning advice, and the case is unchanged."""
    from tests.support.import_evidence import records, write_gz

    for i in range(8):
        write_gz(tmp_path / "big" / f"{i}.json.gz", records(10_000, i * 10_000))
    monkeypatch.setattr(ingest, "WRITE_MEMORY_LIMIT", "192MB")
    case.cursor().execute("SET max_temp_directory_size = '1MB'")
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    _planned(qtbot, dialog, [str(tmp_path / "big")])
    with qtbot.waitSignal(dialog.importFailed, timeout=60_000):
        dialog.start_import()
    text = dialog.status_label.text()
    assert "⚠ Import failed: not enough disk space for the import" in text
    assert "Nothing was added to the case" in text and "nothing was added:" not in text
    assert "max_temp_directory_size" not in text  # DuckDB's advice stays in the tooltip
    assert not dialog.running and dialog.add_files_button.isEnabled()
    assert _event_count(case) == 0
