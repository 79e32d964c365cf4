"""`verify`: unchanged / modified / missing by file name, archives, and the case's own counts."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trail import Trail, hourly_chain, new_key  # noqa: E402

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.casework import custody, findings  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402


def _evidence(tmp_path: Path, hours: int = 3):
    key, fp = new_key()
    ev = tmp_path / "evidence"
    logs, digests = hourly_chain(Trail(ev, key, fp), hours)
    return ev, logs, digests


def test_unchanged_modified_missing_by_name(tmp_path):
    ev, logs, digests = _evidence(tmp_path)
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [ev])
    first = custody.verify(case)
    assert first.ok and len(first.with_status("unchanged")) == len(logs) + len(digests)
    logs[0].path.write_bytes(logs[0].path.read_bytes() + b"\0")
    digests[1].path.unlink()
    r = custody.verify(case)
    assert not r.ok
    assert [Path(f.subject).name for f in r.with_status("modified")] == [logs[0].path.name]
    assert [Path(f.subject).name for f in r.with_status("missing")] == [digests[1].path.name]
    assert logs[0].path.name in r.with_status("modified")[0].message
    assert findings.latest(case, "verify").run_id == r.run_id  # stored, newest wins


def test_evidence_folder_moved_and_named_explicitly(tmp_path):
    ev, logs, digests = _evidence(tmp_path, 2)
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [ev])
    (tmp_path / "audit").mkdir()
    ev.rename(tmp_path / "audit" / "evidence")
    assert {f.status for f in custody.verify(case).findings if f.subject_kind == "evidence"} == {"missing"}
    r = custody.verify(case, tmp_path / "audit")  # a parent of the imported folder
    assert r.ok, [f.message for f in r.failures]


def test_files_inside_an_archive_are_verified_through_it(tmp_path):
    ev, logs, _ = _evidence(tmp_path, 2)
    archive = tmp_path / "collected.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(ev.rglob("*.json.gz")):
            zf.write(f, f.relative_to(ev).as_posix())
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [archive])
    r = custody.verify(case)
    assert r.ok
    members = [f for f in r.findings if "!" in f.subject]
    assert members and all("inside archive collected.zip, which is unchanged" in f.message for f in members)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("extra.txt", "added later")
    r = custody.verify(case)
    assert [Path(f.subject).name for f in r.with_status("modified")] == ["collected.zip"]
    assert all("which is modified" in f.message for f in r.findings if "!" in f.subject)


def test_case_consistency_counts_events_per_file(tmp_path):
    ev, logs, _ = _evidence(tmp_path, 2)
    path = tmp_path / "c.caseline"
    case = CaseFile.create(path)
    import_paths(case, [ev])
    case.close()
    con = duckdb.connect(str(path))  # someone edits the case behind Caseline's back
    eid = con.execute("SELECT min(evidence_id) FROM events").fetchall()[0][0]
    con.execute(
        "DELETE FROM events WHERE event_id = (SELECT min(event_id) FROM events WHERE evidence_id = ?)", [eid]
    )
    con.close()
    case = CaseFile.open(path, read_only=True)
    r = custody.verify(case)
    assert not r.ok
    bad = r.with_status("count_mismatch")
    assert [f.evidence_id for f in bad] == [eid]
    assert bad[0].detail["events"] == bad[0].detail["ledger_kept"] - 1
    assert r.run_id is None  # read-only: returned, not stored


def test_verify_reports_progress_and_cancels_without_storing(tmp_path):
    from viewer.core.jobs import Cancelled, JobContext

    ev, logs, digests = _evidence(tmp_path)
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [ev])
    ctx = JobContext()
    custody.verify(case, ctx=ctx)
    n = len(logs) + len(digests)
    assert ctx.progress.files_done == ctx.progress.files_total >= n
    assert ctx.progress.bytes_done == ctx.progress.bytes_total > 0
    before = findings.latest(case, "verify")
    ctx = JobContext()
    ctx.token.cancel()
    try:
        custody.verify(case, ctx=ctx)
        raise AssertionError("a cancelled verify returned")
    except Cancelled:
        pass
    assert findings.latest(case, "verify").run_id == before.run_id  # nothing stored
