"""The import pipeline on real files: bad input, duplicates, archives, cancel, reconciliation."""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.import_evidence import records as _records
from tests.support.import_evidence import snapshot as _snapshot
from tests.support.import_evidence import write_gz as _write_gz
from viewer.core import evidence_hash, ingest
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.ingest_sql import uid_conflict_sql
from viewer.core.jobs import Cancelled, CancelToken, JobContext, Progress
from viewer.core.sources import SourceError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_cloudtrail"


def _case(tmp_path: Path) -> CaseFile:
    return CaseFile.create(tmp_path / "case.caseline")


def _count(case: CaseFile, sql: str = "SELECT count(*) FROM events") -> int:
    return case.cursor().execute(sql).fetchall()[0][0]


def test_folder_tree_imports_every_record_and_reconciles(tmp_path: Path) -> None:
    tree = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail"
    for day in range(3):
        _write_gz(tree / "us-east-1" / f"2024/05/0{day + 1}" / f"f{day}.json.gz", _records(50, day * 50))
    with _case(tmp_path) as case:
        report = import_paths(case, [tmp_path / "AWSLogs"])
        assert [f.counts.kept for f in report.files] == [50, 50, 50]
        assert all(f.reconciled for f in report.files)
        assert _count(case) == 150
        assert _count(case, "SELECT count(DISTINCT event_id) FROM events") == 150
        ledger = case.ledger()
        assert [row["records_kept"] for row in ledger] == [50, 50, 50]
        assert all(
            row["sha256"] == hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest() for row in ledger
        )


def test_identical_records_kept_once_differing_same_id_kept_and_flagged(tmp_path: Path) -> None:
    recs = _records(10)
    changed = copy.deepcopy(recs[3])
    changed["sourceIPAddress"] = "192.0.2.99"  # same eventID, different content
    _write_gz(tmp_path / "ev" / "a.json.gz", recs)
    _write_gz(tmp_path / "ev" / "b.json.gz", [recs[0], recs[1], changed])  # two identical, one conflicting
    with _case(tmp_path) as case:
        report = import_paths(case, [tmp_path / "ev"])
        a, b = report.files
        assert (a.counts.kept, a.counts.duplicate) == (10, 0)
        assert (b.counts.seen, b.counts.kept, b.counts.duplicate) == (3, 1, 2)
        flagged = (
            case.cursor().execute("SELECT src_ip FROM events WHERE uid_conflict ORDER BY src_ip").fetchall()
        )
        assert flagged == [("192.0.2.99",), ("203.0.113.7",)]


@pytest.mark.parametrize("most_of_case", [True, False])
def test_ids_whose_hashes_collide_are_still_told_apart_when_flagging_conflicts(
    tmp_path: Path, most_of_case: bool
) -> None:
    """uid_conflict_sql finds repeated ids by their hashes, either way round (the import's hashes
    matched first, or all grouped first): with a hash cut to one bit, so that every id shares it
    with half the others, the same two records are flagged and no other. The second import, one
    record of eleven, takes the first way in the import itself."""
    recs = _records(10)
    changed = copy.deepcopy(recs[3])
    changed["sourceIPAddress"] = "192.0.2.99"
    with _case(tmp_path) as case:
        import_paths(case, [_write_gz(tmp_path / "a.json.gz", recs)])
        import_paths(case, [_write_gz(tmp_path / "b.json.gz", [changed])])
        cur = case.cursor()
        flagged = "SELECT src_ip FROM events WHERE uid_conflict ORDER BY src_ip"
        assert cur.execute(flagged).fetchall() == [("192.0.2.99",), ("203.0.113.7",)]
        cur.execute("UPDATE events SET uid_conflict = false")
        colliding = uid_conflict_sql(most_of_case).replace("hash(event_uid)", "(hash(event_uid) % 2)")
        assert colliding.count("% 2") == (3 if most_of_case else 4)  # every use of the hash
        newest = cur.execute("SELECT max(evidence_id) FROM events").fetchall()[0][0]
        cur.execute(colliding, [newest, newest])
        assert cur.execute(flagged).fetchall() == [("192.0.2.99",), ("203.0.113.7",)]


