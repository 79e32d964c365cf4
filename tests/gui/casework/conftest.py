"""Fixtures for the casework GUI tests: writable copies of the small synthetic case, a CloudTrail
trail case with signed digests, and helpers to wait for annotation edits to land."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "casework"))

from trail import Trail, hourly_chain, new_key, write_key_file  # noqa: E402

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402

from ..conftest import WAIT_MS  # noqa: E402


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def work_case(tmp_path: Path, small_case_path: Path) -> Path:
    """A writable copy of the 2,500-event synthetic case."""
    target = tmp_path / "work.caseline"
    shutil.copy(small_case_path, target)
    return target


@pytest.fixture
def trail_case(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(case, evidence folder, key file): three hours of CloudTrail with really signed digests."""
    key, fp = new_key()
    ev = tmp_path / "evidence"
    hourly_chain(Trail(ev, key, fp), 3)
    path = tmp_path / "trail.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [ev])
    return path, ev, write_key_file(tmp_path / "keys.json", [(key, fp)])


def wait_edits(qtbot, feature) -> None:  # type: ignore[no-untyped-def]
    """Until every queued annotation edit has landed and its refreshes were asked for."""
    qtbot.waitUntil(lambda: not feature.annotator.lane.busy, timeout=WAIT_MS)
