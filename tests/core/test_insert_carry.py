"""Records carried across batches into statements of whole row groups (viewer/core/insert_carry.py):
the statements and settles on their own, then through real imports of JSON lines into real cases,
where a record's verdict must not depend on which statement took it."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from tests.support.import_evidence import snapshot
from tests.support.line_sources import resolver_record
from viewer.core import chunk_import, chunk_writer, ingest
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.insert_carry import InsertCarry
from viewer.core.jobs import Cancelled, CancelToken, JobContext, Progress
from viewer.core.sources import gzip_and_text_size
from viewer.core.text_import import TEXT_GZIP_RATIO


class Recorder:
    """What a carry did, in order: ("insert", row values, batch sizes, known_good) and ("settle", name)."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def insert(self, table: pa.Table, known_good: bool) -> None:
        sizes = [b.num_rows for b in table.to_batches()]
        self.log.append(("insert", table.column("v").to_pylist(), sizes, known_good))

    def settle(self, name: str) -> Callable[[], None]:
        return lambda: self.log.append(("settle", name))

    def add(
        self, carry: InsertCarry, name: str, values: range, known_good: bool = True, key: str = "a"
    ) -> None:
        carry.add(key, pa.table({"v": list(values)}), known_good, self.insert, self.settle(name))


def test_statements_take_whole_groups_for_every_thread_and_the_rest_waits() -> None:
    """Groups of 4 rows, 2 threads: a statement takes 8 rows (or 16), each group one batch of
    the rows in the order they came; a batch is judged once its last row is in, and in order."""
    rec = Recorder()
    carry = InsertCarry(4, 2, 1 << 30)
    rec.add(carry, "a", range(0, 3))
    rec.add(carry, "b", range(3, 6))
    assert rec.log == [] and carry.holding
    rec.add(carry, "c", range(6, 11))  # 11 rows: 8 go in, "c" waits for its last three
    assert rec.log == [("insert", list(range(8)), [4, 4], True), ("settle", "a"), ("settle", "b")]
    rec.add(carry, "d", range(11, 25))  # 25 rows: 16 more (two statements' worth in one)
    assert rec.log[3:] == [("insert", list(range(8, 24)), [4, 4, 4, 4], True), ("settle", "c")]
    carry.flush()  # the last row, and "d" judged
    assert rec.log[5:] == [("insert", [24], [1], True), ("settle", "d")]
    assert not carry.holding


def test_a_statement_checks_its_records_again_when_any_of_them_came_with_a_problem() -> None:
    rec = Recorder()
    carry = InsertCarry(2, 2, 1 << 30)
    rec.add(carry, "clean", range(0, 4))
    rec.add(carry, "broken", range(4, 7), known_good=False)
    rec.add(carry, "clean2", range(7, 8))
    rec.add(carry, "clean3", range(8, 12))
    inserts = [(e[1], e[3]) for e in rec.log if e[0] == "insert"]
    assert inserts == [([0, 1, 2, 3], True), ([4, 5, 6, 7], False), ([8, 9, 10, 11], True)]


def test_other_records_and_records_too_big_to_hold_insert_what_is_held() -> None:
    rec = Recorder()
    carry = InsertCarry(4, 2, 1 << 30)
    rec.add(carry, "a", range(0, 3), key="format one")
    rec.add(carry, "b", range(3, 5), key="format two")  # another key: "a" goes in first
    assert rec.log == [("insert", [0, 1, 2], [3], True), ("settle", "a")]
    # Rows of 8 bytes (one int64): a group per thread is 8 rows, 64 bytes. Held while that fits
    # in the bound; with a smaller bound every batch goes in as it comes.
    held, rec2 = InsertCarry(4, 2, 65), Recorder()
    rec2.add(held, "a", range(0, 5))
    assert rec2.log == [] and held.holding
    unheld, rec3 = InsertCarry(4, 2, 64), Recorder()
    rec3.add(unheld, "a", range(0, 5))
    assert rec3.log == [("insert", [0, 1, 2, 3, 4], [4, 1], True), ("settle", "a")]


def test_clear_forgets_the_rows_and_judges_nothing() -> None:
    rec = Recorder()
    carry = InsertCarry(4, 2, 1 << 30)
    rec.add(carry, "a", range(0, 3))
    carry.clear()
    carry.flush()
    assert rec.log == [] and not carry.holding
    rec.add(carry, "b", range(10, 18))  # counting starts again from the next batch
    assert rec.log == [("insert", list(range(10, 18)), [4, 4], True), ("settle", "b")]


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk per file, row groups of 4 lines and 2 threads: statements of 8 lines, so most
    files' last lines wait for the next file."""
    monkeypatch.setattr(ingest, "CHUNK_FILES", 1)
    monkeypatch.setattr(chunk_writer, "INSERT_ROW_GROUP", 4)
    monkeypatch.setattr(
        chunk_writer, "InsertCarry", lambda group, _threads, size: InsertCarry(group, 2, size)
    )


