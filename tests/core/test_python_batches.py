"""Records split by Python (nested shapes such as CloudWatch Logs subscription payloads, CSV
exports) go many files to a statement: the case is the same whether a statement holds a few
records of one file or every record of every file, and a file's counts, warnings and record
positions do not depend on where the batches were cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.line_sources import Imported, _imported

from viewer.core import chunk_import

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
        statements.append(len(batch.texts))
        return real(self, spec, batch, counts)

    monkeypatch.setattr(chunk_import.ChunkImporter, "_python_batch", counted)
    whole = _imported(tmp_path / "whole.caseline", paths)
    together = list(statements)
    monkeypatch.setattr(chunk_import, "PY_BATCH", 4)
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
