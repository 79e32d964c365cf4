"""Every format's sample, damaged in the ways evidence is damaged, imports without a crash and
reconciles: seen = kept + rejected + duplicate per file, and the case holds what was kept.

The damage is seeded, so a failure names a file that can be made again. Run over ~1,400 seeds
while writing this, it found a record nested past Python's recursion limit stopping the import
of a damaged file (`core.json_depth`); the kinds that found bugs elsewhere are here as well:
lone surrogate escapes (`core.lone_surrogates`) and times past year 9999 (`ingest_sql`).
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.formats import registry

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
NAMES = [spec.name for spec in registry.FORMATS]
COPIES = 4  # damaged copies of the sample per format, in one import


def _cut(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _garbage(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30))) + data[at:]


def _swap(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.choice(b'{}[],:"\\\t 0a')]) + data[at + 1 :]


def _duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    return b"\n".join([*lines[:at], lines[at], *lines[at:]])


def _at_a_match(pattern: bytes, data: bytes, rng: random.Random, new: Callable[[bytes], bytes]) -> bytes:
    """`data` with one match of `pattern`, chosen by `rng`, replaced by `new(match)`."""
    found = list(re.finditer(pattern, data))
    if not found:
        return data
    m = rng.choice(found)
    return data[: m.start()] + new(m.group()) + data[m.end() :]


def _retype(data: bytes, rng: random.Random) -> bytes:
    other = [b'": 12345', b'": null', b'": {}', b'": [1]', b'": -1.5e308']
    return _at_a_match(rb'": ?"[^"]*"', data, rng, lambda _: rng.choice(other))


def _deep(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + b"[" * 3000 + data[at:]


def _lone_surrogate(data: bytes, rng: random.Random) -> bytes:
    return _at_a_match(rb'": ?"[^"\\]+', data, rng, lambda value: value + b"\\udc80")


def _far_year(data: bytes, rng: random.Random) -> bytes:
    return _at_a_match(rb"\b20[0-9][0-9]-[01][0-9]-", data, rng, lambda _: b"10000-01-")


def _crlf_and_bom(data: bytes, rng: random.Random) -> bytes:
    return b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


DAMAGE: list[Callable[[bytes, random.Random], bytes]] = [
    _cut,
    _garbage,
    _swap,
    _duplicate_line,
    _retype,
    _deep,
    _lone_surrogate,
    _far_year,
    _crlf_and_bom,
]


@pytest.mark.parametrize("name", NAMES)
def test_damaged_samples_import_and_reconcile(name: str, tmp_path: Path) -> None:
    [sample] = [p for p in (DATA / name).iterdir() if p.name != "expected.json"]
    if sample.suffix == ".parquet":
        pytest.skip("Parquet is read by DuckDB as columns, not as text to damage")
    gz = sample.suffix == ".gz"
    data = gzip.decompress(sample.read_bytes()) if gz else sample.read_bytes()
    rng = random.Random(name)
    folder = tmp_path / "evidence"
    folder.mkdir()
    for k in range(COPIES):
        damaged = data
        for damage in rng.sample(DAMAGE, rng.randrange(1, 3)):
            damaged = damage(damaged, rng)
        (folder / f"{k}_{sample.name}").write_bytes(gzip.compress(damaged, mtime=0) if gz else damaged)
    with CaseFile.create(tmp_path / "case.caseline") as case:
        report = import_paths(case, [folder])
        events = case.cursor().execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert all(f.reconciled for f in report.files), [(f.path, f.counts) for f in report.files]
    assert events == report.total("kept")