def test_carried_lines_are_judged_against_every_earlier_line_and_keep_their_file(
    tmp_path: Path, small_groups: None
) -> None:
    """File a's last two lines wait in the carry while file b is read: b's copy of a's last
    line is the duplicate (not a's), and a's line without a time is a warning naming file a."""
    a = _write(
        tmp_path / "logs" / "a.log.gz",
        [resolver_record(i) for i in range(3)]
        + [resolver_record(3, query_timestamp=None), resolver_record(4)],
    )
    _write(tmp_path / "logs" / "b.log.gz", [resolver_record(4)] + [resolver_record(i) for i in range(5, 11)])
    ctx = JobContext()
    with CaseFile.create(tmp_path / "case.caseline") as case:
        report = import_paths(case, [tmp_path / "logs"], ctx=ctx)
        by = {Path(f.path).name: f.counts for f in report.files}
        assert (by["a.log.gz"].seen, by["a.log.gz"].kept, by["a.log.gz"].rejected) == (5, 4, 1)
        assert (by["b.log.gz"].seen, by["b.log.gz"].kept, by["b.log.gz"].duplicate) == (7, 6, 1)
        cur = case.cursor()
        kept_of_4 = cur.execute(
            "SELECT evidence_id, record_index FROM events WHERE raw->>'$.query_name' = 'host4.example.com.'"
        ).fetchall()
        ids = dict(cur.execute("SELECT path, evidence_id FROM evidence").fetchall())
        assert kept_of_4 == [(ids[str(a)], 5)]  # line numbers
        warnings = cur.execute("SELECT path, position FROM import_warnings").fetchall()
        assert warnings == [(str(a), 4)]
    assert ctx.progress.records == 12  # every line counted once, some during the next file


def test_the_same_lines_give_the_same_case_carried_or_not(
    tmp_path: Path, small_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Carried in statements of 8 lines, or each file inserted as it is read (a carry that holds
    nothing: every batch is over its bytes bound): the same events, counts and warnings."""
    for k in range(6):
        lines = [resolver_record(20 * k + i) for i in range(5 + k)]
        lines.insert(1 + k % 3, "{broken")
        _write(tmp_path / "logs" / f"part{k}.log.gz", lines + [resolver_record(20 * k)])  # a duplicate last

    def imported(name: str) -> tuple:
        with CaseFile.create(tmp_path / name) as case:
            report = import_paths(case, [tmp_path / "logs"])
            cur = case.cursor()
            events = cur.execute("SELECT * EXCLUDE (ingest_ts) FROM events ORDER BY event_id").fetchall()
            warnings = cur.execute(
                "SELECT evidence_id, path, position, reason FROM import_warnings ORDER BY ALL"
            ).fetchall()
        counts = sorted(
            (f.path, f.counts.seen, f.counts.kept, f.counts.rejected, f.counts.duplicate)
            for f in report.files
        )
        return counts, events, warnings

    carried = imported("carried.caseline")
    monkeypatch.setattr(
        chunk_writer, "InsertCarry", lambda group, threads, _size: InsertCarry(group, threads, 0)
    )
    each = imported("each.caseline")
    assert carried == each
    counts, events, warnings = carried
    assert [c[1:] for c in counts] == [(7 + k, 5 + k, 1, 1) for k in range(6)]
    assert len(events) == sum(5 + k for k in range(6)) and len(warnings) == 6


def test_a_cancel_while_lines_are_carried_leaves_the_case_as_before(
    tmp_path: Path, small_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 5 lines commit two by two (the carry inserts what it holds first: 8 lines,
    then 2); the cancel comes after two commits, with the fifth file's lines in the carry."""
    first = _write(tmp_path / "first.log.gz", [resolver_record(1000 + i) for i in range(3)])
    files = [
        _write(tmp_path / "more" / f"{k}.log.gz", [resolver_record(10 * k + i) for i in range(5)])
        for k in range(8)
    ]
    text = gzip_and_text_size(files[0], files[0].stat().st_size, TEXT_GZIP_RATIO)[1]
    monkeypatch.setattr(chunk_import, "COMMIT_BYTES", 1)
    monkeypatch.setattr(chunk_import, "CARRIED_COMMITS_APART", text * 3 // 2)
    token = CancelToken()
    held: list[bool] = []
    committed: list[int] = []  # events another cursor sees

    def on_progress(p: Progress) -> None:
        if p.phase == "importing" and p.files_done >= 5 and not held:
            held.append(carries[-1].holding)
            committed.append(case.cursor().execute("SELECT count(*) FROM events").fetchall()[0][0])
            token.cancel()

    carries: list[InsertCarry] = []

    def made(group: int, _threads: int, size: int) -> InsertCarry:
        carries.append(InsertCarry(group, 2, size))
        return carries[-1]

    monkeypatch.setattr(chunk_writer, "InsertCarry", made)
    with CaseFile.create(tmp_path / "case.caseline") as case:
        import_paths(case, [first])
        before = snapshot(case)
        with pytest.raises(Cancelled):
            import_paths(case, [tmp_path / "more"], ctx=JobContext(token, on_progress, min_interval=0))
        assert held[0] and committed and committed[0] == 3 + 4 * 5
        assert snapshot(case) == before
        report = import_paths(case, [tmp_path / "more"])
        assert report.total("kept") == 40 and all(f.reconciled for f in report.files)