def test_reimport_of_same_file_adds_nothing(tmp_path: Path) -> None:
    f = _write_gz(tmp_path / "a.json.gz", _records(5))
    with _case(tmp_path) as case:
        import_paths(case, [f])
        again = import_paths(case, [f])
        assert again.files[0].role == "skipped" and "already in the case" in again.files[0].note
        assert _count(case) == 5
        assert _count(case, "SELECT count(*) FROM evidence") == 1


def test_bad_inputs_become_warnings_and_the_rest_imports(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    good = _write_gz(ev / "1-good.json.gz", _records(20))
    full = gzip.compress(json.dumps({"Records": _records(30, 100)}).encode(), mtime=0)
    (ev / "2-truncated.json.gz").write_bytes(full[: len(full) * 2 // 3])
    text = json.dumps({"Records": _records(5, 200)})
    broken = text.replace('"eventVersion"', '"eventVersion" "oops"', 1)  # invalid JSON in record 0 only
    (ev / "3-invalid.json").write_text(broken)
    no_time = _records(4, 300)
    del no_time[2]["eventTime"]
    _write_gz(ev / "4-no-time.json.gz", no_time)
    latin = json.dumps({"Records": _records(3, 400)}).replace("aws-cli/2.15.0", "aws-cli/2.15.0 Montréal")
    (ev / "5-latin1.json").write_bytes(latin.encode("latin-1"))
    (ev / "6-empty.json").write_bytes(b"")
    (ev / "7-notes.txt").write_text("not a log at all\n")
    with _case(tmp_path) as case:
        report = import_paths(case, [ev])
        by = {Path(f.path).name: f for f in report.files}
        assert by[good.name].counts.kept == 20
        trunc = by["2-truncated.json.gz"]
        assert 0 < trunc.counts.kept < 30 and any("truncated" in w for w in trunc.warnings)
        inv = by["3-invalid.json"]
        assert (inv.counts.kept, inv.counts.rejected) == (4, 1)
        assert any("invalid JSON" in w for w in inv.warnings)
        nt = by["4-no-time.json.gz"]
        assert (nt.counts.kept, nt.counts.rejected) == (3, 1) and any("eventTime" in w for w in nt.warnings)
        lat = by["5-latin1.json"]
        assert lat.counts.kept == 3 and any("UTF-8" in w for w in lat.warnings)
        assert by["6-empty.json"].counts.seen == 0 and by["6-empty.json"].warnings
        assert by["7-notes.txt"].role == "unknown" and "unknown format" in by["7-notes.txt"].warnings[0]
        assert all(f.reconciled for f in report.files)
        warnings = (
            case.cursor()
            .execute("SELECT path, position, position_kind, reason FROM import_warnings ORDER BY path")
            .fetchall()
        )
        assert any(w[0].endswith("4-no-time.json.gz") and w[1] == 2 and w[2] == "record" for w in warnings)
        assert any(w[0].endswith("7-notes.txt") for w in warnings)
        city = (
            case.cursor().execute("SELECT user_agent FROM events WHERE user_agent LIKE '%Montr%'").fetchall()
        )
        assert city == [("aws-cli/2.15.0 Montréal",)] * 3


def test_zip_and_tar_bundles_import_and_refuse_traversal(tmp_path: Path) -> None:
    inner = gzip.compress(json.dumps({"Records": _records(7)}).encode(), mtime=0)
    zpath = tmp_path / "bundle.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/a.json.gz", inner)
        zf.writestr("../../escape.json.gz", inner)
    tpath = tmp_path / "bundle.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        data = gzip.compress(json.dumps({"Records": _records(4, 50)}).encode(), mtime=0)
        info = tarfile.TarInfo("logs/b.json.gz")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with _case(tmp_path) as case:
        report = import_paths(case, [zpath, tpath])
        assert report.total("kept") == 11
        zip_entry = next(f for f in report.files if f.path == str(zpath))
        assert zip_entry.role == "container" and any("escapes" in w for w in zip_entry.warnings)
        assert not (tmp_path.parent / "escape.json.gz").exists()
        paths = {row["path"] for row in case.ledger()}
        assert f"{zpath}!AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/a.json.gz" in paths


def test_a_ledger_written_a_slice_at_a_time_is_the_ledger_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's rows reach Arrow a slice at a time (the window's thread waits for each
    conversion): slices where a column is all None (no container, no time: an archive, an
    unknown file) and slices where it is not make the ledger one whole conversion makes."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    _write_gz(evidence / "a.json.gz", _records(5))
    (evidence / "b.txt").write_text("not a log\n")
    with zipfile.ZipFile(evidence / "c.zip", "w") as zf:
        zf.writestr("inner/d.json.gz", gzip.compress(json.dumps({"Records": _records(3, 40)}).encode()))

    def ledger(slice_rows: int, name: str) -> list[tuple]:
        monkeypatch.setattr(ingest, "LEDGER_SLICE", slice_rows)
        with CaseFile.create(tmp_path / name) as case:
            import_paths(case, [evidence])
            return (
                case.cursor()
                .execute("SELECT * EXCLUDE (imported_at) FROM evidence ORDER BY evidence_id")
                .fetchall()
            )

    whole, sliced = ledger(10_000, "whole.caseline"), ledger(1, "sliced.caseline")
    assert sliced == whole
    assert len(whole) == 4
    by_path = {Path(row[2]).name: row for row in whole}
    assert by_path["d.json.gz"][4] == by_path["c.zip"][0]  # the member names its archive
    assert by_path["a.json.gz"][4] is None


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.json", b"0" * (64 * 1024 * 1024))
    with _case(tmp_path) as case, pytest.raises(SourceError, match="decompression bomb"):
        import_paths(case, [zpath])


def test_cancel_leaves_case_exactly_as_before(tmp_path: Path) -> None:
    first = _write_gz(tmp_path / "first.json.gz", _records(5))
    for i in range(6):
        _write_gz(tmp_path / "more" / f"{i}.json.gz", _records(20, 1000 + i * 20))
    with _case(tmp_path) as case:
        import_paths(case, [first])
        before = _snapshot(case)
        token = CancelToken()
        seen: list[int] = []

        def on_progress(p):  # cancel as soon as the import has started writing
            seen.append(p.files_done)
            if p.phase == "importing":
                token.cancel()

        with pytest.raises(Cancelled):
            import_paths(case, [tmp_path / "more"], ctx=JobContext(token, on_progress, min_interval=0))
        assert _snapshot(case) == before


@pytest.mark.parametrize("threads_from", [0, 10**12], ids=["two threads", "one thread"])
def test_hashing_counts_files_and_bytes_and_stops_on_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads_from: int
) -> None:
    """Every file is hashed before anything is written: with progress (a bucket copy of 200,000
    files takes a while to read) and a cancel that stops the reading."""
    monkeypatch.setattr(evidence_hash, "HASH_THREADS_FROM", threads_from)
    for i in range(40):
        _write_gz(tmp_path / "more" / f"{i:02d}.json.gz", _records(5, 1000 + i * 5))
    sizes = sum(f.stat().st_size for f in (tmp_path / "more").iterdir())
    with _case(tmp_path) as case:
        hashing: list[tuple[int, int, int | None, int | None]] = []
        ctx = JobContext(
            on_progress=lambda p: (
                p.phase == "hashing"
                and hashing.append((p.files_done, p.bytes_done, p.files_total, p.bytes_total))
            ),
            min_interval=0,
        )
        import_paths(case, [tmp_path / "more"], ctx=ctx)
        assert hashing[0] == (0, 0, 40, sizes) and hashing[-1] == (40, sizes, 40, sizes)
        assert [h[0] for h in hashing] == list(range(41))

        before = _snapshot(case)
        for i in range(40):
            _write_gz(tmp_path / "later" / f"{i:02d}.json.gz", _records(5, 5000 + i * 5))
        hashed: list[Path] = []
        real = evidence_hash.sha256_file
        monkeypatch.setattr(evidence_hash, "sha256_file", lambda path: hashed.append(path) or real(path))
        token = CancelToken()

        def cancel_at_the_fifth(p: Progress) -> None:
            if p.phase == "hashing" and p.files_done == 5:
                token.cancel()

        with pytest.raises(Cancelled):
            import_paths(
                case, [tmp_path / "later"], ctx=JobContext(token, cancel_at_the_fifth, min_interval=0)
            )
        assert _snapshot(case) == before
        assert 5 <= len(hashed) <= 5 + evidence_hash.HASH_AHEAD  # read no further than the few ahead


