"""Auditor mode (read-only changes nothing), exports with provenance, reports and bundles."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trail import Trail, hourly_chain, new_key, write_key_file  # noqa: E402

from viewer.core.case_file import CaseFile, ReadOnlyCaseError  # noqa: E402
from viewer.core.casework import (  # noqa: E402
    annotations,
    bundle,
    cloudtrail_integrity,
    cloudtrail_keys,
    custody,
    export,
    findings,
    report,
)
from viewer.core.event_query import EventFilter  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402
from viewer.core.query import saved  # noqa: E402
from viewer.core.query.runner import QueryRunner  # noqa: E402


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def built(tmp_path):
    key, fp = new_key()
    ev = tmp_path / "ev"
    logs, _ = hourly_chain(Trail(ev, key, fp), 3)
    path = tmp_path / "case.caseline"
    case = CaseFile.create(path)
    import_paths(case, [ev])
    ids = [
        r[0] for r in case.cursor().execute("SELECT event_id FROM events ORDER BY ts, event_id").fetchall()
    ]
    annotations.tag_events(case, ids[:2], "malicious")
    annotations.set_event_note(case, ids[0], "<script>alert(1)</script> first")
    annotations.set_entity_note(case, "ip", "198.51.100.7", "attacker")
    annotations.add_bookmark(
        case, "window", dt.datetime(2024, 5, 1, tzinfo=dt.UTC), dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    )
    saved.save(case, "by ip", "sql", "SELECT event_id, src_ip FROM events")
    case.close()
    return path, ev, write_key_file(tmp_path / "keys.json", [(key, fp)]), ids


def test_read_only_session_changes_nothing(built, tmp_path):
    path, ev, key_file, ids = built
    before = _sha(path)
    case = CaseFile.open(path, read_only=True)
    refused = [
        lambda: annotations.tag_events(case, ids[:1], "benign"),
        lambda: annotations.set_starred(case, ids[:1]),
        lambda: annotations.set_event_note(case, ids[0], "x"),
        lambda: annotations.set_entity_note(case, "ip", "1.2.3.4", "x"),
        lambda: annotations.add_bookmark(case, "b", dt.datetime(2024, 5, 1), dt.datetime(2024, 5, 1)),
        lambda: annotations.undo(case),
        lambda: saved.save(case, "q", "sql", "SELECT 1"),
        lambda: import_paths(case, [ev]),
        lambda: cloudtrail_keys.store_keys(case, cloudtrail_keys.load_key_file(key_file)),
    ]
    for attempt in refused:
        with pytest.raises(ReadOnlyCaseError, match="read-only"):
            attempt()
    # What an auditor does is allowed and returns results, but writes nothing.
    assert custody.verify(case).ok
    assert cloudtrail_integrity.validate(case, key_file=key_file).run_id is None
    report.build_html(case)
    export.export_events(case, tmp_path / "out.csv")
    QueryRunner(case).run("sql", "SELECT count(*) FROM events")
    bundle.write(case, tmp_path / "audit.zip")
    case.close()
    assert _sha(path) == before
    assert not path.with_name(path.name + ".wal").exists()


def test_exports_carry_provenance_and_are_logged(built, tmp_path):
    path, ev, _, ids = built
    case = CaseFile.open(path)
    ledger = {e["evidence_id"]: e for e in case.ledger()}
    r = export.export_events(case, tmp_path / "sel.jsonl", event_ids=ids[:2])
    rows = [json.loads(line) for line in (tmp_path / "sel.jsonl").read_text().splitlines()]
    assert r.rows == 2 and [row["event_id"] for row in rows] == ids[:2]
    for row in rows:
        src = ledger[row["evidence_id"]]
        assert row["evidence_path"] == src["path"] and row["evidence_sha256"] == src["sha256"]
        with gzip.open(src["path"]) as fh:  # the record index points at the record in the file
            assert json.load(fh)["Records"][row["record_index"]]["eventID"] == row["event_uid"]
    r = export.export_events(case, tmp_path / "tagged.parquet", annotation_filter="tag:malicious")
    assert sorted(pq.read_table(tmp_path / "tagged.parquet").column("event_id").to_pylist()) == sorted(
        ids[:2]
    )
    r = export.export_events(case, tmp_path / "f.csv", event_filter=EventFilter("action:ListBuckets"))
    assert r.rows == len(ids) and "evidence_sha256" in (tmp_path / "f.csv").read_text().splitlines()[0]
    runner = QueryRunner(case)
    result = runner.run("sql", "SELECT event_id, src_ip FROM events ORDER BY event_id LIMIT 3")
    q = export.export_query_result(case, runner, result, tmp_path / "q.csv")
    assert q.provenance and q.rows == 3
    logged = case.cursor().execute("SELECT detail FROM activity_log WHERE action = 'export'").fetchall()
    assert [json.loads(d[0])["sha256"] for d in logged][-1] == _sha(tmp_path / "q.csv")
    with pytest.raises(FileExistsError):
        export.export_events(case, tmp_path / "q.csv")
    case.close()


def test_report_is_self_contained_and_escaped(built):
    path, ev, key_file, _ = built
    case = CaseFile.open(path)
    custody.verify(case)
    cloudtrail_integrity.validate(case, key_file=key_file)
    html = report.build_html(case)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; first" in html
    assert "<svg" in html and 'src="http' not in html and "<link" not in html
    for heading in (
        "Evidence ledger",
        "CloudTrail log file integrity",
        "Findings",
        "Entity notes",
        "Bookmarks",
        "by ip",
    ):
        assert heading in html
    ledger_hashes = [e["sha256"] for e in case.ledger()]
    assert all(h in html for h in ledger_hashes)
    with_png = report.build_html(case, timeline_png=b"\x89PNG fake")
    assert "data:image/png;base64," in with_png and "<svg" not in with_png
    case.close()


def test_bundle_round_trip_and_every_kind_of_tampering(built, tmp_path):
    path, *_ = built
    case = CaseFile.open(path)
    out = bundle.write(case, tmp_path / "b.zip")
    case.close()
    check = bundle.verify(out)
    assert check.ok and {f.subject for f in check.findings} == {path.name, "report.html", "bundle.json"}
    with pytest.raises(bundle.BundleError, match="never overwritten"):
        bundle.write(CaseFile.open(path, read_only=True), out)

    def rewrite(name: str, change) -> Path:  # noqa: ANN001
        target = tmp_path / name
        with zipfile.ZipFile(out) as src, zipfile.ZipFile(target, "w") as dst:
            members = {i.filename: src.read(i.filename) for i in src.infolist()}
            for member, data in change(members).items():
                dst.writestr(member, data)
        return target

    changed = rewrite("changed.zip", lambda m: {**m, path.name: m[path.name][:-1] + b"\1"})
    assert [(f.subject, f.status) for f in bundle.verify(changed).failures] == [(path.name, "modified")]
    missing = rewrite("missing.zip", lambda m: {k: v for k, v in m.items() if k != "report.html"})
    assert [(f.subject, f.status) for f in bundle.verify(missing).failures] == [("report.html", "missing")]
    extra = rewrite("extra.zip", lambda m: {**m, "notes.txt": b"hi"})
    assert [(f.subject, f.status) for f in bundle.verify(extra).failures] == [("notes.txt", "extra")]
    slip = rewrite("slip.zip", lambda m: {**m, "../../evil.sh": b"rm -rf /"})
    statuses = [(f.subject, f.status) for f in bundle.verify(slip).failures]
    assert statuses == [("../../evil.sh", "unsafe_path")]
    dest = tmp_path / "opened"
    with pytest.raises(bundle.BundleError, match="evil.sh"):
        bundle.open_bundle(slip, dest)
    assert not dest.exists() and not (tmp_path.parent / "evil.sh").exists()
    opened = bundle.open_bundle(out, dest)
    assert _sha(opened) == _sha(path)
    audit = CaseFile.open(opened, read_only=True)
    assert audit.summary().events > 0
    audit.close()
    with pytest.raises(bundle.BundleError, match="not an empty folder"):
        bundle.open_bundle(out, dest)


def test_pdf_report_prints(built, tmp_path):
    pytest.importorskip("PySide6.QtGui")
    from viewer.gui.report_pdf import timeline_png, write_pdf

    path, *_ = built
    case = CaseFile.open(path, read_only=True)
    png = timeline_png([(dt.date(2024, 5, 1), 3), (dt.date(2024, 5, 2), 0), (dt.date(2024, 5, 3), 6)])
    assert png.startswith(b"\x89PNG")
    pdf = write_pdf(case, tmp_path / "r.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/Type /Page" in data
    case.close()


def test_stored_findings_survive_reopen(built):
    path, ev, key_file, _ = built
    case = CaseFile.open(path)
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    case.close()
    con = duckdb.connect(str(path), read_only=True)
    n = con.execute("SELECT count(*) FROM integrity_findings WHERE run_id = ?", [r.run_id]).fetchall()[0][0]
    con.close()
    assert n == len(r.findings)
    case = CaseFile.open(path, read_only=True)
    assert findings.latest(case, "cloudtrail_digests").counts() == r.counts()
    case.close()
