"""Map fields…: a sample of an unknown file becomes a saved custom format, with a live time
preview; the import dialog uses it at once, and asks when two formats tie on a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from viewer.core.case_file import CaseFile
from viewer.formats import custom_store
from viewer.formats.custom import CustomFormat, Shape, from_toml
from viewer.formats.timeparse import TimeFormat, TimeSpec
from viewer.gui.field_mapping_dialog import FieldMappingDialog
from viewer.gui.import_dialog import ImportDialog

TIMEOUT = 15_000
VPN_CSV = (
    "Timestamp,User,Client IP,Action,Result\n"
    "5/1/2024 10:00:00 AM,alice,192.0.2.10,login,OK\n"
    "5/1/2024 10:05:00 PM,bob,198.51.100.7,login,DENIED\n"
    "not a time,carol,203.0.113.5,logout,OK\n"
)


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(custom_store.CONFIG_ENV, str(tmp_path / "config"))
    return tmp_path / "config" / "formats"


@pytest.fixture
def vpn_csv(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    path = folder / "vpn-sessions.csv"
    path.write_text(VPN_CSV)
    return path


@pytest.fixture
def case(tmp_path: Path) -> Any:
    c = CaseFile.create(tmp_path / "c.caseline")
    yield c
    c.close()


def _loaded(qtbot, path: Path) -> FieldMappingDialog:  # type: ignore[no-untyped-def]
    dialog = FieldMappingDialog(str(path))
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.previewReady, timeout=TIMEOUT):
        dialog.show()
    return dialog


def _cells(dialog: FieldMappingDialog, column: int) -> list[str]:
    return [dialog.table.item(r, column).text() for r in range(dialog.table.rowCount())]


def test_sample_table_suggestions_and_live_time_preview(qtbot, vpn_csv: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = _loaded(qtbot, vpn_csv)
    assert dialog.table.rowCount() == 3
    assert [dialog.table.horizontalHeaderItem(c).text().split("\n")[0] for c in range(1, 6)] == [
        "Timestamp",
        "User",
        "Client IP",
        "Action",
        "Result",
    ]
    assert dialog.time_field.currentText() == "Timestamp"
    assert dialog.time_format.currentData() == TimeFormat.US_DATETIME.value
    assert dialog.columns() == {
        "principal_name": "User",
        "src_ip": "Client IP",
        "action": "Action",
        "outcome": "Result",
    }
    assert _cells(dialog, 0) == [
        "2024-05-01 10:00:00.000 +00:00",
        "2024-05-01 22:05:00.000 +00:00",
        "✗ no time",
    ]
    assert "2 of 3 sample rows have a time that parses" in dialog.preview_label.text()
    with qtbot.waitSignal(dialog.previewReady, timeout=TIMEOUT) as blocker:
        dialog.zone.setCurrentText("Europe/Berlin")  # UTC+2 in May
    assert blocker.args[0].parsed == 2
    assert _cells(dialog, 0)[:2] == ["2024-05-01 08:00:00.000 +00:00", "2024-05-01 20:05:00.000 +00:00"]
    with qtbot.waitSignal(dialog.previewReady, timeout=TIMEOUT) as blocker:
        dialog.time_format.setCurrentIndex(dialog.time_format.findData(TimeFormat.EPOCH_S.value))
    assert blocker.args[0].parsed == 0
    assert not dialog.zone.isEnabled()  # epoch values carry no zone
    with qtbot.waitSignal(dialog.previewReady, timeout=TIMEOUT) as blocker:
        dialog.time_format.setCurrentIndex(dialog.time_format.findData(TimeFormat.STRPTIME.value))
        dialog.pattern.setText("%m/%d/%Y %I:%M:%S %p")
    assert dialog.pattern.isEnabled()
    assert blocker.args[0].parsed == 2


def test_saving_validates_inline_and_asks_before_replacing(qtbot, vpn_csv: Path, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = _loaded(qtbot, vpn_csv)
    assert dialog.name_edit.text() == "vpn_sessions"  # proposed from the file name
    dialog.name_edit.setText("Bad Name!")
    assert not dialog.save(then_import=False)
    assert "lower-case letters" in dialog.message_label.text()
    dialog.name_edit.setText("acme_vpn")
    dialog.title_edit.setText("ACME VPN")
    with qtbot.waitSignal(dialog.formatSaved, timeout=TIMEOUT) as blocker:
        assert dialog.save(then_import=False)
    assert blocker.args == ["custom:acme_vpn"]
    saved = from_toml((config_dir / "acme_vpn.toml").read_text())
    assert (saved.shape, saved.time_field, saved.time.format, saved.title) == (
        Shape.CSV,
        "Timestamp",
        TimeFormat.US_DATETIME,
        "ACME VPN",
    )
    assert saved.sniff_keys == ("Timestamp", "User", "Client IP", "Action", "Result")
    assert saved.fields["src_ip"] == "Client IP"
    dialog.column_combos["region"].setCurrentText("Action")
    assert not dialog.save(then_import=False)  # exists: the first press only warns
    assert "exists already" in dialog.message_label.text()
    assert dialog.save(then_import=False)
    assert from_toml((config_dir / "acme_vpn.toml").read_text()).fields["region"] == "Action"


def test_json_records_are_flattened_to_key_paths(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"entries": [{"at": 1714557600, "actor": {"name": "alice"}, "op": "read"}]}))
    dialog = _loaded(qtbot, path)
    assert dialog.time_field.currentText() == "at"
    assert dialog.time_format.currentData() == TimeFormat.EPOCH_S.value
    assert dialog.columns() == {"principal_name": "actor.name", "action": "op"}
    assert "records at $.entries" in dialog.source_label.text()


def test_a_file_that_is_not_csv_or_json_says_why(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notes.txt"
    path.write_text("free text\nnothing tabular\n")
    dialog = FieldMappingDialog(str(path))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "not CSV" in dialog.source_label.text(), timeout=TIMEOUT)
    assert not dialog.save_button.isEnabled() and not dialog.save(then_import=True)


def test_unknown_file_is_mapped_saved_and_imported_from_the_import_dialog(  # type: ignore[no-untyped-def]
    qtbot, case, vpn_csv: Path
) -> None:
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.planReady, timeout=TIMEOUT):
        dialog.set_paths([str(vpn_csv)])
    item = dialog.plan_tree.topLevelItem(0)
    assert item.text(2) == "unknown" and "Map fields" in item.text(4)
    assert dialog.map_button.isEnabled()
    mapping = dialog.open_mapping()
    assert mapping is not None
    with qtbot.waitSignal(mapping.previewReady, timeout=TIMEOUT):
        pass
    mapping.name_edit.setText("acme_vpn")
    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(mapping.save_import_button, Qt.MouseButton.LeftButton)
    [f] = blocker.args[0].files
    assert (f.format, f.counts.kept, f.counts.rejected) == ("custom:acme_vpn", 2, 1)
    assert dialog.format_combo.findData("custom:acme_vpn") >= 0  # offered from now on
    rows = case.cursor().execute("SELECT principal_name, outcome FROM events ORDER BY ts").fetchall()
    assert rows == [("alice", "success"), ("bob", "failure")]


def _save(name: str) -> None:
    custom_store.save(
        CustomFormat(
            name=name,
            shape=Shape.CSV,
            time_field="Timestamp",
            time=TimeSpec(TimeFormat.US_DATETIME),
            sniff_keys=("Timestamp", "User"),
            fields={"principal_name": "User"},
        )
    )


def test_a_tie_between_formats_is_asked_before_importing(qtbot, case, vpn_csv: Path) -> None:  # type: ignore[no-untyped-def]
    _save("vpn_a")
    _save("vpn_b")
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.planReady, timeout=TIMEOUT):
        dialog.set_paths([str(vpn_csv)])
    assert dialog.choice_panel.isVisible() and dialog.choice_panel.unresolved == 1
    assert not dialog.import_button.isEnabled()
    [combo] = dialog.choice_panel.combos
    assert [combo.itemText(i) for i in range(combo.count())][1:] == ["custom:vpn_a", "custom:vpn_b"]
    combo.setCurrentIndex(2)
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT) as blocker:
        dialog.start_import()
    assert [f.format for f in blocker.args[0].files] == ["custom:vpn_b"]


def test_ctrl_m_opens_map_fields_for_the_unknown_file(qtbot, case, vpn_csv: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = ImportDialog(case)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    with qtbot.waitSignal(dialog.planReady, timeout=TIMEOUT):
        dialog.set_paths([str(vpn_csv)])
    dialog.activateWindow()
    qtbot.keyClick(dialog, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dialog.findChild(FieldMappingDialog) is not None, timeout=TIMEOUT)
    mapping = dialog.findChild(FieldMappingDialog)
    qtbot.waitUntil(lambda: mapping.sample is not None, timeout=TIMEOUT)  # read in the background
    assert mapping.sample.path == str(vpn_csv) and mapping.isVisible()