def test_digest_files_are_ledger_entries_not_events(tmp_path: Path) -> None:
    digest_dir = SAMPLE.parent / "aws_cloudtrail_digest"
    with _case(tmp_path) as case:
        report = import_paths(
            case, [digest_dir / next(p.name for p in digest_dir.iterdir() if p.suffix == ".gz")]
        )
        assert report.files[0].role == "digest" and not report.files[0].warnings
        assert _count(case) == 0
        assert [r["role"] for r in case.ledger()] == ["digest"]


def test_same_record_in_another_layout_is_a_duplicate(tmp_path: Path) -> None:
    recs = _records(3)
    _write_gz(tmp_path / "a.json.gz", recs)
    (tmp_path / "b.json").write_text(json.dumps(recs, indent=4))  # pretty-printed bare array
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    with _case(tmp_path) as case:
        report = import_paths(case, [tmp_path / "a.json.gz", tmp_path / "b.json", tmp_path / "c.jsonl"])
        assert [(f.counts.kept, f.counts.duplicate) for f in report.files] == [(3, 0), (0, 3), (0, 3)]
        assert _count(case, "SELECT count(*) FROM events WHERE uid_conflict") == 0


def test_record_index_is_each_records_position_in_its_file(tmp_path: Path) -> None:
    """Many files of uneven sizes in one chunk: DuckDB reads them on all threads, and every row's
    provenance must still point at its own record (the staged scan numbers records per file)."""
    tree = tmp_path / "AWSLogs"
    sizes = [0, 1, 2500, 7, 1200, 3, 4096, 0, 650, 1]
    start = 0
    for n, size in enumerate(sizes):
        recs = _records(size, start)
        for pos, r in enumerate(recs):
            r["requestID"] = f"file{n}-pos{pos}"
            r["padding"] = "x" * (pos * 37 % 900)  # uneven record sizes
        _write_gz(tree / f"f{n:02d}.json.gz", recs)
        start += size
    with _case(tmp_path) as case:
        report = import_paths(case, [tree])
        assert report.total("kept") == sum(sizes)
        rows = (
            case.cursor()
            .execute(
                "SELECT ev.path, e.record_index, e.raw->>'$.requestID' FROM events e "
                "JOIN evidence ev USING (evidence_id)"
            )
            .fetchall()
        )
    assert len(rows) == sum(sizes)
    for path, index, request_id in rows:
        assert request_id == f"file{int(Path(path).name[1:3])}-pos{index}"


