"""Verify evidence and open bundles from the window: results in the findings dock, a tampered
file or bundle reported precisely, a good bundle opened read-only with its verification shown."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

from support.old_cases import schema_1_case

from viewer.core.case_file import CaseFile
from viewer.core.casework import bundle, findings
from viewer.gui.casework import CaseworkFeature

from ..conftest import WAIT_MS, open_window
from .conftest import sha256


def _feature(win) -> CaseworkFeature:  # type: ignore[no-untyped-def]
    return next(f for f in win.features if isinstance(f, CaseworkFeature))


def _empty_window(qtbot, settings):  # type: ignore[no-untyped-def]
    """The main window with no case open, and its casework feature."""
    from viewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    return win, _feature(win)


def _integrity_texts(feature: CaseworkFeature) -> list[str]:
    tree = feature.findings.tree
    heads = [
        tree.topLevelItem(i)
        for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).text(0).startswith("Integrity")
    ]
    if not heads:
        return []  # the dock is still reading
    head = heads[0]
    out = []
    for i in range(head.childCount()):
        result = head.child(i)
        out.append(result.text(0))
        out.extend(
            f"{result.child(j).text(0)} | {result.child(j).text(1)}" for j in range(result.childCount())
        )
    return out


def test_verify_stores_results_and_reports_a_modified_log_file(qtbot, settings, trail_case):
    path, evidence, key_file = trail_case
    win = open_window(qtbot, settings, path, read_only=False)
    feature = _feature(win)
    with qtbot.waitSignal(feature.findings.loaded, timeout=WAIT_MS):
        assert feature.evidence.start_verify(str(evidence), str(key_file))
    qtbot.waitUntil(lambda: feature.evidence.last_verify is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(t.startswith("Evidence: VERIFIED") for t in _integrity_texts(feature)))
    stored = findings.latest(win.session.case, "verify")
    assert stored is not None and stored.ok  # a writable case keeps the run

    # Tamper one log file: its name, MODIFIED, and the digest's hash mismatch are all reported.
    log = next(p for p in sorted(evidence.rglob("*.json.gz")) if "Digest" not in str(p))
    data = gzip.decompress(log.read_bytes()).replace(b"us-east-1", b"eu-west-9", 1)
    log.write_bytes(gzip.compress(data))
    feature.evidence.last_verify = None
    assert feature.evidence.start_verify(str(evidence), str(key_file))
    qtbot.waitUntil(lambda: feature.evidence.last_verify is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(t.startswith("Evidence: NOT VERIFIED") for t in _integrity_texts(feature)))
    texts = _integrity_texts(feature)
    assert any(t.startswith("modified") and log.name in t and "MODIFIED" in t for t in texts)
    custody_result, digests = feature.evidence.last_verify.results
    assert [f.subject for f in custody_result.failures] == [
        next(e["path"] for e in win.session.case.ledger() if e["path"].endswith(log.name))
    ]
    assert any(log.name in f.subject and not f.passed for f in digests.findings)
    assert "NOT verified" in win.statusBar().currentMessage()


def _bundle(path: Path, out: Path) -> Path:
    with CaseFile.open(path) as case:
        return bundle.write(case, out)


def test_open_bundle_verifies_extracts_and_opens_read_only(qtbot, settings, trail_case, tmp_path):
    path, _evidence, _keys = trail_case
    zip_path = _bundle(path, tmp_path / "handover.zip")
    zip_sha = sha256(zip_path)
    win, feature = _empty_window(qtbot, settings)
    feature.evidence.bundle_root = tmp_path / "extracted"
    with qtbot.waitSignal(win.caseChanged, timeout=WAIT_MS):
        assert feature.evidence.start_open_bundle(zip_path)
    assert win.session is not None and win.session.read_only
    assert win.session.path.parent.parent == tmp_path / "extracted"
    assert feature.banner.isVisible() and "verified, all 3 members" in feature.banner.label.text()
    qtbot.waitUntil(
        lambda: any(t.startswith("Bundle: VERIFIED") for t in _integrity_texts(feature)), timeout=WAIT_MS
    )
    win.close_case()
    assert sha256(zip_path) == zip_sha  # the bundle itself is only read


def _tampered_copy(zip_path: Path, out: Path, member: str, change) -> Path:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, change(data) if info.filename == member else data)
    return out


def test_tampered_bundles_are_refused_with_the_reason(qtbot, settings, trail_case, tmp_path):
    path, _evidence, _keys = trail_case
    good = _bundle(path, tmp_path / "good.zip")
    changed = _tampered_copy(good, tmp_path / "changed.zip", path.name, lambda b: b[:-1] + bytes([b[-1] ^ 1]))
    escaping = tmp_path / "escaping.zip"
    shutil.copy(good, escaping)
    with zipfile.ZipFile(escaping, "a") as zf:
        zf.writestr("../outside.txt", b"x")

    win, feature = _empty_window(qtbot, settings)
    feature.evidence.bundle_root = tmp_path / "extracted"
    for bad, reason in ((changed, f"{path.name}: MODIFIED"), (escaping, "climbs out of the target folder")):
        feature.evidence.last_bundle = None
        assert feature.evidence.start_open_bundle(bad)
        qtbot.waitUntil(lambda: feature.evidence.last_bundle is not None, timeout=WAIT_MS)
        assert feature.evidence.last_bundle.case_path is None
        notice = feature.evidence.notice
        assert notice is not None and notice.isVisible() and not notice.isModal()
        assert "nothing was extracted" in notice.text() and reason in notice.text()
        assert win.session is None
    assert not (tmp_path / "extracted").exists()
    assert not (tmp_path / "outside.txt").exists()


def test_caseline_open_bundle_from_the_command_line(qtbot, trail_case, tmp_path, monkeypatch):
    """`caseline open case.zip`: the app starts, verifies and opens the bundle read-only."""
    from viewer.gui import app as gui_app

    path, _evidence, _keys = trail_case
    zip_path = _bundle(path, tmp_path / "cli.zip")
    monkeypatch.setenv("CASELINE_DATA_DIR", str(tmp_path / "data"))
    win = gui_app.start(str(zip_path))  # what `caseline open cli.zip` runs before its event loop
    assert win is not None
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.session is not None, timeout=WAIT_MS)
    assert win.session.read_only
    assert win.session.path.is_relative_to(tmp_path / "data" / "bundles")
    win.close_case()


def test_an_older_case_opened_read_only_becomes_an_upgraded_copy(qtbot, settings, tmp_path):
    old = schema_1_case(tmp_path / "old.caseline")
    before = sha256(old)
    win, feature = _empty_window(qtbot, settings)
    feature.evidence.upgrade_root = tmp_path / "upgraded"
    feature.evidence.ask_upgrade = False  # the question box is answered "yes"
    with qtbot.waitSignal(win.caseChanged, timeout=WAIT_MS):
        assert win.open_case(old, read_only=True) is False  # not this file: a copy, once made
    assert win.session is not None and win.session.read_only
    assert win.session.path.is_relative_to(tmp_path / "upgraded") and win.session.path.name == old.name
    assert win.session.case.summary().events == 1
    text = feature.banner.label.text()
    assert "Upgraded copy of" in text and before in text and "schema 1 -> " in text
    win.close_case()
    assert sha256(old) == before  # the original was only read


def test_a_bundle_holding_an_older_case_opens_upgraded(qtbot, settings, tmp_path):
    import hashlib
    import json

    old = schema_1_case(tmp_path / "old.caseline")
    info = json.dumps({"case": old.name}).encode()
    zip_path = tmp_path / "old-handover.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.write(old, old.name)
        zf.writestr(bundle.INFO, info)
        sums = {old.name: sha256(old), bundle.INFO: hashlib.sha256(info).hexdigest()}
        zf.writestr(bundle.MANIFEST, "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    zip_sha = sha256(zip_path)
    win, feature = _empty_window(qtbot, settings)
    feature.evidence.bundle_root = tmp_path / "extracted"
    with qtbot.waitSignal(win.caseChanged, timeout=WAIT_MS):
        assert feature.evidence.start_open_bundle(zip_path)
    assert win.session is not None and win.session.read_only
    assert feature.evidence.last_bundle.upgraded_from == 1
    assert "upgraded from case schema 1" in feature.banner.label.text()
    win.close_case()
    assert sha256(zip_path) == zip_sha
