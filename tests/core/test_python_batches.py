"""Records split by Python (nested shapes such as CloudWatch Logs subscription payloads, CSV
exports) go many files to a statement: the case is the same whether a statement holds a few
records of one file or every record of every file, and a file's counts, warnings and record
positions do not depend on where the batches were cut."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from support.line_sources import Imported, _imported

from viewer.core import chunk_import, python_batches

ACCOUNT = "111122223333"


def _payload(stream: str, first: int, n: int) -> dict:
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": "/aws/lambda/orders",
        "logStream": stream,
        "subscriptionFilters": ["to-firehose"],
        "logEvents": [
            {
                "id": f"{first + i:056d}",
                "timestamp": 1714557900000 + 1000 * (first + i),
                "message": f"order {first + i}\n",
            }
            for i in range(n)
        ],
    }


def _subscription_files(folder: Path) -> list[Path]:
    """Nine files of decoded subscription payloads (one per line), of 1-6 log events each; one
    file also holds a damaged line and one repeats a log event of another file."""
    folder.mkdir()
    paths, first = [], 0
    for k in range(9):
        lines = [json.dumps(_payload(f"stream-{k}", first, 1 + k % 6))]
        first += 1 + k % 6
        if k == 4:
            lines.append('{"messageType": "DATA_MESSAGE", "logEvents": [')  # cut in the middle
            lines.append(json.dumps(_payload("stream-4b", 1000, 2)))
        if k == 7:
            lines.append(json.dumps(_payload("stream-0", 0, 1)))  # the first file's event again
        path = folder / f"part-{k}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def _both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[Path]
) -> tuple[Imported, Imported, list[int]]:
    statements: list[int] = []
    real = chunk_import.ChunkImporter._python_batch

    def counted(self, spec, batch, counts):  # type: ignore[no-untyped-def]
        statements.append(batch.rows)
        return real(self, spec, batch, counts)

    monkeypatch.setattr(chunk_import.ChunkImporter, "_python_batch", counted)
    whole = _imported(tmp_path / "whole.caseline", paths)
    together = list(statements)
    monkeypatch.setattr(python_batches, "PY_BATCH", 4)
    statements.clear()
    small = _imported(tmp_path / "small.caseline", paths)
    return whole, small, [len(together), *statements]


def test_subscription_payloads_of_many_files_share_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _subscription_files(tmp_path / "payloads")
    whole, small, statements = _both(tmp_path, monkeypatch, paths)
    assert whole == small
    counts, events, warnings = whole
    records = sum(1 + k % 6 for k in range(9)) + 2 + 1
    assert statements[0] == 1  # every file's records in one statement
    assert statements[1:] and max(statements[1:]) == 4 and sum(statements[1:]) == records
    by_file = {Path(p).name: c for p, *c in counts}
    assert by_file["part-4.jsonl"] == [1 + 4 + 2 + 1, 1 + 4 + 2, 1]  # the damaged line is one rejected record
    assert by_file["part-7.jsonl"][0] == 1 + 1 + 1
    assert sum(c[1] for c in by_file.values()) == len(events) == records - 1  # one duplicate dropped
    assert [(Path(path).name, position) for _, path, position, _, _ in warnings] == [("part-4.jsonl", 2)]


def test_csv_exports_of_many_files_share_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = Path(__file__).resolve().parents[1] / "data" / "formats" / "aws_cloudtrail_console_csv"
    [csv] = [p for p in sample.iterdir() if p.suffix == ".csv"]
    header, *rows = csv.read_text(encoding="utf-8-sig").splitlines()
    folder = tmp_path / "exports"
    folder.mkdir()
    paths = []
    for k in range(3):  # the rows cut into three exports
        path = folder / f"history-{k}.csv"
        path.write_text("\n".join([header, *rows[k::3]]) + "\n", encoding="utf-8")
        paths.append(path)
    whole, small, statements = _both(tmp_path, monkeypatch, paths)
    assert whole == small
    assert statements[0] == 1
    counts, events, _ = whole
    assert sum(c[1] for c in counts) == len(rows) and len(events) == sum(c[2] for c in counts) > 0


def _drain(batch: python_batches.PythonBatch, produced: list) -> None:
    produced.append(batch.take())


def _rows(batches: list[python_batches.PythonBatch]) -> list[tuple[int, int, str]]:
    out = []
    for b in batches:
        eids, indexes, texts = b.columns()
        out += list(zip(eids.to_pylist(), indexes.to_pylist(), texts.to_pylist(), strict=True))
    return out


def test_a_batch_takes_rows_one_at_a_time_and_arrow_runs_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows added one at a time and a CSV file's rows as Arrow arrays end in the batches in their
    order, cut at the row bound wherever it falls; each batch's id range covers its rows."""
    monkeypatch.setattr(python_batches, "PY_BATCH", 4)
    batch, produced = python_batches.PythonBatch(), []
    for i in (1, 2, 3):
        batch.add(7, i, f'{{"n":{i}}}')
    indexes = pa.array([2, 3, 5, 6, 7, 9], pa.int64())  # line numbers: a blank line was skipped
    texts = pa.array([f'{{"line":{n}}}' for n in indexes.to_pylist()], pa.string())
    produced += list(batch.add_arrays(8, indexes, texts))
    batch.add(9, 1, '{"last":1}')
    _drain(batch, produced)
    expected = [(7, i, f'{{"n":{i}}}') for i in (1, 2, 3)]
    expected += [(8, n, f'{{"line":{n}}}') for n in (2, 3, 5, 6, 7, 9)]
    expected += [(9, 1, '{"last":1}')]
    assert _rows(produced) == expected
    assert [b.rows for b in produced] == [4, 4, 2]
    for b in produced:
        eids, idx, _ = b.columns()
        ids = [(e << 32) + i for e, i in zip(eids.to_pylist(), idx.to_pylist(), strict=True)]
        assert b.id_range() == (ids[0], ids[-1] + 1)


@pytest.mark.parametrize("bound", [1, 9, 10, 25, 30, 45, 1000])
def test_arrow_runs_fill_batches_as_rows_one_at_a_time_do(
    monkeypatch: pytest.MonkeyPatch, bound: int
) -> None:
    """The byte bound cuts a run of Arrow rows where it would cut the same rows added one at a
    time (a batch ends with the row that reaches it), even a row larger than the bound."""
    monkeypatch.setattr(python_batches, "PY_BATCH_CHARS", bound)
    sizes = [10, 10, 10, 10, 10, 40, 3, 7, 10]
    texts = ["x" * n for n in sizes]
    by_arrays, one_at_a_time = python_batches.PythonBatch(), python_batches.PythonBatch()
    produced = list(by_arrays.add_arrays(3, pa.array(range(1, 10), pa.int64()), pa.array(texts, pa.string())))
    _drain(by_arrays, produced)
    reference = []
    for i, text in enumerate(texts, start=1):
        if one_at_a_time.full:
            reference.append(one_at_a_time.take())
        one_at_a_time.add(3, i, text)
    _drain(one_at_a_time, reference)
    assert [b.rows for b in produced] == [b.rows for b in reference]
    assert _rows(produced) == _rows(reference)


def test_an_arrow_run_out_of_order_is_refused() -> None:
    batch = python_batches.PythonBatch()
    batch.add(5, 10, "{}")
    with pytest.raises(RuntimeError, match="out of evidence id order"):
        list(batch.add_arrays(5, pa.array([3, 4], pa.int64()), pa.array(["{}", "{}"], pa.string())))