def test_a_file_read_in_several_python_batches_is_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON lines go through the Python reader in batches; each batch is judged on its own rows."""
    from viewer.core import python_batches

    monkeypatch.setattr(python_batches, "PY_BATCH", 1000)
    recs = _records(2500)
    lines = [json.dumps(r) for r in recs]
    lines[1500] = json.dumps({k: v for k, v in recs[1500].items() if k != "eventTime"})  # rejected
    lines.append(lines[10])  # an identical duplicate in the last batch
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with _case(tmp_path) as case:
        [f] = import_paths(case, [path]).files
        assert (f.counts.seen, f.counts.kept, f.counts.rejected, f.counts.duplicate) == (2501, 2499, 1, 1)
        assert _count(case) == 2499


def test_dedup_key_is_stored_only_for_records_without_a_natural_id(tmp_path: Path) -> None:
    """Rows with an eventID store no key; rows without one store a hash of their raw text.
    Duplicates are found either way, also against rows keyed the way older cases stored them."""
    recs = _records(4)
    for r in recs[2:]:
        del r["eventID"]
    _write_gz(tmp_path / "a.json.gz", recs)
    with _case(tmp_path) as case:
        import_paths(case, [tmp_path / "a.json.gz"])
        cur = case.cursor()
        keys = cur.execute(
            "SELECT event_uid IS NULL, count(*), count(dedup_key), "
            "count(*) FILTER (WHERE dedup_key = hash(raw::VARCHAR)) FROM events GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert keys == [(False, 2, 0, 0), (True, 2, 2, 2)]
        # An older case stored hash(eventID) for every row that has one: those still match.
        cur.execute("UPDATE events SET dedup_key = hash(event_uid) WHERE event_uid IS NOT NULL")
        changed = copy.deepcopy(recs[1])
        changed["eventTime"] = recs[0]["eventTime"]
        _write_gz(tmp_path / "b.json.gz", [recs[0], recs[3], changed])
        report = import_paths(case, [tmp_path / "b.json.gz"])
        assert (report.files[0].counts.kept, report.files[0].counts.duplicate) == (1, 2)
        assert _count(case) == 5


def test_text_size_estimate_reads_the_gzip_trailer(tmp_path: Path) -> None:
    from viewer.core.sources import gzip_and_text_size

    def text_size_estimate(path: Path, size: int, ratio: int) -> int:
        gz, estimate = gzip_and_text_size(path, size, ratio)
        assert gz == path.name.endswith(".gz")
        return estimate

    text = b'{"finding": "' + b"a" * 200_000 + b'"}\n'  # compresses ~1000:1, like repetitive JSON
    gz = tmp_path / "f.jsonl.gz"
    gz.write_bytes(gzip.compress(text))
    size = gz.stat().st_size
    assert text_size_estimate(gz, size, 10) == len(text)  # not size * 10
    plain = tmp_path / "f.jsonl"
    plain.write_bytes(text)
    assert text_size_estimate(plain, len(text), 10) == len(text)
    # Two members: the trailer knows the last one only, so the guess stays the floor.
    multi = tmp_path / "m.jsonl.gz"
    multi.write_bytes(gzip.compress(text) + gzip.compress(b"{}\n"))
    assert text_size_estimate(multi, multi.stat().st_size, 10) == multi.stat().st_size * 10


def test_line_chunks_are_bounded_by_the_text_they_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viewer.core import ingest, text_import

    folder = tmp_path / "findings"
    folder.mkdir()
    for i in range(6):  # each file: ~50 KB of text in well under 5 KB of gzip
        lines = [
            json.dumps(
                {
                    "eventVersion": "1.08",
                    "eventTime": "2024-05-01T10:00:00Z",
                    "eventSource": "s3.amazonaws.com",
                    "eventName": "GetObject",
                    "awsRegion": "us-east-1",
                    "eventID": f"{i}-{n}",
                    "requestParameters": {"key": "b" * 5_000},
                }
            )
            for n in range(10)
        ]
        (folder / f"part-{i}.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    monkeypatch.setattr(text_import, "JSON_LINES_CHUNK_BYTES", 120_000)  # room for two files' text
    plan = ingest.plan_import([folder])
    try:
        chunks = [c for c, _ in ingest._chunks(list(enumerate(plan.files)), set())]
    finally:
        plan.cleanup()
    assert [len(c) for c in chunks] == [2, 2, 2]
